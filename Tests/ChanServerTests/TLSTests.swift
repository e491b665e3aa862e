import ChanTLS
import Foundation
import TestCertificates
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A TLS client over a blocking loopback socket, as a transcript: lines
/// written, reply lines read. Real OpenSSL on both ends.
final class TLSWire {
    let raw: Wire
    let tls: TLSConnection
    private var plaintext: [UInt8] = []
    /// Why the handshake or a read failed.
    private(set) var error: String?

    /// Connects and completes the handshake (or records its `error`).
    /// `serverName`: what the certificate is checked for (the test certificate has localhost and 127.0.0.1).
    init(port: Int, host: String = "127.0.0.1", serverName: String = "127.0.0.1", ca: String,
         certificate: String? = nil, key: String? = nil) throws {
        raw = try Wire(port: port, host: host)
        let context = try TLSClientContext(caFile: ca, certificateFile: certificate, keyFile: key)
        tls = try TLSConnection(client: context, serverName: serverName)
        var out = tls.start()
        while error == nil {
            raw.send(out.ciphertext)
            error = out.error?.description
            if !tls.isHandshaking || error != nil { break }
            guard let bytes = raw.chunk() else {
                error = "the server closed during the handshake"
                break
            }
            out = tls.feed(bytes)
            plaintext += out.plaintext
        }
    }

    func say(_ lines: String...) {
        let out = tls.write(Array(lines.map { $0 + "\r\n" }.joined().utf8))
        raw.send(out.ciphertext)
    }

    /// The next reply line; nil when the connection ends (or fails) first.
    func line() -> String? {
        while true {
            if let i = plaintext.firstIndex(of: UInt8(ascii: "\n")) {
                let bytes = plaintext[..<i].filter { $0 != UInt8(ascii: "\r") }
                plaintext.removeFirst(i + 1)
                return String(decoding: bytes, as: UTF8.self)
            }
            guard let bytes = raw.chunk() else { return nil }
            let out = tls.feed(bytes)
            if !out.ciphertext.isEmpty { raw.send(out.ciphertext) }
            if let failure = out.error { error = failure.description; return nil }
            plaintext += out.plaintext
            if out.peerClosed && out.plaintext.isEmpty { return nil }
        }
    }
}

extension Wire {
    /// Whatever arrives next, raw; nil at end of stream or timeout.
    func chunk() -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(bytes[..<n]) : nil
    }

    /// True once the server closed or reset the connection, whatever it sent
    /// first (a TLS alert, say); false when the read timeout passes first.
    func ended() -> Bool {
        while true {
            var bytes = [UInt8](repeating: 0, count: 65536)
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
        }
    }
}

/// `--tls-cert`/`--tls-key`: the listener speaks TLS only; `--tls-ca`
/// requires client certificates. Hostile handshakes never disturb others.
final class TLSTests: XCTestCase {
    let certificates = TestCertificates.shared

    func tlsDaemon(_ extra: [String] = []) throws -> Daemon {
        try Daemon(["--tls-cert", certificates.serverCertificate, "--tls-key", certificates.serverKey] + extra)
    }

    func testTranscriptOverTLS() throws {
        let daemon = try tlsDaemon()
        defer { daemon.stop() }
        let c = try TLSWire(port: daemon.port, ca: certificates.ca)
        XCTAssertNil(c.error)
        XCTAssertEqual(c.tls.protocolVersion, "TLSv1.3")
        c.say("PING", "MAKE jobs CAP 2", "SEND jobs hello", "RECV jobs", "QUIT")
        XCTAssertEqual(c.line(), "PONG")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "MSG jobs 5")
        XCTAssertEqual(c.line(), "hello")
        XCTAssertEqual(c.line(), "BYE")
        XCTAssertNil(c.line())
    }

    func testLargeValuesCrossInBothDirections() throws {
        let daemon = try tlsDaemon()
        defer { daemon.stop() }
        let c = try TLSWire(port: daemon.port, ca: certificates.ca)
        let value = String(repeating: "0123456789abcdef", count: 40_000)  // 640 000 bytes: many records
        c.say("MAKE big CAP 1", "SEND big {\(value.utf8.count)}", value, "RECV big")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "MSG big \(value.utf8.count)")
        XCTAssertEqual(c.line(), value)
    }

    func testOpenSSLSClientWorksAsNetcatDoes() throws {
        let daemon = try tlsDaemon()
        defer { daemon.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-quiet", "-verify_return_error", "-CAfile", certificates.ca,
                             "-connect", "127.0.0.1:\(daemon.port)"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("PING\nMAKE q CAP 1\nSEND q hi\nRECV q\nQUIT\n".utf8))
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(text, "PONG\r\nOK\r\nOK\r\nMSG q 2\r\nhi\r\nBYE\r\n")
    }

    func testPlainClientsAndGarbageAreClosedWithoutDisturbingOthers() throws {
        let daemon = try tlsDaemon(["--log-level", "debug"])
        let good = try TLSWire(port: daemon.port, ca: certificates.ca)
        good.say("MAKE shared CAP 10")
        XCTAssertEqual(good.line(), "OK")

        let plain = try daemon.connect()
        plain.say("PING")
        XCTAssertTrue(plain.ended(), "a plain client gets no PONG")

        let garbage: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            Array(repeating: 0xFF, count: 300),
            // Application data before any handshake.
            [0x17, 0x03, 0x03, 0x40, 0x00] + Array(repeating: 0x41, count: 20_000),
            // A handshake record of a message type a server never gets first.
            [0x16, 0x03, 0x01, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00],
        ]
        for bytes in garbage {
            let c = try daemon.connect()
            c.send(bytes)
            XCTAssertTrue(c.ended(), "\(bytes.prefix(8))")
        }
        // A record header announcing a handshake, then a cut ClientHello.
        let hello = try clientHello()
        for cut in [5, 6, 40, hello.count / 2] {
            let truncated = try daemon.connect()
            truncated.send(Array(hello.prefix(cut)))
            truncated.send(Array(repeating: 0x16, count: 3))
            truncated.shutdownWrite()
            XCTAssertTrue(truncated.ended(), "ClientHello cut at \(cut)")
        }

        good.say("SEND shared v", "RECV shared")
        XCTAssertEqual(good.line(), "OK")
        XCTAssertEqual(good.line(), "MSG shared 1")
        XCTAssertEqual(good.line(), "v")
        let (status, log) = daemon.stop()
        XCTAssertEqual(status, 0)
        XCTAssertTrue(log.contains("TLS handshake failed"), log)
        XCTAssertFalse(log.contains(" warning "), "a failed handshake is logged at debug: \(log)")
    }

    func testAClientThatStopsMidHandshakeIsClosedAfterTheDeadline() throws {
        let daemon = try tlsDaemon(["--tls-handshake-timeout", "2"])
        defer { daemon.stop() }
        let stalled = try daemon.connect()
        stalled.send(try clientHello())  // and never the rest
        let silent = try daemon.connect()  // connects, says nothing

        // Meanwhile others handshake and are served.
        for _ in 0..<3 {
            let c = try TLSWire(port: daemon.port, ca: certificates.ca)
            c.say("PING")
            XCTAssertEqual(c.line(), "PONG")
        }
        XCTAssertNotNil(stalled.chunk(), "the server answered the ClientHello")
        stalled.setTimeout(8)
        silent.setTimeout(8)
        XCTAssertTrue(stalled.ended(), "closed once the handshake deadline passed")
        XCTAssertTrue(silent.ended(), "closed once the handshake deadline passed")
    }

    func testClientCertificatesSignedByTheCAAreRequired() throws {
        let daemon = try tlsDaemon(["--tls-ca", certificates.ca])
        defer { daemon.stop() }
        let signed = try TLSWire(port: daemon.port, ca: certificates.ca,
                                 certificate: certificates.clientCertificate, key: certificates.clientKey)
        signed.say("PING")
        XCTAssertEqual(signed.line(), "PONG")

        // TLS 1.3 finishes the client's side before the server checks: the refusal comes as the next read.
        let anonymous = try TLSWire(port: daemon.port, ca: certificates.ca)
        anonymous.say("PING")
        XCTAssertNil(anonymous.line())
        let stranger = try TLSWire(port: daemon.port, ca: certificates.ca,
                                   certificate: certificates.otherClientCertificate, key: certificates.otherClientKey)
        stranger.say("PING")
        XCTAssertNil(stranger.line())
    }

    func testUsersOverTLS() throws {
        let file = try UsersFile("alice plain:alice-secret send:jobs.* recv:jobs.*\n")
        let daemon = try tlsDaemon(["--users", file.path])
        defer { daemon.stop() }
        let c = try TLSWire(port: daemon.port, ca: certificates.ca)
        c.say("SEND jobs.1 v", "AUTH alice alice-secret", "MAKE jobs.1 CAP 1", "SEND jobs.1 v", "SEND logs v")
        XCTAssertEqual(c.line(), "ERR NOAUTH SEND needs AUTH <name> <secret> first")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "OK")
        XCTAssertEqual(c.line(), "ERR DENIED user alice may not SEND on logs")
    }

    func testTLSSettingsComeInPairs() throws {
        let run = runChand(["--port", "0", "--tls-cert", certificates.serverCertificate])
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.stderr.contains("needs --tls-cert and --tls-key together"), run.stderr)
        let bad = runChand(["--port", "0", "--tls-cert", certificates.serverCertificate, "--tls-key", certificates.clientKey])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("private key"), bad.stderr)
    }

    /// A real ClientHello, as the first flight of a client.
    private func clientHello() throws -> [UInt8] {
        let context = try TLSClientContext(caFile: certificates.ca)
        return try TLSConnection(client: context, serverName: "127.0.0.1").start().ciphertext
    }
}
