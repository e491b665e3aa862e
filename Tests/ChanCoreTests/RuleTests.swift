@testable import ChanCore
import XCTest

/// One or more tests per numbered rule of semantics.md.
final class RuleTests: XCTestCase {
    // Rule 1: separate send and receive queues, so one select can wait to
    // send and to receive on the same channel.
    func testRule1SeparateQueuesHoldSendAndReceiveOfOneSelect() {
        let w = World(), t = w.tasklet()
        XCTAssertEqual(w.select(t, ["SEND x v", "RECV x"]), .blocked)
        XCTAssertPairs(w.ch("x").sendWaiters, [(t.id, 0)])
        XCTAssertPairs(w.ch("x").recvWaiters, [(t.id, 1)])
    }

    // Rule 2: balance is senders waiting minus receivers waiting.
    func testRule2Balance() {
        let w = World()
        XCTAssertEqual(w.ch("x").balance, 0)
        for i in 0..<2 { _ = w.send(w.tasklet(), "x", "v\(i)") }
        XCTAssertEqual(w.ch("x").balance, 2)
        for _ in 0..<3 { _ = w.recv(w.tasklet(), "y") }
        XCTAssertEqual(w.ch("y").balance, -3)
    }

    // Rule 3: FIFO of three blocked receivers.
    func testRule3ThreeBlockedReceiversServedInArrivalOrder() {
        let w = World()
        _ = w.engine.make("x", capacity: 0, preference: .none)
        let r = (0..<3).map { _ in w.tasklet() }
        for t in r { XCTAssertEqual(w.recv(t, "x"), .blocked) }
        let s = w.tasklet()
        for v in ["a", "b", "c"] {
            XCTAssertEqual(w.send(s, "x", v), .completed(.sent(case: 0)))
        }
        let woken = w.drain()
        XCTAssertEqual(ids(woken), r.map(\.id))
        XCTAssertEqual(woken.map(\.1), [received("a"), received("b"), received("c")])
    }

    // Rule 4: removal from the middle of a queue, by identity.
    func testRule4RemovalFromTheMiddleOfAQueue() {
        let w = World()
        let r = (0..<3).map { _ in w.tasklet() }
        for t in r { _ = w.recv(t, "x") }
        w.engine.cancel(r[1])
        XCTAssertPairs(w.ch("x").recvWaiters, [(r[0].id, 0), (r[2].id, 0)])
        let s = w.tasklet()
        _ = w.send(s, "x", "one")
        _ = w.drain()
        _ = w.send(s, "x", "two")
        let woken = w.drain()
        XCTAssertEqual(woken.first?.0, r[2].id)
        XCTAssertEqual(woken.first?.1, received("two"))
        XCTAssertTrue(w.ch("x").recvWaiters.isEmpty)
    }

    // Rule 4: two chanops carrying equal values are still told apart.
    func testRule4EqualValuesAreDistinctChanops() {
        let w = World()
        let a = w.tasklet(), b = w.tasklet()
        _ = w.send(a, "x", "same")
        _ = w.send(b, "x", "same")
        w.engine.cancel(b)
        XCTAssertPairs(w.ch("x").sendWaiters, [(a.id, 0)])
    }

    // Rule 5: a waiting receiver takes the value directly, skipping the buffer.
    func testRule5WaitingReceiverSkipsTheBuffer() {
        let w = World()
        XCTAssertEqual(w.engine.make("x", capacity: 2, preference: .receiver), .made)
        let r = w.tasklet(), s = w.tasklet()
        XCTAssertEqual(w.recv(r, "x"), .blocked)
        XCTAssertEqual(w.send(s, "x", "v"), .yielded)
        XCTAssertEqual(w.ch("x").count, 0)
        XCTAssertEqual(w.drain().map(\.1), [received("v"), .sent(case: 0)])
    }

    // Rule 5: room in the buffer completes the send; a full buffer blocks it.
    func testRule5BufferRoomThenBlock() {
        let w = World(), s = w.tasklet()
        _ = w.engine.make("x", capacity: 1, preference: .receiver)
        XCTAssertEqual(w.send(s, "x", "1"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.send(s, "x", "2"), .blocked)
        XCTAssertEqual(w.ch("x").bufferedMessages, [msg("1")])
        XCTAssertEqual(w.ch("x").waitingSenders, 1)
    }

    // Rule 6: a receive takes the buffer's head and moves a blocked sender's
    // value to the tail, completing that sender.
    func testRule6ReceiveRefillsTheBufferFromABlockedSender() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("x", capacity: 1, preference: .receiver)
        _ = w.send(s, "x", "1")
        XCTAssertEqual(w.send(s, "x", "2"), .blocked)
        XCTAssertEqual(w.recv(r, "x"), .completed(received("1")))
        XCTAssertEqual(w.ch("x").bufferedMessages, [msg("2")])
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0)])
    }

    // Rule 6: unbuffered, a receive takes a waiting sender's value; else blocks.
    func testRule6UnbufferedReceiveTakesFromSenderElseBlocks() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        XCTAssertEqual(w.recv(r, "x"), .blocked)
        w.engine.cancel(r)
        let r2 = w.tasklet()
        XCTAssertEqual(w.send(s, "x", "v"), .blocked)
        XCTAssertEqual(w.recv(r2, "x"), .completed(received("v")))
        XCTAssertEqual(w.drain().map(\.0), [s.id])
    }

    // Rule 7: buffered order 1..N+1 with a full buffer and a blocked sender.
    func testRule7BufferedOrderWithFullBufferAndBlockedSender() {
        let w = World(), n = 4
        _ = w.engine.make("x", capacity: n, preference: .receiver)
        let s = w.tasklet(), late = w.tasklet(), r = w.tasklet()
        for i in 1...n { XCTAssertEqual(w.send(s, "x", "\(i)"), .completed(.sent(case: 0))) }
        XCTAssertEqual(w.send(late, "x", "\(n + 1)"), .blocked)
        var got: [String] = []
        for _ in 1...(n + 1) {
            guard case .completed(.received(_, let m)) = w.recv(r, "x") else { return XCTFail() }
            got.append(text(m))
            let ch = w.ch("x")
            // Invariants at every quiet point.
            XCTAssertTrue(ch.count == 0 || ch.recvWaiters.isEmpty)
            XCTAssertTrue(ch.count == ch.capacity || ch.sendWaiters.isEmpty)
        }
        XCTAssertEqual(got, (1...(n + 1)).map(String.init))
        XCTAssertEqual(w.recv(r, "x"), .blocked)
    }

    // Rule 8: with several ready cases exactly one is performed; the others'
    // partners are untouched.
    func testRule8OnlyTheChosenReadyCaseIsPerformed() {
        let w = World()
        let senders = ["a", "b", "c"].map { name -> Tasklet in
            let t = w.tasklet()
            _ = w.send(t, name, name)
            return t
        }
        let r = w.tasklet()
        guard case .completed(.received(let i, let m)) = w.select(r, ["RECV a", "RECV b", "RECV c"]) else {
            return XCTFail()
        }
        XCTAssertEqual(text(m), ["a", "b", "c"][i])
        XCTAssertEqual(["a", "b", "c"].map { w.ch($0).waitingSenders }.reduce(0, +), 2)
        XCTAssertEqual(w.ch(["a", "b", "c"][i]).waitingSenders, 0)
        XCTAssertEqual(w.drain().map(\.0), [senders[i].id])
    }

    // Rule 9: a case on a closed channel is ready.
    func testRule9ClosedChannelCaseIsReady() {
        let w = World(), t = w.tasklet()
        w.engine.close(w.ch("done"))
        XCTAssertEqual(w.select(t, ["RECV never", "RECV done"]), .completed(.receivedClosed(case: 1)))
        XCTAssertEqual(w.select(t, ["RECV never", "SEND done v"]), .completed(.sendFailedClosed(case: 1)))
        XCTAssertTrue(w.ch("never").recvWaiters.isEmpty)
    }

    // Rule 11: NOWAIT with nothing ready completes at once and queues nothing.
    func testRule11NowaitLeavesNothingQueued() {
        let w = World(), t = w.tasklet()
        XCTAssertEqual(w.select(t, ["RECV a", "SEND b v"], wait: .nowait), .completed(.timedOut))
        XCTAssertEqual(w.ch("a").waitingReceivers + w.ch("b").waitingSenders, 0)
        XCTAssertEqual(t.state, .running)
        XCTAssertEqual(w.engine.blockedCount, 0)
    }

    // Rule 11: NOWAIT is never chosen when a case is ready.
    func testRule11NowaitNeverChosenWhenReady() {
        let w = World()
        _ = w.engine.make("b", capacity: 1000, preference: .receiver)
        let t = w.tasklet()
        for i in 0..<1000 {
            XCTAssertEqual(w.select(t, ["RECV a", "SEND b \(i)"], wait: .nowait), .completed(.sent(case: 1)))
        }
    }

    // Rule 12: a select with SEND x and RECV x alone blocks: it never pairs
    // with itself.
    func testRule12NoSelfPairing() {
        let w = World(), t = w.tasklet()
        XCTAssertEqual(w.select(t, ["SEND x mine", "RECV x"]), .blocked)
        XCTAssertEqual(t.state, .blocked)
        XCTAssertEqual(t.waitingOn.count, 2)
        XCTAssertTrue(w.drain().isEmpty)
    }

    // Rule 12 (conformance): two such tasklets both progress and neither gets
    // its own value.
    func testRule12TwoSendReceiveSelectsBothProgress() {
        let w = World()
        let a = w.tasklet(), b = w.tasklet()
        XCTAssertEqual(w.select(a, ["SEND x from-a", "RECV x"]), .blocked)
        let outcome = w.select(b, ["SEND x from-b", "RECV x"])
        var results: [Int: Completion] = [:]
        if case .completed(let c) = outcome { results[b.id] = c }
        for (id, c) in w.drain() { results[id] = c }
        XCTAssertEqual(results.count, 2)
        // One of them sent, the other received the sender's value.
        let (sender, receiver) = results[a.id] == .sent(case: 0) ? (a, b) : (b, a)
        XCTAssertEqual(results[sender.id], .sent(case: 0))
        XCTAssertEqual(results[receiver.id], received(sender === a ? "from-a" : "from-b", case: 1))
        XCTAssertEqual(w.ch("x").waitingSenders + w.ch("x").waitingReceivers, 0)
    }

    // Rule 13: when one chanop fires, every other one leaves every channel,
    // the fired case is known by chanop, and the timer is cancelled.
    func testRule13CleanupAfterSelectFires() {
        let w = World(), t = w.tasklet(), s = w.tasklet()
        XCTAssertEqual(w.select(t, ["RECV a", "SEND b v", "RECV c", "RECV a"], wait: .deadline(100)), .blocked)
        XCTAssertEqual(w.ch("a").waitingReceivers, 2)
        _ = w.send(s, "c", "hello")
        XCTAssertEqual(w.drain().first?.1, received("hello", case: 2))
        for name in ["a", "b", "c"] {
            XCTAssertEqual(w.ch(name).waitingSenders + w.ch(name).waitingReceivers, 0, name)
        }
        XCTAssertNil(w.engine.nextDeadline)
        XCTAssertEqual(w.engine.expireDeadlines(now: 1000), 0)
        XCTAssertTrue(t.waitingOn.isEmpty)
    }

    // Rule 13 (conformance): duplicate cases on one channel: the chanop that
    // was queued first fires and its own index is reported.
    func testRule13DuplicateCasesReportTheChanopThatFired() {
        let w = World(), t = w.tasklet(), s = w.tasklet()
        _ = w.select(t, ["RECV b", "RECV a", "RECV a"])
        let first = w.ch("a").recvWaiters[0].1
        XCTAssertTrue([1, 2].contains(first))
        _ = w.send(s, "a", "v")
        XCTAssertEqual(w.drain().first?.1, received("v", case: first))
        XCTAssertEqual(w.ch("a").waitingReceivers, 0)
    }

    // Rule 14: a lone SEND or RECV is a one-case select: same results.
    func testRule14SingleOperationIsAOneCaseSelect() {
        let w = World(), a = w.tasklet(), b = w.tasklet()
        XCTAssertEqual(w.select(a, ["RECV x"]), .blocked)
        XCTAssertEqual(w.send(b, "x", "v"), .yielded)
        XCTAssertEqual(w.drain().map(\.1), [received("v"), .sent(case: 0)])
        XCTAssertEqual(w.recv(a, "x"), .blocked)
        XCTAssertEqual(w.select(b, ["SEND x w"]), .yielded)
        XCTAssertEqual(w.drain().map(\.1), [received("w"), .sent(case: 0)])
    }

    // Rule 15: close while receivers wait: each is woken with CLOSED, at the
    // tail; later receives answer CLOSED; new sends fail.
    func testRule15CloseWakesWaitingReceivers() {
        let w = World()
        let r = (0..<3).map { _ in w.tasklet() }
        for t in r { _ = w.recv(t, "x") }
        let closer = w.tasklet()
        w.engine.close(w.ch("x"))
        XCTAssertEqual(w.ch("x").state, .closed)
        let woken = w.drain()
        XCTAssertEqual(ids(woken), r.map(\.id))
        XCTAssertEqual(Set(woken.map(\.1)), [.receivedClosed(case: 0)])
        XCTAssertEqual(w.recv(closer, "x"), .completed(.receivedClosed(case: 0)))
        XCTAssertEqual(w.send(closer, "x", "late"), .completed(.sendFailedClosed(case: 0)))
    }

    // Rule 15: close while senders wait: their values are drained in order,
    // then CLOSED.
    func testRule15CloseKeepsBlockedSendersValues() {
        let w = World()
        let s = (0..<2).map { _ in w.tasklet() }
        for (i, t) in s.enumerated() { _ = w.send(t, "x", "v\(i)") }
        w.engine.close(w.ch("x"))
        XCTAssertEqual(w.ch("x").state, .closing)
        let r = w.tasklet()
        XCTAssertEqual(w.send(r, "x", "new"), .completed(.sendFailedClosed(case: 0)))
        XCTAssertEqual(w.recv(r, "x"), .completed(received("v0")))
        XCTAssertEqual(w.ch("x").state, .closing)
        XCTAssertEqual(w.recv(r, "x"), .completed(received("v1")))
        XCTAssertEqual(w.ch("x").state, .closed)
        XCTAssertEqual(w.recv(r, "x"), .completed(.receivedClosed(case: 0)))
        XCTAssertEqual(ids(w.drain()), s.map(\.id))
    }

    // Rule 15: close with a buffer and a blocked sender: drained in order.
    func testRule15CloseWithBufferDrains() {
        let w = World(), s = w.tasklet(), late = w.tasklet(), r = w.tasklet()
        _ = w.engine.make("x", capacity: 2, preference: .receiver)
        _ = w.send(s, "x", "1")
        _ = w.send(s, "x", "2")
        _ = w.send(late, "x", "3")
        w.engine.close(w.ch("x"))
        w.engine.close(w.ch("x"))  // idempotent
        var got: [String] = []
        while case .completed(.received(_, let m)) = w.recv(r, "x") { got.append(text(m)) }
        XCTAssertEqual(got, ["1", "2", "3"])
        XCTAssertEqual(w.ch("x").state, .closed)
    }

    // Rule 15: a SEND case on a closing channel is ready and fails if chosen.
    func testRule15SendCaseOnClosingChannelIsReadyAndFails() {
        let w = World(), s = w.tasklet(), t = w.tasklet()
        _ = w.send(s, "x", "pending")
        w.engine.close(w.ch("x"))
        XCTAssertEqual(w.select(t, ["RECV never", "SEND x v"]), .completed(.sendFailedClosed(case: 1)))
    }

    // Rule 15: a closing channel whose last waiting sender withdraws (time
    // out) becomes closed and wakes its receivers.
    func testRule15WithdrawnLastSenderFinishesTheClose() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        _ = w.select(s, ["SEND x v", "RECV y"], wait: .deadline(10))
        w.engine.close(w.ch("x"))
        XCTAssertEqual(w.ch("x").state, .closing)
        w.engine.expireDeadlines(now: 10)
        XCTAssertEqual(w.ch("x").state, .closed)
        XCTAssertEqual(w.recv(r, "x"), .completed(.receivedClosed(case: 0)))
    }

    // Rules 16-17: prefer receiver (default): a sender arriving at a waiting
    // receiver yields; the receiver runs next, before tasklets already
    // runnable; the sender rejoins at the tail.
    func testRule17PreferReceiver() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        let (other, early) = (w.tasklet(), w.tasklet())
        _ = w.recv(r, "x")
        _ = w.recv(early, "e")
        XCTAssertEqual(w.send(other, "e", "wake"), .yielded)  // early runs first, other at tail
        XCTAssertEqual(w.engine.nextRunnable()?.id, early.id)
        XCTAssertEqual(w.send(s, "x", "v"), .yielded)
        XCTAssertEqual(ids(w.drain()), [r.id, other.id, s.id])
    }

    // Rule 17: no preference: the receiver joins the tail, the sender carries on.
    func testRule17NoPreference() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        _ = w.engine.make("x", capacity: 0, preference: .none)
        _ = w.recv(r, "x")
        XCTAssertEqual(w.send(s, "x", "v"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.drain().map(\.1), [received("v")])
        _ = w.send(s, "x", "w")
        XCTAssertEqual(w.recv(r, "x"), .completed(received("w")))
        XCTAssertEqual(ids(w.drain()), [s.id])
    }

    // Rule 17: prefer sender: a receiver taking a blocked sender's value
    // (directly or through the buffer) yields to that sender.
    func testRule17PreferSender() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        _ = w.engine.make("x", capacity: 0, preference: .sender)
        _ = w.send(s, "x", "v")
        XCTAssertEqual(w.recv(r, "x"), .yielded)
        XCTAssertEqual(w.drain().map(\.0), [s.id, r.id])
        _ = w.recv(r, "x")
        XCTAssertEqual(w.send(s, "x", "w"), .completed(.sent(case: 0)))
        XCTAssertEqual(w.drain().map(\.1), [received("w")])

        _ = w.engine.make("b", capacity: 1, preference: .sender)
        _ = w.send(s, "b", "1")
        _ = w.send(s, "b", "2")
        XCTAssertEqual(w.recv(r, "b"), .yielded)
        XCTAssertEqual(w.drain().map(\.1), [.sent(case: 0), received("1")])
    }

    // Rule 17: for a select, the preference of the channel whose case fired.
    func testRule17SelectUsesTheFiredChannelsPreference() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        _ = w.engine.make("quiet", capacity: 0, preference: .none)
        _ = w.select(r, ["RECV x", "RECV quiet"])
        XCTAssertEqual(w.send(s, "quiet", "v"), .completed(.sent(case: 0)))
        _ = w.drain()
        _ = w.select(r, ["RECV x", "RECV quiet"])
        XCTAssertEqual(w.send(s, "x", "v"), .yielded)
    }

    // Rule 18: THROW: the receiver gets an exception-flagged value; the
    // sender blocks as for a normal send.
    func testRule18SendExceptionBlocksAndArrivesFlagged() {
        let w = World(), s = w.tasklet(), r = w.tasklet()
        XCTAssertEqual(w.engine.send(s, w.ch("x"), msg("ValueError: bad", exception: true)), .blocked)
        XCTAssertEqual(w.recv(r, "x"), .completed(.received(case: 0, msg("ValueError: bad", exception: true))))
    }

    // Rule 19: iterating is receiving until CLOSED.
    func testRule19IterationEndsAtClosed() {
        let w = World(), r = w.tasklet()
        _ = w.engine.make("x", capacity: 3, preference: .receiver)
        for v in ["a", "b", "c"] { _ = w.send(w.tasklet(), "x", v) }
        w.engine.close(w.ch("x"))
        var got: [String] = []
        loop: while true {
            switch w.recv(r, "x") {
            case .completed(.received(_, let m)): got.append(text(m))
            case .completed(.receivedClosed): break loop
            default: return XCTFail()
            }
        }
        XCTAssertEqual(got, ["a", "b", "c"])
    }

    // Rule 20: a timed-out select leaves no chanop; a later sender does not
    // pair with it.
    func testRule20TimeoutPurgesChanops() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        XCTAssertEqual(w.select(r, ["RECV a", "RECV b"], wait: .deadline(50)), .blocked)
        XCTAssertEqual(w.engine.nextDeadline, 50)
        XCTAssertEqual(w.engine.expireDeadlines(now: 49), 0)
        XCTAssertEqual(w.engine.expireDeadlines(now: 50), 1)
        XCTAssertEqual(w.drain().map(\.1), [.timedOut])
        XCTAssertEqual(w.send(s, "a", "v", wait: .nowait), .completed(.timedOut))
        XCTAssertEqual(w.ch("a").waitingReceivers + w.ch("b").waitingReceivers, 0)
    }

    // Rule 20: a disconnect purges every chanop; a value matched to a
    // receiver that dies before resuming is reported lost.
    func testRule20CancelPurgesAndReportsLostValue() {
        let w = World(), r = w.tasklet(), s = w.tasklet()
        _ = w.select(r, ["RECV a", "SEND b v", "RECV a"])
        XCTAssertNil(w.engine.cancel(r))
        XCTAssertEqual(w.ch("a").waitingReceivers + w.ch("b").waitingSenders, 0)
        XCTAssertEqual(w.engine.blockedCount, 0)
        XCTAssertEqual(w.send(s, "a", "v", wait: .nowait), .completed(.timedOut))

        let r2 = w.tasklet()
        _ = w.recv(r2, "a")
        _ = w.send(s, "a", "doomed")
        XCTAssertEqual(w.engine.cancel(r2), received("doomed"))
        XCTAssertEqual(ids(w.drain()), [s.id])
    }

    // Rule 21: introspection reports waiting senders and receivers apart.
    func testRule21SendersAndReceiversReportedSeparately() {
        let w = World(), t = w.tasklet()
        _ = w.select(t, ["SEND x v", "RECV x"])
        XCTAssertEqual(w.ch("x").balance, 0)
        XCTAssertEqual(w.ch("x").waitingSenders, 1)
        XCTAssertEqual(w.ch("x").waitingReceivers, 1)
    }
}
