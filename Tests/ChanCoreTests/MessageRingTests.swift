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

    /// Values given back to the front (prepend) wrap the head backwards past
    /// the start; growing then must keep the order.
    func testRandomPrependsAppendsAndPopsMatchAnArray() {
        var rng = Xoshiro256(seed: 12)
        var ring = MessageRing()
        defer { ring.free() }
        var model: [Message] = []
        for step in 0..<20_000 {
            let size = [0, 3, 4, 17, 61, 200, 5000][Int(rng.next(upperBound: UInt(7)))]
            let m = Message((0..<size).map { UInt8(truncatingIfNeeded: $0 &+ step) })
            switch Int(rng.next(upperBound: UInt(4))) {
            case 0, 1:
                ring.append(m)
                model.append(m)
            case 2:
                ring.prepend(m)
                model.insert(m, at: 0)
            default:
                XCTAssertEqual(ring.popFirst(), model.first, "step \(step)")
                if !model.isEmpty { model.removeFirst() }
            }
            if step % 499 == 0 { XCTAssertEqual(ring.messages, model, "step \(step)") }
        }
        while let m = ring.popFirst() { XCTAssertEqual(m, model.removeFirst()) }
        XCTAssertTrue(model.isEmpty)
    }

    /// Past a MiB the ring grows by an eighth, so a wrapped ring may have
    /// either piece moved: values of 64 KiB, given back and taken in turn.
    func testGrowingALargeWrappedRingKeepsOrder() {
        var rng = Xoshiro256(seed: 13)
        var ring = MessageRing()
        defer { ring.free() }
        var model: [Message] = []
        for step in 0..<600 {
            let m = Message([UInt8](repeating: UInt8(truncatingIfNeeded: step), count: 65_536 + step))
            switch Int(rng.next(upperBound: UInt(5))) {
            case 0, 1, 2:
                ring.append(m)
                model.append(m)
            case 3:
                ring.prepend(m)
                model.insert(m, at: 0)
            default:
                XCTAssertEqual(ring.popFirst(), model.first, "step \(step)")
                if !model.isEmpty { model.removeFirst() }
            }
        }
        XCTAssertGreaterThan(model.count, 100)  // several MiB
        XCTAssertEqual(ring.messages, model)
        while let m = ring.popFirst() { XCTAssertEqual(m, model.removeFirst()) }
        XCTAssertTrue(model.isEmpty)
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
