@testable import ChanCore
import XCTest

/// The channel table, MAKE, limits, the deadline heap and the generator.
final class EngineTests: XCTestCase {
    func testImplicitChannelsAreDroppedOnceIdleAndMadeOnesStay() {
        let w = World(), t = w.tasklet()
        _ = w.engine.make("kept", capacity: 0, preference: .receiver)
        XCTAssertEqual(w.recv(t, "busy"), .blocked)
        _ = w.ch("idle")
        XCTAssertEqual(w.engine.channelCount, 3)
        w.engine.sweepIdleChannels()
        XCTAssertEqual(Set(w.engine.channels().map(\.name)), ["kept", "busy"])
        w.engine.cancel(t)
        w.engine.sweepIdleChannels()
        XCTAssertEqual(w.engine.channels().map(\.name), ["kept"])
    }

    func testClosedAndBufferedImplicitChannelsAreKept() {
        let w = World()
        w.engine.close(w.ch("closed"))
        _ = w.engine.make("buf", capacity: 1, preference: .receiver)
        _ = w.send(w.tasklet(), "buf", "v")
        w.engine.sweepIdleChannels()
        XCTAssertEqual(Set(w.engine.channels().map(\.name)), ["closed", "buf"])
    }

    func testMakeSameSettingsAgainIsFineOtherSettingsConflict() {
        let w = World()
        XCTAssertEqual(w.engine.make("x", capacity: 4, preference: .sender), .made)
        XCTAssertEqual(w.engine.make("x", capacity: 4, preference: .sender), .made)
        XCTAssertEqual(w.engine.make("x", capacity: 5, preference: .sender), .exists(capacity: 4, preference: .sender))
        // An implicit channel in use conflicts too; an idle one is reshaped.
        _ = w.recv(w.tasklet(), "used")
        XCTAssertEqual(w.engine.make("used", capacity: 1, preference: .receiver), .exists(capacity: 0, preference: .receiver))
        _ = w.ch("idle")
        XCTAssertEqual(w.engine.make("idle", capacity: 1, preference: .none), .made)
        XCTAssertEqual(w.ch("idle").capacity, 1)
        XCTAssertTrue(w.ch("idle").isPersistent)
    }

    func testChannelLimitSweepsBeforeRefusing() {
        let w = World(maxChannels: 2)
        _ = w.engine.make("a", capacity: 0, preference: .receiver)
        _ = w.ch("idle")
        XCTAssertNotNil(w.engine.channel(named: "b"))  // "idle" was swept
        XCTAssertEqual(w.recv(w.tasklet(), "b"), .blocked)
        XCTAssertNil(w.engine.channel(named: "c"))
        XCTAssertEqual(w.engine.make("c", capacity: 0, preference: .receiver), .limitReached)
        XCTAssertNotNil(w.engine.channel(named: "a"))  // existing ones still resolve
    }

    func testDeadlinesExpireInOrderAndCompletedOnesLeaveTheHeap() {
        let w = World()
        let t = (0..<5).map { _ in w.tasklet() }
        for (i, d) in [50, 10, 40, 20, 30].enumerated() {
            _ = w.recv(t[i], "x\(i)", wait: .deadline(UInt64(d)))
        }
        _ = w.send(w.tasklet(), "x2", "v")  // the one due at 40 completes
        _ = w.drain()
        XCTAssertEqual(w.engine.nextDeadline, 10)
        XCTAssertEqual(w.engine.expireDeadlines(now: 35), 3)
        XCTAssertEqual(ids(w.drain()), [t[1].id, t[3].id, t[4].id])
        XCTAssertEqual(w.engine.nextDeadline, 50)
        w.engine.cancel(t[0])
        XCTAssertNil(w.engine.nextDeadline)
    }

    func testGeneratorIsSeededAndWrapsForEver() {
        var a = Xoshiro256(seed: 7), b = Xoshiro256(seed: 7), c = Xoshiro256(seed: 8)
        let xs = (0..<100).map { _ in a.next() }
        XCTAssertEqual(xs, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(xs, (0..<100).map { _ in c.next() })
        // Wrapping arithmetic: debug builds trap on overflow, so this would
        // crash if any step overflowed.
        for _ in 0..<1_000_000 { _ = a.next(upperBound: UInt(3)) }
    }

    // Conformance: millions of selects without generator overflow, and the
    // choice stays balanced all the way.
    func testMillionsOfSelectsStayFair() {
        let w = World(seed: 99), t = w.tasklet()
        w.engine.close(w.ch("a"))
        w.engine.close(w.ch("b"))
        let cases = [SelectCase.receive(w.ch("a")), .receive(w.ch("b"))]
        var first = 0
        let n = 2_000_000
        for _ in 0..<n {
            if case .completed(.receivedClosed(case: 0)) = w.engine.select(t, cases, wait: .forever) { first += 1 }
        }
        // 5 standard deviations of a fair coin over n draws.
        XCTAssertLessThan(abs(Double(first) - Double(n) / 2), 5 * (Double(n) / 4).squareRoot())
    }

    func testCountersTrackOperations() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.recv(r, "x")
        _ = w.send(s, "x", "v")
        _ = w.drain()
        _ = w.engine.send(s, w.ch("x"), msg("e", exception: true), wait: .nowait)
        _ = w.select(r, ["RECV x", "RECV y"], wait: .nowait)
        let c = w.engine.counters
        XCTAssertEqual([c.sends, c.throws_, c.receives, c.selects, c.rendezvous, c.timeouts], [1, 1, 3, 1, 1, 2])
    }
}
