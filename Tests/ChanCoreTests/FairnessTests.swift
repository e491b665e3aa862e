@testable import ChanCore
import XCTest

/// Rule 10: a uniform choice among ready cases, with never-ready cases listed
/// first (the position that a biased choice would favour or starve).
final class FairnessTests: XCTestCase {
    func testUniformOverTwoThreeAndFourReadyCases() {
        for ready in 2...4 {
            let w = World(seed: UInt64(1000 + ready)), t = w.tasklet()
            let never = ["RECV never0", "RECV never1", "SEND never2 x"]
            // Ready channels: closed ones are always ready and never drain.
            var lines = never
            for i in 0..<ready {
                w.engine.close(w.ch("ready\(i)"))
                lines.append("RECV ready\(i)")
            }
            let trials = 60_000
            var counts = [Int](repeating: 0, count: lines.count)
            for _ in 0..<trials {
                guard case .completed(.receivedClosed(let i)) = w.select(t, lines) else { return XCTFail() }
                counts[i] += 1
            }
            XCTAssertEqual(counts.prefix(never.count).reduce(0, +), 0, "never-ready cases chosen")
            let p = 1.0 / Double(ready)
            let sd = (Double(trials) * p * (1 - p)).squareRoot()
            for c in counts.dropFirst(never.count) {
                XCTAssertLessThan(abs(Double(c) - Double(trials) * p), 5 * sd, "\(ready) ready: \(counts)")
            }
        }
    }

    /// Ready cases that really move values (blocked senders), not only closed
    /// channels, are chosen uniformly too.
    func testUniformOverWaitingSenders() {
        let w = World(seed: 5), r = w.tasklet()
        let names = ["a", "b", "c"]
        let senders = names.map { _ in w.tasklet() }
        for (s, name) in zip(senders, names) { _ = w.send(s, name, name) }
        var counts: [String: Int] = [:]
        let trials = 30_000
        for _ in 0..<trials {
            guard case .completed(.received(let i, _)) = w.select(r, names.map { "RECV \($0)" }) else {
                return XCTFail()
            }
            counts[names[i], default: 0] += 1
            // Resume the sender that was taken: it sends again at once.
            for (id, _) in w.drain() {
                let s = senders.first { $0.id == id }!
                _ = w.send(s, names[senders.firstIndex { $0 === s }!], "again")
            }
        }
        let sd = (Double(trials) * (1.0 / 3) * (2.0 / 3)).squareRoot()
        for name in names {
            XCTAssertLessThan(abs(Double(counts[name, default: 0]) - Double(trials) / 3), 5 * sd, "\(counts)")
        }
    }

    /// Rule 12 (Go's TestPseudoRandomSend): a select blocked with several
    /// cases on one channel; a later partner fires each about equally often.
    func testDuplicateCasesOfABlockedSelectFireEquallyOften() {
        let w = World(seed: 12), selector = w.tasklet(), partner = w.tasklet()
        let trials = 30_000
        for (lines, partnerSends) in [(["SEND dup one", "SEND dup zero"], false),
                                      (["RECV dup", "RECV other", "RECV dup", "RECV dup"], true)] {
            let duplicates = lines.indices.filter { lines[$0].contains("dup") }
            var counts = [Int](repeating: 0, count: lines.count)
            for _ in 0..<trials {
                XCTAssertEqual(w.select(selector, lines), .blocked)
                _ = partnerSends ? w.send(partner, "dup", "v") : w.recv(partner, "dup")
                for (id, c) in w.drain() where id == selector.id {
                    switch c {
                    case .sent(let i), .received(let i, _): counts[i] += 1
                    default: XCTFail("\(c)")
                    }
                }
            }
            let p = 1.0 / Double(duplicates.count)
            let sd = (Double(trials) * p * (1 - p)).squareRoot()
            for i in duplicates {
                XCTAssertLessThan(abs(Double(counts[i]) - Double(trials) * p), 5 * sd, "\(lines): \(counts)")
            }
            XCTAssertEqual(counts.reduce(0, +), trials)
        }
    }

    /// Rule 3 still holds with the random poll order: between tasklets,
    /// first come, first served.
    func testBlockedSelectsAreStillServedInArrivalOrder() {
        let w = World(seed: 13)
        for _ in 0..<200 {
            let first = w.tasklet(), second = w.tasklet(), s = w.tasklet()
            XCTAssertEqual(w.select(first, ["RECV x", "RECV y", "RECV x"]), .blocked)
            XCTAssertEqual(w.select(second, ["RECV y", "RECV x"]), .blocked)
            _ = w.send(s, "x", "v")
            let woken = w.drain()
            XCTAssertEqual(woken.first?.0, first.id)
            _ = w.send(s, "y", "v")
            XCTAssertEqual(w.drain().first?.0, second.id)
        }
    }
}
