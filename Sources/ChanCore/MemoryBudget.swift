/// The engine's memory budget (`Engine.maxMemory`): the payload bytes of
/// buffered and held values, and bytes the caller holds for values on their
/// way in. Senders that would buffer wait while it is spent, and are let in,
/// channel by channel in the order they began to wait, as it frees up.
extension Engine {
    var isMemoryFull: Bool { memoryUsed >= maxMemory }

    /// Counts `bytes` the caller holds against the budget (on the server:
    /// payloads being read).
    public func reserveMemory(_ bytes: Int) {
        memoryUsed += bytes
    }

    /// Returns bytes counted with `reserveMemory`; senders waiting for
    /// memory may go on.
    public func releaseMemory(_ bytes: Int) {
        memoryUsed -= bytes
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
    }

    @inline(__always)
    func buffer(_ m: Message, in ch: Channel) {
        memoryUsed &+= m.payload.count
        if ch.isDurable { durability?.valueBuffered(m, in: ch) }
        ch.buffer.append(m)
    }

    @inline(__always)
    func unbuffer(_ ch: Channel) -> Message? {
        guard let m = ch.buffer.popFirst() else { return nil }
        memoryUsed &-= m.payload.count
        return m
    }

    /// Rule 6's refill after a value left `ch`'s buffer: the waiting sender
    /// whose value moves into the buffer, dequeued; nil when the buffer is
    /// (still) full, nobody waits, or memory is spent (then `ch` waits for
    /// memory, so that freeing some fills its buffer).
    @inline(__always)
    func refillingSender(_ ch: Channel) -> ChanOpRef? {
        guard ch.buffer.count < ch.capacity, !ch.sendq.isEmpty else { return nil }
        if isMemoryFull {
            waitForMemory(ch)
            return nil
        }
        return ch.sendq.popFirst()
    }

    /// A sender blocked on `ch` although its buffer has room: only memory
    /// holds it back.
    @inline(__always)
    func waitForMemory(_ ch: Channel) {
        guard !ch.waitsForMemory else { return }
        ch.waitsForMemory = true
        memoryWaiters.append(ch)
    }

    /// Moves the values of senders waiting for memory into their buffers
    /// while the budget allows (rule 6's refill), completing those senders;
    /// the first channel to wait is served first.
    func admitWaitingSenders() {
        var served = 0
        for ch in memoryWaiters {
            while !isMemoryFull && ch.buffer.count < ch.capacity && ch.slot >= 0, let op = ch.sendq.popFirst() {
                buffer(op.pointee.message.take()!, in: ch)
                table.noteMoved(ch, 1, received: 0)
                op.pointee.owner._withUnsafeGuaranteedRef {
                    finish($0, .sent(case: op.pointee.caseIndex), first: false)
                }
            }
            if isMemoryFull && !ch.sendq.isEmpty && ch.buffer.count < ch.capacity && ch.slot >= 0 { break }
            ch.waitsForMemory = false
            served += 1
        }
        memoryWaiters.removeFirst(served)
    }
}
