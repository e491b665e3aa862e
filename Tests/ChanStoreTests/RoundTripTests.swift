@testable import ChanStore
import XCTest

/// Values and channel changes written, the store closed, the directory opened again.
final class RoundTripTests: XCTestCase {
    func testChecksumIsCRC32C() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32C.checksum($0) }, 0xE306_9283)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = long.withUnsafeBytes { CRC32C.checksum($0) }
        let split = long.withUnsafeBytes { CRC32C.update(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<333])),
                                                         UnsafeRawBufferPointer(rebasing: $0[333...])) }
        XCTAssertEqual(whole, split)
    }

    func testValuesComeBackInOrderWithSettingsAndExceptionFlag() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path)
            XCTAssertEqual(shapes(store), [])
            let jobs = store.makeDurable("jobs", capacity: 10, preference: 1)
            let empty = store.makeDurable("empty", capacity: 1, preference: -1)
            XCTAssertNotEqual(jobs, empty)
            XCTAssertEqual(store.channel(named: "jobs"), jobs)
            XCTAssertNil(store.channel(named: "other"))
            _ = store.append(jobs, payload: value(1), isException: false)
            _ = store.append(jobs, payload: [], isException: false)
            _ = store.append(jobs, payload: Array("boom".utf8), isException: true)
            _ = store.append(jobs, payload: value(4, size: 100_000), isException: false)
            store.commit()
            store.shutdown()
        }
        let store = try ChanStore(directory: dir.path)
        XCTAssertEqual(shapes(store), [
            Shape("jobs", capacity: 10, preference: 1, values: [value(1), [], Array("boom".utf8), value(4, size: 100_000)],
                  exceptions: [false, false, true, false]),
            Shape("empty", capacity: 1, preference: -1, values: []),
        ])
        XCTAssertEqual(store.takeRecovered(), [], "recovered channels are handed over once")
    }

    func testRemovedValuesStayRemovedAndOrderHoldsAcrossChannels() throws {
        let dir = TempDir()
        var ids: [StoreValueID] = []
        do {
            let store = try ChanStore(directory: dir.path)
            let a = store.makeDurable("a", capacity: 100, preference: 0)
            let b = store.makeDurable("b", capacity: 100, preference: 0)
            for i in 1...20 { ids.append(store.append(i % 2 == 0 ? a : b, payload: value(i), isException: false)) }
            XCTAssertEqual(ids, ids.sorted(), "value numbers increase")
            XCTAssertTrue(store.remove(a, value: ids[1]))   // value 2, the head of a
            XCTAssertTrue(store.remove(b, value: ids[8]))   // value 9, the middle of b (acknowledged out of order)
            XCTAssertFalse(store.remove(b, value: ids[8]), "already removed")
            XCTAssertFalse(store.remove(a, value: ids[2]), "value 3 is in b, not a")
            store.commit()
            store.shutdown()
        }
        let store = try ChanStore(directory: dir.path)
        XCTAssertEqual(shapes(store), [
            Shape("a", capacity: 100, values: [4, 6, 8, 10, 12, 14, 16, 18, 20].map { value($0) }),
            Shape("b", capacity: 100, values: [1, 3, 5, 7, 11, 13, 15, 17, 19].map { value($0) }),
        ])
        let next = store.append(store.channel(named: "a")!, payload: value(21), isException: false)
        XCTAssertGreaterThan(next, ids.last!, "value numbers keep increasing after a restart")
    }

    func testCloseReopenDeleteAndSettingsSurviveRestarts() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path)
            let closing = store.makeDurable("closing", capacity: 5, preference: 0)
            _ = store.append(closing, payload: value(1), isException: false)
            store.closeChannel(closing)
            let closed = store.makeDurable("closed", capacity: 5, preference: 0)
            store.closeChannel(closed)
            let reopened = store.makeDurable("reopened", capacity: 5, preference: 0)
            store.closeChannel(reopened)
            store.reopenChannel(reopened)
            let gone = store.makeDurable("gone", capacity: 5, preference: 0)
            _ = store.append(gone, payload: value(2), isException: false)
            store.deleteChannel(gone)
            XCTAssertNil(store.channel(named: "gone"))
            let changed = store.makeDurable("changed", capacity: 5, preference: 0)
            XCTAssertEqual(store.makeDurable("changed", capacity: 7, preference: -1), changed)
            store.commit()
        }
        do {
            let store = try ChanStore(directory: dir.path)
            XCTAssertEqual(shapes(store), [
                Shape("closing", capacity: 5, closed: true, values: [value(1)]),
                Shape("closed", capacity: 5, closed: true, values: []),
                Shape("reopened", capacity: 5, values: []),
                Shape("changed", capacity: 7, preference: -1, values: []),
            ])
            let oldGone = StoreChannelID(raw: 4)
            let gone = store.makeDurable("gone", capacity: 1, preference: 0)
            XCTAssertNotEqual(gone, oldGone, "a channel made again is a new channel")
            _ = store.append(gone, payload: value(3), isException: false)
            store.deleteChannel(store.channel(named: "closed")!)
            store.reopenChannel(store.channel(named: "closing")!)
        }
        let store = try ChanStore(directory: dir.path)
        XCTAssertEqual(shapes(store), [
            Shape("closing", capacity: 5, values: [value(1)]),
            Shape("reopened", capacity: 5, values: []),
            Shape("changed", capacity: 7, preference: -1, values: []),
            Shape("gone", capacity: 1, values: [value(3)]),
        ])
    }

    func testSecondOpenOfADirectoryInUseIsRefused() throws {
        let dir = TempDir()
        let store = try ChanStore(directory: dir.path)
        XCTAssertThrowsError(try ChanStore(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("in use by another process"), "\(error)")
        }
        store.shutdown()
        XCTAssertNoThrow(try ChanStore(directory: dir.path))
    }

    func testSegmentsRotateAndAMissingSegmentIsAnError() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(segmentBytes: 1000, compactionMinDeadBytes: 1 << 30))
            let ch = store.makeDurable("c", capacity: 1000, preference: 0)
            for i in 1...100 {
                _ = store.append(ch, payload: value(i, size: 50), isException: false)
                commitWritten(store)
            }
        }
        XCTAssertGreaterThan(dir.storeFiles.count, 4)
        do {
            let store = try ChanStore(directory: dir.path)
            XCTAssertEqual(shapes(store), [Shape("c", capacity: 1000, values: (1...100).map { value($0, size: 50) })])
        }
        let missing = dir.storeFiles[2]
        try FileManager.default.removeItem(atPath: dir.file(missing))
        XCTAssertThrowsError(try ChanStore(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("\(missing) before it is missing"), "\(error)")
        }
    }

    /// Without a snapshot the segments start at 1: a store whose first
    /// segment is lost does not silently start from the second.
    func testALostFirstSegmentStopsTheStart() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(segmentBytes: 200, compactionMinDeadBytes: 1 << 30))
            let ch = store.makeDurable("c", capacity: 10, preference: 0)
            _ = store.append(ch, payload: value(1, size: 200), isException: false)
            commitUntil(store, segments: 2)
            store.shutdown()
        }
        XCTAssertEqual(dir.storeFiles, [Files.name(.segment, 1), Files.name(.segment, 2)])
        try FileManager.default.removeItem(atPath: dir.file(Files.name(.segment, 1)))
        XCTAssertThrowsError(try ChanStore(directory: dir.path)) { error in
            XCTAssertEqual("\(error)", "\(dir.file(Files.name(.segment, 2))): \(Files.name(.segment, 1)) before it is missing")
        }
    }
}
