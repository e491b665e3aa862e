import ChanTLS
import TestCertificates
import Testing

/// What TLS costs per message and per byte through `TLSConnection`, both ends
/// in this process: printed, never asserted. Meaningful in a release build:
/// `swift test -c release --filter CostFigures`.
@Suite(.serialized) struct CostFigures {
    let certificates = TestCertificates.shared

    @Test func handshakesSmallMessagesAndBulk() throws {
        let server = try certificates.server()
        let client = try TLSClientContext(caFile: certificates.ca)
        let clock = ContinuousClock()

        let handshakes = 200
        let handshakeTime = try clock.measure {
            for _ in 0..<handshakes {
                var pair = try Pair(client: client, server: server)
                pair.handshake()
                #expect(pair.server.state == .established)
            }
        }

        var pair = try Pair(client: client, server: server)
        pair.handshake()
        // A SEND line and its OK, as one request and one reply record each way.
        let request = Array("SEND jobs 0123456789abcdef\r\n".utf8), reply = Array("OK\r\n".utf8)
        let roundTrips = 20_000
        var replies = 0
        let smallTime = clock.measure {
            for _ in 0..<roundTrips {
                let up = pair.client.write(request).ciphertext
                let atServer = pair.server.feed(up)
                let down = pair.server.write(reply).ciphertext
                replies += pair.client.feed(down).plaintext.count == reply.count && atServer.plaintext.count == request.count ? 1 : 0
            }
        }
        #expect(replies == roundTrips)

        let block = pattern(1 << 20, seed: 5)
        let megabytes = 64
        var received = 0
        let bulkTime = clock.measure {
            for _ in 0..<megabytes {
                received += pair.server.feed(pair.client.write(block).ciphertext).plaintext.count
            }
        }
        #expect(received == megabytes << 20)

        func microseconds(_ duration: Duration, _ count: Int) -> String {
            let total = Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
            return String(Int((total / Double(count)).rounded()))
        }
        let bulkSeconds = Double(bulkTime.components.seconds) + Double(bulkTime.components.attoseconds) / 1e18
        print("TLS 1.3 handshake, both ends in one thread (P-256): \(microseconds(handshakeTime, handshakes)) us each")
        print("TLS 1.3 small request/reply (\(request.count) + \(reply.count) bytes), encrypt + decrypt both ways: \(microseconds(smallTime, roundTrips)) us each")
        print("TLS 1.3 bulk, encrypt + decrypt 1 MiB writes: \(Int(Double(megabytes) / bulkSeconds)) MiB/s")
    }
}
