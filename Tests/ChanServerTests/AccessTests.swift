import ChanAuth
import Foundation
import TestCertificates
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A users file in a fresh temporary directory.
final class UsersFile {
    let path = NSTemporaryDirectory() + "chand-users-\(UInt64.random(in: 0 ... .max))"

    init(_ text: String) throws { try write(text) }

    func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Users, AUTH and grants (`--users`), SIGHUP reloads, protected mode.
final class AccessTests: XCTestCase {
    static let users = """
        # name secret grants
        alice plain:alice-secret send:jobs.* recv:jobs.*
        bob   plain:bob-secret   recv:logs

        root  plain:root-secret  admin
        """

    func testBeforeAuthOnlyPingHelloAuthAndQuitRun() throws {
        let file = try UsersFile(Self.users)
        let daemon = try Daemon(["--users", file.path])
        defer { daemon.stop() }
        let c = try daemon.connect()
        c.say("PING", "HELLO", "SEND jobs.1 v", "RECV jobs.1", "INFO", "CHANNELS", "STAT jobs.1", "ACK 1", "QUIT")
        XCTAssertEqual(c.reply(), "PONG")
        XCTAssertEqual(c.reply()?.hasPrefix("HELLO proto=1 "), true)
        XCTAssertEqual(c.reply(), "ERR NOAUTH SEND needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "ERR NOAUTH RECV needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "ERR NOAUTH INFO needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "ERR NOAUTH CHANNELS needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "ERR NOAUTH STAT needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "ERR NOAUTH ACK needs AUTH <name> <secret> first")
        XCTAssertEqual(c.reply(), "BYE")
        XCTAssertTrue(c.closedByServer())
    }

    func testGrantsDecideEachCommandAndEverySelectCase() throws {
        let file = try UsersFile(Self.users)
        let daemon = try Daemon(["--users", file.path])
        defer { daemon.stop() }
        let alice = try daemon.connect()
        alice.say("AUTH alice alice-secret", "MAKE jobs.1 CAP 4", "SEND jobs.1 a", "THROW jobs.1 b", "STAT jobs.1",
                  "SEND logs x", "RECV logs NOWAIT", "MAKE logs", "CLOSE other", "OPEN other", "STAT logs",
                  "INFO", "CHANNELS", "DELETE jobs.1")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply()?.hasPrefix("STAT jobs.1 cap=4 len=2 "), true)
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not SEND on logs")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not RECV on logs")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not MAKE on logs")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not CLOSE on other")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not OPEN on other")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not STAT on logs")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not INFO (it needs admin)")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not CHANNELS (it needs admin)")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not DELETE on jobs.1")

        // One denied case refuses the whole SELECT: its granted send is not queued.
        alice.send("SELECT 2 NOWAIT\r\nSEND jobs.1 c\r\nRECV logs\r\n")
        alice.say("STAT jobs.1")
        XCTAssertEqual(alice.reply(), "ERR DENIED user alice may not SELECT with RECV on logs")
        XCTAssertEqual(alice.reply()?.hasPrefix("STAT jobs.1 cap=4 len=2 "), true)

        // ACK and NACK need no grant: they settle what the connection holds.
        alice.say("RECV jobs.1 ACK")
        let held = try XCTUnwrap(alice.reply())  // "MSG jobs.1 1 <tag>|a"
        XCTAssertTrue(held.hasPrefix("MSG jobs.1 1 ") && held.hasSuffix("|a"), held)
        let tag = held.split(separator: "|")[0].split(separator: " ")[3]
        alice.say("NACK \(tag)", "PING")
        XCTAssertEqual(alice.reply(), "PONG")

        let bob = try daemon.connect()
        bob.say("AUTH bob bob-secret", "RECV logs NOWAIT", "STAT logs", "SEND logs x", "RECV jobs.1 NOWAIT")
        XCTAssertEqual(bob.reply(), "OK")
        XCTAssertEqual(bob.reply(), "TIMEOUT")
        XCTAssertEqual(bob.reply()?.hasPrefix("STAT logs "), true)
        XCTAssertEqual(bob.reply(), "ERR DENIED user bob may not SEND on logs")
        XCTAssertEqual(bob.reply(), "ERR DENIED user bob may not RECV on jobs.1")

        let root = try daemon.connect()
        root.say("AUTH root root-secret", "INFO", "CHANNELS jobs.", "DELETE jobs.1")
        XCTAssertEqual(root.reply(), "OK")
        XCTAssertEqual(root.reply()?.hasPrefix("INFO "), true)
        XCTAssertEqual(root.reply(), "CHANNELS 1 total=1")
        XCTAssertEqual(root.reply()?.hasPrefix("CHANNEL jobs.1 "), true)
        XCTAssertEqual(root.reply(), "OK")
        root.say("MAKE anything CAP 1", "SEND anything z")
        XCTAssertEqual(root.reply(), "OK")
        XCTAssertEqual(root.reply(), "OK")
    }

    /// A hashed secret is checked off the event loop: the requests pipelined
    /// behind AUTH wait for its answer and run in order, other connections
    /// are served meanwhile, and end of input right after still answers all.
    func testHashedSecretsAnswerInOrder() throws {
        let hash = try SecretHash.make(secret: Array("carol-secret".utf8), log2N: 14).encoded
        let file = try UsersFile("carol \(hash) send:jobs.* recv:jobs.*\n")
        let daemon = try Daemon(["--users", file.path])
        defer { daemon.stop() }
        let c = try daemon.connect(), other = try daemon.connect()
        c.say("AUTH carol carol-secret", "MAKE jobs.1 CAP 1", "SEND jobs.1 v", "AUTH carol wrong", "RECV jobs.1", "QUIT")
        other.say("PING")
        XCTAssertEqual(other.reply(), "PONG")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "OK")
        XCTAssertEqual(c.reply(), "ERR DENIED invalid user name or secret")
        XCTAssertEqual(c.reply(), "MSG jobs.1 1|v", "a failed AUTH keeps the earlier login")
        XCTAssertEqual(c.reply(), "BYE")

        let ended = try daemon.connect()
        ended.say("AUTH carol carol-secret", "STAT jobs.1")
        ended.shutdownWrite()
        XCTAssertEqual(ended.reply(), "OK")
        XCTAssertEqual(ended.reply()?.hasPrefix("STAT jobs.1 "), true)
        XCTAssertTrue(ended.closedByServer())
    }

    func testThreeFailedAuthsCloseTheConnectionAndSecretsAreNotLogged() throws {
        let file = try UsersFile(Self.users)
        let daemon = try Daemon(["--users", file.path, "--log-level", "debug"])
        let c = try daemon.connect()
        c.say("AUTH alice wrong-secret-1", "AUTH nobody wrong-secret-2", "PING", "AUTH alice wrong-secret-3", "PING")
        XCTAssertEqual(c.reply(), "ERR DENIED invalid user name or secret")
        XCTAssertEqual(c.reply(), "ERR DENIED invalid user name or secret")
        XCTAssertEqual(c.reply(), "PONG")
        XCTAssertEqual(c.reply(), "ERR DENIED invalid user name or secret")
        XCTAssertTrue(c.closedByServer())

        let d = try daemon.connect()
        d.say("AUTH alice wrong-secret-4", "AUTH alice alice-secret", "SEND logs x")
        XCTAssertEqual(d.reply(), "ERR DENIED invalid user name or secret")
        XCTAssertEqual(d.reply(), "OK")
        XCTAssertEqual(d.reply(), "ERR DENIED user alice may not SEND on logs")

        let (status, log) = daemon.stop()
        XCTAssertEqual(status, 0)
        XCTAssertTrue(log.contains("AUTH failed for user alice"), log)
        for secret in ["wrong-secret", "alice-secret", "root-secret"] { XCTAssertFalse(log.contains(secret), log) }
        XCTAssertTrue(log.contains("plain: secret"), "a plain secret is warned about: \(log)")
    }

    func testAuthWithoutUsersIsDenied() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let c = try daemon.connect()
        c.say("AUTH alice secret", "SEND x {1}", "v")
        XCTAssertEqual(c.reply(), "ERR DENIED no users are configured on this server (chand --users)")
        c.say("PING")
        XCTAssertEqual(c.silent(), true, "SEND blocks: without users every command runs")
    }

    func testMalformedUsersFileStopsTheDaemonWithItsLineNumber() throws {
        let file = try UsersFile("# ok\nalice plain:a send:jobs.*\nbob plain:b recv:bad*pattern\n")
        let run = runChand(["--port", "0", "--users", file.path])
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.stderr.contains("\(file.path):3:"), run.stderr)
        let missing = runChand(["--port", "0", "--users", file.path + ".missing"])
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("cannot read the users file"), missing.stderr)
    }

    func testSighupReloadsUsersAndAConnectionIsCheckedAtItsNextCommand() throws {
        let file = try UsersFile(Self.users)
        let daemon = try Daemon(["--users", file.path])
        defer { daemon.stop() }
        let alice = try daemon.connect(), bob = try daemon.connect()
        alice.say("AUTH alice alice-secret", "MAKE jobs.1 CAP 100", "SEND jobs.1 v")
        bob.say("AUTH bob bob-secret", "RECV logs NOWAIT")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(alice.reply(), "OK")
        XCTAssertEqual(bob.reply(), "OK")
        XCTAssertEqual(bob.reply(), "TIMEOUT")

        // alice loses send:, bob is removed.
        try file.write("alice plain:alice-secret recv:jobs.*\nroot plain:root-secret admin\n")
        kill(daemon.process.processIdentifier, SIGHUP)
        var answer: String?
        for _ in 0..<500 {
            alice.say("SEND jobs.1 v")
            answer = alice.reply()
            if answer != "OK" { break }
            usleep(10_000)
        }
        XCTAssertEqual(answer, "ERR DENIED user alice may not SEND on jobs.1")
        bob.say("RECV logs NOWAIT")
        XCTAssertEqual(bob.reply(), "ERR NOAUTH RECV needs AUTH <name> <secret> first")

        // A file that cannot be used keeps the users as they were.
        try file.write("alice plain:alice-secret recv:jobs.*\nbroken\n")
        kill(daemon.process.processIdentifier, SIGHUP)
        usleep(300_000)
        let later = try daemon.connect()
        later.say("AUTH alice alice-secret", "RECV jobs.1 NOWAIT")
        XCTAssertEqual(later.reply(), "OK")
        XCTAssertEqual(later.reply()?.hasPrefix("MSG jobs.1 "), true)
        let (_, log) = daemon.stop()
        XCTAssertTrue(log.contains("SIGHUP: the users file was not reloaded, the previous users stay: \(file.path):2:"), log)
    }

    // MARK: Protected mode

    func testLoopbackClientsAreServedWithoutUsers() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let c = try daemon.connect()
        c.say("PING")
        XCTAssertEqual(c.reply(), "PONG")
    }

    /// A client from this machine's own non-loopback address (the traffic
    /// never leaves the machine): refused in protected mode, served with
    /// --protected-mode no or with users.
    func testProtectedModeRefusesOtherClients() throws {
        guard let address = nonLoopbackIPv4Address() else {
            throw XCTSkip("this machine has no non-loopback IPv4 address")
        }
        let protected = try Daemon(["--host", address])
        defer { protected.stop() }
        let c = try Wire(port: protected.port, host: address)
        c.say("PING")
        XCTAssertEqual(c.reply(), "ERR DENIED protected mode: this server has no users and serves only loopback clients; "
            + "start chand with --users <file> (lines made with chan passwd) so that clients AUTH, "
            + "or with --protected-mode no to serve every client without authentication")
        XCTAssertTrue(c.closedByServer())

        let open = try Daemon(["--host", address], environment: ["CHAND_PROTECTED_MODE": "no"])
        defer { open.stop() }
        let o = try Wire(port: open.port, host: address)
        o.say("PING")
        XCTAssertEqual(o.reply(), "PONG")

        let file = try UsersFile(Self.users)
        let withUsers = try Daemon(["--host", address, "--users", file.path])
        defer { withUsers.stop() }
        let u = try Wire(port: withUsers.port, host: address)
        u.say("PING", "AUTH bob bob-secret", "RECV logs NOWAIT")
        XCTAssertEqual(u.reply(), "PONG")
        XCTAssertEqual(u.reply(), "OK")
        XCTAssertEqual(u.reply(), "TIMEOUT")

        // On a TLS listener the refusal comes inside TLS, after the handshake.
        let certificates = TestCertificates.shared
        let tls = try Daemon(["--host", address, "--tls-cert", certificates.serverCertificate,
                              "--tls-key", certificates.serverKey])
        defer { tls.stop() }
        let t = try TLSWire(port: tls.port, host: address, serverName: "localhost", ca: certificates.ca)
        XCTAssertNil(t.error)
        t.say("PING")
        XCTAssertEqual(t.line()?.hasPrefix("ERR DENIED protected mode: "), true)
        XCTAssertNil(t.line())
    }

    func testProtectedModeTakesYesOrNo() throws {
        let run = runChand(["--port", "0", "--protected-mode", "maybe"])
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.stderr.contains("--protected-mode maybe: must be yes or no"), run.stderr)
    }
}

/// Runs chand to its end (for settings that stop it at start).
func runChand(_ arguments: [String]) -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = Daemon.binary
    process.arguments = arguments
    let stderr = Pipe()
    process.standardError = stderr
    process.standardOutput = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return (-1, "cannot run chand") }
    let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}

/// An IPv4 address of one of this machine's interfaces other than loopback.
func nonLoopbackIPv4Address() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var next = list
    while let entry = next {
        next = entry.pointee.ifa_next
        guard let address = entry.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_INET else { continue }
        let v4 = UnsafeRawPointer(address).load(as: sockaddr_in.self)
        guard UInt32(bigEndian: v4.sin_addr.s_addr) >> 24 != 127 else { continue }
        return String(cString: inet_ntoa(v4.sin_addr))
    }
    return nil
}
