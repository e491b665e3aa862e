import ChanProtocol
import Testing

/// The requests of acknowledged delivery, channel lifecycle, durable channels and authentication, each
/// transcript replayed at every chunking.
@Suite struct HeldAndLifecycleGrammarTests {
    @Test func receiveWithAckInAnyOrder() {
        expectTranscript(
            "RECV q ACK\r\nRECV q TIMEOUT 5 ACK\r\nrecv q ack nowait\r\nRECV q ACK TIMEOUT 0\r\n",
            [recv("q", hold: true), recv("q", .milliseconds(5), hold: true), recv("q", .nowait, hold: true),
             recv("q", .nowait, hold: true)])
    }

    @Test func receiveOptionsAtMostOnce() {
        expectTranscript(
            "RECV q ACK ACK\r\nRECV q NOWAIT TIMEOUT 5\r\nRECV q TIMEOUT 5 NOWAIT\r\nRECV q NOWAIT NOWAIT\r\nRECV q ACKS\r\nPING\r\n",
            [err(.syntax), err(.syntax), err(.syntax), err(.syntax), err(.syntax), .ping])
    }

    @Test func selectWithAck() {
        expectTranscript(
            "SELECT 2 ACK TIMEOUT 9\r\nRECV a\r\nSEND b x\r\nSELECT 1 ack\r\nRECV c\r\n",
            [.select(cases: [.receive(channel: "a"), .send(channel: "b", payload: bytes("x"), isException: false)],
                     wait: .milliseconds(9), hold: true),
             .select(cases: [.receive(channel: "c")], wait: .forever, hold: true)])
    }

    @Test func acknowledgeAndGiveBack() {
        expectTranscript(
            "ACK 1\r\nnack 42\r\nACK 007\r\n",
            [.acknowledge(tag: 1), .giveBack(tag: 42), .acknowledge(tag: 7)])
    }

    @Test func aMalformedTagClosesTheConnection() {
        for line in ["ACK", "ACK 0", "ACK -1", "ACK x", "NACK 1 2", "ACK 99999999999999999999999"] {
            expectTranscript("\(line)\r\nPING\r\n", [err(.syntax, closing: true)])
        }
    }

    @Test func openAndDelete() {
        expectTranscript(
            "OPEN jobs\r\nDELETE jobs\r\nOPEN\r\nDELETE a b\r\nOPEN bad\u{7F}\r\n",
            [.open(channel: "jobs"), .delete(channel: "jobs"), err(.syntax), err(.syntax), err(.badName)])
    }

    @Test func makeDurable() {
        expectTranscript(
            "MAKE q CAP 10 DURABLE\r\nMAKE r DURABLE PREFER SENDER CAP 1\r\nMAKE s DURABLE\r\nMAKE t CAP 0 DURABLE\r\nMAKE u CAP 2 DURABLE DURABLE\r\n",
            [.make(channel: "q", capacity: 10, preference: nil, durable: true),
             .make(channel: "r", capacity: 1, preference: .sender, durable: true),
             err(.syntax), err(.syntax), err(.syntax)])
    }

    @Test func authTakesANameAndASecret() {
        expectTranscript(
            "AUTH alice s3cr3t\r\nAUTH alice\r\nAUTH alice a b\r\n",
            [.auth(user: "alice", secret: Secret(bytes("s3cr3t"))), err(.syntax), err(.syntax)])
    }

    @Test func aSecretNeverShowsInADescription() {
        let command = Command.auth(user: "alice", secret: Secret(bytes("hunter2")))
        #expect(!"\(command)".contains("hunter2"))
        #expect(!String(reflecting: command).contains("hunter2"))
    }
}

@Test func aSecretNeverShowsInADump() {
    var dumped = ""
    dump(Command.auth(user: "alice", secret: Secret(bytes("hunter2"))), to: &dumped)
    #expect(!dumped.contains("hunter2") && !dumped.contains("104"))  // neither the text nor its first byte
}
