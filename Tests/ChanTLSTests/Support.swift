import ChanTLS
import Foundation
import TestCertificates
import Testing

extension TestCertificates {
    func server(clientCA: String? = nil) throws -> TLSServerContext {
        try TLSServerContext(certificateFile: serverCertificate, keyFile: serverKey, clientCAFile: clientCA)
    }
}

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
