import ChanProtocol
import Testing

/// `ACK <tag>` and `NACK <tag>` in their plainest spelling are parsed at once; every other spelling goes
/// through the full grammar. Both must mean the same, however the input is split (each transcript is
/// replayed in chunks of every size and split at every point), and a bad tag gets the same reply.
@Suite struct TagLineTests {
    private let badTag = Command.invalid(
        code: .syntax, text: "ACK and NACK take one tag, a positive number", closeAfter: true)

    @Test func tagsInEverySpelling() {
        expectTranscript(
            "ACK 5\r\nack 6\nAcK 7\r\nNACK 8\r\nnack 9\nnAcK 10\r\nACK  11\r\n ACK 12\r\nACK 13 \r\nNACK\u{20}\u{20}14\n"
                + "ACK 0015\r\nACK 999999999999999999\r\nACK 1000000000000000000\r\nNACK 9223372036854775807\r\nPING\r\n",
            [.acknowledge(tag: 5), .acknowledge(tag: 6), .acknowledge(tag: 7), .giveBack(tag: 8),
             .giveBack(tag: 9), .giveBack(tag: 10), .acknowledge(tag: 11), .acknowledge(tag: 12),
             .acknowledge(tag: 13), .giveBack(tag: 14), .acknowledge(tag: 15),
             .acknowledge(tag: 999_999_999_999_999_999), .acknowledge(tag: 1_000_000_000_000_000_000),
             .giveBack(tag: Int.max), .ping])
    }

    @Test func tagsBetweenOtherRequests() {
        expectTranscript(
            "RECV q ACK\r\nACK 1\r\nRECV q ACK\r\nNACK 2\r\nSEND q hi\r\nACK 3\r\n",
            [recv("q", hold: true), .acknowledge(tag: 1), recv("q", hold: true), .giveBack(tag: 2),
             send("q", "hi"), .acknowledge(tag: 3)])
    }

    /// Each bad tag closes the connection with the one reply the full grammar gives.
    @Test func badTagsGetTheSameReply() {
        let lines = [
            "ACK 0", "ACK 00", "NACK 0", "ACK -1", "ACK +1", "ACK 5x", "ACK x5", "ACK 1 2", "NACK 3 ACK",
            "ACK 1.5", "ACK 9223372036854775808", "ACK 99999999999999999999999", "ACK", "NACK ",
            "ACK \u{7F}", "ACK 1\u{0}",
        ]
        for line in lines {
            expectTranscript("\(line)\r\nPING\r\n", [badTag])
            expectTranscript("\(line)\nACK 1\n", [badTag])
        }
        expectTranscript("ACK 5\r\r\nPING\r\n", [badTag])  // a CR inside the line
    }

    @Test func otherVerbsAreNotTags() {
        expectTranscript(
            "ACK5\r\nACKS 5\r\nNACK5\r\nNACKS 5\r\nACK\t5\r\nBACK 5\r\nPING\r\n",
            [err(.unknown), err(.unknown), err(.unknown), err(.unknown), err(.unknown), err(.unknown), .ping])
    }

    /// The line limit holds for tag lines as for any other: 24 bytes pass, 25 do not.
    @Test func tagLinesAtTheLineLimit() {
        expectTranscript(
            "ACK 00000000000000000005\r\nACK 000000000000000006\r\nACK 000000000000000000007\r\nPING\r\n",
            [.acknowledge(tag: 5), .acknowledge(tag: 6), err(.tooLong), .ping], limits: small)
    }

    /// Inside a SELECT a tag line is a bad case line, reported after the last one.
    @Test func aTagLineInsideASelectIsACaseLine() {
        expectTranscript(
            "SELECT 2\r\nACK 5\r\nRECV a\r\nACK 6\r\n",
            [err(.syntax), .acknowledge(tag: 6)])
    }
}
