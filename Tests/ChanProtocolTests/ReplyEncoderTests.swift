import ChanProtocol
import Testing

/// Exact reply bytes.
@Suite struct ReplyEncoderTests {
    private func encoded(_ write: (inout [UInt8]) -> Void) -> String {
        var out: [UInt8] = []
        write(&out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func simpleReplies() {
        #expect(encoded { ReplyEncoder.ok(into: &$0) } == "OK\r\n")
        #expect(encoded { ReplyEncoder.pong(into: &$0) } == "PONG\r\n")
        #expect(encoded { ReplyEncoder.bye(into: &$0) } == "BYE\r\n")
        #expect(encoded { ReplyEncoder.timeout(into: &$0) } == "TIMEOUT\r\n")
        #expect(encoded { ReplyEncoder.closed(channel: "jobs", into: &$0) } == "CLOSED jobs\r\n")
    }

    @Test func messages() {
        #expect(encoded { ReplyEncoder.message(channel: "jobs", payload: bytes("hello"), isException: false, into: &$0) }
            == "MSG jobs 5\r\nhello\r\n")
        #expect(encoded { ReplyEncoder.message(channel: "jobs", payload: bytes("a\r\nb c"), isException: true, into: &$0) }
            == "EXC jobs 6\r\na\r\nb c\r\n")
        #expect(encoded { ReplyEncoder.message(channel: "q", payload: [], isException: false, into: &$0) }
            == "MSG q 0\r\n\r\n")
        var out: [UInt8] = []
        let payload = [UInt8](repeating: 0, count: 1_048_576)
        ReplyEncoder.message(channel: "big", payload: payload, isException: false, into: &out)
        #expect(Array(out.prefix(17)) == bytes("MSG big 1048576\r\n"))
        #expect(out.count == 17 + 1_048_576 + 2)
        #expect(Array(out.suffix(2)) == [0x0D, 0x0A])
    }

    @Test func heldMessageTagsEveryNumberOfDigits() {
        for (tag, text) in [(1, "1"), (9, "9"), (10, "10"), (99, "99"), (100, "100"), (1_000_000_000, "1000000000"),
                            (Int.max, "9223372036854775807")] {
            #expect(encoded { ReplyEncoder.message(channel: "jobs", payload: bytes("hi"), isException: false, tag: tag, into: &$0) }
                == "MSG jobs 2 \(text)\r\nhi\r\n")
        }
    }

    /// The header line is built in a buffer sized by the name: the longest valid name, and one past 1 KiB.
    @Test func messageHeadersOfLongNames() {
        for length in [255, 2_000] {
            let name = String(repeating: "n", count: length)
            #expect(encoded { ReplyEncoder.message(channel: name, payload: bytes("hi"), isException: true, tag: Int.max, into: &$0) }
                == "EXC \(name) 2 9223372036854775807\r\nhi\r\n")
        }
    }

    @Test func numbersAreTheirDecimalText() {
        var powers = (0..<19).map { (0..<$0).reduce(1) { p, _ in p * 10 } }
        powers += powers.map { $0 - 1 } + powers.map { $0 + 1 } + [Int.max]
        for n in Array(0...1_000) + powers {
            #expect(encoded { ReplyEncoder.selected(n, into: &$0) } == "SELECTED \(n) ")
        }
    }

    @Test func selectedPrefixesTheCaseReply() {
        #expect(encoded {
            ReplyEncoder.selected(1, into: &$0)
            ReplyEncoder.message(channel: "jobs", payload: bytes("hello"), isException: false, into: &$0)
        } == "SELECTED 1 MSG jobs 5\r\nhello\r\n")
        #expect(encoded { ReplyEncoder.selected(0, into: &$0); ReplyEncoder.ok(into: &$0) } == "SELECTED 0 OK\r\n")
        #expect(encoded { ReplyEncoder.selected(2, into: &$0); ReplyEncoder.closed(channel: "jobs", into: &$0) }
            == "SELECTED 2 CLOSED jobs\r\n")
        #expect(encoded {
            ReplyEncoder.selected(0, into: &$0)
            ReplyEncoder.error(.closed, "channel jobs is closed", into: &$0)
        } == "SELECTED 0 ERR CLOSED channel jobs is closed\r\n")
        #expect(encoded { ReplyEncoder.selected(255, into: &$0); ReplyEncoder.ok(into: &$0) } == "SELECTED 255 OK\r\n")
    }

    @Test func errors() {
        #expect(encoded { ReplyEncoder.error(.tooLong, "line too long", into: &$0) } == "ERR TOOLONG line too long\r\n")
        let codes: [(ErrorCode, String)] = [
            (.unknown, "UNKNOWN"), (.syntax, "SYNTAX"), (.badName, "BADNAME"), (.tooBig, "TOOBIG"),
            (.tooLong, "TOOLONG"), (.closed, "CLOSED"), (.exists, "EXISTS"), (.limit, "LIMIT"),
        ]
        for (code, spelled) in codes {
            #expect(encoded { ReplyEncoder.error(code, "x y", into: &$0) } == "ERR \(spelled) x y\r\n")
        }
    }

    @Test func statFieldsInOrder() {
        #expect(encoded {
            ReplyEncoder.stat(channel: "jobs", fields: [("cap", "10"), ("len", "3"), ("prefer", "none")], into: &$0)
        } == "STAT jobs cap=10 len=3 prefer=none\r\n")
        #expect(encoded { ReplyEncoder.stat(channel: "jobs", fields: [], into: &$0) } == "STAT jobs\r\n")
    }

    @Test func genericLine() {
        #expect(encoded { ReplyEncoder.line("HELLO chand 1 maxline=65536", into: &$0) } == "HELLO chand 1 maxline=65536\r\n")
    }

    @Test func repliesAppend() {
        var out = bytes("PONG\r\n")
        ReplyEncoder.ok(into: &out)
        ReplyEncoder.error(.exists, "channel jobs exists", into: &out)
        #expect(out == bytes("PONG\r\nOK\r\nERR EXISTS channel jobs exists\r\n"))
    }

    /// A reply sequence for one pipelined request batch, as a client would read it.
    @Test func transcriptOfReplies() {
        var out: [UInt8] = []
        ReplyEncoder.pong(into: &out)
        ReplyEncoder.ok(into: &out)
        ReplyEncoder.message(channel: "jobs", payload: [0x00, 0x0A], isException: false, into: &out)
        ReplyEncoder.timeout(into: &out)
        ReplyEncoder.bye(into: &out)
        #expect(out == bytes("PONG\r\nOK\r\nMSG jobs 2\r\n") + [0x00, 0x0A] + bytes("\r\nTIMEOUT\r\nBYE\r\n"))
    }
}
