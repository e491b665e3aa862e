/// Reads a store directory at open: the newest snapshot, then every segment
/// after it, in order.
enum Recovery {
    struct Result {
        var state = ReplayState()
        var snapshot: UInt64?
        var snapshotBytes = 0
        /// Segments kept, oldest first, with their sizes.
        var segments: [(seq: UInt64, bytes: Int)] = []
        /// The new segment that appends go to.
        var activeSegment: UInt64 = 1
    }

    static func run(directory: String, log: (String) -> Void) throws -> Result {
        var r = Result()
        var snapshots: [UInt64] = []
        var segments: [UInt64] = []
        for name in try Files.list(directory) {
            if name.hasSuffix(".tmp") {
                log("\(directory)/\(name): removing an unfinished snapshot")
                try Files.remove(directory + "/" + name)
            } else if let (kind, seq) = Files.parse(name) {
                if kind == .segment { segments.append(seq) } else { snapshots.append(seq) }
            }
        }
        snapshots.sort()
        segments.sort()
        // Files a finished compaction replaced but had not yet removed.
        if let newest = snapshots.last {
            for seq in snapshots.dropLast() { try Files.remove(directory + "/" + Files.name(.snapshot, seq)) }
            for seq in segments where seq <= newest { try Files.remove(directory + "/" + Files.name(.segment, seq)) }
            segments.removeAll { $0 <= newest }
            let path = directory + "/" + Files.name(.snapshot, newest)
            let bytes = try Files.readAll(path)
            _ = try FileScanner.scan(bytes, path: path, isLast: false, into: &r.state)
            r.snapshot = newest
            r.snapshotBytes = bytes.count
        }
        // Segments start at 1, and only a snapshot replaces the first ones
        // (compaction removes segments only after its snapshot is in place):
        // a lost first segment, or a lost snapshot, stops the start.
        var expected = (r.snapshot ?? 0) + 1
        for (i, seq) in segments.enumerated() {
            let path = directory + "/" + Files.name(.segment, seq)
            if seq != expected {
                throw StoreError("\(path): \(Files.name(.segment, expected)) before it is missing")
            }
            expected = seq + 1
            let bytes = try Files.readAll(path)
            switch try FileScanner.scan(bytes, path: path, isLast: i == segments.count - 1, into: &r.state) {
            case .complete:
                r.segments.append((seq, bytes.count))
            case .tornTail(let offset) where offset < FileFormat.headerSize:
                log("\(path): torn tail at offset \(offset) (the file header), file of \(bytes.count) bytes removed")
                try Files.remove(path)
            case .tornTail(let offset):
                log("\(path): torn tail at offset \(offset), \(bytes.count - offset) bytes cut")
                try Files.truncate(path, to: offset)
                r.segments.append((seq, offset))
            }
        }
        try Files.syncDirectory(directory)
        r.activeSegment = (r.segments.last?.seq ?? r.snapshot ?? 0) + 1
        return r
    }
}
