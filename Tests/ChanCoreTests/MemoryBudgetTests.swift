@testable import ChanCore
import XCTest

/// The memory budget: buffered and held payload bytes, and the caller's own.
final class MemoryBudgetTests: XCTestCase {
    func testASendThatWouldBufferWaitsAtTheBoundAndGoesOnWhenMemoryFrees() {
        let w = World(maxMemory: 10)
        _ = w.engine.make("q", capacity: 100, preference: .none)
        let s = w.tasklet(), r = w.tasklet()
        for v in ["aaaa", "bbbb", "cccc"] { XCTAssertEqual(w.send(s, "q", v), .completed(.sent(case: 0))) }
        XCTAssertEqual(w.engine.memoryUsed, 12, "admitted below the bound: past it by one value at most")
        XCTAssertEqual(w.send(w.tasklet(), "q", "dddd", wait: .nowait), .completed(.timedOut))
        XCTAssertEqual(w.send(s, "q", "dddd"), .blocked)
        XCTAssertEqual(w.recv(r, "q"), .completed(received("aaaa")))
        XCTAssertEqual(w.drain().map(\.0), [s.id], "8 bytes left: the waiting sender's value is buffered")
        XCTAssertEqual(w.ch("q").bufferedMessages.map(text), ["bbbb", "cccc", "dddd"])
        XCTAssertEqual(w.engine.memoryUsed, 12)
        for _ in 0..<3 { _ = w.recv(r, "q") }
        XCTAssertEqual(w.engine.memoryUsed, 0)
    }

    func testRendezvousStillCompletesAtTheBound() {
        let w = World(maxMemory: 4)
        _ = w.engine.make("q", capacity: 10, preference: .none)
        let s = w.tasklet(), r = w.tasklet()
        _ = w.send(s, "q", "full")
        _ = w.engine.make("rv", capacity: 0, preference: .none)
        XCTAssertEqual(w.recv(r, "rv"), .blocked)
        XCTAssertEqual(w.send(s, "rv", "direct"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.drain().map(\.1), [received("direct")])
        // A receiver on a buffered channel takes a memory-blocked sender's value directly.
        let waiting = w.tasklet()
        _ = w.engine.make("other", capacity: 10, preference: .none)
        XCTAssertEqual(w.send(waiting, "other", "v"), .blocked)
        XCTAssertEqual(w.recv(r, "other"), .completed(received("v")))
        XCTAssertEqual(ids(w.drain()), [waiting.id])
    }

    func testFreedMemoryLetsWaitingSendersInInTheOrderTheyBeganToWait() {
        let w = World(maxMemory: 4)
        for name in ["a", "b", "c"] { _ = w.engine.make(name, capacity: 10, preference: .none) }
        let r = w.tasklet()
        _ = w.send(w.tasklet(), "c", "cccc")
        let sb = w.tasklet(), sa = w.tasklet()
        XCTAssertEqual(w.send(sb, "b", "bbbb"), .blocked)
        XCTAssertEqual(w.send(sa, "a", "aaaa"), .blocked)
        XCTAssertEqual(w.recv(r, "c"), .completed(received("cccc")))
        XCTAssertEqual(ids(w.drain()), [sb.id], "b waited first; then the budget was spent again")
        XCTAssertEqual(w.ch("a").waitingSenders, 1)
        XCTAssertEqual(w.recv(r, "b"), .completed(received("bbbb")))
        XCTAssertEqual(ids(w.drain()), [sa.id])
    }

    func testHeldValuesAndReservedBytesCount() {
        let w = World(maxMemory: 6)
        _ = w.engine.make("q", capacity: 10, preference: .none)
        let s = w.tasklet(), r = w.tasklet()
        _ = w.send(s, "q", "12345")
        XCTAssertEqual(w.engine.receive(r, w.ch("q"), hold: true), .completed(received("12345")))
        XCTAssertEqual(w.engine.memoryUsed, 5, "held, still counted")
        w.engine.reserveMemory(3)
        XCTAssertEqual(w.send(s, "q", "x"), .blocked)
        w.engine.releaseMemory(3)
        XCTAssertEqual(ids(w.drain()), [s.id])
        XCTAssertEqual(w.engine.memoryUsed, 6)
        XCTAssertEqual(w.send(s, "q", "y"), .blocked)
        XCTAssertTrue(w.engine.acknowledge(r, tag: r.lastHeldTag))
        XCTAssertEqual(ids(w.drain()), [s.id])
        XCTAssertEqual(w.engine.memoryUsed, 2)
        w.engine.delete(named: "q")
        XCTAssertEqual(w.engine.memoryUsed, 0)
    }
}
