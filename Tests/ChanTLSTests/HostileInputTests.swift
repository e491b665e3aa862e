import ChanTLS
import TestCertificates
import Testing

/// What a server end does with input that is not a well-behaved TLS client.
@Suite struct HostileInputTests {
    let certificates = TestCertificates.shared

    @Test func plainTextProtocolIsAHandshakeError() throws {
        let server = try TLSConnection(server: certificates.server())
        let out = server.feed(Array("PING\r\n".utf8))
        #expect(out.error?.kind == .handshake)
        #expect(out.plaintext.isEmpty)
        #expect(!server.isHandshaking)
        // Later input changes nothing and is not read.
        let again = server.feed(Array("PING\r\n".utf8))
        #expect(again.error == out.error && again.ciphertext.isEmpty && again.plaintext.isEmpty)
        #expect(server.write(Array("x".utf8)).error == out.error)
    }

    @Test func randomGarbageNeverYieldsPlaintext() throws {
        let context = try certificates.server()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let server = try TLSConnection(server: context)
            let length = Int.random(in: 1...2000, using: &generator)
            var garbage = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Half the rounds look like a TLS handshake record to get past the first check.
            if round % 2 == 0, garbage.count >= 5 { garbage[0] = 0x16; garbage[1] = 0x03; garbage[2] = 0x01 }
            var failed = false
            var offset = 0
            while offset < garbage.count {
                let next = min(garbage.count, offset + Int.random(in: 1...300, using: &generator))
                let out = server.feed(Array(garbage[offset..<next]))
                offset = next
                #expect(out.plaintext.isEmpty)
                #expect(!out.handshakeCompleted)
                if out.error != nil { failed = true }
            }
            // Either refused, or still waiting for the rest of a record it believes is coming.
            #expect(failed || server.isHandshaking)
        }
    }

    @Test func truncatedClientHelloWaitsForTheRest() throws {
        let context = try certificates.server()
        let client = try TLSConnection(client: TLSClientContext(caFile: certificates.ca), serverName: "localhost")
        let hello = client.start().ciphertext
        #expect(hello.count > 100)
        for cut in [1, 4, 5, 6, hello.count / 2, hello.count - 1] {
            let server = try TLSConnection(server: context)
            let out = server.feed(Array(hello.prefix(cut)))
            #expect(out.error == nil && out.ciphertext.isEmpty, "cut at \(cut)")
            #expect(server.isHandshaking, "cut at \(cut)")
            // A client that stops there leaves the server handshaking: the caller's deadline ends it.
            // Garbage after the cut is refused.
            let rest = server.feed([UInt8](repeating: 0xFF, count: 600))
            #expect(rest.error?.kind == .handshake || server.isHandshaking, "cut at \(cut)")
        }
        // The whole ClientHello in one piece is answered.
        let server = try TLSConnection(server: context)
        let answer = server.feed(hello)
        #expect(answer.error == nil && !answer.ciphertext.isEmpty)
    }

    @Test func tls11IsRefused() throws {
        let old = try TLSClientContext(caFile: certificates.ca, minimumVersion: .tls1_1, maximumVersion: .tls1_1)
        var pair = try Pair(client: old, server: certificates.server())
        pair.handshake()
        #expect(pair.serverError?.kind == .handshake)
        #expect(pair.serverError?.reason?.contains("unsupported protocol") == true)
        #expect(pair.clientError != nil)
        #expect(pair.server.protocolVersion == nil || pair.server.state != .established)
    }

    @Test func aFailedConnectionLeavesOthersAlone() throws {
        let context = try certificates.server()
        var good = try Pair(client: TLSClientContext(caFile: certificates.ca), server: context)
        let bad = try TLSConnection(server: context)
        let hello = good.client.start().ciphertext
        // Interleave: garbage into one server end between the good pair's messages.
        #expect(bad.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)).error != nil)
        let answer = good.deliver(hello, to: good.server, isServer: true)
        #expect(bad.feed([0x16, 0x03, 0x01, 0x00, 0x01, 0xFF]).error != nil)
        let finished = good.deliver(answer, to: good.client, isServer: false)
        _ = good.deliver(finished, to: good.server, isServer: true)
        #expect(good.server.state == .established && good.serverError == nil)
        good.clientSends(Array("PING\r\n".utf8))
        #expect(good.receivedByServer == Array("PING\r\n".utf8))
    }
}
