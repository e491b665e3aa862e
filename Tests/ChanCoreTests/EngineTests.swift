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
        XCTAssertEqual(Set(w.engine.channels().first.map(\.name)), ["kept", "busy"])
        w.engine.cancel(t)
        w.engine.sweepIdleChannels()
        XCTAssertEqual(w.engine.channels().first.map(\.name), ["kept"])
    }

    func testClosedAndBufferedImplicitChannelsAreKept() {
        let w = World()
        w.engine.close(w.ch("closed"))
        _ = w.engine.make("buf", capacity: 1, preference: .receiver)
        _ = w.send(w.tasklet(), "buf", "v")
        w.engine.sweepIdleChannels()
        XCTAssertEqual(Set(w.engine.channels().first.map(\.name)), ["closed", "buf"])
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

/// What CHANNELS TOP and the STAT fields sent, received and rate report.
final class ActivityTests: XCTestCase {
    func testSentAndReceivedCountValuesIntoAndOutOfAChannel() {
        let w = World()
        _ = w.engine.make("buf", capacity: 2, preference: .receiver)
        let s = w.tasklet()
        _ = w.send(s, "buf", "a")
        _ = w.send(s, "buf", "b")
        XCTAssertEqual(w.send(s, "buf", "c"), .blocked)  // full: c waits
        _ = w.recv(w.tasklet(), "buf")  // takes a, and c refills the buffer
        XCTAssertEqual([w.ch("buf").sent, w.ch("buf").received], [3, 1])

        XCTAssertEqual(w.recv(w.tasklet(), "rv"), .blocked)
        _ = w.send(w.tasklet(), "rv", "x")  // a rendezvous is one in and one out
        _ = w.send(w.tasklet(), "rv", "nobody waits", wait: .nowait)  // a timed-out send moved nothing
        XCTAssertEqual([w.ch("rv").sent, w.ch("rv").received], [1, 1])
        _ = w.drain()
    }

    func testRecentlyMovedIsTheLastCompletedInterval() {
        let w = World()
        _ = w.engine.make("q", capacity: 100, preference: .receiver)
        let t = w.tasklet()
        for _ in 0..<5 { _ = w.send(t, "q", "v") }
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 0, "the interval under way does not count yet")
        w.engine.startActivityInterval()
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 5)
        for _ in 0..<3 { _ = w.recv(t, "q") }
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 5)
        w.engine.startActivityInterval()
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 3)
        w.engine.startActivityInterval()
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 0, "a quiet interval")
        _ = w.send(t, "q", "v")
        w.engine.startActivityInterval()
        w.engine.startActivityInterval()
        XCTAssertEqual(w.engine.recentlyMoved(w.ch("q")), 0, "moved two intervals ago")
    }

    func testBusiestFirstThenMostHeldAndWaitingThenByName() {
        let w = World()
        for (name, cap) in [("a", 10), ("b", 10), ("c", 10), ("d", 0), ("e", 0), ("x.busy", 10)] {
            _ = w.engine.make(name, capacity: cap, preference: .receiver)
        }
        let t = w.tasklet()
        for _ in 0..<4 { _ = w.send(t, "x.busy", "v"); _ = w.recv(t, "x.busy") }  // 8 moved, holds nothing
        _ = w.send(t, "b", "v")  // 1 moved, holds 1
        w.engine.startActivityInterval()
        _ = w.send(t, "c", "v")  // moved, but in the interval under way: holds 1
        _ = w.send(t, "c", "v")
        XCTAssertEqual(w.recv(w.tasklet(), "d"), .blocked)  // one waiting
        let top = w.engine.busiestChannels(limit: 4)
        XCTAssertEqual(top.first.map(\.name), ["x.busy", "b", "c", "d"])
        XCTAssertEqual(top.matching, 6)
        XCTAssertEqual(w.engine.busiestChannels(withPrefix: "x.", limit: 10).first.map(\.name), ["x.busy"])
        XCTAssertEqual(w.engine.busiestChannels(limit: 0).first.count, 0)
        XCTAssertEqual(w.engine.busiestChannels(limit: 100).first.map(\.name), ["x.busy", "b", "c", "d", "a", "e"])
    }

    func testListingByNameKeepsTheFirstOnesInOrder() {
        let w = World()
        var generator = Xoshiro256(seed: 7)
        let names = (0..<500).map { _ in "n\(generator.next() % 100_000)" }
        for name in names { _ = w.engine.make(name, capacity: 0, preference: .receiver) }
        let unique = Set(names).sorted()
        for limit in [0, 1, 2, 37, 499, 500, 10_000] {
            let listed = w.engine.channels(limit: limit)
            XCTAssertEqual(listed.first.map(\.name), Array(unique.prefix(limit)), "limit \(limit)")
            XCTAssertEqual(listed.matching, unique.count)
        }
        XCTAssertEqual(w.engine.channels(withPrefix: "n1", limit: 5).first.map(\.name),
                       Array(unique.filter { $0.hasPrefix("n1") }.prefix(5)))
    }

    func testTheTimersSweepSparesChannelsThatMovedValuesThisInterval() {
        let w = World()
        let t = w.tasklet()
        XCTAssertEqual(w.recv(t, "rv"), .blocked)
        _ = w.send(w.tasklet(), "rv", "x")  // idle again, but busy just now
        _ = w.drain()
        _ = w.ch("unused")  // made by a look, moved nothing
        w.engine.sweepIdleChannels(sparingActive: true)
        XCTAssertEqual(w.engine.channels().first.map(\.name), ["rv"])
        XCTAssertEqual(w.ch("rv").sent, 1, "the same channel, counters kept")
        w.engine.startActivityInterval()
        w.engine.sweepIdleChannels(sparingActive: true)  // a whole interval idle: gone
        XCTAssertEqual(w.engine.channelCount, 0)

        XCTAssertEqual(w.recv(t, "rv"), .blocked)
        _ = w.send(w.tasklet(), "rv", "x")
        _ = w.drain()
        w.engine.sweepIdleChannels()  // without sparing (the channel limit's sweep): gone at once
        XCTAssertEqual(w.engine.channelCount, 0)
    }
}
