import ChanTLS
import Foundation
import Testing

/// Certificates made with the openssl command in a fresh temporary directory:
/// a CA, a server certificate it signed for localhost and 127.0.0.1, a client
/// certificate it signed, and a second CA with a client certificate of its own.
struct Certificates: Sendable {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }
    var otherCA: String { directory + "/other-ca.pem" }
    var otherClientCertificate: String { directory + "/other-client.pem" }
    var otherClientKey: String { directory + "/other-client.key" }

    /// Made once for the whole run: key generation is the slow part.
    static let shared = try! Certificates()

    init() throws {
        directory = NSTemporaryDirectory() + "chantls-\(UInt64.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        for ca in ["ca", "other-ca"] {
            try openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=chand test \(ca)")
        }
        for (name, ca, ext) in [("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []), ("other-client", "other-ca", [])] {
            try openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name == "server" ? "localhost" : name)")
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                         "-out", "\(name).pem", "-days", "2"] + ext)
        }
    }

    private func openssl(_ arguments: String...) throws { try openssl(arguments) }

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

    func server(clientCA: String? = nil) throws -> TLSServerContext {
        try TLSServerContext(certificateFile: serverCertificate, keyFile: serverKey, clientCAFile: clientCA)
    }
}

struct CertificateError: Error { let command: String }

/// A client and a server end in one process, the bytes between them carried
/// by `exchange` at a chosen chunk size, as a socket may cut them.
struct Pair {
    let client: TLSConnection
    let server: TLSConnection
    var chunk = Int.max
    var receivedByServer: [UInt8] = []
    var receivedByClient: [UInt8] = []
    var serverError: TLSError?
    var clientError: TLSError?
    var serverPeerClosed = false
    var clientPeerClosed = false

    init(client: TLSClientContext, server: TLSServerContext, serverName: String = "localhost", chunk: Int = .max) throws {
        self.client = try TLSConnection(client: client, serverName: serverName)
        self.server = try TLSConnection(server: server)
        self.chunk = chunk
    }

    /// Runs the handshake to its end (both established, or an error).
    mutating func handshake() {
        var toServer = client.start().ciphertext
        var toClient: [UInt8] = []
        for _ in 0..<20 where !toServer.isEmpty || !toClient.isEmpty {
            toClient += deliver(toServer, to: server, isServer: true)
            toServer = deliver(toClient, to: client, isServer: false)
            toClient = []
            if serverError != nil || clientError != nil { break }
        }
    }

    /// Feeds `bytes` to `end` in chunks; returns what `end` wants to send back.
    mutating func deliver(_ bytes: [UInt8], to end: TLSConnection, isServer: Bool) -> [UInt8] {
        var reply: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let next = min(bytes.count, offset + min(chunk, bytes.count - offset))
            let out = end.feed(Array(bytes[offset..<next]))
            offset = next
            reply += out.ciphertext
            if isServer {
                receivedByServer += out.plaintext
                serverError = serverError ?? out.error
                serverPeerClosed = serverPeerClosed || out.peerClosed
            } else {
                receivedByClient += out.plaintext
                clientError = clientError ?? out.error
                clientPeerClosed = clientPeerClosed || out.peerClosed
            }
        }
        return reply
    }

    /// Client writes, server reads (and whatever the server answers goes back).
    mutating func clientSends(_ plaintext: [UInt8]) {
        let out = client.write(plaintext)
        clientError = clientError ?? out.error
        let back = deliver(out.ciphertext, to: server, isServer: true)
        _ = deliver(back, to: client, isServer: false)
    }

    mutating func serverSends(_ plaintext: [UInt8]) {
        let out = server.write(plaintext)
        serverError = serverError ?? out.error
        let back = deliver(out.ciphertext, to: client, isServer: false)
        _ = deliver(back, to: server, isServer: true)
    }
}

/// Bytes that are not all alike, so that a reordering or loss shows.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 8)) }
}
