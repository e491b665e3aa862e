import ChanClient
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The habits of both binaries as a new user meets them: addresses, --version, messages that name the thing,
/// help, and `chan top` on a terminal.
final class UsabilityTests: XCTestCase {
    /// chand with `arguments` to completion: (status, stdout, stderr).
    func runChand(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = builtBinary("chand")
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    // MARK: Addresses and startup

    func testChandResolvesHostNamesAndSaysWhereItListens() throws {
        let daemon = try Daemon(["--host", "localhost"])
        XCTAssertTrue(["127.0.0.1", "::1"].contains(daemon.host), daemon.host)
        XCTAssertEqual(chan(["ping", "--host", "localhost", "--port", "\(daemon.port)"]).status, 0)
        let (status, out, err) = try runChand(["--host", "no-such-host.invalid", "--port", "0"])
        XCTAssertEqual(status, 64)
        XCTAssertEqual(out, "")
        XCTAssertEqual(err, "chand: --host no-such-host.invalid: must be an IP address or a host name that resolves\n")
    }

    func testIPv6IsBracketedInMessagesAndAcceptedEitherWay() throws {
        let daemon: Daemon
        do {
            daemon = try Daemon(["--host", "::1", "--metrics-port", "0"])
        } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        XCTAssertEqual(daemon.host, "::1", "read from \"chand listening on [::1]:<port>\"")
        XCTAssertNotNil(daemon.metricsPort, "read from \"chand metrics on http://[::1]:<port>/metrics\"")
        for arguments in [["--host", "::1", "--port", "\(daemon.port)"], ["--host", "[::1]", "--port", "\(daemon.port)"],
                          ["-s", "[::1]:\(daemon.port)"], ["--server", "::1", "--port", "\(daemon.port)"]] {
            let r = chan(["ping"] + arguments)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
            XCTAssertTrue(r.out.hasPrefix("PONG from [::1]:\(daemon.port) in "), r.out)
        }
        XCTAssertEqual(chan(["ping"], environment: ["CHAND_ADDR": "[::1]:\(daemon.port)"]).status, 0)
        daemon.stop()
        let refused = chan(["ping", "--host", "[::1]", "--port", "\(daemon.port)"])
        XCTAssertEqual(refused.status, 4)
        XCTAssertTrue(refused.stderr.hasPrefix("chan: cannot connect to [::1]:\(daemon.port): "), refused.stderr)
    }

    func testOneAddressGrammarForServerHostAndTheEnvironment() throws {
        let daemon = try Daemon()
        let port = "\(daemon.port)"
        for (arguments, environment) in [([], ["CHAND_ADDR": ":\(port)"]),
                                         (["--port", port], ["CHAND_ADDR": "127.0.0.1"]),
                                         (["-s", ":\(port)"], [:]),
                                         (["--server", "localhost:\(port)"], [:]),
                                         (["--server=127.0.0.1:\(port)"], [:]),
                                         (["-s", "127.0.0.1", "--port", port], [:])] {
            let r = chan(["ping"] + arguments, environment: environment)
            XCTAssertEqual(r.status, 0, "\(arguments) \(environment): \(r.stderr)")
        }
        for (arguments, environment, complaint): ([String], [String: String?], String) in [
            (["-s", "127.0.0.1:0"], [:], "a port is 1-65535"),
            (["-s", "[::1"], [:], "is not an address"),
            (["--host", ":\(port)"], [:], "--host takes a host"),
        ] {
            let r = chan(["ping"] + arguments, environment: environment)
            XCTAssertEqual(r.status, 64, "\(arguments) \(environment)")
            XCTAssertTrue(r.stderr.contains(complaint), r.stderr)
        }
    }

    func testConnectionOptionsBeforeTheSubcommand() throws {
        let daemon = try Daemon()
        try daemon.client().make("early", capacity: 1)
        XCTAssertEqual(chan(["--port", "\(daemon.port)", "ping"]).status, 0)
        XCTAssertEqual(chan(["--host", "127.0.0.1", "--port=\(daemon.port)", "send", "early", "v"]).status, 0)
        let r = chan(["-s", daemon.address, "recv", "early"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "v\n")
        XCTAssertEqual(chan(["--server", daemon.address, "stat", "early"]).status, 0)
    }

    func testBothBinariesHaveVersion() throws {
        let (status, out, _) = try runChand(["--version"])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(out, "chand \(ChandVersion.current)\n")
        let r = chan(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "chan \(ChandVersion.current)\n")
    }

    func testPingChecksHelloAndFailsAtOnceOnAPortThatIsNotChand() throws {
        let daemon = try Daemon(["--metrics-port", "0"])
        let metrics = try XCTUnwrap(daemon.metricsPort)
        // Far longer than the test may take: the failure comes from the answer, not from the timeout.
        let r = chan(["ping", "--port", "\(metrics)", "--timeout", "600000"])
        XCTAssertEqual(r.status, 5)
        XCTAssertTrue(r.stderr.hasPrefix("chan: 127.0.0.1:\(metrics) is not a chand server: "), r.stderr)
        // A port that accepts and never answers: --timeout bounds the wait.
        let silent = try FakeServer(reply: [], hold: true)
        defer { silent.stop() }
        let quiet = chan(["ping", "--port", "\(silent.port)", "--timeout", "200"])
        XCTAssertEqual(quiet.status, 4)
        XCTAssertEqual(quiet.stderr, "chan: connection lost: no reply from the server in time\n")
        XCTAssertEqual(chan(["ping", "--port", "\(daemon.port)", "--timeout", "60000"]).status, 0)
    }

    // MARK: Messages that name the thing

    func testTimeoutsNameTheChannelAndTheWait() throws {
        let daemon = try Daemon()
        let env = ["CHAND_ADDR": daemon.address]
        let recv = chan(["recv", "quiet", "--timeout", "20"], environment: env)
        XCTAssertEqual(recv.status, 2)
        XCTAssertEqual(recv.stderr, "chan: timed out: no value on quiet within 20 ms\n")
        let send = chan(["send", "quiet", "v", "--timeout", "0"], environment: env)
        XCTAssertEqual(send.status, 2)
        XCTAssertEqual(send.stderr, "chan: timed out: no receiver or buffer room on quiet at once (--timeout 0)\n")
        let select = chan(["select", "recv:a", "recv:b", "--timeout", "15"], environment: env)
        XCTAssertEqual(select.status, 2)
        XCTAssertEqual(select.stderr, "chan: timed out: no case on a, b fired within 15 ms\n")
    }

    func testStatSaysWhenAChannelDoesNotExist() throws {
        let fields = "cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0 held=0"
        let fake = try FakeServer(reply: Array("STAT typo \(fields) exists=0\r\n".utf8))
        defer { fake.stop() }
        let missing = chan(["stat", "typo", "--port", "\(fake.port)"])
        XCTAssertEqual(missing.status, 8)
        XCTAssertEqual(missing.stderr, "chan: channel typo does not exist\n")
        XCTAssertEqual(missing.out, "")
        XCTAssertEqual(String(decoding: fake.request.prefix(11), as: UTF8.self), "STAT typo\r\n")
        // The real server says so too.
        let daemon = try Daemon()
        let unknown = chan(["stat", "typo", "--port", "\(daemon.port)"])
        XCTAssertEqual(unknown.status, 8)
        XCTAssertEqual(unknown.stderr, "chan: channel typo does not exist\n")
        // A server that does not say (no exists= field): the line as it is.
        let old = try FakeServer(reply: Array("STAT typo \(fields)\r\n".utf8))
        defer { old.stop() }
        let unsaid = chan(["stat", "typo", "--port", "\(old.port)"])
        XCTAssertEqual(unsaid.status, 0)
        XCTAssertEqual(unsaid.out, "typo \(fields.replacingOccurrences(of: "-1", with: "receiver"))\n")
    }

    func testPreferenceIsNamedEverywhere() throws {
        let daemon = try Daemon()
        let env = ["CHAND_ADDR": daemon.address]
        XCTAssertEqual(chan(["make", "p", "--prefer", "sender"], environment: env).status, 0)
        XCTAssertTrue(chan(["stat", "p"], environment: env).out.contains(" preference=sender "))
        XCTAssertTrue(chan(["channels"], environment: env).out.contains(" preference=sender "))
        let exists = chan(["make", "p", "--prefer", "none"], environment: env)
        XCTAssertEqual(exists.status, 5)
        XCTAssertEqual(exists.stderr, "chan: server error: ERR EXISTS channel p exists with cap=0 preference=sender\n")
        let top = chan(["top", "--once"], environment: env)
        XCTAssertTrue(top.out.split(separator: "\n").contains { $0.hasPrefix("p ") && $0.hasSuffix(" sender") }, top.out)
    }

    func testValuesStartingWithADashPointToDoubleDash() throws {
        let daemon = try Daemon()
        let env = ["CHAND_ADDR": daemon.address]
        try daemon.client().make("q", capacity: 1)
        for arguments in [["send", "q", "-5"], ["recv", "q", "--timeout", "-1"]] {
            let r = chan(arguments, environment: env)
            XCTAssertEqual(r.status, 64, "\(arguments)")
            XCTAssertTrue(r.stderr.contains("goes after \"--\" (chan send jobs -- \(arguments.last!))"), r.stderr)
        }
        XCTAssertEqual(chan(["send", "q", "--", "-5"], environment: env).status, 0)
        XCTAssertEqual(try daemon.client().recv("q").string, "-5")
        // Other usage errors get no such hint.
        XCTAssertFalse(chan(["recv", "q", "--frob"], environment: env).stderr.contains("--\" ("))
    }

    func testEachSubcommandsHelpListsOnlyItsExitCodes() throws {
        let full = chan(["--help"]).out
        for code in ["2   timed out", "6   received an exception", "8   the channel does not exist", "64  usage error"] {
            XCTAssertTrue(full.contains(code), code)
        }
        let expected: [String: [String]] = [
            "send": ["0", "2", "3", "4", "5", "64"], "recv": ["0", "2", "3", "4", "5", "6", "7", "64"],
            "make": ["0", "4", "5", "64"], "close": ["0", "4", "5", "64"], "stat": ["0", "4", "5", "7", "8", "64"],
            "info": ["0", "4", "5", "7", "64"], "ping": ["0", "4", "5", "7", "64"],
        ]
        for (command, codes) in expected {
            let help = chan([command, "--help"]).out
            guard let table = help.components(separatedBy: "Exit codes:\n").last else { return XCTFail(command) }
            // "  <code>  <meaning>" lines (a long meaning may wrap onto a line of its own), up to the closing line.
            let listed = table.split(separator: "\n").prefix { !$0.hasPrefix("Other errors") }
                .filter { $0.hasPrefix("  ") && $0.dropFirst(2).first?.isNumber == true }.map { String($0.split(separator: " ")[0]) }
            XCTAssertEqual(listed, codes, command)
        }
    }

    func testChandLogLevelErrorsListTheValidLevels() throws {
        for (arguments, environment, source) in [([], ["CHAND_LOG_LEVEL": "loud"], "CHAND_LOG_LEVEL=loud"),
                                                 (["--log-level", "verbose"], [:], "--log-level verbose")] {
            let (status, out, err) = try runChand(arguments, environment: environment)
            XCTAssertEqual(status, 64)
            XCTAssertEqual(out, "")
            XCTAssertEqual(err, "chand: \(source): must be one of trace, debug, info, notice, warning, error, critical\n")
        }
    }

    func testRunScriptPrintsHelpBeforeBuildingAnything() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // Stand-ins for the tools that set up and build: each leaves a mark if run.
        let tools = FileManager.default.temporaryDirectory.appendingPathComponent("run-sh-\(getpid())")
        try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tools) }
        let mark = tools.appendingPathComponent("ran")
        for tool in ["swift", "apt-get", "sudo"] {
            let path = tools.appendingPathComponent(tool).path
            _ = FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\necho \(tool) >> '\(mark.path)'\nexit 1\n".utf8))
            chmod(path, 0o755)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root.appendingPathComponent("scripts/run.sh").path, "--help"]
        p.environment = ["PATH": tools.path + ":/usr/bin:/bin"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.hasPrefix("Usage: scripts/run.sh "), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: mark.path), "ran: \((try? String(contentsOf: mark, encoding: .utf8)) ?? "")")
    }

    // MARK: On a terminal

    func testSendOnATerminalSaysItReadsStandardInput() throws {
        let daemon = try Daemon()
        try daemon.client().make("typed", capacity: 2)
        let terminal = try Terminal("\(builtBinary("chan").path) send typed", environment: ["CHAND_ADDR": daemon.address])
        terminal.waitFor("chan: reading values from standard input, one per line; Ctrl-D ends")
        terminal.type("hello\n\u{4}")
        XCTAssertEqual(terminal.finish(), 0)
        XCTAssertEqual(try daemon.client().recv("typed").string, "hello")
    }

    func testTopQuitsOnQCutsNamesInTheMiddleAndSinksClosedChannels() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        let long = "bench." + String(repeating: "1", count: 90) + ".3969"
        for name in ["a.closed", "b.open", long] { try client.make(name) }
        try client.close("a.closed")
        let terminal = try Terminal("stty cols 80 rows 12; \(builtBinary("chan").path) top --interval 0.2",
                                    environment: ["CHAND_ADDR": daemon.address])
        terminal.waitFor("3 of 3 channels shown")
        terminal.type("q")
        XCTAssertEqual(terminal.finish(), 0)
        let frame = terminal.output.components(separatedBy: "\u{1B}[H\u{1B}[2J").dropFirst().first ?? ""
        let names = frame.replacingOccurrences(of: "\r", with: "").split(separator: "\n", omittingEmptySubsequences: false)
            .dropFirst(6).prefix { !$0.hasSuffix(" channels shown") }
            .map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(names.count, 3, frame)
        // By name the closed one would come first: it sinks below the open ones.
        XCTAssertEqual(names.last, "a.closed", frame)
        let cut = try XCTUnwrap(names.first { $0.hasPrefix("b") && $0.contains("~") }, frame)
        XCTAssertTrue(cut.hasSuffix(".3969") && cut.count < long.count, cut)
    }

    func testTopShowsItsFirstScreenWithoutWaitingAnInterval() throws {
        let daemon = try Daemon()
        // An hour's interval: the first (and only) screen still comes at once.
        let r = chan(["top", "--once", "--interval", "3600"], environment: ["CHAND_ADDR": daemon.address])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.out.contains("\nper second: commands "), r.out)
    }
}

/// A command run by script(1) on a pseudo-terminal: what it writes is collected, what `type` sends is typed.
final class Terminal: @unchecked Sendable {
    // Safe: `collected` is guarded by `lock`.
    private let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var collected = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ command: String, environment: [String: String]) throws {
        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else { throw XCTSkip("no script(1) here") }
        process.executableURL = script
        process.arguments = ["-qec", command, "/dev/null"]
        process.environment = environment.merging(["PATH": "/usr/bin:/bin", "TERM": "xterm"]) { a, _ in a }
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        try? output.fileHandleForWriting.close()
        let handle = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty {
                lock.withLock { collected.append(chunk) }
            }
            done.signal()
        }
    }

    var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    func waitFor(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        eventually("the terminal shows \"\(text)\"", file: file, line: line) { output.contains(text) }
    }

    func type(_ text: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Waits for the command to end (bounded by the hang guard); its exit status.
    func finish(file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        if done.wait(timeout: .now() + hangGuard) != .success {
            XCTFail("the command on the terminal did not end: \(output)", file: file, line: line)
            process.terminate()
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
