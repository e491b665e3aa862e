@testable import ChanStore
import XCTest

/// Steady traffic through a store with small segments: compaction keeps the
/// files within a small multiple of the live data, and the content equal.
final class CompactionTests: XCTestCase {
    func testSteadyTrafficStaysBoundedAndContentIsKept() throws {
        let dir = TempDir()
        let options = ChanStoreOptions(fsync: .no, segmentBytes: 64 << 10, compactionMinDeadBytes: 128 << 10, compactionRatio: 2)
        var model: [(id: StoreValueID, payload: [UInt8])] = []
        var largestFiles = 0
        var checkpoints: [(files: Int, live: Int)] = []
        do {
            let store = try ChanStore(directory: dir.path, options: options)
            let ch = store.makeDurable("steady", capacity: 1000, preference: 0)
            var n = 0
            for round in 1...5 {
                // About 1 MiB through a channel holding 300 values of 100 bytes.
                for _ in 0..<8000 {
                    n += 1
                    let payload = value(n, size: 100)
                    model.append((store.append(ch, payload: payload, isException: false), payload))
                    if model.count > 300 {
                        let head = model.removeFirst()
                        XCTAssertTrue(store.remove(ch, value: head.id))
                    }
                    store.commit()
                    if n % 500 == 0 { largestFiles = max(largestFiles, store.stats.diskBytes) }
                }
                waitForCompaction(store)
                store.commit()
                waitForCompaction(store)
                let stats = store.stats
                checkpoints.append((dir.storeBytes, stats.liveBytes))
                XCTAssertGreaterThanOrEqual(stats.compactions, round, "round \(round)")
            }
            print("compaction: files/live at checkpoints \(checkpoints.map { "\($0.files)/\($0.live)" }), largest \(largestFiles) bytes, longest compaction \(Double(store.stats.longestCompactionNanos) / 1e6) ms")
        }
        for c in checkpoints {
            // Live data, at most the dead bytes that start a compaction and a segment.
            XCTAssertLessThanOrEqual(c.files, 2 * c.live + options.compactionMinDeadBytes + options.segmentBytes + 4096)
        }
        let store = try ChanStore(directory: dir.path)
        XCTAssertEqual(store.takeRecovered().first?.values.map(\.id), model.map(\.id))
        XCTAssertEqual(shapes(try reopened(store, dir)), [Shape("steady", capacity: 1000, values: model.map(\.payload))])
    }

    func reopened(_ store: ChanStore, _ dir: TempDir) throws -> ChanStore {
        store.shutdown()
        return try ChanStore(directory: dir.path)
    }

    func testCompactionKeepsChannelStatesAndDropsDeletedChannels() throws {
        let dir = TempDir()
        let options = ChanStoreOptions(fsync: .no, segmentBytes: 4 << 10, compactionMinDeadBytes: 8 << 10, compactionRatio: 2)
        do {
            let store = try ChanStore(directory: dir.path, options: options)
            let closing = store.makeDurable("closing", capacity: 9, preference: 1)
            _ = store.append(closing, payload: value(1), isException: true)
            store.closeChannel(closing)
            let gone = store.makeDurable("gone", capacity: 9, preference: 0)
            for i in 0..<2000 {
                let id = store.append(gone, payload: value(i, size: 60), isException: false)
                store.remove(gone, value: id)
                store.commit()
            }
            store.deleteChannel(gone)
            store.commit()
            waitForCompaction(store)
            XCTAssertGreaterThan(store.stats.compactions, 0)
        }
        XCTAssertTrue(dir.storeFiles.contains { $0.hasPrefix("snap-") }, "\(dir.storeFiles)")
        let store = try ChanStore(directory: dir.path, options: options)
        XCTAssertEqual(shapes(store), [Shape("closing", capacity: 9, preference: 1, closed: true, values: [value(1)], exceptions: [true])])
        let next = store.makeDurable("new", capacity: 1, preference: 0)
        XCTAssertGreaterThan(next.raw, 2, "channel numbers are not reused after compaction")
        XCTAssertGreaterThan(store.append(next, payload: [], isException: false), 2001, "nor value numbers")
        store.shutdown()

        // Without its snapshot, the segments after it do not make a store.
        let snapshot = dir.storeFiles.first { $0.hasPrefix("snap-") }!
        try FileManager.default.removeItem(atPath: dir.file(snapshot))
        XCTAssertThrowsError(try ChanStore(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains(": \(Files.name(.segment, 1)) before it is missing"), "\(error)")
        }
    }
}
