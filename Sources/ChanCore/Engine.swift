/// The channel engine: the channel rules of semantics.md (rendezvous,
/// buffer, select, close, held values), the runnable queue, timeouts and
/// cancellation; the channels themselves live in its `ChannelTable`. Pure
/// and single-threaded: one event-loop thread drives it. Every call
/// completes or blocks the calling tasklet at once;
/// tasklets completed on the way (partners of a rendezvous, receivers woken by
/// a close, selects timed out) are placed in the runnable queue, which the
/// caller drains with `nextRunnable()`.
public final class Engine {
    /// Operation counters, for INFO and metrics.
    public struct Counters: Sendable {
        public var sends = 0, throws_ = 0, receives = 0, selects = 0
        public var rendezvous = 0, buffered = 0, timeouts = 0, closes = 0
        public var channelsCreated = 0, channelsDropped = 0
        /// Values held by receivers now (rule 22), and values given back
        /// and offered again (rule 23).
        public var held = 0, redelivered = 0
        /// DELETE and OPEN requests, and the buffered values deleted
        /// channels dropped.
        public var deletes = 0, opens = 0, valuesDropped = 0
    }

    /// Operation counters; the channel table's are included.
    public var counters: Counters {
        var c = stats
        c.channelsCreated = table.created
        c.channelsDropped = table.dropped
        return c
    }
    var stats = Counters()
    /// Tasklets blocked in a select.
    public internal(set) var blockedCount = 0
    /// Where the channels live: names, the limit, the sweep, listings, rates.
    public let table: ChannelTable

    // The generator that chooses among ready cases, stored unboxed so that
    // drawing is inlined.
    var random: Xoshiro256
    private(set) var runnable = RunQueue()
    var deadlines = DeadlineHeap()
    private var nextTaskletID = 1

    /// The memory budget: payload bytes of buffered and held values, plus
    /// what the caller adds with `reserveMemory`. At or past `maxMemory` a
    /// value that would be buffered waits as if its buffer were full; a
    /// rendezvous still completes. (A value is admitted while the total is
    /// below the bound, so the total may pass it by one value.)
    public var maxMemory: Int {
        didSet { if !memoryWaiters.isEmpty { admitWaitingSenders() } }
    }
    public internal(set) var memoryUsed = 0
    /// Channels whose senders wait for memory, in the order they began to.
    var memoryWaiters: [Channel] = []

    /// Senders blocked until a holder acknowledges their value (rule 22):
    /// in no queue, so listed here for `deinit` (linked through the tasklets).
    var heldSenders: Unmanaged<Tasklet>?
    /// Held values acknowledged or given back, for the next ones (see `makeHeld`).
    var spareHeld: [HeldValue] = []
    /// Delivered payloads' storage, for the next values parsed (see `PayloadPool`).
    public let payloads = PayloadPool()
    var tearingDown = false

    /// Told what happens to durable channels (see `DurabilityObserver`).
    public weak var durability: DurabilityObserver?

    /// `random` chooses among ready select cases; inject a seeded generator
    /// for reproducible runs.
    public init(random: Xoshiro256 = Xoshiro256(), maxChannels: Int = 1_000_000, maxMemory: Int = .max) {
        self.random = random
        self.maxMemory = maxMemory
        table = ChannelTable(maxChannels: maxChannels)
    }

    deinit {
        // Blocked tasklets are owned by the engine (see `block`): cancel them,
        // so that none is left with chanops queued in channels that outlive
        // it, nor waiting for an acknowledgement. Values given back on the
        // way are dropped, so that none is offered to a waiter again.
        tearingDown = true
        while let s = heldSenders { cancel(s.takeUnretainedValue()) }
        for ch in table.all {
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
            stats.timeouts += 1
            expired += 1
        }
        return expired
    }

    /// Ends a tasklet for good (its client disconnected, rule 20): every
    /// chanop leaves every channel before anything else runs, and every
    /// value it holds is given back (rule 23), latest first, so that values
    /// from one channel return in the order they left it. If it is a sender
    /// whose value is held, the holder's acknowledgement will complete
    /// nothing and a give-back drops the value. Returns the completion it
    /// had been woken with but never resumed to see, if any: a `.received`
    /// there is a value lost with its receiver, unless that receive was made
    /// with `hold` (the value was given back).
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
        // Last: a value given back must not find a chanop of `t` waiting.
        if !t.held.isEmpty || t.heldBy != nil { releaseHolds(of: t) }
        return lost
    }

    // MARK: Channels (the table's, here for the callers that have an engine)

    /// Channels are not created past this many; `channel(named:)` returns nil.
    public var maxChannels: Int {
        get { table.maxChannels }
        set { table.maxChannels = newValue }
    }

    /// See `ChannelTable.channel(named:)`.
    public func channel(named name: String) -> Channel? { table.channel(named: name) }

    /// The channel of this name if it exists; never creates one.
    public func existingChannel(named name: String) -> Channel? { table.existing(named: name) }

    public var channelCount: Int { table.count }

    /// See `ChannelTable.channels(withPrefix:limit:)`.
    public func channels(withPrefix prefix: String = "", limit: Int = .max) -> (first: [Channel], matching: Int) {
        table.channels(withPrefix: prefix, limit: limit)
    }

    /// See `ChannelTable.busiestChannels(withPrefix:limit:)`.
    public func busiestChannels(withPrefix prefix: String = "", limit: Int) -> (first: [Channel], matching: Int) {
        table.busiestChannels(withPrefix: prefix, limit: limit)
    }

    public var activityInterval: Int { table.activityInterval }

    public func startActivityInterval() { table.startActivityInterval() }

    /// See `ChannelTable.recentlyMoved(_:)`.
    public func recentlyMoved(_ ch: Channel) -> Int { table.recentlyMoved(ch) }

    /// See `ChannelTable.busiestActiveChannels(withPrefix:limit:)`.
    public func busiestActiveChannels(withPrefix prefix: String = "", limit: Int) -> (first: [Channel], matching: Int) {
        table.busiestActiveChannels(withPrefix: prefix, limit: limit)
    }

    /// See `ChannelTable.scan(cursor:prefix:count:)`.
    public func scan(cursor: Int, prefix: String = "", count: Int) -> (next: Int, channels: [Channel]) {
        table.scan(cursor: cursor, prefix: prefix, count: count)
    }

    /// See `ChannelTable.forgetClosedChannels(now:ttl:)`.
    public func forgetClosedChannels(now: UInt64, ttl: UInt64) {
        for ch in table.forgetClosedChannels(now: now, ttl: ttl) where ch.isDurable {
            durability?.channelDeleted(ch)
        }
    }

    /// See `ChannelTable.sweepIdleChannels(sparingActive:)`.
    public func sweepIdleChannels(sparingActive: Bool = false) {
        table.sweepIdleChannels(sparingActive: sparingActive)
    }

    public enum MakeResult: Equatable, Sendable {
        case made
        /// It exists, in use or made before, with other settings.
        case exists(capacity: Int, preference: Preference)
        case limitReached
        /// It is closing or closed: `open` it, or `delete` it first.
        case closed
    }

    /// MAKE: a persistent channel with these settings. Making it again with
    /// the same settings succeeds; an idle implicit channel takes the new ones.
    /// A `durable` channel's buffer is reported to `durability`; whether a
    /// channel is durable is one of its settings.
    public func make(_ name: String, capacity: Int, preference: Preference, durable: Bool = false) -> MakeResult {
        guard let ch = channel(named: name) else { return .limitReached }
        guard ch.state == .open else { return .closed }
        if ch.capacity != capacity || ch.preference != preference || ch.isDurable != durable {
            guard !ch.isPersistent && ch.isIdle else {
                return .exists(capacity: ch.capacity, preference: ch.preference)
            }
            ch.capacity = capacity
            ch.preference = preference
            ch.isDurable = durable
            if durable { durability?.channelMade(ch) }
        }
        ch.isPersistent = true
        return .made
    }

    /// OPEN (Stackless's `channel.open()`): a closing or closed channel is
    /// open again, with its buffer, waiting senders and settings.
    public func open(_ ch: Channel) {
        stats.opens += 1
        guard ch.state != .open, ch.slot >= 0 else { return }
        ch.state = .open
        ch.closedSince = nil
        if ch.isDurable { durability?.channelOpened(ch) }
        noteIfIdle(ch)
    }

    /// DELETE: the channel of this name is gone at once, and a later use
    /// makes the name anew. Its waiting receivers complete with
    /// `.receivedClosed`, its waiting senders with `.sendFailedClosed`, and
    /// its buffered values are dropped (returned, and counted in
    /// `valuesDropped`). Values of it that receivers hold stay theirs: an
    /// acknowledgement still completes a rendezvous sender (`.sent`), a
    /// give-back drops the value and fails that sender (`.sendFailedClosed`).
    @discardableResult
    public func delete(named name: String) -> Int {
        stats.deletes += 1
        guard let ch = table.existing(named: name), table.remove(ch) else { return 0 }
        ch.state = .closed
        if ch.isDurable { durability?.channelDeleted(ch) }
        while let op = ch.recvq.popFirst() {
            op.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .receivedClosed(case: op.pointee.caseIndex), first: false)
            }
        }
        while let op = ch.sendq.popFirst() {
            op.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .sendFailedClosed(case: op.pointee.caseIndex), first: false)
            }
        }
        let dropped = ch.buffer.count
        while unbuffer(ch) != nil {}
        stats.valuesDropped += dropped
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return dropped
    }

    /// CLOSE (rule 15): closing now; closed once drained. Idempotent.
    public func close(_ ch: Channel) {
        stats.closes += 1
        guard ch.state == .open else { return }
        ch.state = .closing
        if ch.isDurable { durability?.channelClosed(ch) }
        settleClose(ch)
    }

    // MARK: Select (rules 8-14)

    /// A select over `cases` for a running tasklet.
    /// With `hold`, a RECV case that fires holds its value (rule 22): the
    /// completion is `.received`, and the value stays the receiver's, under
    /// the tag `t.lastHeldTag`, to `acknowledge` or `giveBack`.
    public func select(_ t: Tasklet, _ cases: [SelectCase], wait: Wait, hold: Bool = false) -> Outcome {
        precondition(!cases.isEmpty, "a select has at least one case")
        for c in cases {
            switch c.operation {
            case .send(let m): count(send: m)
            case .receive: stats.receives += 1
            }
        }
        stats.selects += 1
        precondition(t.state == .running, "only a running tasklet selects")
        // Rules 8-12: check every case, pick one ready case uniformly, or
        // block with one chanop per case; all in one step. The cases are
        // read by index, each read ending before anything is called: a case
        // held across a call is retained and released, channel and payload.
        var chosen = -1
        var ready = 0
        let memoryFull = isMemoryFull
        for i in cases.indices {
            let isSend = cases[i].isSend, ch = cases[i].channelRef
            guard ch._withUnsafeGuaranteedRef({ isSend ? $0.canSend(memoryFull: memoryFull) : $0.canReceive }) else {
                continue
            }
            // Reservoir sampling: the k-th ready case wins with chance 1/k.
            ready += 1
            if ready == 1 || draw(below: UInt(ready)) == 0 { chosen = i }
        }
        if chosen >= 0 {
            noteChannels(of: cases)
            if let m = cases[chosen].message {
                return cases[chosen].channelRef._withUnsafeGuaranteedRef { fireSend(t, $0, m, case: chosen) }
            }
            if hold {
                return cases[chosen].channelRef._withUnsafeGuaranteedRef { fireHeldReceive(t, $0, case: chosen) }
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
                t.setOp(i, channel: cases[i].channelRef, sending: nil, hold: hold)
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
        if ch.canSend(memoryFull: isMemoryFull) {
            noteIfIdle(ch)
            return fireSend(t, ch, m, case: 0)
        }
        return waitAlone(t, on: ch, sending: m, wait: wait)
    }

    /// RECV: a select with one case (rule 14), as `send`. With `hold`, as
    /// for `select`.
    public func receive(_ t: Tasklet, _ ch: Channel, wait: Wait = .forever, hold: Bool = false) -> Outcome {
        stats.receives += 1
        precondition(t.state == .running, "only a running tasklet selects")
        if ch.canReceive {
            noteIfIdle(ch)
            return hold ? fireHeldReceive(t, ch, case: 0) : fireReceive(t, ch, case: 0)
        }
        return waitAlone(t, on: ch, sending: nil, hold: hold, wait: wait)
    }

    /// A uniform draw in 0..<n from the injected generator.
    @inline(__always)
    private func draw(below n: UInt) -> UInt {
        random.next(upperBound: n)
    }

    private func count(send m: Message) {
        if m.isException { stats.throws_ += 1 } else { stats.sends += 1 }
    }

    // A select that ends, by firing a case or timing out at once, first notes
    // every case's channel with `noteIfIdle`, as `releaseOps` does for a
    // select that waited; the fire functions below expect that done.

    /// A SEND or RECV that found its channel not ready.
    @inline(__always)
    private func waitAlone(_ t: Tasklet, on ch: Channel, sending message: consuming Message?,
                           hold: Bool = false, wait: Wait) -> Outcome {
        if case .nowait = wait {
            noteIfIdle(ch)
            return timedOutAtOnce()
        }
        t.setOp(0, channel: Unmanaged.passUnretained(ch), sending: message, hold: hold)
        return block(t, caseCount: 1, wait: wait)
    }

    /// Rule 11: NOWAIT found nothing ready.
    private func timedOutAtOnce() -> Outcome {
        stats.timeouts += 1
        return .completed(.timedOut)
    }

    /// Nothing was ready and the select may wait: its `caseCount` chanops,
    /// set by the caller, are queued (rule 12: see `requeueShuffled`), and
    /// its deadline armed. The engine
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
        var shared = false
        for i in 0..<caseCount {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                if op.pointee.isSend {
                    shared = ch.sendq.append(op) || shared
                    // Room in the buffer, yet waiting: for memory.
                    if ch.buffer.count < ch.capacity { waitForMemory(ch) }
                } else {
                    shared = ch.recvq.append(op) || shared
                }
            }
        }
        if shared { requeueShuffled(t) }
        t.state = .blocked
        blockedCount += 1
        _ = Unmanaged.passRetained(t)
        return .blocked
    }

    /// Rule 12: a blocked select's chanops join their queues in a uniformly
    /// random order (Go's pollorder), so that a later partner fires each of
    /// several cases on one channel equally often. The order shows only
    /// among chanops that share a queue (each queue is FIFO, and a select's
    /// chanops all join in one step), so `block` queues them in case order
    /// and, only when two of them met in one queue, takes them out again and
    /// queues them shuffled: the queues then look exactly as after a full
    /// shuffle, and other selects draw nothing. Each chanop keeps its own
    /// case index.
    @inline(never)
    private func requeueShuffled(_ t: Tasklet) {
        let n = t.opCount
        for i in 0..<n {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                if op.pointee.isSend { ch.sendq.remove(op) } else { ch.recvq.remove(op) }
            }
        }
        t.ops.withUnsafeMutableBufferPointer { ops in
            random.permute(n) { i, j in ops.swapAt(i, j) }
        }
        for i in 0..<n {
            let op = t.ops[i]
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                _ = op.pointee.isSend ? ch.sendq.append(op) : ch.recvq.append(op)
            }
        }
    }

    /// Performs a ready SEND case of the running tasklet `t`.
    private func fireSend(_ t: Tasklet, _ ch: Channel, _ message: Message, case index: Int) -> Outcome {
        if ch.state != .open {
            return .completed(.sendFailedClosed(case: index))
        }
        // Rule 5: a waiting receiver takes the value directly.
        if let partner = ch.recvq.popFirst() {
            if partner.pointee.hold { return sendToHolder(t, ch, message, case: index, receiver: partner) }
            stats.rendezvous += 1
            table.noteMoved(ch, 2, received: 1)
            let targetFirst = ch.preference == .receiver
            partner.pointee.owner._withUnsafeGuaranteedRef {
                if ch.isDurable {
                    // As if buffered, then taken at once: the sender's OK
                    // must not outlive a crash before the receiver's write.
                    durability?.valueBuffered(message, in: ch)
                    noteTaken(from: ch, by: $0, held: false)
                }
                finish($0, .received(case: partner.pointee.caseIndex, message), first: targetFirst)
            }
            return resumeOrYield(t, .sent(case: index), yield: targetFirst)
        }
        stats.buffered += 1
        table.noteMoved(ch, 1, received: 0)
        buffer(message, in: ch)
        return .completed(.sent(case: index))
    }

    /// Performs a ready RECV case of the running tasklet `t`.
    private func fireReceive(_ t: Tasklet, _ ch: Channel, case index: Int) -> Outcome {
        // Rule 6: the buffer's head first, refilled from a waiting sender.
        let message: Message
        var yield = false
        if let head = unbuffer(ch) {
            message = head
            if ch.isDurable { noteTaken(from: ch, by: t, held: false) }
            // (A buffer past its capacity holds values given back, rule 23.)
            if let partner = refillingSender(ch) {
                buffer(partner.pointee.message.take()!, in: ch)
                yield = complete(sender: partner, on: ch)
                table.noteMoved(ch, 2, received: 1)
            } else {
                table.noteMoved(ch, 1, received: 1)
            }
        } else if let partner = ch.sendq.popFirst() {
            message = partner.pointee.message.take()!
            stats.rendezvous += 1
            table.noteMoved(ch, 2, received: 1)
            yield = complete(sender: partner, on: ch)
        } else {
            // Ready with nothing to take: the channel is closed (rule 15).
            return .completed(.receivedClosed(case: index))
        }
        if ch.state == .closing { settleClose(ch) }
        noteIfIdle(ch)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return resumeOrYield(t, .received(case: index, message), yield: yield)
    }

    /// Wakes a sender whose value was just taken; true when the channel
    /// prefers senders, so the sender runs before the receiving source.
    @inline(__always)
    func complete(sender partner: ChanOpRef, on ch: Channel) -> Bool {
        let targetFirst = ch.preference == .sender
        partner.pointee.owner._withUnsafeGuaranteedRef {
            finish($0, .sent(case: partner.pointee.caseIndex), first: targetFirst)
        }
        return targetFirst
    }

    /// Rule 17 for the source: carry on, or rejoin the runnable queue's tail
    /// behind the partner that the channel preferred.
    @inline(__always)
    func resumeOrYield(_ t: Tasklet, _ c: consuming Completion, yield: Bool) -> Outcome {
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
    func finish(_ t: Tasklet, _ c: consuming Completion, first: Bool) {
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
    func withdraw(_ t: Tasklet) {
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
    func releaseOps(_ t: Tasklet) {
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
    /// Values still held do not keep it closing; one given back makes it
    /// closing again (rule 24).
    func settleClose(_ ch: Channel) {
        guard ch.state == .closing, ch.buffer.isEmpty, ch.sendq.isEmpty else { return }
        ch.state = .closed
        table.noteClosed(ch)
        while let op = ch.recvq.popFirst() {
            op.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .receivedClosed(case: op.pointee.caseIndex), first: false)
            }
        }
    }

    @inline(__always)
    func noteIfIdle(_ ch: Channel) { table.noteIfIdle(ch) }
}
