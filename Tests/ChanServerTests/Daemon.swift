import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The real chand binary, started on a free loopback port for a test.
final class Daemon {
    let process = Process()
    let port: Int
    /// The metrics port, when started with --metrics-port.
    private(set) var metricsPort: Int?
    private let stderrPipe = Pipe()

    /// The built `chand` next to the test bundle (`CHAND_BIN` overrides).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CHAND_BIN"] { return URL(fileURLWithPath: path) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("chand")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/chand")
    }

    /// `openFiles`: start it under `ulimit -n` of that many descriptors.
    init(_ arguments: [String] = [], environment: [String: String] = [:], openFiles: Int? = nil) throws {
        signal(SIGPIPE, SIG_IGN)
        let stdout = Pipe()
        process.executableURL = Daemon.binary
        process.arguments = ["--port", "0", "--seed", "1"] + arguments
        if let openFiles {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(openFiles) && exec \"$0\" \"$@\"", Daemon.binary.path] + process.arguments!
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = stdout
        process.standardError = stderrPipe
        try process.run()
        // "chand listening on 127.0.0.1:<port>", then "chand metrics on http://127.0.0.1:<port>/metrics" if asked.
        let wantLines = arguments.contains("--metrics-port") ? 2 : 1
        var output = Data()
        while output.filter({ $0 == UInt8(ascii: "\n") }).count < wantLines {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            output.append(chunk)
        }
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        func portNumber(after prefix: String) -> Int? {
            guard let line = lines.first(where: { $0.hasPrefix(prefix) }) else { return nil }
            return Int(line.split(separator: ":").last!.prefix { $0.isNumber })
        }
        guard let port = portNumber(after: "chand listening on ") else {
            process.terminate()
            throw NSError(domain: "Daemon", code: 1, userInfo: [NSLocalizedDescriptionKey: "chand said: \(lines)"])
        }
        self.port = port
        metricsPort = portNumber(after: "chand metrics on ")
    }

    /// SIGTERM; returns the exit status (0 expected) and what it logged.
    @discardableResult
    func stop() -> (status: Int32, log: String) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let log = String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, log)
    }

    func connect() throws -> Wire { try Wire(port: port) }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// A test case with a fresh daemon per test, stopped (and checked to exit 0)
/// after it.
class DaemonTestCase: XCTestCase {
    var daemon: Daemon!

    /// Extra flags for the daemon of every test in the class.
    var daemonArguments: [String] { [] }

    override func setUpWithError() throws { daemon = try Daemon(daemonArguments) }

    override func tearDown() {
        XCTAssertEqual(daemon.stop().status, 0, "chand exits 0 on SIGTERM")
    }

    /// Waits until `STAT <channel>` shows `expected` (say "receivers=2"):
    /// the daemon has run what other connections sent. Replies alone cannot
    /// show that a request has blocked.
    func waitForStat(_ channel: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let probe = try? daemon.connect() else { return XCTFail("no connection", file: file, line: line) }
        defer {
            // Leave no extra connection behind for INFO counts.
            probe.say("QUIT")
            _ = probe.reply()
            _ = probe.closedByServer()
        }
        for _ in 0..<500 {
            probe.say("STAT \(channel)")
            if probe.reply()?.contains(" \(expected)") == true { return }
            usleep(10_000)
        }
        XCTFail("STAT \(channel) never showed \(expected)", file: file, line: line)
    }
}

/// A blocking loopback client that speaks raw bytes, for transcript tests.
final class Wire {
    let fd: Int32
    private var buffer: [UInt8] = []

    /// `host`: an IPv4 address of this machine.
    init(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno)!) }
        setTimeout(timeout)
    }

    deinit { Glibc.close(fd) }

    /// Reads give up after this long (a test failure, never a hang).
    func setTimeout(_ seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends text as is (write the CRLFs yourself) or raw bytes.
    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Sends each line with CRLF.
    func say(_ lines: String...) { send(lines.map { $0 + "\r\n" }.joined()) }

    /// Half-closes: the server sees end of input.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Resets the connection (RST), as a crashed client would.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    /// The next reply line without its CRLF; nil on timeout or end of stream.
    func line() -> String? {
        while true {
            if let i = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var bytes = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    /// Exactly n bytes (a payload), or nil.
    func bytes(_ n: Int) -> [UInt8]? {
        while buffer.count < n { guard fill() else { return nil } }
        defer { buffer.removeFirst(n) }
        return Array(buffer[..<n])
    }

    /// A whole reply: one line, plus payload and its CRLF after `MSG`/`EXC`
    /// headers (with or without a delivery tag), joined as "MSG ch 5|hello"
    /// or "MSG ch 5 1|hello".
    func reply() -> String? {
        guard let header = line() else { return nil }
        let fields = header.split(separator: " ")
        let msgAt = fields.firstIndex { $0 == "MSG" || $0 == "EXC" }
        guard let at = msgAt, fields.count == at + 3 || fields.count == at + 4, let n = Int(fields[at + 2]) else { return header }
        guard let payload = bytes(n), bytes(2) == [13, 10] else { return nil }
        return header + "|" + String(decoding: payload, as: UTF8.self)
    }

    /// True when nothing arrives within `seconds` (the request is still blocked).
    func silent(for seconds: TimeInterval = 0.2) -> Bool {
        guard buffer.isEmpty else { return false }
        setTimeout(seconds)
        defer { setTimeout(10) }
        return !fill()
    }

    /// True once the server has closed the connection (end of stream).
    func closedByServer() -> Bool {
        while fill() {}
        return buffer.isEmpty && recv(fd, nil, 0, Int32(MSG_DONTWAIT)) == 0
    }
}

/// A STAT or CHANNEL line with its `rate=` field as `rate=*`: the field
/// counts the server's last whole second, so it depends on where its
/// one-second timer ticked between a test's steps.
func anyRate(_ line: String?) -> String? {
    line?.replacingOccurrences(of: #" rate=[0-9]+"#, with: " rate=*", options: .regularExpression)
}
