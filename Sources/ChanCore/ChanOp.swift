/// One pending operation of one blocked tasklet on one channel (semantics.md
/// "Words"). A tasklet owns a pool of chanops that it reuses from select to
/// select, so a blocking operation allocates nothing in the steady state.
///
/// A chanop is a plain record that its tasklet allocates once and frees in
/// its deinit (`Tasklet.ops`), reached through a `ChanOpRef`, and its
/// references are `Unmanaged`. The engine follows chanops, their tasklets and
/// their channels on every handoff; through class references each of those
/// reads costs an atomic retain and release, which were most of the engine's
/// time. The lifetimes hold by design instead:
/// - a chanop lives as long as its tasklet;
/// - a blocked tasklet is owned by the engine (`Engine.block` takes a
///   reference, handed on to the runnable queue when it wakes or dropped when
///   it is cancelled), so a queued chanop and its owner are always alive;
/// - a chanop's channel is busy while the chanop is queued, so the engine's
///   table keeps it (only idle channels are swept).
struct ChanOp {
    /// The tasklet whose pool holds this chanop.
    let owner: Unmanaged<Tasklet>
    /// Set while the chanop belongs to a blocked select.
    var channel: Unmanaged<Channel>?
    var isSend = false
    /// A send's value, until it is delivered (moved out, never copied) or
    /// the select ends (`Engine.releaseOps` drops it); nil otherwise.
    var message: Message?
    var caseIndex = 0
    /// A RECV case that holds the value it receives (rule 22).
    var hold = false

    // Intrusive links of the wait queue this chanop is in, if any.
    var next: ChanOpRef?
    var prev: ChanOpRef?
    var isQueued = false

    init(owner: Tasklet) {
        self.owner = Unmanaged.passUnretained(owner)
    }

    /// The owner (for inspection and tests).
    var tasklet: Tasklet { owner.takeUnretainedValue() }
}

typealias ChanOpRef = UnsafeMutablePointer<ChanOp>

/// A FIFO of chanops with O(1) removal by identity (rules 3-4): an intrusive
/// doubly linked list, as Go's `waitq` of sudogs.
struct WaitQueue {
    private(set) var head: ChanOpRef?
    private var tail: ChanOpRef?
    private(set) var count = 0

    var isEmpty: Bool { head == nil }

    /// Adds `op` at the tail; true when the chanop it joined behind belongs
    /// to the same tasklet (two cases of one select in one queue, rule 12).
    @discardableResult
    mutating func append(_ op: ChanOpRef) -> Bool {
        precondition(!op.pointee.isQueued, "a chanop is in at most one queue")
        op.pointee.isQueued = true
        op.pointee.next = nil
        op.pointee.prev = tail
        var sameOwner = false
        if let tail {
            tail.pointee.next = op
            sameOwner = tail.pointee.owner.toOpaque() == op.pointee.owner.toOpaque()
        } else {
            head = op
        }
        tail = op
        count += 1
        return sameOwner
    }

    mutating func popFirst() -> ChanOpRef? {
        guard let op = head else { return nil }
        let next = op.pointee.next
        head = next
        if let next { next.pointee.prev = nil } else { tail = nil }
        op.pointee.next = nil
        op.pointee.isQueued = false
        count -= 1
        return op
    }

    mutating func remove(_ op: ChanOpRef) {
        precondition(op.pointee.isQueued)
        let prev = op.pointee.prev, next = op.pointee.next
        if let prev { prev.pointee.next = next } else { head = next }
        if let next { next.pointee.prev = prev } else { tail = prev }
        op.pointee.next = nil
        op.pointee.prev = nil
        op.pointee.isQueued = false
        count -= 1
    }

    /// Adds `op` at the head (a sender whose held value came back, rule 23).
    mutating func prepend(_ op: ChanOpRef) {
        precondition(!op.pointee.isQueued, "a chanop is in at most one queue")
        op.pointee.isQueued = true
        op.pointee.prev = nil
        op.pointee.next = head
        if let head { head.pointee.prev = op } else { tail = op }
        head = op
        count += 1
    }

    /// The first chanop not of tasklet `owner`.
    func first(notOf owner: Unmanaged<Tasklet>) -> ChanOpRef? {
        var op = head
        while let current = op {
            if current.pointee.owner.toOpaque() != owner.toOpaque() { return current }
            op = current.pointee.next
        }
        return nil
    }

    /// The queued chanops, head first (for inspection and tests).
    func forEach(_ body: (ChanOp) -> Void) {
        var op = head
        while let current = op {
            body(current.pointee)
            op = current.pointee.next
        }
    }
}
