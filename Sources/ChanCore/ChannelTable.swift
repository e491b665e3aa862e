/// The engine's channels by name: creation (up to a limit), the sweep that
/// forgets idle implicit channels, listings, and the per-channel activity
/// rates behind the busiest-channel ranking. The channel rules themselves
/// (rendezvous, buffer, select, close) are the engine's; this is only where
/// channels live, as Go's runtime keeps `hchan` apart from `select.go`.
public final class ChannelTable {
    /// Channels are not created past this many; `channel(named:)` returns nil.
    public var maxChannels: Int
    /// Channels made since the table was created, and forgotten by sweeps.
    public private(set) var created = 0
    public private(set) var dropped = 0

    private var channels: [String: Channel] = [:]
    private var idleCandidates: [Channel] = []

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
        created += 1
        noteIfIdle(ch)
        return ch
    }

    /// The channels of these names (a SELECT's cases), created as by
    /// `channel(named:)`, all or none: nil when the missing ones do not fit
    /// under the limit. One by one, the sweep made at the limit for a later
    /// name could drop the idle channel just created for an earlier one.
    public func channels(named names: [String]) -> [Channel]? {
        var found: [Channel] = []
        found.reserveCapacity(names.count)
        for name in names {
            guard let ch = channels[name] else { return creatingChannels(named: names) }
            found.append(ch)
        }
        return found
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

    /// The channels whose names start with `prefix`, in no order, without copying the table.
    private func matching(prefix: String) -> LazyFilterSequence<LazySequence<[String: Channel].Values>.Elements> {
        channels.values.lazy.filter { prefix.isEmpty || $0.name.hasPrefix(prefix) }
    }

    /// Every channel, in no order.
    var all: Dictionary<String, Channel>.Values { channels.values }

    // MARK: Activity

    /// The activity interval under way. The server ends one every second
    /// (`startActivityInterval`), so `recentlyMoved` is a rate per second.
    public private(set) var activityInterval = 0

    public func startActivityInterval() {
        activityInterval &+= 1
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
        if ch.activityInterval != activityInterval {
            ch.movedInIntervalBefore = ch.activityInterval == activityInterval &- 1 ? ch.movedInInterval : 0
            ch.movedInInterval = 0
            ch.activityInterval = activityInterval
        }
        ch.movedInInterval &+= moved
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
            guard !ch.isPersistent && ch.isIdle && channels[ch.name] === ch else {
                ch.isIdleCandidate = false
                continue
            }
            if sparingActive && ch.activityInterval == activityInterval && ch.movedInInterval > 0 {
                spared.append(ch)
                continue
            }
            ch.isIdleCandidate = false
            channels[ch.name] = nil
            dropped += 1
        }
        if spared.isEmpty {
            idleCandidates.removeAll(keepingCapacity: idleCandidates.count < 4096)
        } else {
            idleCandidates = spared
        }
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
