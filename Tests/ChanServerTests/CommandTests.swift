import XCTest

/// Every row of the protocol table, over loopback against the real daemon.
final class CommandTests: DaemonTestCase {
    func testPingAndQuit() throws {
        let c = try daemon.connect()
        c.say("PING", "ping")
        XCTAssertEqual(c.reply(), "PONG")
        XCTAssertEqual(c.reply(), "PONG")
        c.say("QUIT", "PING")
        XCTAssertEqual(c.reply(), "BYE")
        XCTAssertTrue(c.closedByServer())
    }

    func testSendWaitsForAReceiver() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect()
        sender.say("SEND jobs hello world")
        XCTAssertTrue(sender.silent(), "an unbuffered SEND is not answered before a receiver takes it")
        receiver.say("RECV jobs")
        XCTAssertEqual(receiver.reply(), "MSG jobs 11|hello world")
        XCTAssertEqual(sender.reply(), "OK")
    }

    func testRecvWaitsForASender() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect()
        receiver.say("RECV jobs")
        XCTAssertTrue(receiver.silent())
        sender.send("SEND jobs {7}\r\na\r\nb\0cd\r\n")
        XCTAssertEqual(sender.reply(), "OK")
        XCTAssertEqual(receiver.reply(), "MSG jobs 7|a\r\nb\0cd")
    }

    func testThrowArrivesAsExc() throws {
        let sender = try daemon.connect(), receiver = try daemon.connect()
        receiver.say("RECV errs")
        XCTAssertTrue(receiver.silent())
        sender.say("THROW errs ValueError: bad input")
        XCTAssertEqual(receiver.reply(), "EXC errs 21|ValueError: bad input")
        XCTAssertEqual(sender.reply(), "OK")
    }

    func testRecvTimeoutAndNowait() throws {
        let c = try daemon.connect()
        c.say("RECV q NOWAIT", "RECV q TIMEOUT 0", "recv q timeout 30", "PING")
        XCTAssertEqual(c.reply(), "TIMEOUT")
        XCTAssertEqual(c.reply(), "TIMEOUT")
        let start = Date()
        XCTAssertEqual(c.reply(), "TIMEOUT")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.02)
        XCTAssertEqual(c.reply(), "PONG")
        // Nothing is left queued by a timed-out RECV.
        c.say("STAT q")
        XCTAssertEqual(c.reply(), "STAT q cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
    }

    func testSelectReceivesFromTheReadyCase() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("SELECT 3", "RECV x", "RECV y", "RECV z")
        XCTAssertTrue(a.silent())
        b.say("SEND y why")
        XCTAssertEqual(a.reply(), "SELECTED 1 MSG y 3|why")
        XCTAssertEqual(b.reply(), "OK")
        b.say("STAT x", "STAT z")
        XCTAssertEqual(b.reply()?.contains("receivers=0"), true, "other cases withdrawn")
        XCTAssertEqual(b.reply()?.contains("receivers=0"), true, "other cases withdrawn")
    }

    func testSelectSendCaseAndTimeouts() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("SELECT 2 NOWAIT", "RECV x", "SEND y v")
        XCTAssertEqual(a.reply(), "TIMEOUT")
        a.say("SELECT 1 TIMEOUT 20", "RECV x")
        XCTAssertEqual(a.reply(), "TIMEOUT")
        b.say("RECV y")
        XCTAssertTrue(b.silent())
        a.send("SELECT 2\r\nRECV x\r\nSEND y {2}\r\nhi\r\n")
        XCTAssertEqual(b.reply(), "MSG y 2|hi")
        XCTAssertEqual(a.reply(), "SELECTED 1 OK")
    }

    func testSelectOnOneChannelNeverPairsWithItself() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("SELECT 2", "SEND x from-a", "RECV x")
        XCTAssertTrue(a.silent(), "alone it blocks")
        b.say("SELECT 2", "SEND x from-b", "RECV x")
        let replies = [a.reply()!, b.reply()!].sorted()
        XCTAssertTrue(replies == ["SELECTED 0 OK", "SELECTED 1 MSG x 6|from-a"]
            || replies == ["SELECTED 0 OK", "SELECTED 1 MSG x 6|from-b"], "\(replies)")
    }

    func testMakeBufferedChannel() throws {
        let c = try daemon.connect()
        c.say("MAKE tasks CAP 2", "make tasks cap 2 prefer receiver", "MAKE tasks CAP 3",
              "SEND tasks one", "SEND tasks two", "STAT tasks")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR EXISTS channel tasks exists with cap=2 preference=-1")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "STAT tasks cap=2 len=2 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=2 received=0 rate=0 held=0 exists=1 durable=0")
        c.say("MAKE p PREFER SENDER CAP 1", "MAKE n PREFER NONE", "STAT p", "STAT n")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "STAT p cap=1 len=0 balance=0 state=open preference=1 senders=0 receivers=0 persistent=1 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
        XCTAssertEqual(c.reply(), "STAT n cap=0 len=0 balance=0 state=open preference=0 senders=0 receivers=0 persistent=1 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
    }

    func testMakeOfAChannelInUseWithOtherSettings() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("RECV busy")
        waitForStat("busy", "receivers=1")
        b.say("MAKE busy CAP 1", "MAKE busy")
        XCTAssertEqual(b.reply(), "ERR EXISTS channel busy exists with cap=0 preference=-1")
        XCTAssertEqual(b.reply(), "OK")
    }

    func testCloseDrainsThenAnswersClosed() throws {
        let s1 = try daemon.connect(), s2 = try daemon.connect(), r = try daemon.connect()
        s1.say("SEND c first")
        waitForStat("c", "senders=1")
        s2.say("SEND c second")
        waitForStat("c", "senders=2")
        XCTAssertTrue(s1.silent(for: 0.05))
        r.say("CLOSE c", "CLOSE c", "STAT c", "SEND c late", "RECV c", "RECV c", "RECV c", "STAT c")
        XCTAssertEqual(r.reply(), "OK")
        XCTAssertEqual(r.reply(), "OK")
        XCTAssertEqual(r.reply(), "STAT c cap=0 len=0 balance=2 state=closing preference=-1 senders=2 receivers=0 persistent=0 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
        XCTAssertEqual(r.reply(), "ERR CLOSED channel c is closed")
        XCTAssertEqual(r.reply(), "MSG c 5|first")
        XCTAssertEqual(r.reply(), "MSG c 6|second")
        XCTAssertEqual(r.reply(), "CLOSED c")
        XCTAssertEqual(r.reply(), "STAT c cap=0 len=0 balance=0 state=closed preference=-1 senders=0 receivers=0 persistent=0 sent=2 received=2 rate=0 held=0 exists=1 durable=0")
        XCTAssertEqual(s1.reply(), "OK")
        XCTAssertEqual(s2.reply(), "OK")
    }

    func testCloseWakesBlockedReceiversAndSelects() throws {
        let r = try daemon.connect(), sel = try daemon.connect(), closer = try daemon.connect()
        r.say("RECV c")
        sel.say("SELECT 2", "RECV other", "RECV c")
        waitForStat("c", "receivers=2")
        XCTAssertTrue(r.silent(for: 0.05))
        closer.say("CLOSE c", "SELECT 2", "RECV other", "SEND c x")
        XCTAssertEqual(closer.reply(), "OK")
        XCTAssertEqual(closer.reply(), "SELECTED 1 ERR CLOSED channel c is closed")
        XCTAssertEqual(r.reply(), "CLOSED c")
        XCTAssertEqual(sel.reply(), "SELECTED 1 CLOSED c")
    }

    func testStatOfUnknownNameCreatesNothing() throws {
        let c = try daemon.connect()
        c.say("STAT nobody", "CHANNELS")
        XCTAssertEqual(c.reply(), "STAT nobody cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0 held=0 exists=0 durable=0")
        XCTAssertEqual(c.reply(), "CHANNELS 0 total=0")
    }

    func testChannelsListing() throws {
        let c = try daemon.connect()
        c.say("MAKE app.b", "MAKE app.a CAP 3", "MAKE other", "CHANNELS app.", "CHANNELS")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "OK") }
        XCTAssertEqual(c.reply(), "CHANNELS 2 total=2")
        XCTAssertEqual(c.reply(), "CHANNEL app.a cap=3 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
        XCTAssertEqual(c.reply(), "CHANNEL app.b cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
        XCTAssertEqual(c.reply(), "CHANNELS 3 total=3")
        XCTAssertEqual(c.reply()?.hasPrefix("CHANNEL app.a "), true)
        XCTAssertEqual(c.reply()?.hasPrefix("CHANNEL app.b "), true)
        XCTAssertEqual(c.reply()?.hasPrefix("CHANNEL other "), true)
    }

    /// CHANNELS TOP: busiest by values moved in the server's last whole
    /// second, then by values held and tasklets waiting, then by name.
    func testChannelsTopListsTheBusiestFirst() throws {
        let c = try daemon.connect(), waiter = try daemon.connect()
        c.say("MAKE idle", "MAKE held CAP 5", "MAKE busy CAP 5", "MAKE calm CAP 5", "SEND held x", "SEND held x")
        for _ in 0..<6 { XCTAssertEqual(c.reply(), "OK") }
        waiter.say("RECV waited")
        waitForStat("waited", "receivers=1")
        // 6 values moved on busy, 4 on calm; one write, so the server runs
        // them in one pass of its loop: within one of its seconds. held's two
        // may have moved in that second too.
        c.say("SEND busy 1", "SEND busy 2", "SEND busy 3", "RECV busy", "RECV busy", "RECV busy",
              "SEND calm 1", "SEND calm 2", "RECV calm", "RECV calm")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "OK") }
        for i in 1...3 { XCTAssertEqual(c.reply(), "MSG busy 1|\(i)") }
        for _ in 0..<2 { XCTAssertEqual(c.reply(), "OK") }
        for i in 1...2 { XCTAssertEqual(c.reply(), "MSG calm 1|\(i)") }
        // The rates show once the server's second has ended, and only until
        // the next one: ask until one listing catches them.
        var listing: [String?] = []
        for _ in 0..<500 where listing.count < 2 || listing[1]?.contains(" rate=6") != true {
            c.say("CHANNELS TOP 4")
            listing = (0..<5).map { _ in c.reply() }
            usleep(5000)
        }
        XCTAssertEqual(listing[0], "CHANNELS 4 total=5")
        XCTAssertEqual(listing[1], "CHANNEL busy cap=5 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=3 received=3 rate=6 held=0 exists=1 durable=0")
        XCTAssertEqual(listing[2], "CHANNEL calm cap=5 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=2 received=2 rate=4 held=0 exists=1 durable=0")
        XCTAssertEqual(listing[3]?.hasPrefix("CHANNEL held cap=5 len=2 "), true, "two values held")
        XCTAssertEqual(listing[4]?.hasPrefix("CHANNEL waited cap=0 len=0 balance=-1 "), true, "one receiver waiting")
        c.say("CHANNELS TOP 0", "CHANNELS c TOP 9", "CHANNELS TOP 1001")
        XCTAssertEqual(c.reply(), "CHANNELS 0 total=5")
        XCTAssertEqual(c.reply(), "CHANNELS 1 total=1")
        XCTAssertEqual(c.reply()?.hasPrefix("CHANNEL calm "), true)
        XCTAssertEqual(c.reply(), "ERR LIMIT TOP 1001 above the 1000 one listing shows")
    }

    func testInfoAndHello() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("RECV w")
        waitForStat("w", "receivers=1")
        b.say("BOGUS", "INFO", "HELLO")
        XCTAssertEqual(b.reply(), "ERR UNKNOWN unknown command BOGUS")
        let info = fields(b.reply()!, "INFO")
        XCTAssertEqual(info["connections"], "2")
        XCTAssertEqual(info["tasklets_blocked"], "1")
        XCTAssertEqual(info["channels"], "1")
        XCTAssertEqual(info["errors_unknown"], "1")
        XCTAssertEqual(info["receives"], "1")
        XCTAssertEqual(info["values_lost"], "0")
        let hello = fields(b.reply()!, "HELLO")
        XCTAssertEqual(hello["proto"], "1")
        XCTAssertEqual(hello["max_payload"], "1048576")
        XCTAssertEqual(hello["max_line"], "65536")
        XCTAssertEqual(hello["max_select_cases"], "256")
    }

    /// Pipelined requests run in order; a blocked one holds the later ones.
    func testPipelinedRequestsRunInOrderBehindABlockedOne() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.send("PING\r\nRECV p\r\nPING\r\nSEND q {3}\r\nabc\r\nPING\r\n")
        XCTAssertEqual(a.reply(), "PONG")
        waitForStat("p", "receivers=1")
        XCTAssertTrue(a.silent(), "PING after the blocked RECV waits")
        b.say("SEND p v", "RECV q")
        XCTAssertEqual(a.reply(), "MSG p 1|v")
        XCTAssertEqual(a.reply(), "PONG")
        XCTAssertEqual(b.reply(), "OK")
        XCTAssertEqual(b.reply(), "MSG q 3|abc")
        XCTAssertEqual(a.reply(), "OK")
        XCTAssertEqual(a.reply(), "PONG")
    }

    /// A transcript sent one byte at a time gets the same replies.
    func testRequestsSplitIntoSingleBytes() throws {
        let c = try daemon.connect()
        for byte in Array("MAKE s CAP 1\r\nSEND s {5}\r\nhe\nlo\r\nRECV s\nPING\r\n".utf8) { c.send([byte]) }
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "MSG s 5|he\nlo")
        XCTAssertEqual(c.reply(), "PONG")
    }
}

/// The key=value fields of a one-line reply that starts with `verb`.
func fields(_ line: String, _ verb: String) -> [String: String] {
    var out: [String: String] = [:]
    let parts = line.split(separator: " ")
    XCTAssertEqual(parts.first.map(String.init), verb)
    for part in parts.dropFirst() {
        let kv = part.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
    }
    return out
}
