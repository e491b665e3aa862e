import Glibc
import Synchronization

/// What the loop thread hands to the writer: the records of one commit.
struct Batch {
    var bytes: [UInt8]
    let ticket: UInt64
    /// After these bytes: seal the segment and continue in this one.
    let rotateTo: UInt64?
    /// After sealing: compact every file up to this segment.
    let compactThrough: UInt64?
}

/// The state shared by the loop thread, the writer and the compactor.
///
/// The loop thread never takes a lock: a lock held by a background thread
/// that the scheduler preempts would stall the loop for the preemption
/// (measured: commits of 10-100 ms on a loaded 2-core machine with a mutex
/// around the batch queue). Batches go through a lock-free inbox, results
/// come back through atomics; the monitor only serves the writer and the
/// compactor, and the failure text, read once a failure is flagged.
// @unchecked Sendable: the atomics are Sendable; `failureError`,
// `compactionRequest` and `compactorStopping` are used only with `monitor`
// locked; the pipe descriptors never change after init.
final class Shared: @unchecked Sendable {
    /// The newest batches first, as a singly linked stack of retained
    /// `Node` pointers (0: empty). One pusher (the loop thread); the writer
    /// takes the whole stack at once, so no ABA.
    private let inbox = Atomic<UInt>(0)
    /// Written batches on their way back, the same way, so that their memory
    /// is freed by the thread that allocated it: glibc frees memory of
    /// another thread's arena under that arena's lock, which the loop
    /// thread then waits for (measured: blocked loop iterations of ~20 ms).
    private let outbox = Atomic<UInt>(0)
    /// A byte in this pipe wakes the writer; both ends are non-blocking.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    let stopping = Atomic<Bool>(false)
    let durableTicket = Atomic<UInt64>(0)
    let queuedBytes = Atomic<Int>(0)
    let fsyncs = Atomic<Int>(0)
    let failed = Atomic<Bool>(false)

    /// The compactor's outcome for the loop: 0 none, 1 done (the three fields
    /// below are set first), 2 failed.
    let compactionOutcome = Atomic<Int>(0)
    let compactedThrough = Atomic<UInt64>(0)
    let snapshotBytes = Atomic<Int>(0)
    let compactionNanos = Atomic<UInt64>(0)

    let monitor = Monitor()
    var failureError: StoreError?
    var compactionRequest: UInt64?
    var compactorStopping = false

    final class Node {
        let batch: Batch
        fileprivate var next: UInt = 0
        init(_ batch: Batch) { self.batch = batch }
    }

    init() throws {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { throw StoreError.system("pipe", "the writer's wake pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        Self.popAll(inbox).forEach { $0.release() }
        Self.popAll(outbox).forEach { $0.release() }
        close(wakeRead)
        close(wakeWrite)
    }

    /// Loop thread: hands a batch to the writer.
    func push(_ batch: Batch) {
        queuedBytes.wrappingAdd(batch.bytes.count, ordering: .relaxed)
        if Self.push(Unmanaged.passRetained(Node(batch)), onto: inbox) { wake() }
    }

    /// Writer thread: every batch pushed so far, oldest first, with the
    /// reference the loop thread gave up; hand them back with `giveBack`
    /// once written, without keeping a reference of one's own.
    func takeAll() -> [Unmanaged<Node>] {
        Self.popAll(inbox).reversed()
    }

    /// Writer thread: returns written batches (and their reference) to the loop thread.
    func giveBack(_ nodes: [Unmanaged<Node>]) {
        for node in nodes { _ = Self.push(node, onto: outbox) }
    }

    /// Loop thread: frees the batches the writer gave back.
    func freeGivenBack() {
        Self.popAll(outbox).forEach { $0.release() }
    }

    /// Pushes a retained node; true when the stack was empty.
    private static func push(_ node: Unmanaged<Node>, onto stack: borrowing Atomic<UInt>) -> Bool {
        let bits = UInt(bitPattern: node.toOpaque())
        var head = stack.load(ordering: .relaxed)
        while true {
            node.takeUnretainedValue().next = head
            let (exchanged, current) = stack.compareExchange(expected: head, desired: bits, ordering: .releasing)
            if exchanged { return head == 0 }
            head = current
        }
    }

    /// Takes the whole stack, newest first; the nodes stay retained.
    private static func popAll(_ stack: borrowing Atomic<UInt>) -> [Unmanaged<Node>] {
        var bits = stack.exchange(0, ordering: .acquiring)
        var nodes: [Unmanaged<Node>] = []
        while bits != 0 {
            let node = Unmanaged<Node>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
            nodes.append(node)
            bits = node.takeUnretainedValue().next
        }
        return nodes
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Writer thread: waits for a wake byte, at most `milliseconds` (-1: no limit).
    func waitForWake(milliseconds: Int32) {
        var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, milliseconds)
        var sink = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &sink, sink.count) > 0 {}
    }
}
