@testable import ChanCore
import XCTest

/// Rules 22-25: values received with `hold`, acknowledged or given back.
final class HeldValueTests: XCTestCase {
    /// The tag of the value a held completion carries, failing the test
    /// when it is not `value`.
    private func tag(_ c: Completion?, _ value: String, of t: Tasklet, case index: Int = 0,
                     file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard case .received(let i, let m)? = c, i == index, text(m) == value else {
            XCTFail("expected \(value), got \(String(describing: c))", file: file, line: line)
            return -1
        }
        return t.lastHeldTag
    }

    private func completion(_ o: Outcome) -> Completion? {
        if case .completed(let c) = o { return c }
        return nil
    }

    // Rule 22: the receiver has the value at once; the rendezvous sender is
    // answered only at the acknowledgement, and is counted as held, not waiting.
    func testRule22RendezvousSenderWaitsForTheAcknowledgement() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        XCTAssertEqual(w.send(s, "x", "v", wait: .deadline(10)), .blocked)
        let t = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "v", of: r)
        XCTAssertEqual(s.state, .blocked)
        XCTAssertTrue(w.drain().isEmpty)
        XCTAssertEqual([w.ch("x").held, w.ch("x").waitingSenders, w.ch("x").balance], [1, 0, 0])
        XCTAssertEqual(w.engine.counters.held, 1)
        // Its timeout no longer runs.
        XCTAssertNil(w.engine.nextDeadline)
        XCTAssertEqual(w.engine.expireDeadlines(now: 100), 0)
        XCTAssertTrue(w.engine.acknowledge(r, tag: t))
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)])
        XCTAssertEqual([w.ch("x").held, w.ch("x").received, w.engine.counters.held], [0, 1, 0])
        XCTAssertFalse(w.engine.acknowledge(r, tag: t), "acknowledged twice")
        XCTAssertFalse(w.engine.giveBack(r, tag: t))
        XCTAssertEqual(w.engine.blockedCount, 0)
    }

    /// An implicit channel whose last value was acknowledged, or given back
    /// and dropped with its gone sender, is forgotten once idle like any other.
    func testAChannelIdleAfterItsLastHeldValueIsForgotten() {
        let w = World(), s = w.tasklet(), r = w.tasklet(), gone = w.tasklet()
        XCTAssertEqual(w.send(s, "acked", "v"), .blocked)
        let t = tag(completion(w.engine.receive(r, w.ch("acked"), hold: true)), "v", of: r)
        XCTAssertEqual(w.send(gone, "dropped", "v"), .blocked)
        let u = tag(completion(w.engine.receive(r, w.ch("dropped"), hold: true)), "v", of: r)
        w.engine.sweepIdleChannels()
        XCTAssertEqual(Set(w.engine.channels().first.map(\.name)), ["acked", "dropped"], "held values keep their channels")
        XCTAssertTrue(w.engine.acknowledge(r, tag: t))
        w.engine.cancel(gone)
        XCTAssertTrue(w.engine.giveBack(r, tag: u))
        _ = w.drain()
        w.engine.sweepIdleChannels()
        XCTAssertEqual(w.engine.channels().first.map(\.name), [])
    }

    // Rule 22: a sender arriving at a waiting holding receiver waits too.
    func testRule22SenderArrivingAtAWaitingHolderWaits() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        XCTAssertEqual(w.engine.receive(r, w.ch("x"), hold: true), .blocked)
        XCTAssertEqual(w.send(s, "x", "v"), .blocked)
        let woken = w.drain()
        XCTAssertEqual(ids(woken), [r.id])
        XCTAssertTrue(w.engine.acknowledge(r, tag: tag(woken.first?.1, "v", of: r)))
        XCTAssertEqual(w.drain().map(\.0), [s.id])
    }

    // Rule 22: a select whose send case was matched is committed to it: its
    // other cases are gone, and its deadline.
    func testRule22SelectIsCommittedToTheMatchedCase() {
        let w = World(), s = w.tasklet(), r = w.tasklet(), other = w.tasklet()
        XCTAssertEqual(w.select(s, ["RECV y", "SEND x v"], wait: .deadline(5)), .blocked)
        let t = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "v", of: r)
        XCTAssertEqual(w.ch("y").waitingReceivers, 0)
        XCTAssertEqual(w.send(other, "y", "nobody", wait: .nowait), .completed(.timedOut))
        XCTAssertEqual(w.engine.expireDeadlines(now: 50), 0)
        XCTAssertTrue(w.engine.acknowledge(r, tag: t))
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 1)])
    }

    // Rule 22, buffered: the send completed when buffered; the held value
    // leaves the buffer (and its capacity) and is counted as held.
    func testRule22BufferedValueHeldAndAcknowledged() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("q", capacity: 1, preference: .receiver)
        XCTAssertEqual(w.send(s, "q", "1"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.send(s, "q", "2"), .blocked)
        let t = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "1", of: r)
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)], "the refill completes the blocked sender")
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("2")])
        XCTAssertEqual([w.ch("q").held, w.ch("q").sent], [1, 2])
        XCTAssertTrue(w.engine.acknowledge(r, tag: t))
        XCTAssertEqual([w.ch("q").held, w.ch("q").received, w.ch("q").sent], [0, 1, 2])
    }

    // Rule 23: a given-back buffered value returns to the head of the
    // buffer, even past its capacity, and goes to a waiting receiver first.
    func testRule23BufferedValueComesBackToTheHeadPastCapacity() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("q", capacity: 1, preference: .receiver)
        _ = w.send(s, "q", "1")
        let t = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "1", of: r)
        _ = w.send(s, "q", "2")
        XCTAssertTrue(w.engine.giveBack(r, tag: t))
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("1"), msg("2")])
        XCTAssertEqual(w.send(s, "q", "3"), .blocked, "still full")
        XCTAssertEqual(w.engine.counters.redelivered, 1)
        XCTAssertEqual(w.recv(r, "q"), .completed(received("1")))
        XCTAssertTrue(w.drain().isEmpty, "the buffer is at its capacity again: no refill yet")
        XCTAssertEqual(w.recv(r, "q"), .completed(received("2")))
        XCTAssertEqual(w.drain().map(\.0), [s.id])
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("3")])

        // Given back while a receiver waits on the empty buffer: it gets it.
        let late = w.tasklet()
        let t3 = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "3", of: r)
        XCTAssertEqual(w.recv(late, "q"), .blocked)
        XCTAssertTrue(w.engine.giveBack(r, tag: t3))
        XCTAssertEqual(w.drain().map(\.1), [received("3")])
        XCTAssertEqual(w.ch("q").count, 0)
    }

    // Rule 23: a rendezvous sender rejoins the head of the senders, still
    // blocked, with its value; a waiting receiver gets it at once.
    func testRule23RendezvousSenderRejoinsTheHeadAndIsOfferedAtOnce() {
        let w = World(), first = w.tasklet(), second = w.tasklet(), r = w.tasklet(), waiter = w.tasklet()
        _ = w.send(first, "x", "a")
        let t = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "a", of: r)
        _ = w.send(second, "x", "b")
        XCTAssertTrue(w.engine.giveBack(r, tag: t))
        XCTAssertPairs(w.ch("x").sendWaiters, [(first.id, 0), (second.id, 0)])
        XCTAssertEqual(first.state, .blocked)
        XCTAssertEqual(w.recv(r, "x"), .completed(received("a")))
        XCTAssertEqual(w.recv(r, "x"), .completed(received("b")))
        XCTAssertEqual(ids(w.drain()), [first.id, second.id])

        // Offered at once to a receiver that waits meanwhile.
        _ = w.send(first, "x", "c")
        let tc = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "c", of: r)
        XCTAssertEqual(w.recv(waiter, "x"), .blocked)
        XCTAssertTrue(w.engine.giveBack(r, tag: tc))
        XCTAssertEqual(w.drain().map(\.1), [received("c"), .sent(case: 0)])
        XCTAssertEqual(w.ch("x").waitingReceivers + w.ch("x").waitingSenders + w.ch("x").held, 0)
    }

    // Rule 23: the given-back value goes to a waiting holder, which holds it
    // in turn; the sender is still waiting for an acknowledgement.
    func testRule23GivenBackToAnotherHolder() {
        let w = World(), s = w.tasklet(), a = w.tasklet(), b = w.tasklet()
        _ = w.send(s, "x", "v")
        let ta = tag(completion(w.engine.receive(a, w.ch("x"), hold: true)), "v", of: a)
        XCTAssertEqual(w.engine.receive(b, w.ch("x"), hold: true), .blocked)
        XCTAssertTrue(w.engine.giveBack(a, tag: ta))
        let woken = w.drain()
        XCTAssertEqual(ids(woken), [b.id])
        XCTAssertEqual(s.state, .blocked)
        XCTAssertTrue(w.engine.acknowledge(b, tag: tag(woken[0].1, "v", of: b)))
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)])
    }

    // Rule 23: cancelling the holder gives back everything it holds, in order.
    func testRule23CancelOfTheHolderGivesEverythingBack() {
        let w = World(), s = w.tasklet(), r = w.tasklet(), next = w.tasklet()
        _ = w.engine.make("q", capacity: 3, preference: .receiver)
        for v in ["1", "2", "3"] { _ = w.send(s, "q", v) }
        _ = w.engine.receive(r, w.ch("q"), hold: true)
        _ = w.engine.receive(r, w.ch("q"), hold: true)
        let rs = w.tasklet()
        _ = w.send(rs, "x", "rv")
        _ = w.engine.receive(r, w.ch("x"), hold: true)
        XCTAssertEqual(r.heldCount, 3)
        XCTAssertNil(w.engine.cancel(r))
        XCTAssertEqual(w.ch("q").bufferedMessages, ["1", "2", "3"].map { msg($0) })
        XCTAssertPairs(w.ch("x").sendWaiters, [(rs.id, 0)])
        XCTAssertEqual(w.engine.counters.held, 0)
        XCTAssertEqual(w.recv(next, "x"), .completed(received("rv")))
        XCTAssertEqual(ids(w.drain()), [rs.id])
    }

    // Rule 23: a sender that ends while its value is held: the
    // acknowledgement completes nothing, a give-back drops the value.
    func testRule23SenderCancelledWhileItsValueIsHeld() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.send(s, "x", "v")
        let t = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "v", of: r)
        XCTAssertNil(w.engine.cancel(s))
        XCTAssertEqual(w.engine.blockedCount, 0)
        XCTAssertTrue(w.engine.giveBack(r, tag: t))
        XCTAssertEqual(w.ch("x").waitingSenders, 0)
        XCTAssertEqual(w.recv(r, "x", wait: .nowait), .completed(.timedOut))

        let s2 = w.tasklet()
        _ = w.send(s2, "x", "w")
        let t2 = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "w", of: r)
        w.engine.cancel(s2)
        XCTAssertTrue(w.engine.acknowledge(r, tag: t2))
        XCTAssertTrue(w.drain().isEmpty)
    }

    // Rule 24: a value given back to a closed channel is delivered before
    // receivers see CLOSED; the channel is closing again until it drains.
    func testRule24GiveBackOnAClosedChannel() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("q", capacity: 2, preference: .receiver)
        _ = w.send(s, "q", "1")
        let t = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "1", of: r)
        w.engine.close(w.ch("q"))
        XCTAssertEqual(w.ch("q").state, .closed, "all that is left is held: drained")
        XCTAssertEqual(w.recv(r, "q"), .completed(.receivedClosed(case: 0)))
        XCTAssertTrue(w.engine.giveBack(r, tag: t))
        XCTAssertEqual(w.ch("q").state, .closing)
        XCTAssertEqual(w.recv(r, "q"), .completed(received("1")))
        XCTAssertEqual(w.ch("q").state, .closed)
    }

    // Rule 24, rendezvous on a closing channel: the sender's value comes back
    // and is received before CLOSED; waiting receivers are not woken early.
    func testRule24RendezvousValueBackOnAClosingChannel() {
        let w = World(), s = w.tasklet(), r = w.tasklet(), waiter = w.tasklet()
        _ = w.send(s, "x", "v")
        w.engine.close(w.ch("x"))
        let t = tag(completion(w.engine.receive(r, w.ch("x"), hold: true)), "v", of: r)
        XCTAssertEqual(w.ch("x").state, .closed)
        XCTAssertTrue(w.engine.giveBack(r, tag: t))
        XCTAssertEqual(w.ch("x").state, .closing)
        XCTAssertEqual(w.recv(waiter, "x"), .completed(received("v")))
        XCTAssertEqual(w.ch("x").state, .closed)
        XCTAssertEqual(ids(w.drain()), [s.id])
    }

    // Rule 25: duplicates only after a give-back; every value whose sender
    // was told it completed is acknowledged by some receiver.
    func testRule25AtLeastOnceUnderRandomGiveBacks() {
        var pick = Xoshiro256(seed: 25)
        let w = World(seed: 25)
        _ = w.engine.make("q", capacity: 4, preference: .none)
        let senders = (0..<3).map { _ in w.tasklet() }
        let receivers = (0..<3).map { _ in w.tasklet() }
        var next = 0, completed = Set<String>(), acked = Set<String>(), gaveBack = Set<String>()
        var deliveries: [String: Int] = [:]
        var pendingValue: [Int: String] = [:]
        func observe(_ id: Int, _ c: Completion) {
            switch c {
            case .sent: completed.insert(pendingValue[id]!)
            case .received(_, let m):
                let v = text(m)
                let r = receivers.first { $0.id == id }!
                let tag = r.lastHeldTag
                deliveries[v, default: 0] += 1
                if deliveries[v]! > 1 { XCTAssertTrue(gaveBack.contains(v), "\(v) delivered twice without a give-back") }
                if pick.next(upperBound: UInt(3)) == 0 {
                    gaveBack.insert(v)
                    XCTAssertTrue(w.engine.giveBack(r, tag: tag))
                } else {
                    XCTAssertTrue(w.engine.acknowledge(r, tag: tag))
                    XCTAssertFalse(acked.contains(v))
                    acked.insert(v)
                }
            default: break
            }
        }
        for _ in 0..<3000 {
            for t in senders where t.state == .running {
                next += 1
                pendingValue[t.id] = "v\(next)"
                if case .completed(let c) = w.send(t, "q", "v\(next)") { observe(t.id, c) }
            }
            for t in receivers where t.state == .running {
                if case .completed(let c) = w.engine.receive(t, w.ch("q"), hold: true) { observe(t.id, c) }
            }
            while let t = w.engine.nextRunnable() { observe(t.id, t.takeCompletion()!) }
        }
        XCTAssertGreaterThan(acked.count, 1000)
        XCTAssertTrue(completed.subtracting(acked).isSubset(of: Set(w.ch("q").bufferedMessages.map(text))),
                      "a completed send neither acknowledged nor still buffered")
    }
}

extension HeldValueTests {
    // Rule 23 with rule 20: a holder cancelled while it waits again on the
    // same channel: its chanop goes first, so the value it gives back is
    // not handed to it again.
    func testCancelOfAHolderWaitingOnTheSameChannel() {
        let w = World(), s = w.tasklet(), r = w.tasklet(), other = w.tasklet()
        _ = w.engine.make("q", capacity: 1, preference: .receiver)
        _ = w.send(s, "q", "v")
        _ = w.engine.receive(r, w.ch("q"), hold: true)
        XCTAssertEqual(w.engine.receive(r, w.ch("q"), hold: true), .blocked)
        XCTAssertNil(w.engine.cancel(r))
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("v")])
        XCTAssertEqual([w.ch("q").held, w.ch("q").waitingReceivers], [0, 0])
        XCTAssertEqual(w.recv(other, "q"), .completed(received("v")))
    }
}

extension HeldValueTests {
    // An engine that goes away releases the senders waiting for an
    // acknowledgement (in no queue) as well as the queued ones.
    func testAnEngineGoingAwayReleasesSendersWaitingForAnAcknowledgement() {
        weak var heldSender: Tasklet?
        weak var queuedSender: Tasklet?
        weak var holder: Tasklet?
        do {
            let engine = Engine(random: Xoshiro256(seed: 1))
            let s = engine.makeTasklet(), q = engine.makeTasklet(), r = engine.makeTasklet()
            let ch = engine.channel(named: "x")!
            _ = engine.send(s, ch, msg("held"))
            _ = engine.receive(r, ch, hold: true)
            _ = engine.send(q, ch, msg("queued"))
            XCTAssertEqual(engine.receive(r, engine.channel(named: "y")!, hold: true), .blocked)
            (heldSender, queuedSender, holder) = (s, q, r)
            XCTAssertEqual(s.state, .blocked)
        }
        XCTAssertNil(heldSender)
        XCTAssertNil(queuedSender)
        XCTAssertNil(holder)
    }
}

extension HeldValueTests {
    // Rule 23 with rule 6: a rendezvous sender given back to a buffer that
    // has room (it had none, for memory, when matched) is let in and completes.
    func testASenderGivenBackToABufferWithRoomCompletes() {
        let w = World(maxMemory: 1), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("q", capacity: 2, preference: .none)
        w.engine.reserveMemory(1)
        XCTAssertEqual(w.engine.receive(r, w.ch("q"), hold: true), .blocked)
        XCTAssertEqual(w.send(s, "q", "v"), .blocked, "no memory to buffer: a rendezvous, held")
        XCTAssertEqual(ids(w.drain()), [r.id])
        w.engine.releaseMemory(1)
        XCTAssertTrue(w.engine.giveBack(r, tag: r.lastHeldTag))
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)])
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("v")])
        XCTAssertEqual(w.ch("q").waitingSenders, 0)
    }
}

extension HeldValueTests {
    // Acknowledged and given-back values are kept for the next values held:
    // one kept holds on to no channel, and one reused carries nothing over
    // (the sender of the value it held before is not woken again).
    func testAHeldValueReusedCarriesNothingOver() {
        weak var deleted: Channel?
        let w = World(), s = w.tasklet(), r = w.tasklet(), other = w.tasklet()
        do {
            XCTAssertEqual(w.send(s, "gone", "a"), .blocked)
            let t = tag(completion(w.engine.receive(r, w.ch("gone"), hold: true)), "a", of: r)
            XCTAssertTrue(w.engine.acknowledge(r, tag: t))
            XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)])
            deleted = w.ch("gone")
            w.engine.delete(named: "gone")
            // The table's own lists let go of it too: the sweep's, and the
            // activity intervals' (the one it moved in, and the next).
            w.engine.sweepIdleChannels()
            w.engine.startActivityInterval()
            w.engine.startActivityInterval()
        }
        XCTAssertNil(deleted, "an acknowledged value keeps no channel alive")
        _ = w.engine.make("q", capacity: 1, preference: .none)
        XCTAssertEqual(w.send(other, "q", "b"), .completed(.sent(case: 0)))
        let u = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "b", of: r)
        XCTAssertTrue(w.engine.giveBack(r, tag: u))
        XCTAssertEqual(w.ch("q").bufferedMessages, [msg("b")])
        let v = tag(completion(w.engine.receive(r, w.ch("q"), hold: true)), "b", of: r)
        XCTAssertTrue(w.engine.acknowledge(r, tag: v))
        XCTAssertTrue(w.drain().isEmpty, "no sender completes twice")
        XCTAssertEqual([w.ch("q").held, w.ch("q").received, w.engine.counters.held], [0, 1, 0])
        XCTAssertEqual(w.engine.blockedCount, 0)
    }
}
