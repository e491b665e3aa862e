import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Durable channels (chand --data-dir) over restarts, kill -9, and damaged files.
final class DurabilityTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "chand-durable-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func start(_ fsync: String = "always") throws -> Daemon {
        try Daemon(["--data-dir", directory, "--fsync", fsync])
    }

    private func killNine(_ daemon: Daemon) -> String {
        kill(daemon.process.processIdentifier, SIGKILL)
        return daemon.stop().log
    }

    /// The newest segment file of the store.
    private func newestSegment() throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("seg-") }.sorted()
        return directory + "/" + names.last!
    }

    func testWithoutDataDirectoryDurableIsRefused() throws {
        let daemon = try Daemon()
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let c = try daemon.connect()
        c.say("MAKE q CAP 5 DURABLE", "MAKE q CAP 0 DURABLE", "STAT q")
        XCTAssertEqual(c.reply(), "ERR NOSTORE MAKE q DURABLE needs a data directory (chand --data-dir)")
        XCTAssertEqual(c.reply(), "ERR SYNTAX DURABLE needs CAP 1 or more")
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=0 durable=0"), true)
    }

    func testDurableChannelsComeBackAfterKillNine() throws {
        var daemon = try start()
        var c = try daemon.connect()
        c.say("MAKE q CAP 10 PREFER SENDER DURABLE", "SEND q a", "SEND q b", "SEND q c", "RECV q", "RECV q ACK")
        for expected in ["OK", "OK", "OK", "OK", "MSG q 1|a", "MSG q 1 1|b"] { XCTAssertEqual(c.reply(), expected) }
        c.say("MAKE c CAP 4 DURABLE", "SEND c x", "CLOSE c", "MAKE gone CAP 2 DURABLE", "SEND gone 1", "DELETE gone",
              "MAKE o CAP 2 DURABLE", "CLOSE o", "OPEN o", "SEND o y", "MAKE m CAP 3", "SEND m lost", "CLOSE used",
              "MAKE q CAP 10 PREFER SENDER", "STAT q", "STAT used")
        for _ in 0..<13 { XCTAssertEqual(c.reply(), "OK") }
        XCTAssertEqual(c.reply()?.hasPrefix("ERR EXISTS channel q exists"), true, "being durable is a setting")
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=1 durable=1"), true)
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=1 durable=0"), true, "a channel made by use is never durable")
        _ = killNine(daemon)

        daemon = try start()
        defer {
            let (status, log) = daemon.stop()
            XCTAssertEqual(status, 0, log)
        }
        c = try daemon.connect()
        c.say("STAT q", "RECV q", "RECV q", "RECV q NOWAIT")
        XCTAssertEqual(anyRate(c.reply())?.hasPrefix("STAT q cap=10 len=2 balance=0 state=open preference=1 "), true)
        XCTAssertEqual(c.reply(), "MSG q 1|b", "held and not acknowledged at the crash: it comes back")
        XCTAssertEqual(c.reply(), "MSG q 1|c")
        XCTAssertEqual(c.reply(), "TIMEOUT", "a was delivered before the crash")
        c.say("STAT c", "RECV c", "RECV c", "STAT gone", "RECV o", "STAT o", "STAT m", "STAT used")
        XCTAssertEqual(c.reply()?.contains(" len=1 balance=0 state=closing "), true)
        XCTAssertEqual(c.reply(), "MSG c 1|x")
        XCTAssertEqual(c.reply(), "CLOSED c")
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=0 durable=0"), true)
        XCTAssertEqual(c.reply(), "MSG o 1|y")
        XCTAssertEqual(c.reply()?.contains(" state=open "), true)
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=0 durable=0"), true, "an in-memory channel is gone")
        XCTAssertEqual(c.reply()?.hasSuffix(" exists=0 durable=0"), true, "nor is a channel made by use")
    }

    /// A durable SEND's OK waits for the store; the replies behind it wait
    /// with it, in order.
    func testRepliesKeepTheirOrderBehindADurableOK() throws {
        let daemon = try start()
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let c = try daemon.connect()
        c.send("MAKE q CAP 5 DURABLE\r\nSEND q 1\r\nPING\r\nSEND q 2\r\nRECV q\r\nSTAT q\r\nPING\r\n")
        for expected in ["OK", "OK", "PONG", "OK", "MSG q 1|1"] { XCTAssertEqual(c.reply(), expected) }
        XCTAssertEqual(c.reply()?.contains(" len=1 "), true)
        XCTAssertEqual(c.reply(), "PONG")
    }

    /// A value handed straight to a waiting receiver is stored until the
    /// reply carrying it is written: once the sender has its OK, the
    /// receiver has been written to, and a crash does not bring it back.
    func testAValueHandedToAWaitingReceiverIsNotDeliveredTwice() throws {
        var daemon = try start()
        let receiver = try daemon.connect(), sender = try daemon.connect()
        sender.say("MAKE q CAP 5 DURABLE")
        XCTAssertEqual(sender.reply(), "OK")
        receiver.say("RECV q")
        var waiting = false
        for _ in 0..<500 where !waiting {
            sender.say("STAT q")
            waiting = sender.reply()?.contains(" receivers=1 ") == true
            if !waiting { usleep(10_000) }
        }
        XCTAssertTrue(waiting)
        sender.say("SEND q v")
        XCTAssertEqual(sender.reply(), "OK")
        XCTAssertEqual(receiver.reply(), "MSG q 1|v")
        _ = killNine(daemon)

        daemon = try start()
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let c = try daemon.connect()
        c.say("STAT q")
        XCTAssertEqual(c.reply()?.contains(" len=0 "), true)
    }

    /// Values received again after a restart are only those never acknowledged.
    func testAcknowledgedValuesStayGoneAcrossAGracefulRestart() throws {
        var daemon = try start("everysec")
        var c = try daemon.connect()
        c.say("MAKE q CAP 100 DURABLE", "SEND q 1", "SEND q 2", "SEND q 3", "RECV q ACK", "RECV q ACK", "ACK 1", "NACK 2")
        for expected in ["OK", "OK", "OK", "OK", "MSG q 1 1|1", "MSG q 1 2|2"] { XCTAssertEqual(c.reply(), expected) }
        c.say("STAT q")
        XCTAssertEqual(c.reply()?.contains(" len=2 "), true)
        let (status, log) = daemon.stop()
        XCTAssertEqual(status, 0, log)

        daemon = try start("everysec")
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        c = try daemon.connect()
        c.say("RECV q", "RECV q", "RECV q NOWAIT")
        XCTAssertEqual(c.reply(), "MSG q 1|2")
        XCTAssertEqual(c.reply(), "MSG q 1|3")
        XCTAssertEqual(c.reply(), "TIMEOUT")
    }

    /// A record cut short at the end of the newest file (a crash mid-write)
    /// is cut off, with a log line naming the file and offset.
    func testTornTailIsCutWithALogLine() throws {
        var daemon = try start()
        var c = try daemon.connect()
        c.say("MAKE q CAP 10 DURABLE", "SEND q first", "SEND q second")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "OK") }
        _ = killNine(daemon)
        let segment = try newestSegment()
        let size = try FileManager.default.attributesOfItem(atPath: segment)[.size] as! Int
        XCTAssertEqual(truncate(segment, off_t(size - 3)), 0)

        daemon = try start()
        c = try daemon.connect()
        c.say("RECV q", "RECV q NOWAIT")
        XCTAssertEqual(c.reply(), "MSG q 5|first")
        XCTAssertEqual(c.reply(), "TIMEOUT", "the torn value is gone")
        let (status, log) = daemon.stop()
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("\(segment): torn tail at offset "), log)
    }

    /// A flipped byte before the tail stops the start with a clear error
    /// naming the file and offset: never a silent loss.
    func testDamageBeforeTheTailStopsTheStart() throws {
        let daemon = try start()
        let c = try daemon.connect()
        c.say("MAKE q CAP 10 DURABLE", "SEND q first-value", "SEND q second-value")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "OK") }
        _ = killNine(daemon)
        let segment = try newestSegment()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        let at = bytes.range(of: Data("first-value".utf8))!.lowerBound
        bytes[at] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: segment))

        let process = Process()
        process.executableURL = Daemon.binary
        process.arguments = ["--port", "0", "--data-dir", directory]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 1)
        XCTAssertTrue(message.contains("chand: \(segment): damaged record at offset "), message)
    }

    /// Under `everysec` the OK of a durable SEND is written once the value
    /// is in the file (write(2)), as Redis answers after writing its AOF:
    /// a kill -9 right after the last OK loses none of them.
    func testKillNineUnderEverysecLosesNoValueAnsweredOK() throws {
        var daemon = try start("everysec")
        var c = try daemon.connect()
        c.say("MAKE q CAP 1000 DURABLE")
        XCTAssertEqual(c.reply(), "OK")
        c.send((1...500).map { "SEND q v\($0)\r\n" }.joined())
        for _ in 1...500 { XCTAssertEqual(c.reply(), "OK") }
        _ = killNine(daemon)

        daemon = try start("everysec")
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        c = try daemon.connect()
        c.send((1...501).map { _ in "RECV q NOWAIT\r\n" }.joined())
        for n in 1...500 { XCTAssertEqual(c.reply(), "MSG q \("v\(n)".utf8.count)|v\(n)") }
        XCTAssertEqual(c.reply(), "TIMEOUT")
    }

    private func info(_ c: Wire) -> [String: Int] {
        c.say("INFO")
        let words = (c.reply() ?? "").split(separator: " ").dropFirst()
        return Dictionary(uniqueKeysWithValues: words.compactMap { word -> (String, Int)? in
            let kv = word.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let n = Int(kv[1]) else { return nil }
            return (String(kv[0]), n)
        })
    }

    /// INFO lists the store's figures: zero without a data directory (as
    /// Redis lists its persistence fields with AOF off), the store's state with one.
    func testInfoShowsTheStoreFigures() throws {
        let memory = try Daemon()
        let m = try memory.connect()
        let none = info(m)
        for key in ["store_enabled", "store_channels", "store_values", "store_disk_bytes", "store_live_bytes", "store_segments",
                    "store_fsyncs", "store_fsync_last_us", "store_fsync_max_us", "store_compactions", "store_compaction_max_us",
                    "store_failed"] {
            XCTAssertEqual(none[key], 0, key)
        }
        XCTAssertEqual(memory.stop().status, 0)

        let daemon = try start("always")
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let c = try daemon.connect()
        c.say("MAKE q CAP 10 DURABLE", "MAKE r CAP 10 DURABLE", "MAKE m CAP 10", "SEND q a", "SEND q b", "SEND r c", "SEND m d", "RECV q")
        for expected in ["OK", "OK", "OK", "OK", "OK", "OK", "OK", "MSG q 1|a"] { XCTAssertEqual(c.reply(), expected) }
        let store = info(c)
        XCTAssertEqual(store["store_enabled"], 1)
        XCTAssertEqual(store["store_channels"], 2)
        XCTAssertEqual(store["store_values"], 2, "b and c; a left once its MSG was written, d is in memory")
        XCTAssertEqual(store["store_segments"], 1)
        XCTAssertEqual(store["store_failed"], 0)
        XCTAssertEqual(store["store_compactions"], 0)
        XCTAssertGreaterThan(store["store_fsyncs"] ?? 0, 0, "always: the OKs waited for fsyncs")
        XCTAssertGreaterThanOrEqual(store["store_fsync_max_us"] ?? -1, store["store_fsync_last_us"] ?? 0)
        XCTAssertGreaterThan(store["store_live_bytes"] ?? 0, 0)
        XCTAssertGreaterThan(store["store_disk_bytes"] ?? 0, store["store_live_bytes"] ?? 0, "the log also holds a's value and removal")
    }

    /// The store's file cannot grow (a file size limit, as a full disk): the
    /// SEND whose record could not be written is never answered OK, the
    /// daemon says so and carries on with in-memory channels, and after a
    /// restart every value answered OK is there.
    func testAFailedWriteAnswersNoOK() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // ulimit -f counts 512-byte blocks: the segment may hold 4,096 bytes.
        process.arguments = ["-c", "ulimit -f 8 && exec \"$0\" \"$@\"", Daemon.binary.path,
                             "--port", "0", "--data-dir", directory, "--fsync", "everysec"]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let line = String(decoding: stdout.fileHandleForReading.availableData, as: UTF8.self)
        let port = try XCTUnwrap(Int(line.split(separator: ":").last?.prefix { $0.isNumber } ?? ""), line)
        let c = try Wire(port: port), other = try Wire(port: port)
        c.say("MAKE q CAP 1000 DURABLE")
        XCTAssertEqual(c.reply(), "OK")
        let value = { (n: Int) in "v" + String(repeating: "0", count: 60 - String(n).count) + String(n) }
        // One SEND at a time, until one is not answered.
        c.setTimeout(1)
        var answered = 0
        while answered < 100 {
            c.say("SEND q \(value(answered + 1))")
            guard let reply = c.reply() else { break }
            XCTAssertEqual(reply, "OK")
            answered += 1
        }
        XCTAssertGreaterThan(answered, 10)
        XCTAssertLessThan(answered, 100, "4,096 bytes cannot hold 100 values")
        guard answered > 0 else { return }
        other.say("INFO", "MAKE m CAP 1", "SEND m x", "RECV m")
        XCTAssertEqual(other.reply()?.contains(" store_failed=1 "), true)
        for expected in ["OK", "OK", "MSG m 1|x"] { XCTAssertEqual(other.reply(), expected) }
        process.terminate()
        process.waitUntilExit()
        let log = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(log.contains("the data directory cannot be written, durable changes are no longer answered: ")
                      && log.contains("write failed: File too large"), log)

        let daemon = try start("everysec")
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let d = try daemon.connect()
        d.send((0...answered).map { _ in "RECV q NOWAIT\r\n" }.joined())
        for n in 1...answered { XCTAssertEqual(d.reply(), "MSG q 61|\(value(n))") }
        XCTAssertEqual(d.reply(), "TIMEOUT", "nothing that was not answered OK")
    }
}
