import Foundation

/// Certificates made with the openssl command in a fresh temporary directory,
/// for the TLS tests of every target: a CA, a server certificate it signed for
/// localhost and 127.0.0.1, a client certificate it signed, and a second CA
/// with a client certificate of its own (one the first CA does not vouch for).
public final class TestCertificates: Sendable {
    public let directory = NSTemporaryDirectory() + "chand-tls-\(UInt64.random(in: 0 ... .max))"
    public var ca: String { directory + "/ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    public var otherCA: String { directory + "/other-ca.pem" }
    public var otherClientCertificate: String { directory + "/other-client.pem" }
    public var otherClientKey: String { directory + "/other-client.key" }

    /// Made once per test run: key generation is the slow part.
    public static let shared = try! TestCertificates()

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try openssl(["req", "-x509"] + ec + ["-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=chand test \(ca)"])
        }
        for (name, ca, ext) in [("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []), ("other-client", "other-ca", [])] {
            try openssl(["req"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name == "server" ? "localhost" : name)"])
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                         "-out", "\(name).pem", "-days", "2"] + ext)
        }
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CertificateError(command: "openssl " + arguments.joined(separator: " "))
        }
    }
}

struct CertificateError: Error { let command: String }
