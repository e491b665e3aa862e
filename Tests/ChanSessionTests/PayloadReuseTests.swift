import ChanSession
import Testing

/// A delivered value's payload storage is reused for the next values a
/// connection sends (the engine's payload pool). A value still referred to
/// elsewhere keeps its bytes: held unacknowledged, given back and delivered
/// again, or written into a receiver's output that the client does not read.
@Suite struct PayloadReuseTests {
    /// Counted values (the form whose storage the parser takes from the
    /// pool) of about the held one's length, so that reused storage fits it.
    private func value(_ i: Int) -> String { "v" + String(i + 100_000) + "-passing" }

    @Test func aValueHeldWhileManyPassThenGivenBackKeepsItsBytes() {
        let loop = Loop()
        let holder = loop.connect(), sender = loop.connect()
        let producer = loop.connect(), consumer = loop.connect()
        sender.send("SEND a {17}\r\nheld-000000-bytes\r\n")
        holder.send("RECV a ACK\r\n")
        #expect(holder.read() == "MSG a 17 1\r\nheld-000000-bytes\r\n")
        #expect(sender.read() == "", "a rendezvous sender waits for the acknowledgement")
        for i in 0..<300 {
            consumer.send("RECV b\r\n")
            producer.send("SEND b {15}\r\n\(value(i))\r\n")
            #expect(consumer.read() == "MSG b 15\r\n\(value(i))\r\n")
        }
        #expect(loop.state.engine.payloads.count > 0, "the values that passed left their storage for reuse")
        holder.send("NACK 1\r\nRECV a ACK\r\n")
        #expect(holder.read() == "MSG a 17 2\r\nheld-000000-bytes\r\n")
        for i in 300..<400 {
            consumer.send("RECV b ACK\r\n")
            producer.send("SEND b {15}\r\n\(value(i))\r\n")
            #expect(consumer.read() == "MSG b 15 \(i - 299)\r\n\(value(i))\r\n")
            consumer.send("ACK \(i - 299)\r\n")
        }
        holder.send("ACK 2\r\n")
        #expect(sender.read() == "OK\r\n")
        #expect(producer.read() == String(repeating: "OK\r\n", count: 400))
    }

    /// Buffered values are copied into the channel's ring; a value given
    /// back to a buffer keeps its bytes too.
    @Test func aBufferedValueHeldThenGivenBackKeepsItsBytes() {
        let loop = Loop()
        let holder = loop.connect(), producer = loop.connect(), consumer = loop.connect()
        producer.send("MAKE a CAP 4\r\nSEND a {14}\r\nkept-in-buffer\r\n")
        holder.send("RECV a ACK\r\n")
        #expect(holder.read() == "MSG a 14 1\r\nkept-in-buffer\r\n")
        for i in 0..<100 {
            consumer.send("RECV b\r\n")
            producer.send("SEND b {15}\r\n\(value(i))\r\n")
            #expect(consumer.read() == "MSG b 15\r\n\(value(i))\r\n")
        }
        holder.send("NACK 1\r\nRECV a\r\n")
        #expect(holder.read() == "MSG a 14\r\nkept-in-buffer\r\n")
    }

    /// A receiver whose socket takes nothing: its replies wait in its
    /// output while many more values pass between others, then arrive as sent.
    @Test func aSlowReceiverGetsEveryValueAsSent() {
        let loop = Loop()
        let slow = loop.connect(), producer = loop.connect(), consumer = loop.connect()
        slow.socketRoom = 0
        for i in 0..<20 {
            slow.send("RECV s\r\n")
            producer.send("SEND s {15}\r\n\(value(i))\r\n")
        }
        for i in 20..<320 {
            consumer.send("RECV b\r\n")
            producer.send("SEND b {15}\r\n\(value(i))\r\n")
            #expect(consumer.read() == "MSG b 15\r\n\(value(i))\r\n")
        }
        slow.socketRoom = .max
        let expected = (0..<20).map { "MSG s 15\r\n\(value($0))\r\n" }.joined()
        #expect(slow.read() == expected)
        #expect(producer.read() == String(repeating: "OK\r\n", count: 320))
    }

    /// Big values are not pooled, small ones are, and both pass intact
    /// between one another.
    @Test func bigAndSmallValuesMixed() {
        let loop = Loop()
        let producer = loop.connect(), consumer = loop.connect()
        for size in [10, 5000, 10, 4096, 4097, 1, 0, 70_000, 16] {
            let payload = String(repeating: Character(UnicodeScalar(UInt8(97 + size % 26))), count: size)
            consumer.send("RECV c\r\n")
            producer.send("SEND c {\(size)}\r\n\(payload)\r\n")
            #expect(consumer.read() == "MSG c \(size)\r\n\(payload)\r\n")
        }
        #expect(producer.read() == String(repeating: "OK\r\n", count: 9))
    }
}
