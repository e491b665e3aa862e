import ChanTLS
import TestCertificates
import Testing

/// A real OpenSSL client and server end talking through memory.
@Suite struct HandshakeTests {
    let certificates = TestCertificates.shared

    @Test func tls13HandshakeThenDataBothWays() throws {
        var pair = try Pair(client: TLSClientContext(caFile: certificates.ca), server: certificates.server())
        #expect(pair.server.isHandshaking && pair.client.isHandshaking)
        pair.handshake()
        #expect(pair.serverError == nil && pair.clientError == nil)
        #expect(!pair.server.isHandshaking && pair.server.state == .established)
        #expect(pair.server.protocolVersion == "TLSv1.3")
        pair.clientSends(Array("PING\r\n".utf8))
        #expect(pair.receivedByServer == Array("PING\r\n".utf8))
        pair.serverSends(Array("PONG\r\n".utf8))
        #expect(pair.receivedByClient == Array("PONG\r\n".utf8))
    }

    @Test func tls12IsServedToo() throws {
        var pair = try Pair(client: TLSClientContext(caFile: certificates.ca, maximumVersion: .tls1_2), server: certificates.server())
        pair.handshake()
        #expect(pair.serverError == nil && pair.clientError == nil)
        #expect(pair.server.protocolVersion == "TLSv1.2")
        pair.clientSends(Array("HELLO\r\n".utf8))
        #expect(pair.receivedByServer == Array("HELLO\r\n".utf8))
    }

    /// Every byte of the handshake and of 40 KB each way (three records and
    /// more) cut at many chunk sizes, as TCP may deliver them.
    @Test(arguments: [1, 2, 3, 5, 7, 13, 64, 100, 1000, 4096, 16384, 16389, 65536])
    func dataSplitAtChunkSize(_ chunk: Int) throws {
        for maximum in [TLSVersion.tls1_2, .tls1_3] {
            var pair = try Pair(client: TLSClientContext(caFile: certificates.ca, maximumVersion: maximum),
                                server: certificates.server(), chunk: chunk)
            pair.handshake()
            #expect(pair.server.state == .established && pair.client.state == .established)
            let up = pattern(40_000, seed: 1), down = pattern(40_000, seed: 2)
            pair.clientSends(up)
            pair.serverSends(down)
            pair.clientSends(Array("tail".utf8))
            #expect(pair.receivedByServer == up + Array("tail".utf8), "chunk \(chunk), \(maximum)")
            #expect(pair.receivedByClient == down, "chunk \(chunk), \(maximum)")
            #expect(pair.serverError == nil && pair.clientError == nil)
        }
    }

    @Test func serverWritesBeforeTheHandshakeEndAreSentWhenItEnds() throws {
        var pair = try Pair(client: TLSClientContext(caFile: certificates.ca), server: certificates.server())
        let early = pair.server.write(Array("early\r\n".utf8))
        #expect(early.ciphertext.isEmpty && early.error == nil)
        pair.handshake()
        #expect(pair.receivedByClient == Array("early\r\n".utf8))
    }

    @Test(arguments: [TLSVersion.tls1_2, .tls1_3])
    func closeNotifyReachesThePeer(_ version: TLSVersion) throws {
        var pair = try Pair(client: TLSClientContext(caFile: certificates.ca, maximumVersion: version), server: certificates.server())
        pair.handshake()
        pair.clientSends(Array("QUIT\r\n".utf8))
        let goodbye = pair.client.close()
        #expect(!goodbye.isEmpty)
        _ = pair.deliver(goodbye, to: pair.server, isServer: true)
        #expect(pair.serverPeerClosed && pair.server.state == .closed)
        #expect(pair.receivedByServer == Array("QUIT\r\n".utf8))
        // The server may still answer after the client's close_notify, then close too.
        let reply = pair.server.write(Array("BYE\r\n".utf8))
        #expect(reply.error == nil && !reply.ciphertext.isEmpty)
        _ = pair.deliver(reply.ciphertext, to: pair.client, isServer: false)
        #expect(pair.receivedByClient == Array("BYE\r\n".utf8))
        #expect(!pair.server.close().isEmpty)
        #expect(pair.client.write(Array("more".utf8)).error?.kind == .closed)
    }

    @Test func clientRefusesAServerItCannotVerify() throws {
        // Signed by a CA the client does not trust.
        var untrusted = try Pair(client: TLSClientContext(caFile: certificates.otherCA), server: certificates.server())
        untrusted.handshake()
        #expect(untrusted.clientError?.kind == .handshake)
        #expect(untrusted.clientError?.reason?.contains("certificate verification") == true)
        #expect(untrusted.client.state != .established)
        // Trusted, but for another name.
        var wrongName = try Pair(client: TLSClientContext(caFile: certificates.ca), server: certificates.server(), serverName: "chand.example")
        wrongName.handshake()
        #expect(wrongName.clientError?.reason?.contains("hostname mismatch") == true)
        var byAddress = try Pair(client: TLSClientContext(caFile: certificates.ca), server: certificates.server(), serverName: "127.0.0.1")
        byAddress.handshake()
        #expect(byAddress.clientError == nil && byAddress.client.state == .established)
        var wrongAddress = try Pair(client: TLSClientContext(caFile: certificates.ca), server: certificates.server(), serverName: "127.0.0.2")
        wrongAddress.handshake()
        #expect(wrongAddress.clientError?.kind == .handshake)
    }

    @Test func configurationErrorsNameTheFile() throws {
        let missing = certificates.directory + "/missing.pem"
        #expect(throws: TLSError.self) { try TLSServerContext(certificateFile: missing, keyFile: certificates.serverKey) }
        do {
            _ = try TLSServerContext(certificateFile: certificates.serverCertificate, keyFile: certificates.clientKey)
            Issue.record("a key of another certificate was accepted")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.message.contains(certificates.clientKey))
            #expect(error.reason?.contains("mismatch") == true)
        }
        do {
            _ = try TLSServerContext(certificateFile: certificates.serverCertificate, keyFile: certificates.serverKey, clientCAFile: missing)
            Issue.record("a missing CA file was accepted")
        } catch {
            #expect(error.message.contains(missing))
        }
    }
}
