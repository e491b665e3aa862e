import ChanSession
import Testing

/// A connection's SELECTs are built in arrays it reuses, and their case
/// arrays go back to its parser: one SELECT after another, waiting or not,
/// of more or fewer cases, read ahead or not, each is answered for its own
/// cases.
@Suite struct SelectStorageTests {
    @Test func selectsOneAfterAnotherWaitingOrNot() {
        let loop = Loop()
        let consumer = loop.connect(), producer = loop.connect()
        consumer.send("SELECT 3\r\nRECV a\r\nRECV b\r\nRECV c\r\n")
        #expect(consumer.read() == "", "nothing to receive: it waits on a, b and c")
        producer.send("SEND c one\r\n")
        #expect(consumer.read() == "SELECTED 2 MSG c 3\r\none\r\n")
        #expect(producer.read() == "OK\r\n")
        consumer.send("SELECT 1 NOWAIT\r\nRECV a\r\nSELECT 2\r\nSEND d x\r\nRECV b\r\n")
        #expect(consumer.read() == "TIMEOUT\r\n", "the second waits on d and b")
        producer.send("RECV d\r\n")
        #expect(producer.read() == "MSG d 1\r\nx\r\n")
        #expect(consumer.read() == "SELECTED 0 OK\r\n")
        producer.send("SEND a two\r\n")
        consumer.send("SELECT 4\r\nRECV e\r\nRECV f\r\nRECV g\r\nRECV a\r\n")
        #expect(consumer.read() == "SELECTED 3 MSG a 3\r\ntwo\r\n")
        #expect(producer.read() == "OK\r\n")
    }

    /// Refused at the channel limit, a SELECT makes none of its channels;
    /// the next one, within the limit, is answered for its own.
    @Test func selectRefusedAtTheChannelLimitThenOneThatFits() {
        let loop = Loop { $0.maxChannels = 2 }
        let c = loop.connect()
        c.send("SELECT 3 NOWAIT\r\nRECV a\r\nRECV b\r\nRECV c\r\nSELECT 2 NOWAIT\r\nRECV a\r\nSEND b x\r\nSTAT c\r\n")
        #expect(c.read().hasPrefix("ERR LIMIT too many channels (max 2)\r\nTIMEOUT\r\nSTAT c cap=0 len=0"))
    }

    /// SELECTs with ACK pipelined behind a waiting one are read ahead (for
    /// the ACKs among them) and run in order once it is answered.
    @Test func pipelinedSelectsWithAckReadAhead() {
        let loop = Loop()
        let consumer = loop.connect(), producer = loop.connect()
        consumer.send("SELECT 2 ACK\r\nRECV a\r\nRECV b\r\nSELECT 2 ACK\r\nRECV b\r\nRECV c\r\nSELECT 1 ACK\r\nRECV a\r\n")
        producer.send("SEND b one\r\nSEND c two\r\nSEND a three\r\nPING\r\n")
        #expect(consumer.read() == "SELECTED 1 MSG b 3 1\r\none\r\n")
        consumer.send("ACK 1\r\n")
        #expect(consumer.read() == "SELECTED 1 MSG c 3 2\r\ntwo\r\n")
        consumer.send("ACK 2\r\n")
        #expect(consumer.read() == "SELECTED 0 MSG a 5 3\r\nthree\r\n")
        consumer.send("ACK 3\r\nPING\r\n")
        #expect(consumer.read() == "PONG\r\n")
        #expect(producer.read() == "OK\r\nOK\r\nOK\r\nPONG\r\n")
    }

    /// The channels of a SELECT are kept for the next one of the same names,
    /// but never past their life in the table: a channel deleted and made
    /// again under the same name is the new one.
    @Test func aRepeatedSelectFindsAChannelMadeAgain() {
        let loop = Loop()
        let consumer = loop.connect(), other = loop.connect()
        consumer.send("SELECT 2 NOWAIT\r\nRECV a\r\nRECV b\r\n")
        #expect(consumer.read() == "TIMEOUT\r\n")
        other.send("DELETE a\r\nMAKE a CAP 1\r\nSEND a x\r\n")
        #expect(other.read() == "OK\r\nOK\r\nOK\r\n")
        consumer.send("SELECT 2 NOWAIT\r\nRECV a\r\nRECV b\r\n")
        #expect(consumer.read() == "SELECTED 0 MSG a 1\r\nx\r\n")
        other.send("SEND b y\r\n")
        consumer.send("SELECT 2\r\nRECV a\r\nRECV b\r\n")
        #expect(consumer.read() == "SELECTED 1 MSG b 1\r\ny\r\n")
        #expect(other.read() == "OK\r\n")
    }
}
