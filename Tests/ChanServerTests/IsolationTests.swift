import Foundation
import XCTest

/// One client cannot hurt the others: channels can be reopened and deleted,
/// closed ones are forgotten, buffered values are bounded in total, turns are
/// fair, and running out of descriptors or flooding the metrics port is
/// answered, not suffered.
final class IsolationTests: DaemonTestCase {
    // MARK: OPEN, DELETE, MAKE of a closed channel

    func testOpenReopensAClosingChannelKeepingItsBuffer() throws {
        let c = try daemon.connect()
        c.say("MAKE q CAP 2", "SEND q a", "CLOSE q", "SEND q b", "STAT q")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR CLOSED channel q is closed")
        XCTAssertEqual(anyRate(c.reply()), "STAT q cap=2 len=1 balance=0 state=closing preference=-1 senders=0 receivers=0 persistent=1 sent=1 received=0 rate=* held=0 exists=1 durable=0")
        c.say("OPEN q", "SEND q c", "STAT q", "RECV q", "RECV q")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(anyRate(c.reply()), "STAT q cap=2 len=2 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=2 received=0 rate=* held=0 exists=1 durable=0")
        XCTAssertEqual(c.reply(), "MSG q 1|a")
        XCTAssertEqual(c.reply(), "MSG q 1|c")
    }

    func testOpenReopensAClosedChannelForRendezvous() throws {
        let c = try daemon.connect(), r = try daemon.connect()
        c.say("MAKE p", "CLOSE p", "RECV p", "OPEN p", "OPEN p")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "CLOSED p")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK", "open already: OK")
        r.say("RECV p")
        waitForStat("p", "receivers=1")
        c.say("SEND p again")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(r.reply(), "MSG p 5|again")
    }

    func testOpenOfAnUnknownNameMakesNothing() throws {
        let c = try daemon.connect()
        c.say("OPEN nobody", "STAT nobody")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(anyRate(c.reply()), "STAT nobody cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=* held=0 exists=0 durable=0")
    }

    func testDeleteWakesReceiversWithClosed() throws {
        let c = try daemon.connect(), r = try daemon.connect(), sel = try daemon.connect()
        r.say("RECV d")
        sel.say("SELECT 2", "RECV other", "RECV d")
        waitForStat("d", "receivers=2")
        c.say("DELETE d", "STAT d")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=0 durable=0"), true)
        XCTAssertEqual(r.reply(), "CLOSED d")
        XCTAssertEqual(sel.reply(), "SELECTED 1 CLOSED d")
    }

    func testDeleteFailsWaitingSenders() throws {
        let c = try daemon.connect(), s = try daemon.connect()
        c.say("MAKE e CAP 1", "SEND e first")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        s.say("SEND e second")
        waitForStat("e", "senders=1")
        c.say("DELETE e")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(s.reply(), "ERR CLOSED channel e is closed")
    }

    func testDeleteDropsBufferedValuesAndALaterUseMakesTheNameAnew() throws {
        let c = try daemon.connect()
        c.say("MAKE b CAP 3", "SEND b 1", "SEND b 2", "DELETE b", "DELETE b", "INFO")
        for _ in 0..<5 { XCTAssertEqual(c.reply(), "OK") }
        let info = fields(c.reply()!, "INFO")
        XCTAssertEqual(info["values_dropped"], "2")
        XCTAssertEqual(info["memory_used"], "0")
        // Other settings than the deleted channel had: a fresh channel, not ERR EXISTS.
        c.say("MAKE b CAP 1", "SEND b 3", "RECV b", "STAT b")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "MSG b 1|3")
        XCTAssertEqual(anyRate(c.reply()), "STAT b cap=1 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=1 received=1 rate=* held=0 exists=1 durable=0")
    }

    func testMakeOfAClosedChannelAnswersClosed() throws {
        let c = try daemon.connect()
        c.say("MAKE m CAP 1", "SEND m v", "CLOSE m", "MAKE m CAP 1", "RECV m", "MAKE m CAP 1", "CLOSE n", "MAKE n")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR CLOSED channel m is closed: OPEN it, or DELETE it first", "closing")
        XCTAssertEqual(c.reply(), "MSG m 1|v")
        XCTAssertEqual(c.reply(), "ERR CLOSED channel m is closed: OPEN it, or DELETE it first", "closed")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR CLOSED channel n is closed: OPEN it, or DELETE it first", "closed by use")
    }

    // MARK: Closed channels forgotten

    func testClosedDrainedChannelIsForgottenAfterTheTTL() throws {
        let d = try Daemon(["--closed-ttl", "1"])
        defer { XCTAssertEqual(d.stop().status, 0) }
        let c = try d.connect()
        c.say("MAKE t CAP 2", "CLOSE t", "MAKE k CAP 1", "SEND k kept", "CLOSE k", "RECV t")
        for _ in 0..<5 { XCTAssertEqual(c.reply(), "OK") }
        XCTAssertEqual(c.reply(), "CLOSED t", "until the TTL, RECV answers CLOSED")
        XCTAssertEqual(waitUntilForgotten(c, "t"), true)
        // k still holds a value: remembered however long it waits.
        c.say("STAT k", "RECV k", "MAKE t CAP 5")
        XCTAssertEqual(anyRate(c.reply()), "STAT k cap=1 len=1 balance=0 state=closing preference=-1 senders=0 receivers=0 persistent=1 sent=1 received=0 rate=* held=0 exists=1 durable=0")
        XCTAssertEqual(c.reply(), "MSG k 4|kept")
        XCTAssertEqual(c.reply(), "OK", "the name is free again")
    }

    /// The table-filling flood of CLOSEs on new names, scaled down: the
    /// closed names are forgotten, and a new name can be made again.
    func testCloseFloodDoesNotFillTheTableForGood() throws {
        let d = try Daemon(["--closed-ttl", "1", "--max-channels", "1000"])
        defer { XCTAssertEqual(d.stop().status, 0) }
        let flood = try d.connect()
        flood.send((0..<2000).map { "CLOSE z\($0)\r\n" }.joined())
        var ok = 0, limited = 0
        for _ in 0..<2000 {
            let line = flood.reply()
            if line == "OK" { ok += 1 } else if line == "ERR LIMIT too many channels (max 1000)" { limited += 1 } else { XCTFail(line ?? "no reply") }
        }
        XCTAssertEqual(ok + limited, 2000)
        XCTAssertGreaterThanOrEqual(ok, 1000)
        let other = try d.connect()
        var made = false
        for _ in 0..<100 where !made {
            other.say("MAKE fresh")
            made = other.reply() == "OK"
            if !made { usleep(100_000) }
        }
        XCTAssertTrue(made, "a new name is refused for good")
        other.say("STAT z0")
        XCTAssertEqual(other.reply()?.hasSuffix(" exists=0 durable=0"), true)
    }

    /// Polls STAT until the name is gone (bounded: about 5 s).
    private func waitUntilForgotten(_ c: Wire, _ name: String) -> Bool {
        for _ in 0..<50 {
            c.say("STAT \(name)")
            guard let line = c.reply() else { return false }
            if line.hasSuffix(" exists=0 durable=0") { return true }
            usleep(100_000)
        }
        return false
    }

    // MARK: Fair turns

    /// One client's pipeline of SENDs, sent in one write, does not keep
    /// another client's PING waiting until it ends: the PING's reply comes
    /// while the buffer is still filling.
    func testPipelinedRequestsDoNotHoldOffAnotherClient() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        let n = 6000  // about 60 KB: one read of the server's
        a.say("MAKE q CAP \(n)")
        XCTAssertEqual(a.reply(), "OK")
        a.send(String(repeating: "SEND q x\r\n", count: n))
        b.say("PING", "STAT q")
        XCTAssertEqual(b.reply(), "PONG")
        let len = Int(fields(b.reply()!, "STAT")["len"]!)!
        XCTAssertLessThan(len, n, "the PING was answered only after the whole pipeline")
        for _ in 0..<n { XCTAssertEqual(a.line(), "OK") }
    }

    /// Listings over many channels run in steps: another client's PING is
    /// answered before a pipeline of them ends.
    func testListingsDoNotHoldOffAnotherClient() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        let channels = 100_000, chunk = 10_000
        for start in stride(from: 0, to: channels, by: chunk) {
            a.send((start..<start + chunk).map { "MAKE c\($0)\r\n" }.joined())
            XCTAssertEqual(a.bytes(4 * chunk), Array(String(repeating: "OK\r\n", count: chunk).utf8))
        }
        let listings = 10
        a.send(String(repeating: "CHANNELS nomatch\r\nCHANNELS TOP 5\r\n", count: listings) + "MAKE marker CAP 7\r\n")
        b.say("PING", "STAT marker")
        XCTAssertEqual(b.reply(), "PONG")
        XCTAssertEqual(fields(b.reply()!, "STAT")["cap"], "0", "the PING was answered only after every listing")
        for _ in 0..<listings {
            XCTAssertEqual(a.reply(), "CHANNELS 0 total=0")
            XCTAssertEqual(a.reply(), "CHANNELS 5 total=\(channels)")
            for _ in 0..<5 { XCTAssertEqual(a.reply()?.hasPrefix("CHANNEL c"), true) }
        }
        XCTAssertEqual(a.reply(), "OK")
    }

    // MARK: Open files

    /// A burst of clients far past the open-file limit: each one past it
    /// gets ERR LIMIT and is counted; none is dropped without a word.
    func testClientsPastTheOpenFileLimitAreRefusedWithAReply() throws {
        let limited = try Daemon([], openFiles: 64)
        defer { XCTAssertEqual(limited.stop().status, 0) }
        var clients: [Wire] = []
        for _ in 0..<300 { clients.append(try limited.connect()) }
        var served: [Wire] = [], refused = 0
        for (i, c) in clients.enumerated() {
            c.setTimeout(0.05)
            if let line = c.line() {
                XCTAssertTrue(line.hasPrefix("ERR LIMIT too many connections"), "client \(i): \(line)")
                refused += 1
            } else {
                XCTAssertFalse(c.closedByServer(), "client \(i) dropped without a reply")
                served.append(c)
            }
        }
        XCTAssertEqual(served.count + refused, 300)
        let probe = try XCTUnwrap(served.first)
        probe.setTimeout(10)
        probe.say("INFO")
        XCTAssertEqual(fields(probe.reply()!, "INFO")["connections_refused"], "\(refused)")
    }

    // MARK: The metrics endpoint

    /// A request sent a byte at a time, never finished, is closed after the
    /// request timeout (it runs from the connection's start, not its last
    /// byte), and counted as refused.
    func testMetricsSlowRequestIsClosedAfterItsTimeoutAndCounted() throws {
        let d = try Daemon(["--metrics-port", "0"])
        defer { XCTAssertEqual(d.stop().status, 0) }
        let port = try XCTUnwrap(d.metricsPort)
        let slow = try Wire(port: port)
        for byte in "GET /metrics HTTP/1.1\r\n".utf8.prefix(14) {  // 7 s, past the 5 s timeout
            slow.send([byte])
            usleep(500_000)
        }
        XCTAssertTrue(slow.closedByServer(), "a request that never ends is never closed")
        let scrape = try Wire(port: port)
        scrape.send("GET /metrics HTTP/1.1\nHost: 127.0.0.1\n\n")
        XCTAssertEqual(scrape.line(), "HTTP/1.1 200 OK")
        var body = ""
        while let line = scrape.line() { body += line + "\n" }
        XCTAssertTrue(body.contains("\nchand_metrics_refused_total 1\n"), body)
    }

    /// Dozens of idle connections held open all along: scrapes are still
    /// answered, each time.
    func testMetricsScrapesAnsweredWhileIdleConnectionsStayOpen() throws {
        let d = try Daemon(["--metrics-port", "0"])
        defer { XCTAssertEqual(d.stop().status, 0) }
        let port = try XCTUnwrap(d.metricsPort)
        var idle: [Wire] = []
        for round in 0..<3 {
            for _ in 0..<20 { idle.append(try Wire(port: port)) }
            let scrape = try Wire(port: port)
            scrape.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            XCTAssertEqual(scrape.line(), "HTTP/1.1 200 OK", "round \(round), \(idle.count) idle")
        }
    }
}

/// The memory bound, with a small one: 1 KiB.
final class MemoryBoundTests: DaemonTestCase {
    override var daemonArguments: [String] { ["--max-memory", "1024"] }

    func testSendAtTheMemoryBoundWaitsAndLosesNothing() throws {
        let s = try daemon.connect(), r = try daemon.connect(), probe = try daemon.connect()
        let a = String(repeating: "a", count: 1024), b = String(repeating: "b", count: 1024), c = String(repeating: "c", count: 1024)
        s.say("MAKE q CAP 100", "SEND q {1024}", a)
        XCTAssertEqual(s.reply(), "OK")
        XCTAssertEqual(s.reply(), "OK")
        s.say("SEND q {1024}", b)
        XCTAssertTrue(s.silent(), "the buffer has room, memory has not: the SEND waits")
        probe.say("SELECT 1 NOWAIT", "SEND q {1024}", c, "STAT q", "INFO")
        XCTAssertEqual(probe.reply(), "TIMEOUT")
        XCTAssertEqual(anyRate(probe.reply()), "STAT q cap=100 len=1 balance=1 state=open preference=-1 senders=1 receivers=0 persistent=1 sent=1 received=0 rate=* held=0 exists=1 durable=0")
        let info = fields(probe.reply()!, "INFO")
        XCTAssertEqual(info["memory_max"], "1024")
        XCTAssertLessThanOrEqual(Int(info["memory_used"]!)!, 1024 + 1024)
        r.say("RECV q")
        XCTAssertEqual(r.reply(), "MSG q 1024|" + a)
        XCTAssertEqual(s.reply(), "OK", "memory freed: the waiting value goes in")
        r.say("RECV q", "RECV q NOWAIT")
        XCTAssertEqual(r.reply(), "MSG q 1024|" + b)
        XCTAssertEqual(r.reply(), "TIMEOUT")
        probe.say("INFO")
        XCTAssertEqual(fields(probe.reply()!, "INFO")["memory_used"], "0")
    }

    func testRendezvousCompletesAtTheMemoryBound() throws {
        let s = try daemon.connect(), r = try daemon.connect()
        let big = String(repeating: "x", count: 2000)
        s.say("MAKE full CAP 1", "SEND full {2000}", big)
        XCTAssertEqual(s.reply(), "OK")
        XCTAssertEqual(s.reply(), "OK")
        r.say("RECV direct")
        waitForStat("direct", "receivers=1")
        s.say("SEND direct handed")
        XCTAssertEqual(s.reply(), "OK")
        XCTAssertEqual(r.reply(), "MSG direct 6|handed")
    }
}
