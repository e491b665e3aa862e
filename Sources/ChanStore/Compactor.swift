import Glibc

/// The background thread that replaces sealed segments by a snapshot of the
/// state they describe: it replays the files (the same code as recovery),
/// writes the live channels and values to `snap-<n>.log.tmp`, syncs it,
/// renames it to `snap-<n>.log`, then removes the files it replaces. The loop
/// thread only seals a segment and reads the outcome.
// @unchecked Sendable: after `run` starts, its properties are used by the
// compactor thread alone.
final class Compactor: @unchecked Sendable {
    private let shared: Shared
    private let directory: String
    private let log: @Sendable (String) -> Void
    private var snapshot: UInt64?
    private var firstSegment: UInt64

    init(shared: Shared, directory: String, snapshot: UInt64?, firstSegment: UInt64,
         log: @escaping @Sendable (String) -> Void) {
        self.shared = shared
        self.directory = directory
        self.snapshot = snapshot
        self.firstSegment = firstSegment
        self.log = log
    }

    func run() {
        while let through = nextRequest() {
            let start = monotonicNanos()
            do {
                let bytes = try compact(through: through)
                shared.compactedThrough.store(through, ordering: .relaxed)
                shared.snapshotBytes.store(bytes, ordering: .relaxed)
                shared.compactionNanos.store(monotonicNanos() - start, ordering: .relaxed)
                shared.compactionOutcome.store(1, ordering: .releasing)
            } catch {
                log("compaction through \(Files.name(.segment, through)) failed, old files kept: \(error)")
                shared.compactionOutcome.store(2, ordering: .releasing)
            }
        }
    }

    private func nextRequest() -> UInt64? {
        shared.monitor.locked {
            while shared.compactionRequest == nil && !shared.compactorStopping { shared.monitor.wait() }
            if shared.compactorStopping { return nil }
            defer { shared.compactionRequest = nil }
            return shared.compactionRequest
        }
    }

    private func path(_ kind: Files.Kind, _ seq: UInt64) -> String {
        directory + "/" + Files.name(kind, seq)
    }

    /// Returns the snapshot's size in bytes.
    private func compact(through last: UInt64) throws -> Int {
        var state = ReplayState()
        if let snapshot {
            let p = path(.snapshot, snapshot)
            _ = try FileScanner.scan(try Files.readAll(p), path: p, isLast: false, into: &state)
        }
        for seq in firstSegment...last {
            let p = path(.segment, seq)
            _ = try FileScanner.scan(try Files.readAll(p), path: p, isLast: false, into: &state)
        }
        let final = path(.snapshot, last)
        let temporary = final + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw StoreError.system("open", temporary, errno: errno) }
        var size = 0
        do {
            defer { close(fd) }
            var out = RecordEncoder()
            out.bytes = FileFormat.header()
            try state.encode(into: &out) { out in
                try Files.writeAll(fd, out.bytes, path: temporary)
                size += out.bytes.count
                out.bytes.removeAll(keepingCapacity: true)
            }
            try Files.sync(fd, path: temporary)
        }
        try Files.rename(temporary, final)
        try Files.syncDirectory(directory)
        if let snapshot { try Files.remove(path(.snapshot, snapshot)) }
        for seq in firstSegment...last { try Files.remove(path(.segment, seq)) }
        try Files.syncDirectory(directory)
        snapshot = last
        firstSegment = last + 1
        return size
    }
}
