import XCTest

/// Every error code, and bad input that must neither crash nor wedge the
/// server: each gets its ERR and the connection (or at least the server)
/// keeps serving.
final class ErrorTests: DaemonTestCase {
    override var daemonArguments: [String] {
        ["--max-line", "100", "--max-payload", "16", "--max-select-cases", "3",
         "--max-channels", "20", "--max-capacity", "10", "--max-connections", "4"]
    }

    func testUnknownAndSyntaxErrorsKeepTheConnectionUsable() throws {
        let c = try daemon.connect()
        c.say("FROB x", "SEND", "SEND x", "RECV", "RECV x y", "RECV x TIMEOUT", "RECV x TIMEOUT -1", "RECV x TIMEOUT soon",
              "MAKE x CAP", "MAKE x CAP 1 CAP 2", "MAKE x PREFER MAYBE", "PING extra", "CLOSE", "STAT a b", "PING")
        XCTAssertEqual(c.reply(), "ERR UNKNOWN unknown command FROB")
        XCTAssertEqual(c.reply(), "ERR SYNTAX SEND needs <chan> <payload>")
        XCTAssertEqual(c.reply(), "ERR SYNTAX missing payload")
        XCTAssertEqual(c.reply(), "ERR SYNTAX RECV needs <chan> [TIMEOUT <ms> | NOWAIT] [ACK]")
        for _ in 0..<10 { XCTAssertEqual(c.reply()?.hasPrefix("ERR SYNTAX "), true) }
        XCTAssertEqual(c.reply(), "PONG")
    }

    func testBadNames() throws {
        let defaults = try Daemon()
        defer { defaults.stop() }
        let c = try defaults.connect()
        c.send("RECV " + String(repeating: "n", count: 256) + "\r\n")
        c.send([UInt8]("SEND bad\u{7F}name v\r\n".utf8))
        c.send([UInt8]("RECV caf".utf8) + [0xC3, 0xA9] + [13, 10])
        c.say("PING")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "ERR BADNAME a channel name is 1-255 bytes 0x21-0x7E") }
        XCTAssertEqual(c.reply(), "PONG")
    }

    func testTooBigPayloadIsSkippedInSync() throws {
        let c = try daemon.connect(), r = try daemon.connect()
        c.send("SEND big {17}\r\n" + String(repeating: "x", count: 17) + "\r\nPING\r\n")
        XCTAssertEqual(c.reply(), "ERR TOOBIG payload too big")
        XCTAssertEqual(c.reply(), "PONG")
        r.say("STAT big")
        XCTAssertEqual(r.reply()?.contains("senders=0"), true, "nothing was sent")
    }

    func testTooLongLineIsDiscardedUpToItsEnd() throws {
        let c = try daemon.connect()
        c.send("SEND x " + String(repeating: "y", count: 5000) + "\r\nPING\r\n")
        XCTAssertEqual(c.reply(), "ERR TOOLONG line too long")
        XCTAssertEqual(c.reply(), "PONG")
    }

    func testClosedAndExists() throws {
        let c = try daemon.connect()
        c.say("CLOSE gone", "SEND gone v", "MAKE m CAP 1", "MAKE m CAP 2")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR CLOSED channel gone is closed")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR EXISTS channel m exists with cap=1 preference=-1")
    }

    func testLimits() throws {
        let c = try daemon.connect()
        // More SELECT cases than allowed: its case lines are consumed, nothing queued.
        c.say("SELECT 4", "RECV a", "RECV b", "RECV c", "RECV d", "MAKE big CAP 11", "PING")
        XCTAssertEqual(c.reply(), "ERR LIMIT SELECT 4 cases above max_select_cases 3")
        XCTAssertEqual(c.reply(), "ERR LIMIT CAP 11 above max_capacity 10")
        XCTAssertEqual(c.reply(), "PONG")
        // Channel limit: 20 made ones fill the table.
        for i in 0..<20 { c.say("MAKE ch\(i)") }
        for _ in 0..<20 { XCTAssertEqual(c.reply(), "OK") }
        c.say("MAKE one-more", "SEND one-more v", "SELECT 2", "RECV ch0", "RECV one-more", "PING")
        XCTAssertEqual(c.reply(), "ERR LIMIT too many channels (max 20)")
        XCTAssertEqual(c.reply(), "ERR LIMIT too many channels (max 20)")
        XCTAssertEqual(c.reply(), "ERR LIMIT too many channels (max 20)")
        XCTAssertEqual(c.reply(), "PONG")
        c.say("STAT ch0")
        XCTAssertEqual(c.reply()?.contains("receivers=0"), true, "a SELECT refused midway queues nothing")
    }

    /// At the channel limit, a SELECT that needs new channels gets them all
    /// or none: making room for a later case must not drop the idle channel
    /// just created for an earlier one (the select would then wait on a
    /// channel nobody can reach).
    func testSelectAtTheChannelLimitKeepsEveryCaseReachable() throws {
        let c = try daemon.connect(), other = try daemon.connect()
        // 18 made channels and one idle implicit one: room for two new ones
        // once the idle one is swept.
        c.send((0..<18).map { "MAKE m\($0)\r\n" }.joined() + "RECV old NOWAIT\r\nSELECT 2\r\nRECV fresh-a\r\nRECV fresh-b\r\n")
        for _ in 0..<18 { XCTAssertEqual(c.reply(), "OK") }
        XCTAssertEqual(c.reply(), "TIMEOUT")
        other.say("SELECT 1 NOWAIT", "SEND fresh-a v")
        XCTAssertEqual(other.reply(), "SELECTED 0 OK", "the SELECT's receiver on fresh-a is reachable")
        XCTAssertEqual(c.reply(), "SELECTED 0 MSG fresh-a 1|v")
        // 19 made channels: no room for two new ones.
        c.say("MAKE m18", "SELECT 2", "RECV new-a", "RECV new-b", "PING")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR LIMIT too many channels (max 20)")
        XCTAssertEqual(c.reply(), "PONG")
    }

    func testConnectionLimit() throws {
        let clients = try (0..<4).map { _ in try daemon.connect() }
        for c in clients { c.say("PING"); XCTAssertEqual(c.reply(), "PONG") }
        let extra = try daemon.connect()
        XCTAssertEqual(extra.reply(), "ERR LIMIT too many connections (max 4)")
        XCTAssertTrue(extra.closedByServer())
        clients[0].say("QUIT")
        XCTAssertEqual(clients[0].reply(), "BYE")
        XCTAssertTrue(clients[0].closedByServer())
        // A slot is free again once the server has seen the close.
        var admitted: Wire?
        for _ in 0..<50 where admitted == nil {
            let c = try daemon.connect()
            c.say("PING")
            if c.reply() == "PONG" { admitted = c } else { usleep(20_000) }
        }
        XCTAssertNotNil(admitted)
    }

    /// A SELECT over the case limit has its case lines read and discarded:
    /// discarded, not kept, however many there are.
    func testCaseLinesOfASelectOverTheLimitAreNotKept() throws {
        let c = try daemon.connect()
        let before = residentKiB(daemon.process.processIdentifier)
        let n = 500_000
        c.send("SELECT \(n)\r\n")
        let chunk = String(repeating: "RECV x\r\n", count: 10_000)
        for _ in 0..<(n / 10_000) { c.send(chunk) }
        c.say("PING")
        XCTAssertEqual(c.reply(), "ERR LIMIT SELECT 500000 cases above max_select_cases 3")
        XCTAssertEqual(c.reply(), "PONG")
        let peak = peakResidentKiB(daemon.process.processIdentifier)
        guard !underAddressSanitizer else { return }
        XCTAssertLessThan(peak - before, 8 << 10, "resident memory peaked \(peak - before) KiB above the start")
    }

    func testSelectWithABadCaseLineQueuesNothing() throws {
        let c = try daemon.connect(), other = try daemon.connect()
        c.say("SELECT 3", "RECV a", "JUMP b", "RECV c", "PING")
        XCTAssertEqual(c.reply(), "ERR SYNTAX case 1: a case line is SEND, THROW or RECV <chan>")
        XCTAssertEqual(c.reply(), "PONG")
        c.say("SELECT 0", "PING")
        XCTAssertEqual(c.reply(), "ERR SYNTAX SELECT needs at least one case")
        XCTAssertEqual(c.reply(), "PONG")
        other.say("STAT a", "STAT c")
        XCTAssertEqual(other.reply()?.contains("receivers=0"), true)
        XCTAssertEqual(other.reply()?.contains("receivers=0"), true)
    }

    func testFatalFramingErrorsCloseTheConnection() throws {
        let a = try daemon.connect()
        a.say("SELECT many", "RECV a")
        XCTAssertEqual(a.reply(), "ERR SYNTAX bad SELECT case count")
        XCTAssertTrue(a.closedByServer())
        let b = try daemon.connect()
        b.send("SEND x {3}\r\nabcdef\r\n")
        XCTAssertEqual(b.reply(), "ERR SYNTAX payload not followed by a line end")
        XCTAssertTrue(b.closedByServer())
        let c = try daemon.connect()
        c.say("PING")
        XCTAssertEqual(c.reply(), "PONG")
    }

    /// Random bytes from one client: the server answers with errors or closes
    /// that connection, and keeps serving another one throughout.
    func testRandomBytesNeitherCrashNorWedge() throws {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<4 {
            let junk = try daemon.connect(), good = try daemon.connect()
            var bytes = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Sprinkle line ends and verbs so the parser gets past line limits.
            for i in stride(from: 0, to: bytes.count, by: 37) { bytes[i] = 10 }
            junk.send(bytes)
            good.say("PING")
            XCTAssertEqual(good.reply(), "PONG", "round \(round)")
            XCTAssertTrue(daemon.process.isRunning, "round \(round)")
            junk.reset()
        }
        let c = try daemon.connect()
        c.say("PING")
        XCTAssertEqual(c.reply(), "PONG")
    }
}
