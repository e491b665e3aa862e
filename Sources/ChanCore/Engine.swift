/// The channel engine: named channels, the runnable queue, select, close,
/// timeouts and cancellation. Pure and single-threaded: one event-loop thread
/// drives it. Every call completes or blocks the calling tasklet at once;
/// tasklets completed on the way (partners of a rendezvous, receivers woken by
/// a close, selects timed out) are placed in the runnable queue, which the
/// caller drains with `nextRunnable()`.
public final class Engine {
    /// Operation counters, for INFO and metrics.
    public struct Counters: Sendable {
        public var sends = 0, throws_ = 0, receives = 0, selects = 0
        public var rendezvous = 0, buffered = 0, timeouts = 0, closes = 0
        public var channelsCreated = 0, channelsDropped = 0
    }

    public private(set) var counters = Counters()
    /// Tasklets blocked in a select.
    public private(set) var blockedCount = 0
    /// Channels are not created past this many; `channel(named:)` returns nil.
    public var maxChannels: Int

    // The generator that chooses among ready cases: kept unboxed when it is a
    // `Xoshiro256` (the default, and what tests inject), so that drawing is
    // inlined; any other is called through its existential. Both draw with
    // the same `next(upperBound:)`.
    private var xoshiro: Xoshiro256?
    private var otherRandom: (any RandomNumberGenerator)?
    private var channels: [String: Channel] = [:]
    private var idleCandidates: [Channel] = []
    private(set) var runnable = RunQueue()
    private var deadlines = DeadlineHeap()
    private var nextTaskletID = 1

    /// `random` chooses among ready select cases; inject a seeded
    /// `Xoshiro256` for reproducible runs.
    public init(random: some RandomNumberGenerator = Xoshiro256(), maxChannels: Int = 1_000_000) {
        if let x = random as? Xoshiro256 { xoshiro = x } else { otherRandom = random }
        self.maxChannels = maxChannels
    }

    deinit {
        // Blocked tasklets are owned by the engine (see `block`): cancel them,
        // so that none is left with chanops queued in channels that outlive it.
        for ch in channels.values {
            while let op = ch.sendq.head ?? ch.recvq.head { cancel(op.pointee.tasklet) }
        }
        while runnable.popFirst() != nil {}
    }

    // MARK: Tasklets and scheduling

    public func makeTasklet() -> Tasklet {
        defer { nextTaskletID += 1 }
        return Tasklet(id: nextTaskletID)
    }

    /// Tasklets waiting in the runnable queue (dead ones included until skipped).
    public var runnableCount: Int { runnable.count }

    /// The next tasklet to resume, now running; its result is `takeCompletion()`.
    public func nextRunnable() -> Tasklet? {
        while let t = runnable.popFirst() {
            if t.state == .runnable {
                t.state = .running
                return t
            }
        }
        return nil
    }

    /// The earliest deadline among blocked selects, for the caller's timer.
    public var nextDeadline: UInt64? { deadlines.earliest }

    /// Times out every blocked select whose deadline is at or before `now`
    /// (rule 20): its chanops are removed and it joins the runnable queue with
    /// `.timedOut`. Returns how many timed out.
    @discardableResult
    public func expireDeadlines(now: UInt64) -> Int {
        var expired = 0
        while let t = deadlines.popDue(now: now) {
            finish(t, .timedOut, first: false)
            counters.timeouts += 1
            expired += 1
        }
        return expired
    }

    /// Ends a tasklet for good (its client disconnected, rule 20): every
    /// chanop leaves every channel before anything else runs. Returns the
    /// completion it had been woken with but never resumed to see, if any:
    /// a `.received` there is a value lost with its receiver.
    @discardableResult
    public func cancel(_ t: Tasklet) -> Completion? {
        var lost: Completion?
        switch t.state {
        case .blocked:
            withdraw(t)
            // The reference the engine kept while it was blocked (see `block`).
            Unmanaged.passUnretained(t).release()
        case .runnable:
            lost = t.takeCompletion()
        case .running, .dead:
            break
        }
        t.state = .dead
        t.context = nil
        return lost
    }

    // MARK: Channels

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
        counters.channelsCreated += 1
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

    /// The channel of this name if it exists; never creates one.
    public func existingChannel(named name: String) -> Channel? {
        channels[name]
    }

    public var channelCount: Int { channels.count }

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

    public enum MakeResult: Equatable, Sendable {
        case made
        /// It exists, in use or made before, with other settings.
        case exists(capacity: Int, preference: Preference)
        case limitReached
    }

    /// MAKE: a persistent channel with these settings. Making it again with
    /// the same settings succeeds; an idle implicit channel takes the new ones.
    public func make(_ name: String, capacity: Int, preference: Preference) -> MakeResult {
        guard let ch = channel(named: name) else { return .limitReached }
        if ch.capacity != capacity || ch.preference != preference {
            guard !ch.isPersistent && ch.isIdle else {
                return .exists(capacity: ch.capacity, preference: ch.preference)
            }
            ch.capacity = capacity
            ch.preference = preference
        }
        ch.isPersistent = true
        return .made
    }

    /// CLOSE (rule 15): closing now; closed once drained. Idempotent.
    public func close(_ ch: Channel) {
        counters.closes += 1
        guard ch.state == .open else { return }
        ch.state = .closing
        settleClose(ch)
    }

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
            counters.channelsDropped += 1
        }
        if spared.isEmpty {
            idleCandidates.removeAll(keepingCapacity: idleCandidates.count < 4096)
        } else {
            idleCandidates = spared
        }
    }

    // MARK: Select (rules 8-14)

    /// A select over `cases` for a running tasklet.
    public func select(_ t: Tasklet, _ cases: [SelectCase], wait: Wait) -> Outcome {
        precondition(!cases.isEmpty, "a select has at least one case")
        for c in cases {
            switch c.operation {
            case .send(let m): count(send: m)
            case .receive: counters.receives += 1
            }
        }
        counters.selects += 1
        precondition(t.state == .running, "only a running tasklet selects")
        // Rules 8-12: check every case, pick one ready case uniformly, or
        // block with one chanop per case; all in one step. The cases are
        // read by index, each read ending before anything is called: a case
        // held across a call is retained and released, channel and payload.
        var chosen = -1
        var ready = 0
        for i in cases.indices {
            let isSend = cases[i].isSend, ch = cases[i].channelRef
            guard ch._withUnsafeGuaranteedRef({ isSend ? $0.canSend : $0.canReceive }) else { continue }
            // Reservoir sampling: the k-th ready case wins with chance 1/k.
            ready += 1
            if ready == 1 || draw(below: UInt(ready)) == 0 { chosen = i }
        }
        if chosen >= 0 {
            noteChannels(of: cases)
            if let m = cases[chosen].message {
                return cases[chosen].channelRef._withUnsafeGuaranteedRef { fireSend(t, $0, m, case: chosen) }
            }
            return cases[chosen].channelRef._withUnsafeGuaranteedRef { fireReceive(t, $0, case: chosen) }
        }
        if case .nowait = wait {
            noteChannels(of: cases)
            return timedOutAtOnce()
        }
        for i in cases.indices {
            if case .send(let m) = cases[i].operation {
                t.setOp(i, channel: cases[i].channelRef, sending: m)
            } else {
                t.setOp(i, channel: cases[i].channelRef, sending: nil)
            }
        }
        return block(t, caseCount: cases.count, wait: wait)
    }

    /// `noteIfIdle` for every case's channel, in case order.
    private func noteChannels(of cases: [SelectCase]) {
        for i in cases.indices {
            cases[i].channelRef._withUnsafeGuaranteedRef { noteIfIdle($0) }
        }
    }

    /// SEND / THROW: a select with one case (rule 14), without a case array
    /// or chanop unless it has to wait.
    public func send(_ t: Tasklet, _ ch: Channel, _ m: Message, wait: Wait = .forever) -> Outcome {
        count(send: m)
        precondition(t.state == .running, "only a running tasklet selects")
        if ch.canSend {
            noteIfIdle(ch)
            return fireSend(t, ch, m, case: 0)
        }
        return waitAlone(t, on: ch, sending: m, wait: wait)
    }

    /// RECV: a select with one case (rule 14), as `send`.
    public func receive(_ t: Tasklet, _ ch: Channel, wait: Wait = .forever) -> Outcome {
        counters.receives += 1
        precondition(t.state == .running, "only a running tasklet selects")
        if ch.canReceive {
            noteIfIdle(ch)
            return fireReceive(t, ch, case: 0)
        }
        return waitAlone(t, on: ch, sending: nil, wait: wait)
    }

    /// A uniform draw in 0..<n from the injected generator.
    private func draw(below n: UInt) -> UInt {
        if xoshiro != nil { return xoshiro!.next(upperBound: n) }
        return otherRandom!.next(upperBound: n)
    }

    private func count(send m: Message) {
        if m.isException { counters.throws_ += 1 } else { counters.sends += 1 }
    }

    // A select that ends, by firing a case or timing out at once, first notes
    // every case's channel with `noteIfIdle`, as `releaseOps` does for a
    // select that waited; the fire functions below expect that done.

    /// A SEND or RECV that found its channel not ready.
    @inline(__always)
    private func waitAlone(_ t: Tasklet, on ch: Channel, sending message: consuming Message?,
                           wait: Wait) -> Outcome {
        if case .nowait = wait {
            noteIfIdle(ch)
            return timedOutAtOnce()
        }
        t.setOp(0, channel: Unmanaged.passUnretained(ch), sending: message)
        return block(t, caseCount: 1, wait: wait)
    }

    /// Rule 11: NOWAIT found nothing ready.
    private func timedOutAtOnce() -> Outcome {
        counters.timeouts += 1
        return .completed(.timedOut)
    }

    /// Nothing was ready and the select may wait: its `caseCount` chanops,
    /// set by the caller, are queued, and its deadline armed. The engine
    /// takes a reference to the blocked tasklet, which keeps it and its
    /// chanops alive whatever its owner does (see `ChanOp`); `finish` hands
    /// it to the runnable queue, `cancel` drops it.
    @inline(__always)
    private func block(_ t: Tasklet, caseCount: Int, wait: Wait) -> Outcome {
        if case .deadline(let at) = wait {
            t.deadline = at
            deadlines.insert(t)
        }
        t.opCount = caseCount
        for i in 0..<caseCount {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                if op.pointee.isSend { ch.sendq.append(op) } else { ch.recvq.append(op) }
            }
        }
        t.state = .blocked
        blockedCount += 1
        _ = Unmanaged.passRetained(t)
        return .blocked
    }

    /// Performs a ready SEND case of the running tasklet `t`.
    private func fireSend(_ t: Tasklet, _ ch: Channel, _ message: Message, case index: Int) -> Outcome {
        if ch.state != .open {
            return .completed(.sendFailedClosed(case: index))
        }
        // Rule 5: a waiting receiver takes the value directly.
        if let partner = ch.recvq.popFirst() {
            counters.rendezvous += 1
            ch.noteMoved(2, received: 1, interval: activityInterval)
            let targetFirst = ch.preference == .receiver
            partner.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .received(case: partner.pointee.caseIndex, message), first: targetFirst)
            }
            return resumeOrYield(t, .sent(case: index), yield: targetFirst)
        }
        counters.buffered += 1
        ch.noteMoved(1, received: 0, interval: activityInterval)
        ch.buffer.append(message)
        return .completed(.sent(case: index))
    }

    /// Performs a ready RECV case of the running tasklet `t`.
    private func fireReceive(_ t: Tasklet, _ ch: Channel, case index: Int) -> Outcome {
        // Rule 6: the buffer's head first, refilled from a waiting sender.
        let message: Message
        var yield = false
        if let head = ch.buffer.popFirst() {
            message = head
            if let partner = ch.sendq.popFirst() {
                ch.buffer.append(partner.pointee.message.take()!)
                yield = complete(sender: partner, on: ch)
                ch.noteMoved(2, received: 1, interval: activityInterval)
            } else {
                ch.noteMoved(1, received: 1, interval: activityInterval)
            }
        } else if let partner = ch.sendq.popFirst() {
            message = partner.pointee.message.take()!
            counters.rendezvous += 1
            ch.noteMoved(2, received: 1, interval: activityInterval)
            yield = complete(sender: partner, on: ch)
        } else {
            // Ready with nothing to take: the channel is closed (rule 15).
            return .completed(.receivedClosed(case: index))
        }
        if ch.state == .closing { settleClose(ch) }
        noteIfIdle(ch)
        return resumeOrYield(t, .received(case: index, message), yield: yield)
    }

    /// Wakes a sender whose value was just taken; true when the channel
    /// prefers senders, so the sender runs before the receiving source.
    @inline(__always)
    private func complete(sender partner: ChanOpRef, on ch: Channel) -> Bool {
        let targetFirst = ch.preference == .sender
        partner.pointee.owner._withUnsafeGuaranteedRef {
            finish($0, .sent(case: partner.pointee.caseIndex), first: targetFirst)
        }
        return targetFirst
    }

    /// Rule 17 for the source: carry on, or rejoin the runnable queue's tail
    /// behind the partner that the channel preferred.
    @inline(__always)
    private func resumeOrYield(_ t: Tasklet, _ c: consuming Completion, yield: Bool) -> Outcome {
        guard yield else { return .completed(c) }
        t.completion = c
        t.state = .runnable
        runnable.append(Unmanaged.passRetained(t))
        return .yielded
    }

    /// Rule 13: completes a blocked tasklet whose chanop was just dequeued (or
    /// which timed out): every other chanop leaves every channel, its timer is
    /// cancelled, and it becomes runnable: at the head of the runnable queue
    /// when `first` (its channel preferred its side), else at the tail. The
    /// queue takes over the reference the engine took when it blocked.
    @inline(__always)
    private func finish(_ t: Tasklet, _ c: consuming Completion, first: Bool) {
        t.completion = c
        t.state = .runnable
        let entry = Unmanaged.passUnretained(t)
        if first { runnable.prepend(entry) } else { runnable.append(entry) }
        withdraw(t)
    }

    /// Removes all chanops of a blocked tasklet and cancels its deadline.
    /// Removing a sender can finish a close (rule 15), which wakes
    /// receivers; that happens only after every chanop of `t` is out, so the
    /// cascade cannot reach `t` again.
    private func withdraw(_ t: Tasklet) {
        blockedCount -= 1
        if t.heapIndex >= 0 { deadlines.remove(t) }
        var anyClosing = false
        for i in 0..<t.opCount {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                if op.pointee.isQueued {
                    if op.pointee.isSend { ch.sendq.remove(op) } else { ch.recvq.remove(op) }
                }
                if ch.state == .closing { anyClosing = true }
            }
        }
        // Removals change no channel's state, so this pass is needed only
        // when the first saw a closing channel.
        if anyClosing {
            for i in 0..<t.opCount {
                t.ops[i].pointee.channel!._withUnsafeGuaranteedRef { ch in
                    if ch.state == .closing { settleClose(ch) }
                }
            }
        }
        releaseOps(t)
    }

    /// Notes the chanops' channels that may have turned idle, and drops the
    /// chanops' references to channels and payloads.
    private func releaseOps(_ t: Tasklet) {
        for i in 0..<t.opCount {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { noteIfIdle($0) }
            op.pointee.channel = nil
            if op.pointee.message != nil { op.pointee.message = nil }
        }
        t.opCount = 0
    }

    /// Rule 15: a closing channel with an empty buffer and no sender waiting
    /// is closed, and every receiver waiting on it is woken with CLOSED.
    private func settleClose(_ ch: Channel) {
        guard ch.state == .closing, ch.buffer.isEmpty, ch.sendq.isEmpty else { return }
        ch.state = .closed
        while let op = ch.recvq.popFirst() {
            op.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .receivedClosed(case: op.pointee.caseIndex), first: false)
            }
        }
    }

    @inline(__always)
    private func noteIfIdle(_ ch: Channel) {
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
