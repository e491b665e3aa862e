import DequeModule

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

    private var random: any RandomNumberGenerator
    private var channels: [String: Channel] = [:]
    private var idleCandidates: [Channel] = []
    private(set) var runnable = Deque<Tasklet>()
    private var deadlines = DeadlineHeap()
    private var nextTaskletID = 1

    /// `random` chooses among ready select cases; inject a seeded
    /// `Xoshiro256` for reproducible runs.
    public init(random: some RandomNumberGenerator = Xoshiro256(), maxChannels: Int = 1_000_000) {
        self.random = random
        self.maxChannels = maxChannels
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

    /// Channels whose names start with `prefix`, sorted by name.
    public func channels(withPrefix prefix: String = "") -> [Channel] {
        channels.values.filter { $0.name.hasPrefix(prefix) }.sorted { $0.name < $1.name }
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
    /// every name it has seen; MAKE-made channels stay.
    public func sweepIdleChannels() {
        for ch in idleCandidates {
            ch.isIdleCandidate = false
            if !ch.isPersistent && ch.isIdle && channels[ch.name] === ch {
                channels[ch.name] = nil
                counters.channelsDropped += 1
            }
        }
        idleCandidates.removeAll(keepingCapacity: idleCandidates.count < 4096)
    }

    // MARK: Select (rules 8-14)

    /// A select over `cases` for a running tasklet.
    public func select(_ t: Tasklet, _ cases: [SelectCase], wait: Wait) -> Outcome {
        precondition(!cases.isEmpty, "a select has at least one case")
        for (i, c) in cases.enumerated() {
            switch c.operation {
            case .send(let m):
                t.setOp(i, channel: c.channel, isSend: true, message: m)
                count(send: m)
            case .receive:
                t.setOp(i, channel: c.channel, isSend: false, message: .empty)
                counters.receives += 1
            }
        }
        counters.selects += 1
        return run(t, caseCount: cases.count, wait: wait)
    }

    /// SEND / THROW: a select with one case (rule 14).
    public func send(_ t: Tasklet, _ ch: Channel, _ m: Message, wait: Wait = .forever) -> Outcome {
        t.setOp(0, channel: ch, isSend: true, message: m)
        count(send: m)
        return run(t, caseCount: 1, wait: wait)
    }

    /// RECV: a select with one case (rule 14).
    public func receive(_ t: Tasklet, _ ch: Channel, wait: Wait = .forever) -> Outcome {
        t.setOp(0, channel: ch, isSend: false, message: .empty)
        counters.receives += 1
        return run(t, caseCount: 1, wait: wait)
    }

    private func count(send m: Message) {
        if m.isException { counters.throws_ += 1 } else { counters.sends += 1 }
    }

    /// Rules 8-12: check every case, pick one ready case uniformly, or block
    /// with one chanop per case; all in one step.
    private func run(_ t: Tasklet, caseCount: Int, wait: Wait) -> Outcome {
        precondition(t.state == .running, "only a running tasklet selects")
        t.opCount = caseCount
        var chosen: ChanOp?
        var ready = 0
        for i in 0..<caseCount {
            let op = t.ops[i]
            guard op.isReady else { continue }
            // Reservoir sampling: the k-th ready case wins with chance 1/k.
            ready += 1
            if ready == 1 || random.next(upperBound: UInt(ready)) == 0 { chosen = op }
        }
        if let op = chosen {
            return fire(t, op)
        }
        switch wait {
        case .nowait:
            releaseOps(t)
            counters.timeouts += 1
            return .completed(.timedOut)
        case .forever:
            break
        case .deadline(let at):
            t.deadline = at
            deadlines.insert(t)
        }
        for i in 0..<caseCount {
            let op = t.ops[i]
            if op.isSend { op.channel!.sendq.append(op) } else { op.channel!.recvq.append(op) }
        }
        t.state = .blocked
        blockedCount += 1
        return .blocked
    }

    /// Performs the chosen ready case `op` of the running tasklet `t`.
    private func fire(_ t: Tasklet, _ op: ChanOp) -> Outcome {
        let ch = op.channel!
        let index = op.caseIndex
        if op.isSend {
            if ch.state != .open {
                releaseOps(t)
                return .completed(.sendFailedClosed(case: index))
            }
            let message = op.message
            releaseOps(t)
            // Rule 5: a waiting receiver takes the value directly.
            if let partner = ch.recvq.popFirst() {
                counters.rendezvous += 1
                let targetFirst = ch.preference == .receiver
                finish(partner.tasklet, .received(case: partner.caseIndex, message), first: targetFirst)
                return resumeOrYield(t, .sent(case: index), yield: targetFirst)
            }
            counters.buffered += 1
            ch.buffer.append(message)
            return .completed(.sent(case: index))
        }
        releaseOps(t)
        // Rule 6: the buffer's head first, refilled from a waiting sender.
        let message: Message
        var yield = false
        if let head = ch.buffer.popFirst() {
            message = head
            if let partner = ch.sendq.popFirst() {
                ch.buffer.append(partner.message)
                yield = complete(sender: partner, on: ch)
            }
        } else if let partner = ch.sendq.popFirst() {
            message = partner.message
            counters.rendezvous += 1
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
    private func complete(sender partner: ChanOp, on ch: Channel) -> Bool {
        let targetFirst = ch.preference == .sender
        finish(partner.tasklet, .sent(case: partner.caseIndex), first: targetFirst)
        return targetFirst
    }

    /// Rule 17 for the source: carry on, or rejoin the runnable queue's tail
    /// behind the partner that the channel preferred.
    private func resumeOrYield(_ t: Tasklet, _ c: Completion, yield: Bool) -> Outcome {
        guard yield else { return .completed(c) }
        t.completion = c
        t.state = .runnable
        runnable.append(t)
        return .yielded
    }

    /// Rule 13: completes a blocked tasklet whose chanop was just dequeued (or
    /// which timed out): every other chanop leaves every channel, its timer is
    /// cancelled, and it becomes runnable: at the head of the runnable queue
    /// when `first` (its channel preferred its side), else at the tail.
    private func finish(_ t: Tasklet, _ c: Completion, first: Bool) {
        t.completion = c
        t.state = .runnable
        if first { runnable.prepend(t) } else { runnable.append(t) }
        withdraw(t)
    }

    /// Removes all chanops of a blocked tasklet and cancels its deadline.
    /// Removing a sender can finish a close (rule 15), which wakes
    /// receivers; that happens only after every chanop of `t` is out, so the
    /// cascade cannot reach `t` again.
    private func withdraw(_ t: Tasklet) {
        blockedCount -= 1
        if t.heapIndex >= 0 { deadlines.remove(t) }
        for i in 0..<t.opCount {
            let op = t.ops[i]
            guard op.isQueued else { continue }
            if op.isSend { op.channel!.sendq.remove(op) } else { op.channel!.recvq.remove(op) }
        }
        for i in 0..<t.opCount {
            let ch = t.ops[i].channel!
            if ch.state == .closing { settleClose(ch) }
        }
        releaseOps(t)
    }

    /// Drops the chanops' references to channels and payloads.
    private func releaseOps(_ t: Tasklet) {
        for i in 0..<t.opCount {
            let op = t.ops[i]
            noteIfIdle(op.channel!)
            op.channel = nil
            op.message = .empty
        }
        t.opCount = 0
    }

    /// Rule 15: a closing channel with an empty buffer and no sender waiting
    /// is closed, and every receiver waiting on it is woken with CLOSED.
    private func settleClose(_ ch: Channel) {
        guard ch.state == .closing, ch.buffer.isEmpty, ch.sendq.isEmpty else { return }
        ch.state = .closed
        while let op = ch.recvq.popFirst() {
            finish(op.tasklet, .receivedClosed(case: op.caseIndex), first: false)
        }
    }

    private func noteIfIdle(_ ch: Channel) {
        guard !ch.isIdleCandidate, !ch.isPersistent, ch.isIdle else { return }
        ch.isIdleCandidate = true
        idleCandidates.append(ch)
    }
}
