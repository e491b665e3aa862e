@testable import ChanCore
import XCTest

/// The channel buffer's byte ring against a plain array of messages.
final class MessageRingTests: XCTestCase {
    func testRandomAppendsAndPopsMatchAnArray() {
        var rng = Xoshiro256(seed: 11)
        var ring = MessageRing()
        defer { ring.free() }
        var model: [Message] = []
        for step in 0..<50_000 {
            if Int(rng.next(upperBound: UInt(3))) < 2 || model.isEmpty {
                // Sizes around the header and storage boundaries, and empty payloads.
                let size = [0, 1, 3, 4, 15, 16, 17, 60, 61, 200, 5000][Int(rng.next(upperBound: UInt(11)))]
                let m = Message((0..<size).map { UInt8(truncatingIfNeeded: $0 &+ step) }, isException: rng.next() & 1 == 0)
                ring.append(m)
                model.append(m)
            } else {
                XCTAssertEqual(ring.popFirst(), model.removeFirst(), "step \(step)")
            }
            XCTAssertEqual(ring.count, model.count)
            if step % 997 == 0 { XCTAssertEqual(ring.messages, model, "step \(step)") }
        }
        while let m = ring.popFirst() { XCTAssertEqual(m, model.removeFirst()) }
        XCTAssertTrue(model.isEmpty)
        XCTAssertTrue(ring.isEmpty)
    }

    func testGrowingWhileWrappedKeepsOrder() {
        var ring = MessageRing()
        defer { ring.free() }
        // Fill a little, pop some so the head moves, then grow past the wrap.
        for i in 0..<10 { ring.append(msg("v\(i)")) }
        for i in 0..<7 { XCTAssertEqual(ring.popFirst(), msg("v\(i)")) }
        for i in 10..<1000 { ring.append(msg("v\(i)")) }
        XCTAssertEqual(ring.messages.map(text), (7..<1000).map { "v\($0)" })
        for i in 7..<1000 { XCTAssertEqual(ring.popFirst(), msg("v\(i)")) }
        XCTAssertNil(ring.popFirst())
    }
}
