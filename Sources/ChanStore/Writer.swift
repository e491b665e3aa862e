import Glibc

/// The background thread that writes every batch and syncs by the policy, so
/// that neither write(2) nor fsync ever runs on the loop thread.
// @unchecked Sendable: after `run` starts, its properties are used by the
// writer thread alone.
final class Writer: @unchecked Sendable {
    private let shared: Shared
    private let directory: String
    private let policy: FsyncPolicy
    private let onSynced: @Sendable () -> Void
    private var fd: Int32
    private var path: String
    private var unsynced = false
    private var lastSync = monotonicNanos()

    init(shared: Shared, directory: String, policy: FsyncPolicy, segment: UInt64, fd: Int32,
         onSynced: @escaping @Sendable () -> Void) {
        self.shared = shared
        self.directory = directory
        self.policy = policy
        self.onSynced = onSynced
        self.fd = fd
        self.path = directory + "/" + Files.name(.segment, segment)
    }

    func run() {
        while true {
            let (batches, stop) = nextBatches()
            do {
                for batch in batches { try write(batch) }
                if (policy == .always && !batches.isEmpty) || stop {
                    try sync()
                } else if policy == .everysec && unsynced && monotonicNanos() >= lastSync + 1_000_000_000 {
                    try sync()
                }
            } catch let error as StoreError {
                shared.monitor.locked { shared.failure = error; shared.monitor.broadcast() }
                onSynced()
                close(fd)
                return
            } catch {
                fatalError("unexpected error \(error)")
            }
            if let last = batches.last {
                shared.monitor.locked {
                    shared.queuedBytes -= batches.reduce(0) { $0 + $1.bytes.count }
                    if policy == .always { shared.syncedTicket = last.ticket }
                    shared.monitor.broadcast()
                }
                if policy == .always { onSynced() }
            }
            if stop {
                close(fd)
                return
            }
        }
    }

    /// Waits for work: every queued batch (one group commit), or, under
    /// `everysec`, the second since the last sync.
    private func nextBatches() -> ([Batch], stop: Bool) {
        shared.monitor.locked {
            while shared.queue.isEmpty && !shared.stopping {
                if policy == .everysec && unsynced {
                    let deadline = lastSync + 1_000_000_000
                    if monotonicNanos() >= deadline { break }
                    shared.monitor.wait(until: deadline)
                } else {
                    shared.monitor.wait()
                }
            }
            let batches = shared.queue
            shared.queue.removeAll(keepingCapacity: true)
            return (batches, shared.stopping)
        }
    }

    private func write(_ batch: Batch) throws {
        if !batch.bytes.isEmpty {
            try Files.writeAll(fd, batch.bytes, path: path)
            unsynced = true
        }
        if let next = batch.rotateTo {
            // A sealed segment is whole on disk before its successor exists,
            // so only the newest segment can ever end in a torn record.
            try sync()
            close(fd)
            let name = Files.name(.segment, next)
            path = directory + "/" + name
            fd = try Files.createWithHeader(directory, name)
            if let through = batch.compactThrough {
                shared.monitor.locked {
                    shared.compactionRequest = through
                    shared.monitor.broadcast()
                }
            }
        }
    }

    private func sync() throws {
        guard unsynced else { return }
        try Files.sync(fd, path: path)
        unsynced = false
        lastSync = monotonicNanos()
        shared.monitor.locked { shared.fsyncs += 1 }
    }
}
