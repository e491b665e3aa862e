import Glibc
import Synchronization

/// The state shared by the loop thread, the sync thread and the compactor.
///
/// The loop thread never takes a lock: a lock held by a background thread
/// that the scheduler preempts would stall the loop for the preemption
/// (measured: commits of 10-100 ms on a loaded 2-core machine with a mutex
/// around a batch queue). Requests go to the sync thread through atomics and a
/// wake byte, results come back through atomics; the monitor only serves
/// the sync thread and the compactor, and the failure text, read once a failure
/// is flagged.
// @unchecked Sendable: the atomics are Sendable; `failureError`,
// `compactionRequest` and `compactorStopping` are used only with `monitor`
// locked; the pipe descriptors never change after init.
final class Shared: @unchecked Sendable {
    /// A byte in this pipe wakes the sync thread; both ends are non-blocking.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    let stopping = Atomic<Bool>(false)
    /// Loop: the newest ticket whose records it has written (write(2)) to the
    /// active segment; the sync thread syncs up to it.
    let writtenTicket = Atomic<UInt64>(0)
    /// Sync thread: the newest ticket whose records are fsynced.
    let syncedTicket = Atomic<UInt64>(0)
    /// Loop: sync this segment (the active one) ahead of its seal (0: no
    /// request); the sync thread answers in `presyncedUpTo`.
    let presyncRequest = Atomic<UInt64>(0)
    let presyncedUpTo = Atomic<UInt64>(0)
    /// Loop: seal the active segment and begin this one (0: no request).
    /// Stored only when the sync thread has answered the last request.
    let sealRequest = Atomic<UInt64>(0)
    /// Loop, with `sealRequest`: then compact through the sealed segment.
    let compactAfterSeal = Atomic<Bool>(false)
    /// Sync thread: the answered seal request; `nextFD` is the new segment's descriptor.
    let sealedUpTo = Atomic<UInt64>(0)
    let nextFD = Atomic<Int32>(-1)
    let fsyncs = Atomic<Int>(0)
    let lastFsyncNanos = Atomic<UInt64>(0)
    let longestFsyncNanos = Atomic<UInt64>(0)
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

    init() throws {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { throw StoreError.system("pipe", "the sync thread's wake pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Records the first failure (of any thread) and flags it.
    func fail(_ error: StoreError) {
        monitor.locked { if failureError == nil { failureError = error } }
        failed.store(true, ordering: .releasing)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Sync thread: waits for a wake byte, at most `milliseconds` (-1: no limit).
    func waitForWake(milliseconds: Int32) {
        var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, milliseconds)
        var sink = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &sink, sink.count) > 0 {}
    }
}
