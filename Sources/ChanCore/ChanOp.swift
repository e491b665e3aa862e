/// One pending operation of one tasklet on one channel (semantics.md
/// "Words"). A tasklet owns a pool of chanops that it reuses from select to
/// select, so a blocking operation allocates nothing in the steady state.
final class ChanOp {
    /// The owner. Unowned: the tasklet owns its chanops, and a tasklet is
    /// never dropped while any of them is queued (`Engine.cancel` dequeues).
    unowned(unsafe) let tasklet: Tasklet
    /// Unowned: while a chanop is queued its channel is busy, so the engine's
    /// table keeps it; before and after, the caller of the select holds it.
    unowned(unsafe) var channel: Channel?
    var isSend = false
    var message = Message.empty
    var caseIndex = 0

    // Intrusive links of the wait queue this chanop is in, if any.
    var next: ChanOp?
    unowned(unsafe) var prev: ChanOp?
    var isQueued = false

    init(tasklet: Tasklet) {
        self.tasklet = tasklet
    }

    /// Rule 9: can this case complete now (or fail at once on a closed
    /// channel)? Called only for a tasklet that has nothing queued, so a
    /// waiter found here is never the asking tasklet itself (rule 12).
    var isReady: Bool {
        let ch = channel!
        if isSend {
            return ch.state != .open || !ch.recvq.isEmpty || ch.buffer.count < ch.capacity
        }
        return !ch.buffer.isEmpty || !ch.sendq.isEmpty || ch.state == .closed
    }
}

/// A FIFO of chanops with O(1) removal by identity (rules 3-4): an intrusive
/// doubly linked list, as Go's `waitq` of sudogs.
struct WaitQueue {
    private(set) var head: ChanOp?
    private unowned(unsafe) var tail: ChanOp?
    private(set) var count = 0

    var isEmpty: Bool { head == nil }

    mutating func append(_ op: ChanOp) {
        precondition(!op.isQueued, "a chanop is in at most one queue")
        op.isQueued = true
        op.next = nil
        op.prev = tail
        if let tail { tail.next = op } else { head = op }
        tail = op
        count += 1
    }

    mutating func popFirst() -> ChanOp? {
        guard let op = head else { return nil }
        remove(op)
        return op
    }

    mutating func remove(_ op: ChanOp) {
        precondition(op.isQueued)
        if let prev = op.prev { prev.next = op.next } else { head = op.next }
        if let next = op.next { next.prev = op.prev } else { tail = op.prev }
        op.next = nil
        op.prev = nil
        op.isQueued = false
        count -= 1
    }

    /// The queued chanops, head first (for inspection and tests).
    func forEach(_ body: (ChanOp) -> Void) {
        var op = head
        while let current = op {
            body(current)
            op = current.next
        }
    }
}
