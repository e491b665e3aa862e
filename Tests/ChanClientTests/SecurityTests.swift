import ChanClient
import Foundation
import TestCertificates
import XCTest

/// TLS and AUTH from ChanClient and the chan CLI, against the real daemon.
final class SecurityTests: XCTestCase {
    let certificate = TestCertificates.shared

    private func tlsDaemon(_ extra: [String] = []) throws -> Daemon {
        try Daemon(["--tls-cert", certificate.serverCertificate, "--tls-key", certificate.serverKey] + extra)
    }

    private func usersFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "chan-users-\(UInt64.random(in: 0 ... .max))"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testClientOverTLSVerifiesTheServer() throws {
        let daemon = try tlsDaemon()
        var options = ChanClient.Options()
        options.tls = ChanClient.TLS(caFile: certificate.ca)
        let client = try daemon.client(options)
        try client.make("jobs", capacity: 1)
        try client.send("jobs", "over TLS")
        XCTAssertEqual(try client.recv("jobs").payload, bytes("over TLS"))
        let big = [UInt8](repeating: 7, count: 300_000)
        try client.send("jobs", big)
        XCTAssertEqual(try client.recv("jobs").payload, big)

        // Against the system's store the test CA is unknown: refused, never skipped.
        options.tls = ChanClient.TLS()
        XCTAssertThrowsError(try daemon.client(options)) { error in
            guard case ChanError.connectFailed(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("certificate verification"), why)
        }
        // The name checked is the host's unless told otherwise.
        options.tls = ChanClient.TLS(caFile: certificate.ca, serverName: "elsewhere.example")
        XCTAssertThrowsError(try daemon.client(options))
    }

    func testClientAuthenticates() throws {
        let users = try usersFile("alice plain:alice-secret send:jobs.* recv:jobs.*\n")
        let daemon = try Daemon(["--users", users])
        XCTAssertThrowsError(try daemon.client().make("jobs.1")) { error in
            XCTAssertEqual(error as? ChanError, .server(code: .noAuth, text: "MAKE needs AUTH <name> <secret> first"))
        }
        var options = ChanClient.Options()
        options.credentials = ChanClient.Credentials(user: "alice", secret: "alice-secret")
        XCTAssertFalse("\(options.credentials!)".contains("alice-secret"))
        let client = try daemon.client(options)
        try client.make("jobs.1", capacity: 1)
        XCTAssertThrowsError(try client.make("logs")) { error in
            XCTAssertEqual(error as? ChanError, .server(code: .denied, text: "user alice may not MAKE on logs"))
        }
        options.credentials = ChanClient.Credentials(user: "alice", secret: "wrong")
        XCTAssertThrowsError(try daemon.client(options)) { error in
            XCTAssertEqual(error as? ChanError, .server(code: .denied, text: "invalid user name or secret"))
        }
    }

    func testChanSpeaksTLSAndAuthenticatesFromTheEnvironment() throws {
        let hashed = chan(["passwd", "alice", "send:jobs.*", "recv:jobs.*", "--cost", "10"], stdin: bytes("s3cret-word\n"))
        XCTAssertEqual(hashed.status, 0, hashed.stderr)
        XCTAssertTrue(hashed.out.hasPrefix("alice scrypt$"), hashed.out)
        let daemon = try tlsDaemon(["--users", try usersFile(hashed.out)])
        let port = "\(daemon.port)"
        let user: [String: String?] = ["CHAND_USER": "alice", "CHAND_PASSWORD": "s3cret-word"]

        var r = chan(["--tls", "--tls-ca", certificate.ca, "--port", port, "make", "jobs.1", "--cap", "2"], environment: user)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = chan(["send", "jobs.1", "hello"], environment: user.merging([
            "CHAND_ADDR": "tls://127.0.0.1:\(port)", "CHAND_TLS_CA": certificate.ca]) { $1 })
        XCTAssertEqual(r.status, 0, r.stderr)
        r = chan(["-s", "tls://localhost:\(port)", "--tls-ca", certificate.ca, "recv", "jobs.1"], environment: user)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.out, "hello\n")

        r = chan(["--tls-ca", certificate.ca, "--port", port, "stat", "logs"], environment: user)
        XCTAssertEqual(r.status, 5)
        XCTAssertTrue(r.stderr.contains("ERR DENIED user alice may not STAT on logs"), r.stderr)

        r = chan(["--tls-ca", certificate.ca, "--port", port, "stat", "jobs.1"],
                 environment: ["CHAND_USER": "alice", "CHAND_PASSWORD": "not-it"])
        XCTAssertEqual(r.status, 5)
        XCTAssertTrue(r.stderr.contains("ERR DENIED invalid user name or secret"), r.stderr)
        XCTAssertFalse(r.stderr.contains("not-it"))

        r = chan(["-s", "tls://127.0.0.1:\(port)", "ping"], environment: ["CHAND_TLS_CA": nil])
        XCTAssertEqual(r.status, 4, "the system's store does not know the test CA")
        XCTAssertTrue(r.stderr.contains("certificate verification"), r.stderr)
        r = chan(["--port", port, "ping"])
        XCTAssertEqual(r.status, 4, "plain text to a TLS listener")
    }
}
