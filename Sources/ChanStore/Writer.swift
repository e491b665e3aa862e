import Glibc

/// The background thread that writes every batch and syncs by the policy, so
/// that neither write(2) nor fsync ever runs on the loop thread.
// @unchecked Sendable: after `run` starts, its properties are used by the
// writer thread alone.
final class Writer: @unchecked Sendable {
    private let shared: Shared
    private let directory: String
    private let policy: FsyncPolicy
    private let onDurable: @Sendable () -> Void
    private var fd: Int32
    private var path: String
    private var unsynced = false
    private var lastSync = monotonicNanos()

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
        var nodes: [Unmanaged<Shared.Node>] = []
        do {
            while true {
                nodes = shared.takeAll()
                let stop = shared.stopping.load(ordering: .acquiring)
                if stop { nodes += shared.takeAll() }
                if nodes.isEmpty && !stop {
                    try waitForWork()
                    continue
                }
                // One group: every batch queued meanwhile, one fsync under `always`.
                for node in nodes { try write(node.takeUnretainedValue().batch) }
                if policy == .always || stop { try sync() }
                let written = nodes.reduce(0) { $0 + $1.takeUnretainedValue().batch.bytes.count }
                let lastTicket = nodes.last?.takeUnretainedValue().batch.ticket
                shared.queuedBytes.wrappingSubtract(written, ordering: .relaxed)
                shared.giveBack(nodes)
                nodes = []
                if let lastTicket {
                    shared.durableTicket.store(lastTicket, ordering: .releasing)
                    onDurable()
                }
                if stop { break }
            }
        } catch let error as StoreError {
            shared.giveBack(nodes)
            shared.monitor.locked { shared.failureError = error }
            shared.failed.store(true, ordering: .releasing)
            onDurable()
        } catch {
            fatalError("unexpected error \(error)")
        }
        close(fd)
        shared.monitor.locked {
            shared.compactorStopping = true
            shared.monitor.broadcast()
        }
    }

    /// Sleeps until a batch arrives or, under `everysec` with unsynced
    /// writes, until a second after the last sync, then syncs if it is due.
    private func waitForWork() throws {
        var timeout: Int32 = -1
        if policy == .everysec && unsynced {
            let due = lastSync + 1_000_000_000
            let now = monotonicNanos()
            timeout = now >= due ? 0 : Int32((due - now + 999_999) / 1_000_000)
        }
        if timeout != 0 { shared.waitForWake(milliseconds: timeout) }
        if policy == .everysec && unsynced && monotonicNanos() >= lastSync + 1_000_000_000 { try sync() }
    }

    private func write(_ batch: Batch) throws {
        if !batch.bytes.isEmpty {
            try Files.writeAll(fd, batch.bytes, path: path)
            unsynced = true
        }
        if policy == .everysec && unsynced && monotonicNanos() >= lastSync + 1_000_000_000 { try sync() }
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
        shared.fsyncs.wrappingAdd(1, ordering: .relaxed)
    }
}
