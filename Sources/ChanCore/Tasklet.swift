/// A unit of sequential work; on the server, one per client connection.
/// Its commands run in order; while one is blocked the later ones wait.
/// The engine holds a reference to a tasklet while it is blocked or in the
/// runnable queue.
public final class Tasklet {
    public enum State: Sendable {
        /// Executing (or idle between commands); it has no chanops queued.
        case running
        /// In a select with one chanop per case queued.
        case blocked
        /// Its select completed; it waits in the runnable queue to resume.
        case runnable
        /// Cancelled for good (its client went away).
        case dead
    }

    public let id: Int
    public internal(set) var state = State.running
    /// The owner's handle (the server's connection). The engine never reads it.
    public var context: AnyObject?

    /// Chanop pool (see `ChanOp`); the first `opCount` belong to the select
    /// the tasklet is blocked in. A chanop is allocated when a select first
    /// needs that many and freed with the tasklet.
    var ops: [ChanOpRef] = []
    var opCount = 0
    /// Set when the select completed while the tasklet was not running.
    var completion: Completion?
    /// Deadline of a blocked select with a timeout; see `DeadlineHeap`.
    var deadline: UInt64 = 0
    var heapIndex = -1
    /// The next tasklet in the engine's runnable queue; see `RunQueue`.
    var runNext: Unmanaged<Tasklet>?
    /// Values this tasklet received with `hold` and has neither acknowledged
    /// nor given back (rule 22).
    var held = HeldList()
    /// The tag of the value this tasklet received last with `hold`: its
    /// select's `.received` completion is that value. Tags count up from 1,
    /// so each is unique among the values the tasklet holds.
    public internal(set) var lastHeldTag = 0
    /// Set while this tasklet is a sender whose value a receiver holds: it
    /// stays blocked, in no queue, until the acknowledgement.
    var heldBy: HeldValue?
    // Links of the engine's list of such senders (`Engine.heldSenders`).
    var heldSenderPrev: Unmanaged<Tasklet>?
    var heldSenderNext: Unmanaged<Tasklet>?

    /// Values held now (a server bounds them per connection).
    public var heldCount: Int { held.count }

    init(id: Int) {
        self.id = id
    }

    deinit {
        for op in ops {
            op.deinitialize(count: 1)
            op.deallocate()
        }
    }

    /// The completion a runnable tasklet was woken with; read once on resume.
    public func takeCompletion() -> Completion? {
        completion.take()
    }

    /// Fills chanop `index` of the pool for the select about to block: a
    /// SEND case when `message` is given, else a RECV.
    @inline(__always)
    func setOp(_ index: Int, channel: Unmanaged<Channel>, sending message: consuming Message?, hold: Bool = false) {
        if index == ops.count {
            let op = ChanOpRef.allocate(capacity: 1)
            op.initialize(to: ChanOp(owner: self))
            ops.append(op)
        }
        let op = ops[index]
        op.pointee.channel = channel
        op.pointee.isSend = message != nil
        // A pooled chanop holds no message (see `ChanOp.message`): a RECV
        // case need not store one.
        if message != nil { op.pointee.message = consume message }
        op.pointee.caseIndex = index
        op.pointee.hold = hold
    }

    /// The channels this tasklet waits on, one per queued chanop (for tests
    /// and introspection).
    public var waitingOn: [(channel: Channel, isSend: Bool, caseIndex: Int)] {
        ops.prefix(opCount).map(\.pointee).filter(\.isQueued).map {
            ($0.channel!.takeUnretainedValue(), $0.isSend, $0.caseIndex)
        }
    }
}
