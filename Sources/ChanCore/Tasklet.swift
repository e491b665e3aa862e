/// A unit of sequential work; on the server, one per client connection.
/// Its commands run in order; while one is blocked the later ones wait.
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

    /// Chanop pool; the first `opCount` belong to the current select.
    var ops: [ChanOp] = []
    var opCount = 0
    /// Set when the select completed while the tasklet was not running.
    var completion: Completion?
    /// Deadline of a blocked select with a timeout; see `DeadlineHeap`.
    var deadline: UInt64 = 0
    var heapIndex = -1

    init(id: Int) {
        self.id = id
    }

    /// The completion a runnable tasklet was woken with; read once on resume.
    public func takeCompletion() -> Completion? {
        defer { completion = nil }
        return completion
    }

    /// Fills chanop `index` of the pool for the next select.
    func setOp(_ index: Int, channel: Channel, isSend: Bool, message: Message) {
        if index == ops.count { ops.append(ChanOp(tasklet: self)) }
        let op = ops[index]
        op.channel = channel
        op.isSend = isSend
        op.message = message
        op.caseIndex = index
    }

    /// The channels this tasklet waits on, one per queued chanop (for tests
    /// and introspection).
    public var waitingOn: [(channel: Channel, isSend: Bool, caseIndex: Int)] {
        ops.prefix(opCount).filter(\.isQueued).map { ($0.channel!, $0.isSend, $0.caseIndex) }
    }
}
