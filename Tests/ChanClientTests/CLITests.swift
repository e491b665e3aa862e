import ChanClient
import XCTest

/// The built `chan` binary, end to end, against the real daemon.
final class ChanCLITests: XCTestCase {
    var daemon: Daemon!
    var client: ChanClient!

    override func setUpWithError() throws {
        daemon = try Daemon()
        client = try daemon.client()
    }

    override func tearDown() {
        client = nil
        daemon?.stop()
        daemon = nil
    }

    /// CHAND_ADDR pointing at the test's daemon.
    var env: [String: String?] { ["CHAND_ADDR": daemon.address] }

    func run(_ arguments: String..., stdin: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) -> ChanRun {
        chan(arguments, stdin: stdin, environment: env, file: file, line: line)
    }

    func start(_ arguments: String..., pipeStdin: Bool = false) -> ChanProcess {
        ChanProcess(arguments, environment: env, pipeStdin: pipeStdin)
    }

    /// A port where nothing listens.
    func deadPort() throws -> Int {
        let fake = try FakeServer(reply: [])
        fake.stop()
        return fake.port
    }

    func assertSuccess(_ r: ChanRun, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "", file: file, line: line)
    }

    // MARK: Sending and receiving

    func testSendAndRecvAcrossTwoProcesses() throws {
        let receiver = start("recv", "jobs")
        let sent = run("send", "jobs", "hello")
        assertSuccess(sent)
        XCTAssertEqual(sent.out, "")
        let got = receiver.finish()
        assertSuccess(got)
        XCTAssertEqual(got.out, "hello\n")
    }

    func testSendReadsStdinOneMessagePerLine() throws {
        let receiver = start("recv", "lines", "--count", "4")
        assertSuccess(run("send", "lines", stdin: bytes("one\ntwo words\r\n\nlast without newline")))
        let got = receiver.finish()
        assertSuccess(got)
        XCTAssertEqual(got.out, "one\ntwo words\n\nlast without newline\n")
    }

    func testSendStreamsLinesAsTheyArrive() throws {
        let sender = start("send", "stream", pipeStdin: true)
        sender.write(bytes("first\n"))
        // Read while chan's stdin is still open: the line went out before end of input.
        XCTAssertEqual(try client.recv("stream").string, "first")
        XCTAssertTrue(sender.isRunning)
        sender.write(bytes("second\n"))
        XCTAssertEqual(try client.recv("stream").string, "second")
        sender.closeStdin()
        assertSuccess(sender.finish())
    }

    func testBinaryStdinIsOneMessageByteForByte() throws {
        let payload: [UInt8] = [0, 1, 2, 13, 10, 255, 10, 123, 53, 125, 13] + Array("SEND x y\r\n".utf8) + [10, 10]
        let receiver = start("recv", "bin", "--raw")
        assertSuccess(run("send", "bin", "--binary", stdin: payload))
        let got = receiver.finish()
        assertSuccess(got)
        XCTAssertEqual(got.stdout, payload)
    }

    /// Standard input is read up to the server's max_payload per value: a
    /// longer one is refused before the rest of it is read (64), and what
    /// came before it was sent.
    func testStdinValuesAreBoundedByTheServersMaxPayload() throws {
        let small = try Daemon(["--max-payload", "10"])
        defer { small.stop() }
        let env: [String: String?] = ["CHAND_ADDR": small.address]
        let c = try small.client()
        try c.make("q", capacity: 10)
        let lines = chan(["send", "q"], stdin: bytes("0123456789\r\n0123456789a\nnever\n"), environment: env)
        XCTAssertEqual(lines.status, 64)
        XCTAssertEqual(lines.stderr, "chan: a value on standard input is longer than the server's max_payload (10 bytes)\n")
        XCTAssertEqual(try c.stat("q").count, 1)
        XCTAssertEqual(try c.recv("q").string, "0123456789")
        let binary = chan(["send", "q", "--binary"], stdin: [UInt8](repeating: 0, count: 1 << 20), environment: env)
        XCTAssertEqual(binary.status, 64)
        assertSuccess(chan(["send", "q", "--binary"], stdin: [UInt8](repeating: 0, count: 10), environment: env))
        XCTAssertEqual(try c.stat("q").count, 1)
    }

    func testFollowReceivesUntilClose() throws {
        let follower = start("recv", "feed", "--follow")
        try client.send("feed", "a")  // rendezvous: returns once the follower took it
        try client.send("feed", "b c")
        try client.close("feed")
        let got = follower.finish()
        assertSuccess(got)
        XCTAssertEqual(got.out, "a\nb c\n")
    }

    func testRecvCountAndTimeoutPerValue() throws {
        try client.make("few", capacity: 3)
        try client.send("few", "1")
        try client.send("few", "2")
        let got = run("recv", "few", "--count", "3", "--timeout", "20")
        XCTAssertEqual(got.status, 2)
        XCTAssertEqual(got.out, "1\n2\n")  // what came before the timeout is printed
        XCTAssertEqual(got.stderr, "chan: timed out: no value on few within 20 ms\n")
    }

    func testThrowAndTimedSend() throws {
        let timedOut = run("send", "nobody", "x", "--timeout", "0")
        XCTAssertEqual(timedOut.status, 2)
        XCTAssertEqual(timedOut.stderr, "chan: timed out: no receiver or buffer room on nobody at once (--timeout 0)\n")
        XCTAssertEqual(try client.stat("nobody").senders, 0)
        try client.make("exc", capacity: 1)
        assertSuccess(run("throw", "exc", "boom"))
        let m = try client.recv("exc")
        XCTAssertTrue(m.isException)
        XCTAssertEqual(m.string, "boom")
    }

    // MARK: Select

    func testSelectPrintsTheCaseAndValue() throws {
        let selector = start("select", "recv:a", "recv:b")
        try eventually("the select waiting on b") { try client.stat("b").receivers == 1 }
        try client.send("b", "hello")
        let got = selector.finish()
        assertSuccess(got)
        XCTAssertEqual(got.out, "1 recv b\nhello\n")
        XCTAssertEqual(try client.stat("a").receivers, 0)
    }

    func testSelectSendCase() throws {
        let port = daemon.port
        let receiver = Background { () throws -> Message in try ChanClient(port: port).recv("c") }
        try waitForReceivers(client, "c")
        let got = run("select", "recv:a", "send:c=hello there", "--timeout", "60000")
        assertSuccess(got)
        XCTAssertEqual(got.out, "1 send c\n")
        XCTAssertEqual(try receiver.value().string, "hello there")
    }

    func testSelectOnClosedAndTimedOutCases() throws {
        try client.close("gone")
        let closed = run("select", "recv:empty", "recv:gone")
        XCTAssertEqual(closed.status, 3)
        XCTAssertEqual(closed.out, "1 recv gone\n")
        XCTAssertEqual(closed.stderr, "chan: channel gone is closed\n")
        let timedOut = run("select", "recv:empty", "send:other=v", "--timeout", "10")
        XCTAssertEqual(timedOut.status, 2)
        XCTAssertEqual(timedOut.out, "")
        XCTAssertEqual(try client.stat("other").senders, 0)
    }

    // MARK: Management

    func testMakeStatChannelsInfoPingClose() throws {
        assertSuccess(run("make", "q.one", "--cap", "2", "--prefer", "none"))
        assertSuccess(run("make", "q.two"))
        assertSuccess(run("send", "q.one", "v"))
        let stat = run("stat", "q.one")
        assertSuccess(stat)
        // rate= counts the server's last whole second: it depends on where its timer ticked.
        func anyRate(_ text: String) -> String {
            text.replacingOccurrences(of: #" rate=[0-9]+"#, with: " rate=*", options: .regularExpression)
        }
        XCTAssertEqual(anyRate(stat.out), "q.one cap=2 len=1 balance=0 state=open preference=none senders=0 receivers=0 persistent=1 sent=1 received=0 rate=* held=0 durable=0\n")
        let list = run("channels", "q.")
        assertSuccess(list)
        XCTAssertEqual(anyRate(list.out), """
            q.one cap=2 len=1 balance=0 state=open preference=none senders=0 receivers=0 persistent=1 sent=1 received=0 rate=* held=0 durable=0
            q.two cap=0 len=0 balance=0 state=open preference=receiver senders=0 receivers=0 persistent=1 sent=0 received=0 rate=* held=0 durable=0

            """)
        XCTAssertEqual(run("channels", "none.").out, "")
        let info = run("info")
        assertSuccess(info)
        XCTAssertTrue(info.out.hasPrefix("connections=2\n"), info.out)  // this test's client and chan
        XCTAssertTrue(info.out.contains("\nchannels=2\n"), info.out)
        let one = run("info", "channels", "errors_syntax")
        assertSuccess(one)
        XCTAssertEqual(one.out, "2\n0\n")
        let ping = run("ping")
        assertSuccess(ping)
        XCTAssertTrue(ping.out.hasPrefix("PONG from 127.0.0.1:\(daemon.port) in "), ping.out)
        assertSuccess(run("close", "q.one"))
        XCTAssertEqual(try client.stat("q.one").state, .closing)
        XCTAssertEqual(try client.recv("q.one").string, "v")
        XCTAssertThrowsError(try client.recv("q.one")) { XCTAssertEqual($0 as? ChanError, .closed(channel: "q.one")) }
    }

    func testOpenReopensAClosedChannelKeepingItsBuffer() throws {
        try client.make("q", capacity: 2)
        try client.send("q", "a")
        assertSuccess(run("close", "q"))
        XCTAssertEqual(run("send", "q", "refused").status, 3)
        assertSuccess(run("open", "q"))
        assertSuccess(run("open", "q"))  // open already
        assertSuccess(run("send", "q", "b"))
        let stat = try client.stat("q")
        XCTAssertEqual(stat.state, .open)
        XCTAssertEqual(stat.capacity, 2)
        XCTAssertEqual(run("recv", "q", "--count", "2").out, "a\nb\n")
        assertSuccess(run("open", "nobody"))
        XCTAssertEqual(try client.stat("nobody").exists, false)
    }

    func testDeleteEndsWaitersAndDropsTheBuffer() throws {
        let waiting = start("recv", "gone")
        try waitForReceivers(client, "gone")
        assertSuccess(run("delete", "gone"))
        let ended = waiting.finish()
        XCTAssertEqual(ended.status, 3)
        XCTAssertEqual(ended.stderr, "chan: channel gone is closed\n")
        try client.make("full", capacity: 2)
        try client.send("full", "dropped")
        assertSuccess(run("delete", "full"))
        assertSuccess(run("delete", "full"))  // nobody uses it: not an error
        XCTAssertEqual(run("info", "values_dropped").out, "1\n")
        assertSuccess(run("make", "full", "--cap", "5"))  // a new channel, not ERR EXISTS
        XCTAssertEqual(try client.stat("full").count, 0)
    }

    // MARK: Exit codes and addresses

    func testExitCodes() throws {
        // 2: timed out.
        let timeout = run("recv", "empty", "--timeout", "0")
        XCTAssertEqual(timeout.status, 2)
        XCTAssertEqual(timeout.stderr, "chan: timed out: no value on empty at once (--timeout 0)\n")
        XCTAssertEqual(timeout.out, "")

        // 3: closed, for receiving and for sending.
        try client.close("shut")
        let recvClosed = run("recv", "shut")
        XCTAssertEqual(recvClosed.status, 3)
        XCTAssertEqual(recvClosed.stderr, "chan: channel shut is closed\n")
        let sendClosed = run("send", "shut", "late")
        XCTAssertEqual(sendClosed.status, 3)
        XCTAssertEqual(sendClosed.stderr, "chan: channel shut is closed\n")

        // 4: connection failure.
        let port = try deadPort()
        let refused = chan(["ping", "--port", "\(port)"])
        XCTAssertEqual(refused.status, 4)
        XCTAssertTrue(refused.stderr.hasPrefix("chan: cannot connect to 127.0.0.1:\(port): "), refused.stderr)
        XCTAssertEqual(refused.stderr.filter { $0 == "\n" }.count, 1)

        // 5: server error.
        let limit = run("make", "huge", "--cap", "2000000")
        XCTAssertEqual(limit.status, 5)
        XCTAssertTrue(limit.stderr.hasPrefix("chan: server error: ERR LIMIT "), limit.stderr)
        assertSuccess(run("make", "fixed", "--cap", "1"))
        let exists = run("make", "fixed", "--cap", "2")
        XCTAssertEqual(exists.status, 5)
        XCTAssertEqual(exists.stderr, "chan: server error: ERR EXISTS channel fixed exists with cap=1 preference=receiver\n")

        // 6: an exception arrived.
        try client.throw("fixed", "bad\nthing")
        let exception = run("recv", "fixed")
        XCTAssertEqual(exception.status, 6)
        XCTAssertEqual(exception.stderr, "chan: exception on fixed: bad\\nthing\n")
        XCTAssertEqual(exception.out, "")

        // 7: the value received cannot be written (here a full disk).
        try client.make("full", capacity: 1)
        try client.send("full", "important")
        let sh = Process()
        sh.executableURL = URL(fileURLWithPath: "/bin/sh")
        sh.arguments = ["-c", "\"$0\" recv full >/dev/full", builtBinary("chan").path]
        sh.environment = ["CHAND_ADDR": daemon.address]
        let errors = Pipe()
        sh.standardError = errors
        try sh.run()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        sh.waitUntilExit()
        XCTAssertEqual(sh.terminationStatus, 7)
        XCTAssertTrue(complaint.hasPrefix("chan: cannot write standard output: "), complaint)
        XCTAssertEqual(try client.stat("full").received, 1, "taken from the server: the exit status is all that tells")

        // 64: usage, also for names the server would refuse: refused before
        // connecting (the port is dead) or reading standard input.
        for arguments in [["recv", "a b", "--port", "\(port)"], ["send", "a b", "--port", "\(port)"],
                          ["select", "recv:a b"], ["select", "send:=v"], ["channels", "a\tb"], ["top", "--prefix", "a b"],
                          ["bench", "--messages", "9223372036854775807"], ["bench", "--size", "100000000000"]] {
            let usage = chan(arguments, stdin: [], environment: env)
            XCTAssertEqual(usage.status, 64, "\(arguments): \(usage.stderr)")
        }
        for arguments in [["recv"], ["frob"], ["recv", "a b"], ["select", "bogus"], ["select", "send:x"],
                          ["recv", "x", "--timeout", "-1"], ["recv", "x", "--follow", "--count", "2"],
                          ["make", "x", "--prefer", "maybe"], ["send", "x", "v", "--binary"], ["info", "no_such_key"],
                          ["bench", "--pairs", "2", "--pingpong"]] {
            let usage = chan(arguments, environment: env)
            XCTAssertEqual(usage.status, 64, "\(arguments): \(usage.stderr)")
            XCTAssertFalse(usage.stderr.isEmpty, "\(arguments)")
        }

        // 0.
        assertSuccess(run("ping"))
    }

    func testAddressFromEnvironmentAndFlagsWin() throws {
        let dead = try deadPort()
        XCTAssertEqual(chan(["ping"], environment: ["CHAND_ADDR": "127.0.0.1:\(daemon.port)"]).status, 0)
        XCTAssertEqual(chan(["ping"], environment: ["CHAND_ADDR": "[::1]:\(dead)"]).status, 4)
        // Flags win over the environment, each on its own.
        XCTAssertEqual(chan(["ping", "--port", "\(daemon.port)"], environment: ["CHAND_ADDR": "127.0.0.1:\(dead)"]).status, 0)
        XCTAssertEqual(chan(["ping", "--host", "127.0.0.1"], environment: ["CHAND_ADDR": "localhost:\(daemon.port)"]).status, 0)
        XCTAssertEqual(chan(["ping", "--port", "\(dead)"], environment: ["CHAND_ADDR": "127.0.0.1:\(daemon.port)"]).status, 4)
        XCTAssertEqual(chan(["ping", "--host", "localhost", "--port", "\(daemon.port)"], environment: ["CHAND_ADDR": "nonsense"]).status, 0)
        let bad = chan(["ping"], environment: ["CHAND_ADDR": "127.0.0.1:port"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("CHAND_ADDR: \"127.0.0.1:port\": a port is 1-65535"), bad.stderr)
    }

    func testHelpStatesTheExitCodes() throws {
        for arguments in [["--help"], ["recv", "--help"], ["select", "--help"]] {
            let help = chan(arguments)
            XCTAssertEqual(help.status, 0)
            for code in ["0   success", "2   timed out", "3   the channel is closed", "4   connection failure",
                         "5   server error", "6   received an exception", "64  usage error"] {
                XCTAssertTrue(help.out.contains(code), "\(arguments) lacks \(code)")
            }
        }
    }

    // MARK: Bench

    func testBenchModes() throws {
        for (arguments, handoffs) in [(["--pairs", "2", "--messages", "30", "--size", "8"], 60),
                                      (["--fanin", "3", "--messages", "20"], 60),
                                      (["--pingpong", "--messages", "25"], 50)] {
            let r = run(["bench"] + arguments)
            assertSuccess(r)
            XCTAssertTrue(r.out.contains("\nhandoffs:    \(handoffs) in "), r.out)
            for line in ["handoffs/s: ", "latency p50: ", "latency p99: "] {
                XCTAssertTrue(r.out.contains("\n" + line), "\(arguments) lacks \(line): \(r.out)")
            }
        }
        // Every value was handed over: the server counted them.
        let info = try client.info()
        XCTAssertEqual(info.integer("rendezvous"), 60 + 60 + 50)
        XCTAssertEqual(try client.channels(prefix: "bench.").channels.filter { $0.balance != 0 }, [])
    }

    // MARK: chan top

    /// Values pumped through `channel` (buffered) on another connection until `stop()`.
    final class Pump: @unchecked Sendable {
        // Safe: `running` is read and written under `lock` only.
        private let lock = NSLock()
        private var running = true
        private var work: Background<Int>!

        init(_ daemon: Daemon, _ channel: String) throws {
            try daemon.client().make(channel, capacity: 10)
            let port = daemon.port
            work = Background { [self] in
                let client = try ChanClient(port: port)
                var moved = 0
                while lock.withLock({ running }) {
                    try client.send(channel, "v")
                    _ = try client.recv(channel)
                    moved += 2
                }
                return moved
            }
        }

        func stop() throws -> Int {
            lock.withLock { running = false }
            return try work.value()
        }
    }

    func testTopOnceShowsTotalsAndTheBusiestChannelsWithRates() throws {
        try client.make("held", capacity: 3)
        try client.send("held", "v")
        let receiver = start("recv", "waited")
        try waitForReceivers(client, "waited")
        let pump = try Pump(daemon, "hot")
        // The server ranks by its last whole second: wait for one with the pump in it.
        try eventually("hot has a rate") { try client.stat("hot").rate > 0 }
        let r = run("top", "--once", "--interval", "0.5", "--top", "3")
        XCTAssertGreaterThan(try pump.stop(), 0)
        assertSuccess(r)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("chand/") && lines[0].contains(" at \(daemon.address)  up "), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("connections "), lines[1])
        let perSecond = fields(lines[2]).merging(fields(lines[3])) { a, _ in a }
        XCTAssertGreaterThan(Int(perSecond["sends"] ?? "") ?? 0, 0, lines[2])
        XCTAssertGreaterThan(Int(perSecond["receives"] ?? "") ?? 0, 0, lines[2])
        XCTAssertEqual(perSecond["errors"], "0", lines[3])
        XCTAssertEqual(lines[4], "")
        XCTAssertEqual(lines[5].split(separator: " ").map(String.init),
                       ["NAME", "IN/S", "OUT/S", "BALANCE", "LEN", "CAPACITY", "SENDQ", "RECVQ", "STATE", "PREF"])
        // The pumped channel first, with rates; then what holds values or waits.
        let rows = lines[6..<9].map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows[0][0], "hot")
        XCTAssertGreaterThan(Int(rows[0][1]) ?? 0, 0, lines[6])
        XCTAssertGreaterThan(Int(rows[0][2]) ?? 0, 0, lines[6])
        XCTAssertEqual(rows[1], ["held", "0", "0", "0", "1", "3", "0", "0", "open", "receiver"])
        XCTAssertEqual(rows[2], ["waited", "0", "0", "-1", "0", "0", "0", "1", "open", "receiver"])
        XCTAssertEqual(lines[9], "3 of 3 channels shown")
        XCTAssertEqual(lines[10], "")
        try client.send("waited", "bye")
        assertSuccess(receiver.finish())
    }

    /// On a terminal (here a pseudo-terminal from script(1), 80 columns by
    /// 12 lines) the screen is cleared and redrawn at every refresh, within
    /// the terminal: long names are cut in the middle, keeping their ends, and the rows that fit are shown.
    func testTopRedrawsATerminalWithinItsSize() throws {
        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else { throw XCTSkip("no script(1) here") }
        let long = "0" + String(repeating: "n", count: 95) + "tail"  // listed first (by name: nothing moves)
        for name in [long, "a", "b", "c", "d", "e", "f", "g"] { try client.make(name) }
        let command = "stty cols 80 rows 12; \(builtBinary("chan").path) top --iterations 3 --interval 0.2"
        let p = Process()
        p.executableURL = script
        p.arguments = ["-qec", command, "/dev/null"]
        p.environment = ["CHAND_ADDR": daemon.address, "PATH": "/usr/bin:/bin", "TERM": "xterm"]
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let frames = String(decoding: data, as: UTF8.self).components(separatedBy: "\u{1B}[H\u{1B}[2J").dropFirst()
        XCTAssertEqual(frames.count, 3)
        for frame in frames {
            // After the last frame, a line end leaves the prompt below it.
            let screen = frame.replacingOccurrences(of: "\r", with: "")
            let lines = (screen.hasSuffix("\n") ? String(screen.dropLast()) : screen).split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.count, 12, frame)
            XCTAssertEqual(lines.map(\.count).max(), 80, "the cut name fills the width: \(frame)")
            XCTAssertEqual(lines.last, "5 of 8 channels shown")
            XCTAssertTrue(lines[6].hasPrefix("0n") && lines[6].contains("~") && lines[6].contains("ntail "), frame)
        }
    }

    func testTopRefusesBadOptions() {
        for arguments in [["--interval", "0"], ["--top", "1001"], ["--iterations", "0"], ["--once", "--iterations", "2"]] {
            let r = run(["top"] + arguments)
            XCTAssertEqual(r.status, 64, "\(arguments)")
            XCTAssertEqual(r.out, "")
        }
        let r = run(["top", "--once", "--port", String(try! deadPort())])
        XCTAssertEqual(r.status, 4)
    }

    /// "label value  label value" pairs of a `chan top` totals line.
    private func fields(_ line: String) -> [String: String] {
        let words = line.split(separator: ":").last!.split(separator: " ").map(String.init)
        return Dictionary(stride(from: 0, to: words.count - 1, by: 2).map { (words[$0], words[$0 + 1]) }, uniquingKeysWith: { a, _ in a })
    }

    func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) -> ChanRun {
        chan(arguments, environment: env, file: file, line: line)
    }
}
