import ChanClient
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A built executable of this package: next to the test bundle (under
/// `swift test` on Linux, arguments[0] is `.build/<triple>/debug/chandPackageTests.xctest`),
/// else in `.build/debug` above this file. `<NAME>_BIN` (CHAND_BIN, CHAN_BIN) overrides.
func builtBinary(_ name: String) -> URL {
    if let path = ProcessInfo.processInfo.environment[name.uppercased() + "_BIN"] { return URL(fileURLWithPath: path) }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    var up = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while up.path != "/" {
        let candidate = up.appendingPathComponent(".build/debug").appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        up = up.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: ".build/debug/\(name)")
}

/// How long a test waits for something that should happen before calling it a
/// hang. Never an assertion about speed: only a guard that turns a hang into a failure.
let hangGuard: TimeInterval = 60

struct DaemonFailure: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}

/// The real chand binary on a free loopback port.
final class Daemon {
    let process = Process()
    /// Where it says it listens: "chand listening on <host>:<port>" (an IPv6 host in brackets).
    let host: String
    let port: Int
    /// With --metrics-port: "chand metrics on http://<host>:<port>/metrics".
    let metricsPort: Int?

    init(_ arguments: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        signal(SIGPIPE, SIG_IGN)
        let stdout = Pipe()
        process.executableURL = builtBinary("chand")
        process.arguments = ["--port", "0", "--seed", "1", "--log-level", "error"] + arguments
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let wantLines = arguments.contains("--metrics-port") ? 2 : 1
        var text = ""
        while text.filter({ $0 == "\n" }).count < wantLines {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map(String.init)
        func address(after prefix: String, before suffix: String = "") -> ServerAddress? {
            guard let line = lines.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }) else { return nil }
            return try? ServerAddress.parse(String(line.dropFirst(prefix.count).dropLast(suffix.count)))
        }
        guard let listening = address(after: "chand listening on "), let host = listening.host, let port = listening.port else {
            process.terminate()
            throw DaemonFailure(text: "chand did not start (\(process.executableURL!.path)): \(text)")
        }
        self.host = host
        self.port = port
        metricsPort = address(after: "chand metrics on http://", before: "/metrics")?.port
    }

    var address: String { ServerAddress.display(host: host, port: port) }

    func client(_ options: ChanClient.Options = ChanClient.Options()) throws -> ChanClient {
        try ChanClient(host: host, port: port, options: options)
    }

    /// SIGTERM, and waits for the exit.
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Work on another thread (with its own connections); `value()` waits for it.
final class Background<T: Sendable>: @unchecked Sendable {
    // Safe: `result` is written once by the worker before `done` is signalled
    // and read only after waiting on `done`.
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> T) {
        Thread.detachNewThread { [self] in
            result = Result { try body() }
            done.signal()
        }
    }

    func result(file: StaticString = #filePath, line: UInt = #line) -> Result<T, Error>? {
        guard done.wait(timeout: .now() + hangGuard) == .success else {
            XCTFail("background work did not finish", file: file, line: line)
            return nil
        }
        return result
    }

    /// True when the work has not finished within `seconds` (a send still waiting for its answer).
    func isPending(for seconds: TimeInterval = 0.2) -> Bool {
        guard done.wait(timeout: .now() + seconds) == .success else { return true }
        done.signal()  // leave it for `result()`
        return false
    }

    func value(file: StaticString = #filePath, line: UInt = #line) throws -> T {
        guard let result = result(file: file, line: line) else { throw DaemonFailure(text: "background work hung") }
        return try result.get()
    }

    /// The ChanError the work failed with, or nil (and a test failure) when it did not fail so.
    func chanError(file: StaticString = #filePath, line: UInt = #line) -> ChanError? {
        switch result(file: file, line: line) {
        case .failure(let error as ChanError)?: return error
        case let other?:
            XCTFail("expected a ChanError, got \(other)", file: file, line: line)
            return nil
        case nil: return nil
        }
    }
}

/// Waits (bounded by the hang guard) until `condition` holds.
func eventually(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                _ condition: () throws -> Bool) rethrows {
    let giveUp = Date(timeIntervalSinceNow: hangGuard)
    while Date() < giveUp {
        if try condition() { return }
        usleep(2000)
    }
    XCTFail("never happened: \(what)", file: file, line: line)
}

/// Until a receiver waits on `channel` (so a later send meets it, not a buffer).
func waitForReceivers(_ client: ChanClient, _ channel: String, _ count: Int = 1,
                      file: StaticString = #filePath, line: UInt = #line) throws {
    try eventually("\(count) receiver(s) waiting on \(channel)", file: file, line: line) {
        try client.stat(channel).receivers >= count
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

// MARK: The chan binary

/// A finished run of `chan`.
struct ChanRun {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var out: String { String(decoding: stdout, as: UTF8.self) }
}

/// A `chan` process; `finish()` closes its stdin (when piped) and waits for it.
final class ChanProcess {
    let process = Process()
    private let stdinPipe = Pipe()
    private let collected = DispatchGroup()
    private let outBox = Box(), errBox = Box()

    private final class Box: @unchecked Sendable {
        // Safe: written by one reader thread before `collected` is left, read after waiting on it.
        var data = Data()
    }

    /// `environment` entries are added to (or, with nil values, removed from) the test's environment.
    init(_ arguments: [String], environment: [String: String?] = [:], pipeStdin: Bool = false,
         file: StaticString = #filePath, line: UInt = #line) {
        process.executableURL = builtBinary("chan")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CHAND_ADDR"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = pipeStdin ? stdinPipe : FileHandle.nullDevice
        for (pipe, box) in [(out, outBox), (err, errBox)] {
            collected.enter()
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [collected] in
                box.data = handle.readDataToEndOfFile()
                collected.leave()
            }
        }
        do {
            try process.run()
        } catch {
            XCTFail("cannot run chan: \(error)", file: file, line: line)
        }
        // The parent's copies of the child's ends: closed, so that reads see the child's end of output.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        if pipeStdin { try? stdinPipe.fileHandleForReading.close() }
    }

    /// Writes to chan's standard input; what it no longer reads (it stopped
    /// early, as when refusing too long a value) is dropped.
    func write(_ data: [UInt8]) {
        try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(data))
    }

    func closeStdin() {
        try? stdinPipe.fileHandleForWriting.close()
    }

    var isRunning: Bool { process.isRunning }

    func finish(file: StaticString = #filePath, line: UInt = #line) -> ChanRun {
        closeStdin()
        if collected.wait(timeout: .now() + hangGuard) != .success {
            XCTFail("chan \(process.arguments ?? []) did not finish", file: file, line: line)
            process.terminate()
            collected.wait()
        }
        process.waitUntilExit()
        return ChanRun(status: process.terminationStatus, stdout: Array(outBox.data),
                       stderr: String(decoding: errBox.data, as: UTF8.self))
    }
}

/// Runs `chan` to the end with `stdin` (or no input).
func chan(_ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String?] = [:],
          file: StaticString = #filePath, line: UInt = #line) -> ChanRun {
    let p = ChanProcess(arguments, environment: environment, pipeStdin: stdin != nil, file: file, line: line)
    if let stdin { p.write(stdin) }
    return p.finish(file: file, line: line)
}

// MARK: A fake server, for replies chand never sends

/// Listens on a loopback port, takes one connection, reads one request, and
/// answers with scripted bytes; then closes, or holds the connection open
/// until `stop()`.
final class FakeServer: @unchecked Sendable {
    // Safe: `received` is guarded by `lock`; the rest is set before the thread starts.
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var received: [UInt8] = []
    private let release = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - reply: written once the request is complete (`requestBytes` bytes, or a line end).
    ///   - hold: keep the connection open after the reply, until `stop()`.
    init(reply: [UInt8], requestBytes: Int? = nil, hold: Bool = false) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(listener, sa, len) == 0 && listen(listener, 4) == 0 && getsockname(listener, sa, &len) == 0
            }
        }
        guard ok else { throw POSIXError(.EADDRNOTAVAIL) }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread.detachNewThread { [self] in
            serve(reply: reply, requestBytes: requestBytes, hold: hold)
            finished.signal()
        }
    }

    private func serve(reply: [UInt8], requestBytes: Int?, hold: Bool) {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            lock.lock()
            received += chunk[..<n]
            let complete = requestBytes.map { received.count >= $0 } ?? (received.last == 10)
            lock.unlock()
            if complete { break }
        }
        var sent = 0
        while sent < reply.count {
            let n = reply[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        if hold { release.wait() }
    }

    /// What the client sent.
    var request: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    private var stopped = false

    /// Ends the connection (and the listener). Idempotent.
    func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        release.signal()
        shutdown(listener, Int32(SHUT_RDWR))  // wakes an accept that never got a client
        _ = finished.wait(timeout: .now() + hangGuard)
        Glibc.close(listener)
    }

    deinit { stop() }
}
