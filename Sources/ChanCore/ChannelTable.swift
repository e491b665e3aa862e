/// The engine's channels by name: creation (up to a limit), the sweeps that
/// forget idle implicit channels and closed drained ones, listings (whole,
/// or in bounded steps with `scan`), and the per-channel activity rates
/// behind the busiest-channel ranking. The channel rules themselves
/// (rendezvous, buffer, select, close) are the engine's; this is only where
/// channels live, as Go's runtime keeps `hchan` apart from `select.go`.
public final class ChannelTable {
    /// Channels are not created past this many; `channel(named:)` returns nil.
    public var maxChannels: Int
    /// Channels made since the table was created, and forgotten by sweeps
    /// (idle ones, and closed ones past their TTL; not deleted ones).
    public private(set) var created = 0
    public private(set) var dropped = 0

    private var channels: [String: Channel] = [:]
    private var idleCandidates: [Channel] = []
    /// Closed channels awaiting `forgetClosedChannels`.
    private var closedCandidates: [Channel] = []
    /// Every channel at a fixed position for `scan`: a channel keeps its
    /// slot while it exists, and a freed slot is reused by a later one.
    private var slots: [Channel?] = []
    private var freeSlots: [Int] = []
    // Channels that moved values in the activity interval under way, and in
    // the last completed one (each once), for `busiestActiveChannels`.
    private var movedNow: [Channel] = []
    private var movedLast: [Channel] = []

    init(maxChannels: Int) {
        self.maxChannels = maxChannels
    }

    public var count: Int { channels.count }

    /// The channel of this name if it exists; never creates one.
    public func existing(named name: String) -> Channel? {
        channels[name]
    }

    /// The channel of this name, created open, unbuffered and preferring the
    /// receiver if nobody has made it; nil when the channel limit is reached.
    public func channel(named name: String) -> Channel? {
        if let ch = channels[name] { return ch }
        if channels.count >= maxChannels {
            sweepIdleChannels()
            if channels.count >= maxChannels { return nil }
        }
        let ch = Channel(name: name, capacity: 0, preference: .receiver)
        channels[name] = ch
        if let free = freeSlots.popLast() {
            ch.slot = free
            slots[free] = ch
        } else {
            ch.slot = slots.count
            slots.append(ch)
        }
        created += 1
        noteIfIdle(ch)
        return ch
    }

    /// As `channel(named:)`, with the caller's last answer in `last`: while
    /// that channel is still in the table and has this name, it is the
    /// answer, so a client repeating its channel costs a comparison of names
    /// (equal at once when the parser hands back the same String), not a
    /// hash and a dictionary probe.
    @inlinable
    public func channel(named name: String, last: inout Channel?) -> Channel? {
        if let ch = last, ch.slot >= 0, ch.name == name { return ch }
        last = channel(named: name)
        return last
    }

    /// The channels of the names `name(0)` to `name(count - 1)` (a SELECT's
    /// cases), created as by `channel(named:)`, all or none, into `found`
    /// (its storage kept, so that a caller reusing one array allocates
    /// nothing): false, with `found` empty, when the missing ones do not fit
    /// under the limit. One by one, the sweep made at the limit for a later
    /// name could drop the idle channel just created for an earlier one.
    /// When `found` already holds channels of these names that are still in
    /// the table (the caller's last lookup), they are the answer: a client
    /// repeating a SELECT costs no dictionary lookup, only a comparison of
    /// names.
    public func channels(count: Int, named name: (Int) -> String, into found: inout [Channel]) -> Bool {
        if found.count == count && found.indices.allSatisfy({ found[$0].slot >= 0 && found[$0].name == name($0) }) {
            return true
        }
        found.removeAll(keepingCapacity: true)
        found.reserveCapacity(count)
        for i in 0..<count {
            guard let ch = channels[name(i)] else {
                found.removeAll(keepingCapacity: true)
                guard let created = creatingChannels(named: (0..<count).map(name)) else { return false }
                found.append(contentsOf: created)
                return true
            }
            found.append(ch)
        }
        return true
    }

    // Out of line: a select whose channels all exist (the usual case) only
    // looks each name up once.
    @inline(never)
    private func creatingChannels(named names: [String]) -> [Channel]? {
        func missing() -> Int { Set(names).count { channels[$0] == nil } }
        if channels.count + missing() > maxChannels { sweepIdleChannels() }
        guard channels.count + missing() <= maxChannels else { return nil }
        return names.map { channel(named: $0)! }
    }

    // MARK: Listings

    /// Channels whose names start with `prefix`: how many, and the first
    /// `limit` of them by name.
    public func channels(withPrefix prefix: String = "", limit: Int = .max) -> (first: [Channel], matching: Int) {
        let (first, matching) = matching(prefix: prefix).smallest(limit) { $0.name < $1.name }
        return (first, matching)
    }

    /// Channels whose names start with `prefix`: how many, and the `limit`
    /// busiest: most values moved in the last completed activity interval
    /// first, then most values held plus tasklets waiting, then by name.
    public func busiestChannels(withPrefix prefix: String = "", limit: Int) -> (first: [Channel], matching: Int) {
        struct Activity {
            let channel: Channel
            let moved: Int
            let load: Int
        }
        func busier(_ a: Activity, _ b: Activity) -> Bool {
            if a.moved != b.moved { return a.moved > b.moved }
            if a.load != b.load { return a.load > b.load }
            return a.channel.name < b.channel.name
        }
        let (busiest, matching) = matching(prefix: prefix).map { ch in
            Activity(channel: ch, moved: self.recentlyMoved(ch), load: ch.count + ch.sendq.count + ch.recvq.count)
        }.smallest(limit, by: busier)
        return (busiest.map(\.channel), matching)
    }

    /// Channels whose names start with `prefix` among those that moved
    /// values in the last completed activity interval: how many, and the
    /// `limit` busiest, ranked as by `busiestChannels`. It costs the number
    /// of channels active in that interval, not the size of the table.
    public func busiestActiveChannels(withPrefix prefix: String = "", limit: Int) -> (first: [Channel], matching: Int) {
        func busier(_ a: (channel: Channel, moved: Int), _ b: (channel: Channel, moved: Int)) -> Bool {
            if a.moved != b.moved { return a.moved > b.moved }
            let loadA = a.channel.count + a.channel.sendq.count + a.channel.recvq.count
            let loadB = b.channel.count + b.channel.sendq.count + b.channel.recvq.count
            if loadA != loadB { return loadA > loadB }
            return a.channel.name < b.channel.name
        }
        let (busiest, matching) = movedLast.lazy
            .filter { $0.slot >= 0 && (prefix.isEmpty || $0.name.hasPrefix(prefix)) }
            .map { (channel: $0, moved: self.recentlyMoved($0)) }
            .smallest(limit, by: busier)
        return (busiest.map(\.channel), matching)
    }

    /// A bounded step of a listing (Redis's SCAN): the channels whose names
    /// start with `prefix` among the next `count` positions of the table
    /// from `cursor` (0 to start), and the cursor to continue with (0 when
    /// the scan is complete). A channel that exists for the whole scan is
    /// listed exactly once; one made or forgotten meanwhile may or may not
    /// be. A step may list none and still continue. Positions freed by
    /// forgotten channels are reused, so a full scan visits at most as many
    /// positions as the table ever held channels at once.
    public func scan(cursor: Int, prefix: String = "", count: Int) -> (next: Int, channels: [Channel]) {
        guard cursor >= 0, cursor < slots.count else { return (0, []) }
        var found: [Channel] = []
        var i = cursor
        let end = min(slots.count, cursor + max(count, 1))
        while i < end {
            if let ch = slots[i], prefix.isEmpty || ch.name.hasPrefix(prefix) { found.append(ch) }
            i += 1
        }
        return (i >= slots.count ? 0 : i, found)
    }

    /// The channels whose names start with `prefix`, in no order, without copying the table.
    private func matching(prefix: String) -> LazyFilterSequence<LazySequence<[String: Channel].Values>.Elements> {
        channels.values.lazy.filter { prefix.isEmpty || $0.name.hasPrefix(prefix) }
    }

    /// Every channel, in no order.
    var all: Dictionary<String, Channel>.Values { channels.values }

    // MARK: Activity

    /// The activity interval under way. The server ends one every second
    /// (`startActivityInterval`), so `recentlyMoved` is a rate per second.
    /// (The table lists the channels active in the interval under way, so
    /// intervals must end now and then.)
    public private(set) var activityInterval = 0

    public func startActivityInterval() {
        activityInterval &+= 1
        swap(&movedLast, &movedNow)
        movedNow.removeAll(keepingCapacity: movedNow.count < 4096)
    }

    /// Values the channel moved (sent + received) in the last completed
    /// activity interval.
    public func recentlyMoved(_ ch: Channel) -> Int {
        switch ch.activityInterval {
        case activityInterval: ch.movedInIntervalBefore
        case activityInterval &- 1: ch.movedInInterval
        default: 0
        }
    }

    /// Records values moved: `moved` counts each one going in and each one
    /// coming out (a rendezvous is 2), `received` those coming out.
    @inline(__always)
    func noteMoved(_ ch: Channel, _ moved: Int, received r: Int) {
        ch.received &+= r
        if ch.activityInterval != activityInterval { startInterval(of: ch) }
        ch.movedInInterval &+= moved
    }

    // Out of line: once per channel and interval.
    @inline(never)
    private func startInterval(of ch: Channel) {
        ch.movedInIntervalBefore = ch.activityInterval == activityInterval &- 1 ? ch.movedInInterval : 0
        ch.movedInInterval = 0
        ch.activityInterval = activityInterval
        movedNow.append(ch)
    }

    // MARK: Sweep

    /// Forgets implicit channels that are idle (hold nothing, nobody waits,
    /// open). Call it now and then (a timer) so a busy server does not keep
    /// every name it has seen; MAKE-made channels stay. `sparingActive`
    /// keeps, until the next sweep, those that moved values in the current
    /// activity interval: a busy rendezvous channel is idle between handoffs,
    /// and dropping it would make it anew (and lose its counters) every time.
    public func sweepIdleChannels(sparingActive: Bool = false) {
        var spared: [Channel] = []
        for ch in idleCandidates {
            guard !ch.isPersistent && ch.isIdle && ch.slot >= 0 else {
                ch.isIdleCandidate = false
                continue
            }
            if sparingActive && ch.activityInterval == activityInterval && ch.movedInInterval > 0 {
                spared.append(ch)
                continue
            }
            ch.isIdleCandidate = false
            forget(ch)
            dropped += 1
        }
        if spared.isEmpty {
            idleCandidates.removeAll(keepingCapacity: idleCandidates.count < 4096)
        } else {
            idleCandidates = spared
        }
    }

    /// Forgets closed channels that hold nothing (no value buffered or held,
    /// nobody waiting) `ttl` after they closed, so that closing names does
    /// not fill the table for ever. Call it now and then with the time in
    /// the unit of `ttl`; a channel's closing time is the `now` of the first
    /// call that sees it closed, so it goes between `ttl` and `ttl` plus one
    /// interval between calls after it closed. A channel opened again stays.
    /// Returns the channels forgotten.
    @discardableResult
    public func forgetClosedChannels(now: UInt64, ttl: UInt64) -> [Channel] {
        var kept: [Channel] = [], forgotten: [Channel] = []
        for ch in closedCandidates {
            guard ch.state == .closed, ch.slot >= 0 else {
                ch.isClosedCandidate = false
                ch.closedSince = nil
                continue
            }
            let since = ch.closedSince ?? now
            ch.closedSince = since
            let drained = ch.buffer.isEmpty && ch.sendq.isEmpty && ch.recvq.isEmpty && ch.held == 0
            if drained && now &- since >= ttl {
                ch.isClosedCandidate = false
                forget(ch)
                dropped += 1
                forgotten.append(ch)
            } else {
                kept.append(ch)
            }
        }
        closedCandidates = kept
        return forgotten
    }

    /// Channels closed now and not yet forgotten (walks the closed ones, not the table).
    public var closedCount: Int { closedCandidates.lazy.filter { $0.state == .closed && $0.slot >= 0 }.count }

    /// Puts a channel that just closed on `forgetClosedChannels`'s list.
    func noteClosed(_ ch: Channel) {
        guard !ch.isClosedCandidate else { return }
        ch.isClosedCandidate = true
        closedCandidates.append(ch)
    }

    /// Removes `ch` from the table (DELETE); false when it was not there.
    func remove(_ ch: Channel) -> Bool {
        guard ch.slot >= 0 else { return false }
        forget(ch)
        return true
    }

    private func forget(_ ch: Channel) {
        channels[ch.name] = nil
        slots[ch.slot] = nil
        freeSlots.append(ch.slot)
        ch.slot = -1
    }

    /// Puts a channel that may have turned idle on the next sweep's list.
    @inline(__always)
    func noteIfIdle(_ ch: Channel) {
        guard !ch.isIdleCandidate, !ch.isPersistent, ch.isIdle else { return }
        addIdleCandidate(ch)
    }

    // Out of line: the hot paths inline only the checks above.
    @inline(never)
    private func addIdleCandidate(_ ch: Channel) {
        ch.isIdleCandidate = true
        idleCandidates.append(ch)
    }
}
