import ChanSession
import Testing

/// Rule 22's consumer in-process: ACK and NACK written behind a blocked
/// request are read ahead and acted on at once; everything else waits its
/// turn, and the input mark still bounds what is read.
@Suite struct ReadAheadTests {
    /// A consumer with three `RECV ... ACK` pipelined acknowledges each value
    /// while its next RECV waits; the producer's SENDs are answered one by
    /// one, at each ACK. The same however the consumer's bytes are split.
    @Test func acknowledgementsBehindABlockedReceive() {
        let requests = ["RECV w ACK\r\nRECV w ACK\r\nRECV w ACK\r\nPING\r\n", "ACK 1\r\n", "ACK 2\r\n", "ACK 3\r\nPING\r\n"]
        for chunk in [1, 2, 3, 5, 7, .max] {
            let loop = Loop()
            let consumer = loop.connect(), producer = loop.connect()
            consumer.chunk = chunk
            consumer.send(requests[0])
            producer.send("SEND w a\r\nSEND w b\r\nSEND w c\r\nPING\r\n")
            #expect(consumer.read() == "MSG w 1 1\r\na\r\n", "in reads of \(chunk) bytes")
            #expect(producer.read() == "", "a is held")
            consumer.send(requests[1])
            #expect(producer.read() == "OK\r\n", "in reads of \(chunk) bytes")
            #expect(consumer.read() == "MSG w 1 2\r\nb\r\n")
            consumer.send(requests[2])
            #expect(producer.read() == "OK\r\n")
            #expect(consumer.read() == "MSG w 1 3\r\nc\r\nPONG\r\n")
            consumer.send(requests[3])
            #expect(producer.read() == "OK\r\nPONG\r\n")
            #expect(consumer.read() == "PONG\r\n")
        }
    }

    /// A NACK read ahead gives the value back at once (the sender waits again
    /// at the head), while the PING and STAT around it wait their turn.
    @Test func giveBackBehindABlockedReceive() {
        let loop = Loop()
        let consumer = loop.connect(), producer = loop.connect(), other = loop.connect()
        producer.send("SEND w a\r\n")
        consumer.send("RECV w ACK\r\nRECV x\r\n")
        #expect(consumer.read() == "MSG w 1 1\r\na\r\n")
        consumer.send("PING\r\nNACK 1\r\nSTAT w\r\n")
        #expect(consumer.read() == "", "PING and STAT wait behind RECV x")
        other.send("STAT w\r\nRECV w ACK\r\n")
        let stat = other.read()
        #expect(stat.hasPrefix("STAT w ") && stat.contains(" senders=1 ") && stat.contains(" held=0 "), "the sender waits again")
        #expect(stat.hasSuffix("MSG w 1 1\r\na\r\n"), "given back and delivered again")
        #expect(producer.read() == "")
        other.send("ACK 1\r\nSEND x y\r\n")
        #expect(producer.read() == "OK\r\n")
        let replies = consumer.read()
        #expect(replies.hasPrefix("MSG x 1\r\ny\r\nPONG\r\nSTAT w "))
        #expect(replies.contains(" received=1 "))
    }

    /// An unknown tag behind a blocked request is not acted on early: its
    /// `ERR NOTHELD` comes in order, after the blocked request's reply.
    @Test func unknownTagWaitsItsTurn() {
        let loop = Loop()
        let consumer = loop.connect(), producer = loop.connect()
        consumer.send("RECV w ACK\r\n")
        producer.send("SEND w a\r\n")
        #expect(consumer.read() == "MSG w 1 1\r\na\r\n")
        consumer.send("RECV w ACK\r\nACK 7\r\nPING\r\n")
        #expect(consumer.read() == "")
        #expect(!consumer.isClosed)
        #expect(producer.read() == "")
        let second = loop.connect()
        second.send("SEND w b\r\n")
        #expect(consumer.read() == "MSG w 1 2\r\nb\r\nERR NOTHELD 7\r\n")
        #expect(consumer.isClosed)
        // Both values came back with the connection's end: a and b wait again.
        let taker = loop.connect()
        taker.send("RECV w\r\nRECV w\r\n")
        #expect(taker.read() == "MSG w 1\r\na\r\nMSG w 1\r\nb\r\n")
        #expect(producer.read() == "OK\r\n")
        #expect(second.read() == "OK\r\n")
    }

    /// Read-ahead stops at the input mark: an ACK written after more than
    /// that waits until the blocked request completes, then runs in order.
    @Test func readAheadStopsAtTheInputMark() {
        let loop = Loop { $0.inputHighWater = 32 }
        let consumer = loop.connect(), producer = loop.connect(), other = loop.connect()
        producer.send("SEND w a\r\n")
        consumer.send("RECV w ACK\r\nRECV x\r\n")
        #expect(consumer.read() == "MSG w 1 1\r\na\r\n")
        consumer.send(String(repeating: "PING\r\n", count: 8) + "ACK 1\r\n")
        #expect(!consumer.isRead, "paused at the mark")
        #expect(producer.read() == "", "the ACK past the mark is not read yet")
        other.send("SEND x y\r\n")
        #expect(consumer.read() == "MSG x 1\r\ny\r\n" + String(repeating: "PONG\r\n", count: 8))
        #expect(producer.read() == "OK\r\n")
        #expect(consumer.isRead)
    }

    /// A holder that vanishes while paused gives every value back (rule 23),
    /// to the front of its channel, in order; a rendezvous sender waits
    /// again and is answered at the next holder's ACK.
    @Test func vanishedHolderGivesItsValuesBack() {
        let loop = Loop { $0.inputHighWater = 32 }
        let producer = loop.connect(), sender = loop.connect(), holder = loop.connect()
        producer.send("MAKE q CAP 2\r\nSEND q 1\r\nSEND q 2\r\n")
        #expect(producer.read() == "OK\r\nOK\r\nOK\r\n")
        sender.send("SEND r 3\r\n")
        holder.send("RECV q ACK\r\nRECV q ACK\r\nRECV r ACK\r\n" + String(repeating: "RECV x\r\n", count: 10))
        #expect(holder.read() == "MSG q 1 1\r\n1\r\nMSG q 1 2\r\n2\r\nMSG r 1 3\r\n3\r\n")
        #expect(!holder.isRead)
        holder.vanish()
        #expect(holder.isClosed)
        let other = loop.connect()
        other.send("RECV q ACK\r\nRECV q ACK\r\nRECV r ACK\r\nINFO\r\n")
        let replies = other.read()
        #expect(replies.hasPrefix("MSG q 1 1\r\n1\r\nMSG q 1 2\r\n2\r\nMSG r 1 3\r\n3\r\nINFO "))
        #expect(replies.contains(" redelivered=3 ") && replies.contains(" values_lost=0 "))
        #expect(sender.read() == "")
        other.send("ACK 3\r\n")
        #expect(sender.read() == "OK\r\n", "at the ACK of 3")
    }
}
