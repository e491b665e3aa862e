@testable import ChanCore
import XCTest

/// OPEN, DELETE, MAKE of a closed channel, forgetting closed channels, and
/// the bounded listings (scan, busiest of the active).
final class LifecycleTests: XCTestCase {
    func testOpenReopensAClosedChannelKeepingBufferAndSettings() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("q", capacity: 2, preference: .sender)
        _ = w.send(s, "q", "1")
        w.engine.close(w.ch("q"))
        XCTAssertEqual(w.ch("q").state, .closing)
        XCTAssertEqual(w.engine.make("q", capacity: 2, preference: .sender), .closed)
        w.engine.open(w.ch("q"))
        XCTAssertEqual(w.ch("q").state, .open)
        XCTAssertEqual(w.send(s, "q", "2"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("1"), msg("2")])
        XCTAssertEqual([w.ch("q").capacity, w.ch("q").preference.rawValue], [2, 1])
        w.engine.close(w.ch("q"))
        _ = w.recv(r, "q"); _ = w.recv(r, "q")
        XCTAssertEqual(w.ch("q").state, .closed)
        w.engine.open(w.ch("q"))
        XCTAssertEqual(w.recv(r, "q", wait: .nowait), .completed(.timedOut), "open: no longer CLOSED")
        XCTAssertEqual(w.engine.make("q", capacity: 2, preference: .sender), .made)
    }

    func testDeleteWakesWaitersDropsValuesAndForgetsTheName() {
        let w = World()
        _ = w.engine.make("q", capacity: 1, preference: .receiver)
        let filler = w.tasklet(), blockedSender = w.tasklet()
        _ = w.send(filler, "q", "1")
        XCTAssertEqual(w.select(blockedSender, ["SEND q 2", "RECV other"]), .blocked)
        XCTAssertEqual(w.engine.delete(named: "q"), 1)
        XCTAssertEqual(w.drain().map(\.1), [.sendFailedClosed(case: 0)])
        XCTAssertEqual(w.ch("other").waitingReceivers, 0)
        XCTAssertNil(w.engine.existingChannel(named: "q"))
        XCTAssertEqual(w.engine.counters.valuesDropped, 1)

        let r = (0..<2).map { _ in w.tasklet() }
        for t in r { XCTAssertEqual(w.recv(t, "rv"), .blocked) }
        XCTAssertEqual(w.engine.delete(named: "rv"), 0)
        XCTAssertEqual(w.drain().map(\.1), [.receivedClosed(case: 0), .receivedClosed(case: 0)])
        // A later use makes the name anew: open, unbuffered, empty.
        XCTAssertEqual(w.ch("q").capacity, 0)
        XCTAssertEqual(w.ch("q").state, .open)
        XCTAssertEqual(w.engine.delete(named: "never-made"), 0)
    }

    func testDeleteWhileAValueIsHeld() {
        let w = World(), s1 = w.tasklet(), s2 = w.tasklet(), r = w.tasklet()
        _ = w.send(s1, "x", "acked")
        _ = w.engine.receive(r, w.ch("x"), hold: true)
        let acked = r.lastHeldTag
        _ = w.send(s2, "x", "back")
        _ = w.engine.receive(r, w.ch("x"), hold: true)
        let back = r.lastHeldTag
        w.engine.delete(named: "x")
        XCTAssertTrue(w.drain().isEmpty, "held senders still wait")
        XCTAssertTrue(w.engine.acknowledge(r, tag: acked))
        XCTAssertEqual(w.drain().map(\.0), [s1.id])
        XCTAssertTrue(w.engine.giveBack(r, tag: back))
        XCTAssertEqual(w.drain().map(\.1), [.sendFailedClosed(case: 0)])
        XCTAssertEqual(w.ch("x").waitingSenders, 0, "the new x knows nothing of it")
        XCTAssertEqual(w.engine.counters.held, 0)
    }

    func testClosedDrainedChannelsAreForgottenAfterTheirTTL() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        _ = w.engine.make("done", capacity: 0, preference: .receiver)
        w.engine.close(w.ch("done"))
        _ = w.send(s, "draining", "v")
        w.engine.close(w.ch("draining"))
        w.engine.forgetClosedChannels(now: 1000, ttl: 60)  // sees "done" closed at 1000
        w.engine.forgetClosedChannels(now: 1059, ttl: 60)
        XCTAssertNotNil(w.engine.existingChannel(named: "done"))
        XCTAssertEqual(w.recv(r, "done"), .completed(.receivedClosed(case: 0)))
        w.engine.forgetClosedChannels(now: 1060, ttl: 60)
        XCTAssertNil(w.engine.existingChannel(named: "done"))
        XCTAssertNotNil(w.engine.existingChannel(named: "draining"), "still closing: a sender waits")
        XCTAssertEqual(w.engine.make("done", capacity: 0, preference: .receiver), .made)

        _ = w.recv(r, "draining")
        _ = w.drain()
        w.engine.forgetClosedChannels(now: 2000, ttl: 60)
        w.engine.open(w.ch("draining"))
        w.engine.forgetClosedChannels(now: 3000, ttl: 60)
        XCTAssertNotNil(w.engine.existingChannel(named: "draining"), "opened again: kept")
    }

    func testScanListsEveryLastingChannelOnceInBoundedSteps() {
        let w = World()
        for i in 0..<500 { _ = w.engine.make("c\(i)", capacity: 0, preference: .receiver) }
        var seen: [String: Int] = [:]
        var cursor = 0, steps = 0, churn = 0
        repeat {
            let (next, listed) = w.engine.scan(cursor: cursor, count: 7)
            XCTAssertLessThanOrEqual(listed.count, 7)
            for ch in listed { seen[ch.name, default: 0] += 1 }
            // Churn meanwhile: new channels, and the last made ones deleted.
            churn += 1
            _ = w.engine.make("new\(churn)", capacity: 0, preference: .receiver)
            if churn % 3 == 0 { w.engine.delete(named: "new\(churn - 1)") }
            cursor = next
            steps += 1
        } while cursor != 0 && steps < 10_000
        for i in 0..<500 { XCTAssertEqual(seen["c\(i)"], 1, "c\(i)") }
        XCTAssertEqual(w.engine.scan(cursor: 0, prefix: "c49", count: 10_000).channels.count, 11)
        XCTAssertEqual(w.engine.scan(cursor: -1, count: 5).next, 0)
    }

    func testBusiestActiveRanksOnlyTheChannelsThatMovedValues() {
        let w = World(), t = w.tasklet()
        for name in ["a", "b", "x.c", "idle"] { _ = w.engine.make(name, capacity: 10, preference: .receiver) }
        for _ in 0..<3 { _ = w.send(t, "a", "v") }
        _ = w.send(t, "b", "v")
        for _ in 0..<2 { _ = w.send(t, "x.c", "v") }
        XCTAssertEqual(w.engine.busiestActiveChannels(limit: 10).matching, 0, "the interval under way does not count")
        w.engine.startActivityInterval()
        let top = w.engine.busiestActiveChannels(limit: 2)
        XCTAssertEqual(top.first.map(\.name), ["a", "x.c"])
        XCTAssertEqual(top.matching, 3)
        XCTAssertEqual(w.engine.busiestActiveChannels(withPrefix: "x.", limit: 5).first.map(\.name), ["x.c"])
        w.engine.delete(named: "a")
        XCTAssertEqual(w.engine.busiestActiveChannels(limit: 5).first.map(\.name), ["x.c", "b"])
        w.engine.startActivityInterval()
        XCTAssertEqual(w.engine.busiestActiveChannels(limit: 5).matching, 0)
    }
}
