import Glibc

/// The background thread that syncs what the loop thread wrote, by the
/// policy, and seals segments, so that no fsync ever runs on the loop
/// thread. The loop writes the records itself (write(2)), as Redis writes
/// its AOF before answering: a crash of the process loses nothing written.
// @unchecked Sendable: after `run` starts, its properties are used by the
// sync thread alone.
final class Syncer: @unchecked Sendable {
    private let shared: Shared
    private let directory: String
    private let policy: FsyncPolicy
    private let onDurable: @Sendable () -> Void
    /// The active segment. The loop writes it; this thread syncs it, and
    /// closes it only once sealed (the loop then writes the next one).
    private var fd: Int32
    private var path: String
    private var synced: UInt64 = 0
    private var lastSync = monotonicNanos()
    /// A seal is under way: the loop has handed over the active segment.
    private var sealing = false

    init(shared: Shared, directory: String, policy: FsyncPolicy, segment: UInt64, fd: Int32,
         onDurable: @escaping @Sendable () -> Void) {
        self.shared = shared
        self.directory = directory
        self.policy = policy
        self.onDurable = onDurable
        self.fd = fd
        self.path = directory + "/" + Files.name(.segment, segment)
    }

    func run() {
        do {
            while true {
                let stop = shared.stopping.load(ordering: .acquiring)
                let next = shared.sealRequest.load(ordering: .acquiring)
                if next > shared.sealedUpTo.load(ordering: .relaxed) {
                    try seal(to: next)
                    continue
                }
                if stop {
                    try sync()
                    break
                }
                let presync = shared.presyncRequest.load(ordering: .acquiring)
                if presync > shared.presyncedUpTo.load(ordering: .relaxed) {
                    try sync()
                    shared.presyncedUpTo.store(presync, ordering: .releasing)
                    onDurable()
                    continue
                }
                if policy == .always || (policy == .everysec && monotonicNanos() >= lastSync + 1_000_000_000) {
                    try sync()
                }
                shared.waitForWake(milliseconds: waitMilliseconds())
            }
        } catch let error as StoreError {
            if sealing && fd >= 0 { close(fd) }
            shared.fail(error)
            onDurable()
        } catch {
            fatalError("unexpected error \(error)")
        }
        // Otherwise the active segment stays open: the loop may still be
        // writing it (it closes it at shutdown).
        shared.monitor.locked {
            shared.compactorStopping = true
            shared.monitor.broadcast()
        }
    }

    /// Under `always` the loop wakes this thread after each write; under
    /// `everysec` it looks once a second, under `no` only when woken.
    private func waitMilliseconds() -> Int32 {
        switch policy {
        case .always, .no: return -1
        case .everysec:
            let due = lastSync + 1_000_000_000
            let now = monotonicNanos()
            return now >= due ? 1000 : Int32((due - now + 999_999) / 1_000_000)
        }
    }

    /// Syncs what the loop has written so far, and completes its tickets.
    private func sync() throws {
        let written = shared.writtenTicket.load(ordering: .acquiring)
        lastSync = monotonicNanos()
        guard written > synced else { return }
        try Files.sync(fd, path: path)
        let took = monotonicNanos() - lastSync
        shared.lastFsyncNanos.store(took, ordering: .relaxed)
        if took > shared.longestFsyncNanos.load(ordering: .relaxed) {
            shared.longestFsyncNanos.store(took, ordering: .relaxed)
        }
        shared.fsyncs.wrappingAdd(1, ordering: .relaxed)
        synced = written
        shared.syncedTicket.store(written, ordering: .releasing)
        if policy == .always { onDurable() }
    }

    /// The loop has stopped writing the active segment: sync and close it,
    /// then create `next` for the loop. A sealed segment is whole on disk
    /// before its successor exists, so only the newest segment can ever end
    /// in a torn record.
    private func seal(to next: UInt64) throws {
        sealing = true
        try sync()
        close(fd)
        fd = -1
        let name = Files.name(.segment, next)
        path = directory + "/" + name
        fd = try Files.createWithHeader(directory, name)
        if shared.compactAfterSeal.load(ordering: .relaxed) {
            shared.monitor.locked {
                shared.compactionRequest = next - 1
                shared.monitor.broadcast()
            }
        }
        sealing = false
        shared.nextFD.store(fd, ordering: .relaxed)
        shared.sealedUpTo.store(next, ordering: .releasing)
        onDurable()
    }
}
