import Foundation
import XCTest

/// Disconnects, end of input, shutdown, many connections, flow control.
final class LifecycleTests: DaemonTestCase {
    /// Rule 20: a client reset while blocked in SELECT is withdrawn from
    /// every channel; no later sender pairs with it.
    func testResetWhileBlockedInSelectIsPurged() throws {
        let dead = try daemon.connect(), s = try daemon.connect()
        dead.say("SELECT 3", "RECV a", "RECV b", "SEND c v")
        waitForStat("a", "receivers=1")
        dead.reset()
        waitForStat("a", "receivers=0")
        s.say("STAT b", "STAT c", "SELECT 1 NOWAIT", "SEND a x")
        XCTAssertEqual(s.reply()?.contains("receivers=0"), true)
        XCTAssertEqual(s.reply()?.contains("senders=0"), true)
        XCTAssertEqual(s.reply(), "TIMEOUT", "no receiver is left on a")
        s.say("INFO")
        XCTAssertEqual(fields(s.reply()!, "INFO")["values_lost"], "0")
    }

    /// Rule 20: at end of input, received requests run until one would block;
    /// that one is withdrawn and the connection closes after its replies.
    func testEndOfInputWithdrawsTheBlockedRequest() throws {
        let c = try daemon.connect(), other = try daemon.connect()
        c.send("PING\r\nRECV x\r\nPING\r\n")
        c.shutdownWrite()
        XCTAssertEqual(c.reply(), "PONG")
        XCTAssertTrue(c.closedByServer())
        other.say("STAT x", "SELECT 1 NOWAIT", "SEND x v")
        XCTAssertEqual(other.reply()?.contains("receivers=0"), true)
        XCTAssertEqual(other.reply(), "TIMEOUT")
    }

    /// End of input after requests that complete: all run, all answered.
    func testEndOfInputAnswersEverythingThatCompletes() throws {
        let c = try daemon.connect()
        c.send("MAKE b CAP 2\r\nSEND b 1\r\nSEND b 2\r\nRECV b\r\n")
        c.shutdownWrite()
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "MSG b 1|1")
        XCTAssertTrue(c.closedByServer())
    }

    /// A sender blocked at end of input is withdrawn: its value is not sent.
    func testEndOfInputWithdrawsABlockedSend() throws {
        let c = try daemon.connect(), r = try daemon.connect()
        c.say("SEND x never-delivered")
        c.shutdownWrite()
        XCTAssertTrue(c.closedByServer())
        r.say("RECV x NOWAIT")
        XCTAssertEqual(r.reply(), "TIMEOUT")
    }

    /// A blocked client that pipelined more than the server reads ahead
    /// (so its socket is no longer read) and then closes is still noticed:
    /// its blocked RECV is withdrawn (rule 20) and takes no later value.
    func testClosedPeerOfAPausedConnectionIsNoticed() throws {
        var consumer: Wire? = try daemon.connect()
        consumer!.send(String(repeating: "RECV g\r\n", count: 20_000))
        waitForStat("g", "receivers=1")
        consumer = nil  // closes the socket
        waitForStat("g", "receivers=0")
        let producer = try daemon.connect()
        producer.say("SELECT 1 NOWAIT", "SEND g v", "INFO")
        XCTAssertEqual(producer.reply(), "TIMEOUT", "no receiver is left on g")
        XCTAssertEqual(fields(producer.reply()!, "INFO")["values_lost"], "0")
    }

    /// The issue's repro as a user would write it: a consumer pipelines
    /// 20,000 `RECV g` and closes; a producer's 100 SENDs that follow get no
    /// OK (nobody took them) and wait for a real receiver, which gets all 100.
    func testGhostConsumerTakesNoValues() throws {
        var consumer: Wire? = try daemon.connect()
        consumer!.send(String(repeating: "RECV g\r\n", count: 20_000))
        waitForStat("g", "receivers=1")
        consumer = nil
        waitForStat("g", "receivers=0")
        let producer = try daemon.connect()
        producer.send((1...100).map { "SEND g \($0)\r\n" }.joined())
        XCTAssertTrue(producer.silent(for: 0.5), "no SEND is answered OK")
        let probe = try daemon.connect()
        probe.say("STAT g", "INFO")
        let stat = fields(probe.reply()!, "STAT")
        XCTAssertEqual(stat["receivers"], "0")
        XCTAssertEqual(stat["senders"], "1", "the first SEND waits, the others behind it")
        XCTAssertEqual(fields(probe.reply()!, "INFO")["values_lost"], "0")
        let receiver = try daemon.connect()
        receiver.send(String(repeating: "RECV g\r\n", count: 100))
        for i in 1...100 {
            XCTAssertEqual(receiver.reply(), "MSG g \("\(i)".count)|\(i)")
            XCTAssertEqual(producer.reply(), "OK")
        }
    }

    /// The same with a reset instead of a close.
    func testResetPeerOfAPausedConnectionIsNoticed() throws {
        let consumer = try daemon.connect()
        consumer.send(String(repeating: "RECV g\r\n", count: 20_000))
        waitForStat("g", "receivers=1")
        consumer.reset()
        waitForStat("g", "receivers=0")
        let producer = try daemon.connect()
        producer.say("SELECT 1 NOWAIT", "SEND g v")
        XCTAssertEqual(producer.reply(), "TIMEOUT", "no receiver is left on g")
    }

    /// Past the open-file limit: chand lowers its connection limit at start
    /// and says so, and a client past it gets ERR LIMIT and is counted,
    /// instead of being dropped without a word.
    func testOpenFileLimitLowersTheConnectionLimit() throws {
        let limited = try Daemon([], openFiles: 64)
        var clients: [Wire] = []
        for _ in 0..<80 { clients.append(try limited.connect()) }
        usleep(500_000)  // the daemon accepts them all
        var served: [Wire] = [], refused = 0
        for c in clients {
            c.setTimeout(0.05)
            if let line = c.line() {
                XCTAssertTrue(line.hasPrefix("ERR LIMIT too many connections"), line)
                refused += 1
            } else {
                XCTAssertFalse(c.closedByServer(), "client \(served.count + refused) dropped without a reply")
                served.append(c)
            }
        }
        XCTAssertGreaterThan(refused, 0)
        let probe = served[0]
        probe.setTimeout(10)
        probe.say("HELLO", "INFO")
        XCTAssertEqual(fields(probe.reply()!, "HELLO")["max_connections"], "\(served.count)")
        XCTAssertEqual(fields(probe.reply()!, "INFO")["connections_refused"], "\(refused)")
        let (status, log) = limited.stop()
        XCTAssertEqual(status, 0)
        XCTAssertTrue(log.contains("open-file limit 64 allows \(served.count) connections"), log)
    }

    /// Fair turns: while one client's pipelined listings run, another
    /// client's request is served after at most a couple of them, not after
    /// all (INFO's `commands` shows how many had run when it did).
    func testPipelinedListingsDoNotHoldUpAnotherClient() throws {
        let setup = try daemon.connect()
        let channels = 20_000
        setup.send((0..<channels).map { "MAKE c\($0)\r\n" }.joined())
        for _ in 0..<channels { guard setup.reply() == "OK" else { return XCTFail("MAKE failed") } }
        setup.say("INFO")
        let before = Int(fields(setup.reply()!, "INFO")["commands"]!)!
        let hog = try daemon.connect(), other = try daemon.connect()
        let listings = 30
        hog.send(String(repeating: "CHANNELS nomatch\r\n", count: listings))
        other.say("INFO")
        let ran = Int(fields(other.reply()!, "INFO")["commands"]!)! - before - 1  // less its own INFO
        XCTAssertLessThan(ran, listings / 2, "\(ran) of \(listings) listings ran before another client's request")
        for _ in 0..<listings { XCTAssertEqual(hog.reply(), "CHANNELS 0 total=0") }
    }

    /// Rule 3 over the wire: three receivers are served in arrival order.
    func testReceiversServedInArrivalOrder() throws {
        let s = try daemon.connect()
        var receivers: [Wire] = []
        for i in 0..<3 {
            let r = try daemon.connect()
            r.say("RECV fifo")
            waitForStat("fifo", "receivers=\(i + 1)")
            receivers.append(r)
        }
        s.say("SEND fifo a", "SEND fifo b", "SEND fifo c")
        for _ in 0..<3 { XCTAssertEqual(s.reply(), "OK") }
        XCTAssertEqual(receivers.map { $0.reply() }, ["MSG fifo 1|a", "MSG fifo 1|b", "MSG fifo 1|c"])
    }

    /// Many RECVs with staggered timeouts all time out, each no earlier than asked.
    func testManyTimeouts() throws {
        let clients = try (0..<50).map { _ in try daemon.connect() }
        let start = Date()
        for (i, c) in clients.enumerated() { c.say("RECV t\(i % 5) TIMEOUT \(10 + i * 4)") }
        for c in clients { XCTAssertEqual(c.reply(), "TIMEOUT") }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.2)
        let s = try daemon.connect()
        s.say("INFO")
        XCTAssertEqual(fields(s.reply()!, "INFO")["tasklets_blocked"], "0")
    }

    /// 1,000 connections blocked at once, then released: each gets exactly
    /// one value and the values are exactly those sent.
    func testThousandConcurrentBlockedConnectionsReleased() throws {
        let n = 1000
        let receivers = try (0..<n).map { i -> Wire in
            let c = try daemon.connect()
            c.say(i % 2 == 0 ? "RECV crowd" : "SELECT 2\r\nRECV elsewhere\r\nRECV crowd")
            return c
        }
        let s = try daemon.connect()
        waitForStat("crowd", "receivers=\(n)")
        s.say("INFO")
        XCTAssertEqual(fields(s.reply()!, "INFO")["tasklets_blocked"], "\(n)")
        s.send((0..<n).map { "SEND crowd v\($0)\r\n" }.joined())
        for _ in 0..<n { XCTAssertEqual(s.reply(), "OK") }
        var got: [String] = []
        for r in receivers {
            guard let reply = r.reply() else { XCTFail("no reply"); continue }
            got.append(String(reply.split(separator: "|").last!))
        }
        XCTAssertEqual(got.sorted(), (0..<n).map { "v\($0)" }.sorted())
        s.say("STAT elsewhere", "INFO")
        XCTAssertEqual(s.reply()?.contains("receivers=0"), true)
        XCTAssertEqual(fields(s.reply()!, "INFO")["tasklets_blocked"], "0")
    }

    /// SIGTERM with clients blocked: they are closed, chand exits 0.
    func testShutdownWithBlockedClients() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("RECV x")
        b.say("SELECT 2", "SEND y v", "RECV z")
        XCTAssertTrue(a.silent(for: 0.1))
        let (status, _) = daemon.stop()
        XCTAssertEqual(status, 0)
        XCTAssertTrue(a.closedByServer())
        XCTAssertTrue(b.closedByServer())
    }

    /// A client that pipelines requests and never reads its replies: the
    /// server stops reading it instead of buffering without bound, and keeps
    /// serving others.
    func testClientThatNeverReadsIsThrottled() throws {
        let hog = try daemon.connect(), other = try daemon.connect()
        let rssBefore = residentKiB(daemon.process.processIdentifier)
        // Non-blocking sends until the socket stops taking bytes.
        let flags = fcntl(hog.fd, F_GETFL)
        _ = fcntl(hog.fd, F_SETFL, flags | O_NONBLOCK)
        let chunk = Array(String(repeating: "PING\r\n", count: 10_000).utf8)
        var accepted = 0, lastProgress = Date()
        // A hang guard only: a daemon built with a sanitizer reads slowly.
        let deadline = Date().addingTimeInterval(60)
        // Until the socket has taken nothing for half a second: the server
        // stopped reading. Without flow control it would read (and queue
        // replies) for ever and this would run into the deadline.
        while Date() < deadline && Date().timeIntervalSince(lastProgress) < 0.5 {
            let n = chunk.withUnsafeBytes { send(hog.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { accepted += n; lastProgress = Date() } else { usleep(10_000) }
        }
        let rssAfter = residentKiB(daemon.process.processIdentifier)
        other.say("PING")
        XCTAssertEqual(other.reply(), "PONG")
        // Without flow control all of it would be replies in memory; the
        // bound is 1 MiB of replies plus socket buffers.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(lastProgress), 0.5, "the server never stopped reading")
        XCTAssertLessThan(accepted, 32 << 20)
        if !underAddressSanitizer {
            XCTAssertLessThan(rssAfter - rssBefore, 16 << 10, "resident memory grew \(rssAfter - rssBefore) KiB")
        }
    }

    /// Pipelined requests whose replies pass the 1 MiB output mark in one
    /// go: commands pause at the mark and resume as the client reads, until
    /// every request is answered (also when the socket took all the replies
    /// written so far at once).
    func testPipelinedRepliesPastTheOutputMarkAreAllWritten() throws {
        let c = try daemon.connect()
        c.send((0..<300).map { "MAKE channel-with-a-long-name-\($0) CAP 7\r\n" }.joined())
        for _ in 0..<300 { XCTAssertEqual(c.reply(), "OK") }
        let n = 60  // about 35 KB of reply each
        c.send(String(repeating: "CHANNELS\r\n", count: n) + "PING\r\n")
        for i in 0..<n {
            guard c.line() == "CHANNELS 300 total=300" else { return XCTFail("no reply \(i)") }
            for _ in 0..<300 { _ = c.line() }
        }
        XCTAssertEqual(c.line(), "PONG")
    }

    /// Replies past the output bound written in one go: the next request
    /// still runs (no write callback is left to resume it).
    func testConnectionCarriesOnAfterARepliesPastTheOutputBound() throws {
        let c = try daemon.connect()
        let big = [UInt8](repeating: UInt8(ascii: "z"), count: 1 << 20)
        c.send(Array("MAKE big CAP 2\r\nSEND big {\(big.count)}\r\n".utf8) + big + Array("\r\n".utf8))
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        c.say("RECV big", "PING")
        XCTAssertEqual(c.line(), "MSG big \(big.count)")
        XCTAssertEqual(c.bytes(big.count + 2), big + [13, 10])
        XCTAssertEqual(c.reply(), "PONG")
        // Pipelined: 20 values of 60 kB, then 20 RECVs and a PING in one write.
        let value = String(repeating: "v", count: 60_000)
        c.say("MAKE many CAP 20")
        XCTAssertEqual(c.reply(), "OK")
        c.send(String(repeating: "SEND many \(value)\r\n", count: 20))
        for _ in 0..<20 { XCTAssertEqual(c.reply(), "OK") }
        c.send(String(repeating: "RECV many\r\n", count: 20) + "PING\r\n")
        for _ in 0..<20 { XCTAssertEqual(c.reply(), "MSG many 60000|" + value) }
        XCTAssertEqual(c.reply(), "PONG")
    }

    /// A netcat session, as protocol.md tells a person to run it.
    func testNetcatSession() throws {
        let nc = Process()
        nc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        nc.arguments = ["nc", "-N", "127.0.0.1", "\(daemon.port)"]
        let input = Pipe(), output = Pipe()
        nc.standardInput = input
        nc.standardOutput = output
        try nc.run()
        input.fileHandleForWriting.write(Data("PING\nMAKE tasks CAP 2\nSEND tasks {5}\nhello\nSEND tasks second\nRECV tasks\nSELECT 2 TIMEOUT 1000\nRECV nothing-here\nRECV tasks\nRECV tasks NOWAIT\nCLOSE tasks\nRECV tasks\nSEND tasks late\nFROB\nQUIT\n".utf8))
        try input.fileHandleForWriting.close()
        nc.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "\r\n"), [
            "PONG", "OK", "OK", "OK", "MSG tasks 5", "hello", "SELECTED 1 MSG tasks 6", "second", "TIMEOUT", "OK",
            "CLOSED tasks", "ERR CLOSED channel tasks is closed", "ERR UNKNOWN unknown command FROB", "BYE", "",
        ])
    }
}

/// `swift test --sanitize=address` builds the daemon with AddressSanitizer
/// too; its resident memory then holds freed blocks in quarantine and shadow
/// memory, so it says nothing about chand's own.
let underAddressSanitizer = dlsym(nil, "__asan_init") != nil

/// VmRSS of a process, in KiB.
func residentKiB(_ pid: Int32) -> Int { statusKiB(pid, "VmRSS:") }

/// VmHWM of a process (its peak resident memory so far), in KiB.
func peakResidentKiB(_ pid: Int32) -> Int { statusKiB(pid, "VmHWM:") }

private func statusKiB(_ pid: Int32, _ key: String) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix(key) {
        return Int(line.split(separator: " ")[1]) ?? 0
    }
    return 0
}
