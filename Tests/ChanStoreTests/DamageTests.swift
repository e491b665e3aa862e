@testable import ChanStore
import XCTest

/// Torn and damaged files: a torn tail is cut with a log line naming file
/// and offset; damage before the tail stops the open with an error naming them.
final class DamageTests: XCTestCase {
    let segment = Files.name(.segment, 1)
    let sizes = [16, 40, 12, 16, 25]

    /// One segment: a channel record and five values; returns the segment's
    /// bytes and the offsets where each value record starts.
    func writeFive(_ dir: TempDir) throws -> (bytes: [UInt8], starts: [Int]) {
        let store = try ChanStore(directory: dir.path)
        let ch = store.makeDurable("q", capacity: 10, preference: 0)
        for (i, size) in sizes.enumerated() { _ = store.append(ch, payload: value(i + 1, size: size), isException: false) }
        store.shutdown()
        var starts: [Int] = []
        var at = FileFormat.headerSize + FileFormat.channelSize(nameBytes: 1)
        for size in sizes {
            starts.append(at)
            at += FileFormat.valueOverhead + size
        }
        let bytes = dir.read(segment)
        XCTAssertEqual(bytes.count, at)
        return (bytes, starts)
    }

    func firstValues(_ n: Int) -> [Shape] {
        [Shape("q", capacity: 10, values: (0..<n).map { value($0 + 1, size: sizes[$0]) })]
    }

    func testTruncationAtEveryByteOfTheLastRecordCutsTheTornTail() throws {
        let original = TempDir()
        let (bytes, starts) = try writeFive(original)
        let last = starts.last!
        for cut in last..<bytes.count {
            let dir = TempDir()
            dir.write(segment, Array(bytes[..<cut]))
            let log = LogLines()
            let store = try ChanStore(directory: dir.path, log: log.sink)
            XCTAssertEqual(shapes(store), cut == last ? firstValues(5).map { var s = $0; s.values.removeLast(); s.exceptions.removeLast(); return s } : firstValues(4), "cut at \(cut)")
            if cut == last {
                XCTAssertEqual(log.all, [], "a file cut at a record boundary is whole")
            } else {
                XCTAssertEqual(log.all, ["\(dir.file(segment)): torn tail at offset \(last), \(cut - last) bytes cut"])
            }
            store.shutdown()
            XCTAssertEqual(dir.read(segment).count, last)
            let again = LogLines()
            XCTAssertEqual(shapes(try ChanStore(directory: dir.path, log: again.sink)), firstValues(4))
            XCTAssertEqual(again.all, [], "nothing more to cut at the next start")
        }
    }

    func testTruncatedOrGarbledHeaderOfTheOnlySegmentRemovesIt() throws {
        let original = TempDir()
        let (bytes, _) = try writeFive(original)
        for cut in 0..<FileFormat.headerSize {
            let dir = TempDir()
            dir.write(segment, Array(bytes[..<cut]))
            let log = LogLines()
            XCTAssertEqual(shapes(try ChanStore(directory: dir.path, log: log.sink)), [])
            XCTAssertEqual(log.all, ["\(dir.file(segment)): torn tail at offset 0 (the file header), file of \(cut) bytes removed"])
        }
    }

    func testFlippedByteInTheLastRecordIsATornTail() throws {
        let original = TempDir()
        let (bytes, starts) = try writeFive(original)
        for at in starts.last!..<bytes.count {
            let dir = TempDir()
            var damaged = bytes
            damaged[at] ^= 0x40
            dir.write(segment, damaged)
            let log = LogLines()
            XCTAssertEqual(shapes(try ChanStore(directory: dir.path, log: log.sink)), firstValues(4), "flip at \(at)")
            XCTAssertEqual(log.all, ["\(dir.file(segment)): torn tail at offset \(starts.last!), \(bytes.count - starts.last!) bytes cut"])
        }
    }

    func testFlippedByteBeforeTheTailStopsTheOpenNamingFileAndOffset() throws {
        let original = TempDir()
        let (bytes, starts) = try writeFive(original)
        // Every byte of the file header, the channel record and the second value.
        let positions = Array(0..<starts[0]) + Array(starts[1]..<starts[2])
        for at in positions {
            let dir = TempDir()
            var damaged = bytes
            damaged[at] ^= 0x01
            dir.write(segment, damaged)
            let recordStart = at < FileFormat.headerSize ? 0 : at < starts[0] ? FileFormat.headerSize : starts[1]
            XCTAssertThrowsError(try ChanStore(directory: dir.path), "flip at \(at)") { error in
                XCTAssertTrue("\(error)".hasPrefix("\(dir.file(segment)): damaged record at offset \(recordStart):"), "\(error)")
            }
            XCTAssertEqual(dir.read(segment), damaged, "a damaged file is left as it is")
        }
    }

    func testDamagedSealedSegmentIsAnErrorEvenAtItsEnd() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(segmentBytes: 200, compactionMinDeadBytes: 1 << 30))
            let ch = store.makeDurable("q", capacity: 100, preference: 0)
            for i in 1...20 {
                _ = store.append(ch, payload: value(i, size: 40), isException: false)
                store.commit()
            }
            commitUntil(store, segments: 2)
        }
        let first = dir.read(segment)
        dir.write(segment, Array(first.dropLast(3)))
        XCTAssertThrowsError(try ChanStore(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(dir.file(segment)): damaged record at offset"), "\(error)")
        }
    }

    func testLongGarbageTailIsCutWithoutScanningItForEver() throws {
        let original = TempDir()
        let (bytes, _) = try writeFive(original)
        // The torn front of a large value: a length of 8 MiB, then 1 MiB of noise.
        var rng = SystemRandomNumberGenerator()
        var noise = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        noise.replaceSubrange(0..<4, with: [0, 0, 0x80, 0])
        let dir = TempDir()
        dir.write(segment, bytes + noise)
        let log = LogLines()
        XCTAssertEqual(shapes(try ChanStore(directory: dir.path, log: log.sink)), firstValues(5))
        XCTAssertEqual(log.all, ["\(dir.file(segment)): torn tail at offset \(bytes.count), \(noise.count) bytes cut"])
    }

    func testLeftoversOfAnInterruptedCompactionAreRemoved() throws {
        let dir = TempDir()
        do {
            let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(segmentBytes: 300, compactionMinDeadBytes: 1 << 30))
            let ch = store.makeDurable("q", capacity: 100, preference: 0)
            for i in 1...10 {
                _ = store.append(ch, payload: value(i, size: 40), isException: false)
                store.commit()
            }
        }
        // A snapshot being written when the process died is ignored and removed.
        dir.write(Files.name(.snapshot, 2) + ".tmp", Array("half a snapshot".utf8))
        let log = LogLines()
        XCTAssertEqual(shapes(try ChanStore(directory: dir.path, log: log.sink)),
                       [Shape("q", capacity: 100, values: (1...10).map { value($0, size: 40) })])
        XCTAssertEqual(log.all, ["\(dir.file(Files.name(.snapshot, 2) + ".tmp")): removing an unfinished snapshot"])
        XCTAssertFalse(dir.storeFiles.contains { $0.hasSuffix(".tmp") })
    }
}
