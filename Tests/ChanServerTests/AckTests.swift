import XCTest

/// Acknowledged delivery (protocol.md "Acknowledged delivery", rules 22-25)
/// over loopback against the real daemon. Replies print as `Wire.reply()`
/// joins them: "MSG jobs 5 1|hello" is `MSG jobs 5 1`, tag 1, then "hello".
final class AckTests: DaemonTestCase {
    override var daemonArguments: [String] { ["--max-held", "3"] }

    /// The STAT fields of `channel`, asked on `c`.
    private func stat(_ c: Wire, _ channel: String) -> [String: String] {
        c.say("STAT \(channel)")
        return fields(c.reply() ?? "", "STAT")
    }

    private func info(_ c: Wire) -> [String: String] {
        c.say("INFO")
        return fields(c.reply() ?? "", "INFO")
    }

    // MARK: Tags

    func testHeldValuesCarryATagAndTheRestDoNot() throws {
        let c = try daemon.connect()
        c.say("MAKE q CAP 4", "SEND q one", "THROW q two", "SEND q three",
              "RECV q ACK", "RECV q TIMEOUT 100 ACK", "SELECT 1 ACK NOWAIT", "RECV q",
              "ACK 2", "ACK 1", "ACK 3", "RECV q NOWAIT ACK", "SELECT 1 NOWAIT ACK", "RECV q")
        for _ in 0..<4 { XCTAssertEqual(c.reply(), "OK") }
        XCTAssertEqual(c.reply(), "MSG q 3 1|one")
        XCTAssertEqual(c.reply(), "EXC q 3 2|two")
        XCTAssertEqual(c.reply(), "SELECTED 0 MSG q 5 3|three")
        XCTAssertEqual(c.reply(), "TIMEOUT", "a TIMEOUT carries no tag")
        XCTAssertEqual(c.reply(), "TIMEOUT")
        c.say("CLOSE q", "RECV q ACK", "SELECT 1 ACK", "RECV q", "STAT q")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "CLOSED q", "a CLOSED carries no tag and holds nothing")
        XCTAssertEqual(c.reply(), "SELECTED 0 CLOSED q")
        let s = fields(c.reply()!, "STAT")
        XCTAssertEqual(s["held"], "0")
        XCTAssertEqual(s["received"], "3")
    }

    func testATagIsUniqueAmongTheValuesOneConnectionHolds() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("MAKE q CAP 4", "SEND q 1", "SEND q 2", "SEND q 3", "SEND q 4")
        for _ in 0..<5 { XCTAssertEqual(a.reply(), "OK") }
        a.say("RECV q ACK", "RECV q ACK")
        b.say("RECV q ACK")
        XCTAssertEqual(a.reply(), "MSG q 1 1|1")
        XCTAssertEqual(a.reply(), "MSG q 1 2|2")
        XCTAssertEqual(b.reply(), "MSG q 1 1|3", "tags are per connection")
        a.say("ACK 1", "RECV q ACK")
        XCTAssertEqual(a.reply(), "MSG q 1 3|4", "never a tag it still holds")
    }

    // MARK: The sender

    func testTheSenderGetsOKOnlyAtTheAcknowledgement() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect(), probe = try daemon.connect()
        sender.say("SEND jobs build 42")
        waitForStat("jobs", "senders=1")
        receiver.say("RECV jobs ACK")
        XCTAssertEqual(receiver.reply(), "MSG jobs 8 1|build 42")
        XCTAssertTrue(sender.silent(for: 0.3), "no OK while the value is held")
        let s = stat(probe, "jobs")
        XCTAssertEqual(s["held"], "1")
        XCTAssertEqual(s["senders"], "0", "a sender whose value is held is counted in held=, not senders=")
        XCTAssertEqual(s["balance"], "0")
        receiver.say("ACK 1")
        XCTAssertEqual(sender.reply(), "OK")
        XCTAssertEqual(stat(probe, "jobs")["held"], "0")
        XCTAssertEqual(stat(probe, "jobs")["received"], "1")
    }

    func testTheSendersTimeoutNoLongerAppliesOnceMatched() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect()
        receiver.say("RECV jobs ACK")
        waitForStat("jobs", "receivers=1")
        sender.say("SELECT 2 TIMEOUT 200", "RECV other", "SEND jobs v")
        XCTAssertEqual(receiver.reply(), "MSG jobs 1 1|v")
        XCTAssertTrue(sender.silent(for: 0.6), "past its 200 ms, still no TIMEOUT: committed to the send case")
        sender.say("PING")
        let other = try daemon.connect()
        other.say("SEND other x")
        XCTAssertTrue(sender.silent(for: 0.2), "the withdrawn RECV case takes nothing")
        receiver.say("ACK 1")
        XCTAssertEqual(sender.reply(), "SELECTED 1 OK")
        XCTAssertEqual(sender.reply(), "PONG")
        XCTAssertTrue(other.silent(), "other's SEND still waits for a receiver")
    }

    func testThrowIsAnsweredAtTheAcknowledgementToo() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect()
        receiver.say("RECV errs ACK")
        waitForStat("errs", "receivers=1")
        sender.say("THROW errs bad")
        XCTAssertEqual(receiver.reply(), "EXC errs 3 1|bad")
        XCTAssertTrue(sender.silent())
        receiver.say("ACK 1")
        XCTAssertEqual(sender.reply(), "OK")
    }

    /// ACK applies to a SELECT's RECV cases only: a send case it fires is an
    /// ordinary send.
    func testSelectWithAckThatPicksASendCase() throws {
        let selector = try daemon.connect(), receiver = try daemon.connect()
        receiver.say("RECV out")
        waitForStat("out", "receivers=1")
        selector.say("SELECT 2 ACK", "RECV in", "SEND out v")
        XCTAssertEqual(selector.reply(), "SELECTED 1 OK", "no tag on a send case")
        XCTAssertEqual(receiver.reply(), "MSG out 1|v")
        selector.say("SELECT 2 ACK", "RECV in", "SEND out w")
        XCTAssertTrue(selector.silent())
        let producer = try daemon.connect()
        producer.say("SEND in x")
        XCTAssertEqual(selector.reply(), "SELECTED 0 MSG in 1 1|x", "a receive case holds its value")
        XCTAssertTrue(producer.silent())
        selector.say("ACK 1")
        XCTAssertEqual(producer.reply(), "OK")
        XCTAssertEqual(stat(selector, "out")["senders"], "0", "the send case was withdrawn")
    }

    // MARK: NACK

    func testNackPutsARendezvousSenderBackAtTheHeadOfTheSenders() throws {
        let first = try daemon.connect(), second = try daemon.connect(), r = try daemon.connect()
        first.say("SEND c first")
        waitForStat("c", "senders=1")
        r.say("RECV c ACK")
        XCTAssertEqual(r.reply(), "MSG c 5 1|first")
        second.say("SEND c second")
        waitForStat("c", "senders=1")
        r.say("NACK 1", "STAT c")
        let s = fields(r.reply()!, "STAT")
        XCTAssertEqual(s["senders"], "2")
        XCTAssertEqual(s["held"], "0")
        XCTAssertTrue(first.silent(), "given back: no OK")
        r.say("RECV c ACK")
        XCTAssertEqual(r.reply(), "MSG c 5 2|first", "first again, ahead of second, with a new tag")
        r.say("ACK 2", "RECV c ACK")
        XCTAssertEqual(first.reply(), "OK")
        XCTAssertEqual(r.reply(), "MSG c 6 3|second")
        XCTAssertTrue(second.silent())
        r.say("ACK 3")
        XCTAssertEqual(second.reply(), "OK")
        XCTAssertEqual(info(r)["redelivered"], "1")
    }

    func testNackPutsABufferedValueBackAtTheHeadEvenOverCapacity() throws {
        let p = try daemon.connect(), r = try daemon.connect()
        p.say("MAKE b CAP 2", "SEND b 1", "SEND b 2")
        for _ in 0..<3 { XCTAssertEqual(p.reply(), "OK") }
        r.say("RECV b ACK")
        XCTAssertEqual(r.reply(), "MSG b 1 1|1")
        p.say("SEND b 3", "STAT b")
        XCTAssertEqual(p.reply(), "OK", "the held value left room in the buffer")
        var s = fields(p.reply()!, "STAT")
        XCTAssertEqual(s["len"], "2")
        XCTAssertEqual(s["held"], "1")
        r.say("NACK 1", "STAT b")
        s = fields(r.reply()!, "STAT")
        XCTAssertEqual(s["len"], "3", "back in the buffer past its capacity of 2")
        XCTAssertEqual(s["held"], "0")
        p.say("SELECT 1 NOWAIT", "SEND b 4")
        XCTAssertEqual(p.reply(), "TIMEOUT", "the buffer is full")
        r.say("RECV b ACK", "RECV b", "RECV b")
        XCTAssertEqual(r.reply(), "MSG b 1 2|1", "1 first again, with a new tag")
        XCTAssertEqual(r.reply(), "MSG b 1|2")
        XCTAssertEqual(r.reply(), "MSG b 1|3")
    }

    /// A value given back goes at once to a receiver already waiting.
    func testAGivenBackValueGoesToAWaitingReceiver() throws {
        let p = try daemon.connect(), holder = try daemon.connect(), waiter = try daemon.connect()
        p.say("SEND w v")
        waitForStat("w", "senders=1")
        holder.say("RECV w ACK")
        XCTAssertEqual(holder.reply(), "MSG w 1 1|v")
        waiter.say("RECV w ACK")
        waitForStat("w", "receivers=1")
        holder.say("NACK 1")
        XCTAssertEqual(waiter.reply(), "MSG w 1 1|v")
        XCTAssertTrue(p.silent())
        waiter.say("ACK 1")
        XCTAssertEqual(p.reply(), "OK")
    }

    /// Rule 24: a value that comes back to a closing channel is delivered
    /// before receivers see CLOSED; while every value left is held, the
    /// channel counts as drained.
    func testNackOnAClosingChannel() throws {
        let p = try daemon.connect(), holder = try daemon.connect(), r = try daemon.connect()
        p.say("MAKE k CAP 2", "SEND k one", "SEND k two")
        for _ in 0..<3 { XCTAssertEqual(p.reply(), "OK") }
        holder.say("RECV k ACK", "RECV k ACK")
        XCTAssertEqual(holder.reply(), "MSG k 3 1|one")
        XCTAssertEqual(holder.reply(), "MSG k 3 2|two")
        r.say("CLOSE k", "STAT k", "RECV k")
        XCTAssertEqual(r.reply(), "OK")
        let s = fields(r.reply()!, "STAT")
        XCTAssertEqual(s["state"], "closed", "all its values are held: drained")
        XCTAssertEqual(s["held"], "2")
        XCTAssertEqual(r.reply(), "CLOSED k")
        holder.say("NACK 2", "NACK 1", "STAT k")
        XCTAssertEqual(fields(holder.reply()!, "STAT")["state"], "closing", "values came back: closing again")
        r.say("RECV k", "RECV k", "RECV k")
        XCTAssertEqual(r.reply(), "MSG k 3|one", "sent before the close: delivered before CLOSED")
        XCTAssertEqual(r.reply(), "MSG k 3|two")
        XCTAssertEqual(r.reply(), "CLOSED k")
    }

    /// The same for a rendezvous sender: the close does not fail a sender
    /// whose value is held; its value comes back (the holder ends), is
    /// delivered before CLOSED, and the sender gets OK at that ACK.
    func testAHolderEndingOnAClosedChannelReopensItsDrain() throws {
        let p = try daemon.connect(), r = try daemon.connect()
        var holder: Wire? = try daemon.connect()
        p.say("SEND k v")
        waitForStat("k", "senders=1")
        holder!.say("RECV k ACK")
        XCTAssertEqual(holder!.reply(), "MSG k 1 1|v")
        r.say("CLOSE k")
        XCTAssertEqual(r.reply(), "OK")
        XCTAssertTrue(p.silent(), "a held sender is not failed by the close")
        holder = nil
        waitForStat("k", "state=closing")
        r.say("RECV k ACK", "RECV k")
        XCTAssertEqual(r.reply(), "MSG k 1 1|v")
        XCTAssertEqual(r.reply(), "CLOSED k")
        XCTAssertTrue(p.silent())
        r.say("ACK 1")
        XCTAssertEqual(p.reply(), "OK")
    }

    /// Delivered values' storage is reused for later counted payloads; a
    /// value held unacknowledged while many of its size pass, then given
    /// back, comes again with its own bytes.
    func testAValueHeldWhileManyPassKeepsItsBytes() throws {
        let sender = try daemon.connect(), holder = try daemon.connect()
        let producer = try daemon.connect(), consumer = try daemon.connect()
        sender.send("SEND a {17}\r\nheld-000000-bytes\r\n")
        holder.say("RECV a ACK")
        XCTAssertEqual(holder.reply(), "MSG a 17 1|held-000000-bytes")
        let values = (0..<200).map { "v\($0 + 100_000)-passing" }
        consumer.send(String(repeating: "RECV b\r\n", count: values.count))
        producer.send(values.map { "SEND b {15}\r\n\($0)\r\n" }.joined())
        for v in values { XCTAssertEqual(consumer.reply(), "MSG b 15|\(v)") }
        holder.say("NACK 1", "RECV a ACK")
        XCTAssertEqual(holder.reply(), "MSG a 17 2|held-000000-bytes")
        holder.say("ACK 2")
        XCTAssertEqual(sender.reply(), "OK")
        for _ in values { XCTAssertEqual(producer.reply(), "OK") }
    }

    // MARK: A pipelined consumer

    /// Several RECV ... ACK pipelined; each ACK is written while a later RECV
    /// of the same connection is blocked, and acted on at once.
    func testPipelinedConsumerAcknowledgesWhileBlocked() throws {
        let producer = try daemon.connect(), consumer = try daemon.connect()
        consumer.say("RECV w ACK", "RECV w ACK", "RECV w ACK", "PING")
        waitForStat("w", "receivers=1")
        producer.say("SEND w a", "SEND w b", "SEND w c", "PING")
        XCTAssertEqual(consumer.reply(), "MSG w 1 1|a")
        XCTAssertTrue(producer.silent(), "a is held")
        waitForStat("w", "receivers=1")  // the second RECV waits
        consumer.say("ACK 1")
        XCTAssertEqual(producer.reply(), "OK", "acted on while the second RECV is blocked")
        XCTAssertEqual(consumer.reply(), "MSG w 1 2|b")
        consumer.say("ACK 2")
        XCTAssertEqual(producer.reply(), "OK")
        XCTAssertEqual(consumer.reply(), "MSG w 1 3|c")
        XCTAssertEqual(consumer.reply(), "PONG")
        consumer.say("ACK 3", "PING")
        XCTAssertEqual(producer.reply(), "OK")
        XCTAssertEqual(producer.reply(), "PONG")
        XCTAssertEqual(consumer.reply(), "PONG")
    }

    /// A NACK read ahead is acted on at once too; other requests read ahead
    /// wait their turn behind the blocked one.
    func testNackWhileBlockedAndOtherRequestsWaitTheirTurn() throws {
        let producer = try daemon.connect(), consumer = try daemon.connect()
        producer.say("SEND w a")
        waitForStat("w", "senders=1")
        consumer.say("RECV w ACK", "RECV x ACK")
        XCTAssertEqual(consumer.reply(), "MSG w 1 1|a")
        waitForStat("x", "receivers=1")
        consumer.say("PING", "NACK 1", "STAT w")
        waitForStat("w", "senders=1")
        XCTAssertTrue(consumer.silent(), "PING waits behind the blocked RECV x")
        producer.say("PING")
        XCTAssertTrue(producer.silent(), "given back: SEND w a waits again")
        let other = try daemon.connect()
        other.say("SEND x y")
        XCTAssertEqual(consumer.reply(), "MSG x 1 2|y")
        XCTAssertEqual(consumer.reply(), "PONG")
        XCTAssertEqual(fields(consumer.reply()!, "STAT")["senders"], "1")
    }

    /// An ACK of an unknown tag read ahead is not acted on early: its ERR
    /// comes in order, after the reply of the blocked request.
    func testAnUnknownTagBehindABlockedRequestAnswersInOrder() throws {
        let consumer = try daemon.connect()
        consumer.say("RECV w ACK", "ACK 9", "PING")
        waitForStat("w", "receivers=1")
        XCTAssertTrue(consumer.silent())
        let producer = try daemon.connect()
        producer.say("SEND w a")
        XCTAssertEqual(consumer.reply(), "MSG w 1 1|a")
        XCTAssertEqual(consumer.reply(), "ERR NOTHELD 9")
        XCTAssertTrue(consumer.closedByServer())
        // Its held value came back with the connection's end; nobody took it.
        XCTAssertTrue(producer.silent())
        waitForStat("w", "senders=1")
    }

    // MARK: A holder that ends

    /// A holder of two buffered values (of q) and a rendezvous sender's
    /// value (of r) ends as `end` says: every value comes back to the front
    /// of its channel and goes to another receiver; the sender gets OK only
    /// at that receiver's ACK.
    private func holderEnds(_ end: (Wire) -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let producer = try daemon.connect(), sender = try daemon.connect(), probe = try daemon.connect()
        var holder: Wire? = try daemon.connect()
        producer.say("MAKE q CAP 2", "SEND q b1", "SEND q b2")
        for _ in 0..<3 { XCTAssertEqual(producer.reply(), "OK", file: file, line: line) }
        sender.say("SEND r r3")
        waitForStat("r", "senders=1", file: file, line: line)
        holder!.say("RECV q ACK", "RECV q ACK", "RECV r ACK")
        XCTAssertEqual(holder!.reply(), "MSG q 2 1|b1", file: file, line: line)
        XCTAssertEqual(holder!.reply(), "MSG q 2 2|b2", file: file, line: line)
        XCTAssertEqual(holder!.reply(), "MSG r 2 3|r3", file: file, line: line)
        XCTAssertEqual(stat(probe, "q")["held"], "2", file: file, line: line)
        XCTAssertEqual(stat(probe, "r")["held"], "1", file: file, line: line)
        end(holder!)
        holder = nil
        waitForStat("q", "held=0", file: file, line: line)
        waitForStat("r", "held=0", file: file, line: line)
        XCTAssertEqual(stat(probe, "q")["len"], "2", "both buffered values are back", file: file, line: line)
        XCTAssertEqual(stat(probe, "r")["senders"], "1", "the rendezvous sender waits again", file: file, line: line)
        XCTAssertTrue(sender.silent(), file: file, line: line)
        let other = try daemon.connect()
        other.say("RECV q ACK", "RECV q ACK", "RECV r ACK")
        XCTAssertEqual(other.reply(), "MSG q 2 1|b1", "in their order, at the front", file: file, line: line)
        XCTAssertEqual(other.reply(), "MSG q 2 2|b2", file: file, line: line)
        XCTAssertEqual(other.reply(), "MSG r 2 3|r3", file: file, line: line)
        XCTAssertTrue(sender.silent(), file: file, line: line)
        other.say("ACK 3", "ACK 1", "ACK 2")
        XCTAssertEqual(sender.reply(), "OK", "OK after the other receiver's ACK", file: file, line: line)
        let i = info(probe)
        XCTAssertEqual(i["redelivered"], "3", file: file, line: line)
        XCTAssertEqual(i["values_lost"], "0", file: file, line: line)
        XCTAssertEqual(i["held"], "0", file: file, line: line)
    }

    func testAHolderResetGivesItsValuesBack() throws {
        try holderEnds { $0.reset() }
    }

    func testAHolderClosingGivesItsValuesBack() throws {
        try holderEnds { _ in }  // the socket is closed when the Wire goes
    }

    func testAHolderHalfClosingGivesItsValuesBack() throws {
        try holderEnds { $0.shutdownWrite(); XCTAssertTrue($0.closedByServer()) }
    }

    func testAHolderQuittingGivesItsValuesBack() throws {
        try holderEnds { $0.say("QUIT"); XCTAssertEqual($0.reply(), "BYE"); XCTAssertTrue($0.closedByServer()) }
    }

    func testAHolderEndedByAnErrorGivesItsValuesBack() throws {
        try holderEnds { $0.say("NACK 77"); XCTAssertEqual($0.reply(), "ERR NOTHELD 77"); XCTAssertTrue($0.closedByServer()) }
    }

    /// A holder whose input is paused (it pipelined past what the server
    /// reads ahead) and then vanishes: noticed all the same, values back.
    func testAPausedHolderResetGivesItsValuesBack() throws {
        try holderEnds { holder in
            holder.send(String(repeating: "RECV x\r\n", count: 20_000))
            waitForStat("x", "receivers=1")
            holder.reset()
        }
    }

    /// A rendezvous sender that went while its value was held: the value,
    /// given back, is dropped (that sender never saw OK).
    func testAGivenBackValueOfAGoneSenderIsDropped() throws {
        let r = try daemon.connect()
        var sender: Wire? = try daemon.connect()
        sender!.say("SEND g v")
        waitForStat("g", "senders=1")
        r.say("RECV g ACK")
        XCTAssertEqual(r.reply(), "MSG g 1 1|v")
        sender!.reset()
        sender = nil
        usleep(200_000)
        r.say("NACK 1", "RECV g NOWAIT ACK")
        XCTAssertEqual(r.reply(), "TIMEOUT", "dropped, not redelivered")
    }

    // MARK: Errors

    func testUnknownAndDuplicateTagsAnswerNotHeldAndClose() throws {
        for script in [["ACK 1"], ["NACK 5"], ["RECV q ACK", "ACK 1", "ACK 1"], ["RECV q ACK", "NACK 1", "ACK 1"],
                       ["RECV q ACK", "ACK 1", "NACK 1"], ["RECV q", "ACK 1"]] {
            let p = try daemon.connect(), c = try daemon.connect()
            p.say("MAKE q CAP 1", "SEND q v")
            XCTAssertEqual(p.reply(), "OK")
            XCTAssertEqual(p.reply(), "OK")
            c.send((script + ["PING"]).map { $0 + "\r\n" }.joined())
            if script.count > 1 { XCTAssertEqual(c.reply()?.hasPrefix("MSG q 1"), true, "\(script)") }
            XCTAssertEqual(c.reply(), "ERR NOTHELD " + script.last!.split(separator: " ")[1], "\(script)")
            XCTAssertTrue(c.closedByServer(), "\(script): PING never answered")
            p.say("RECV q NOWAIT", "DELETE q")
            _ = p.reply()
            XCTAssertEqual(p.reply(), "OK")
        }
    }

    func testMalformedAckAnswersSyntaxAndCloses() throws {
        for line in ["ACK", "NACK", "ACK x", "ACK 0", "ACK -1", "NACK +1", "ACK 1 2", "ACK 1.5", "NACK 99999999999999999999999"] {
            let c = try daemon.connect()
            c.say("RECV q NOWAIT", line, "PING")
            XCTAssertEqual(c.reply(), "TIMEOUT")
            XCTAssertEqual(c.reply()?.hasPrefix("ERR SYNTAX"), true, line)
            XCTAssertTrue(c.closedByServer(), "\(line): PING never answered")
        }
    }

    func testMaxHeldBoundsTheValuesOneConnectionHolds() throws {
        let p = try daemon.connect(), c = try daemon.connect()
        p.say("HELLO", "MAKE q CAP 10")
        XCTAssertEqual(fields(p.reply()!, "HELLO")["max_held"], "3")
        XCTAssertEqual(p.reply(), "OK")
        for i in 1...5 { p.say("SEND q \(i)"); XCTAssertEqual(p.reply(), "OK") }
        c.say("RECV q ACK", "RECV q ACK", "RECV q ACK", "RECV q ACK", "SELECT 1 ACK", "RECV q", "RECV q", "PING")
        XCTAssertEqual(c.reply(), "MSG q 1 1|1")
        XCTAssertEqual(c.reply(), "MSG q 1 2|2")
        XCTAssertEqual(c.reply(), "MSG q 1 3|3")
        XCTAssertEqual(c.reply()?.hasPrefix("ERR LIMIT 3 values held, max_held 3"), true)
        XCTAssertEqual(c.reply()?.hasPrefix("ERR LIMIT"), true)
        XCTAssertEqual(c.reply(), "MSG q 1|4", "without ACK it still receives")
        XCTAssertEqual(c.reply(), "PONG", "ERR LIMIT keeps the connection")
        c.say("ACK 2", "RECV q ACK")
        XCTAssertEqual(c.reply(), "MSG q 1 4|5")
        XCTAssertEqual(info(c)["held"], "3")
    }

    // MARK: Figures

    func testStatAndInfoCountHeldValues() throws {
        let p = try daemon.connect(), r = try daemon.connect()
        p.say("MAKE s CAP 1", "SEND s a")
        XCTAssertEqual(p.reply(), "OK")
        XCTAssertEqual(p.reply(), "OK")
        p.say("SEND s b")
        waitForStat("s", "senders=1")
        r.say("RECV s ACK")
        XCTAssertEqual(r.reply(), "MSG s 1 1|a")
        // Taking a let the blocked b into the buffer.
        XCTAssertEqual(p.reply(), "OK")
        r.say("RECV s ACK")
        XCTAssertEqual(r.reply(), "MSG s 1 2|b")
        let s = stat(r, "s")
        XCTAssertEqual(s["held"], "2")
        XCTAssertEqual(s["len"], "0")
        XCTAssertEqual(s["received"], "0", "received counts acknowledged values")
        var i = info(r)
        XCTAssertEqual(i["held"], "2")
        XCTAssertEqual(i["redelivered"], "0")
        r.say("NACK 1", "ACK 2", "RECV s ACK", "ACK 3", "STAT s")
        XCTAssertEqual(r.reply(), "MSG s 1 3|a")
        let after = fields(r.reply()!, "STAT")
        XCTAssertEqual(after["held"], "0")
        XCTAssertEqual(after["received"], "2")
        i = info(r)
        XCTAssertEqual(i["held"], "0")
        XCTAssertEqual(i["redelivered"], "1")
    }
}
