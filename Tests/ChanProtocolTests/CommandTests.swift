import ChanProtocol
import Testing

/// Every command form of protocol v1, each transcript replayed at every chunking.
@Suite struct CommandTests {
    @Test func commandsWithoutPayload() {
        expectTranscript(
            "PING\r\nQUIT\r\nINFO\r\nHELLO\r\nCHANNELS\r\nCHANNELS jobs.\r\nCLOSE jobs\r\nSTAT jobs\r\n",
            [.ping, .quit, .info, .hello, .channels(prefix: nil, top: nil), .channels(prefix: "jobs.", top: nil),
             .close(channel: "jobs"), .stat(channel: "jobs")])
    }

    @Test func channelsByNameOrBusiest() {
        expectTranscript(
            "CHANNELS TOP 10\r\nCHANNELS jobs. TOP 0\r\nchannels top 1000\r\nCHANNELS TOP\r\nCHANNELS top TOP 2\r\n",
            [.channels(prefix: nil, top: 10), .channels(prefix: "jobs.", top: 0), .channels(prefix: nil, top: 1000),
             .channels(prefix: "TOP", top: nil), .channels(prefix: "top", top: 2)])
    }

    @Test func sendAndThrow() {
        expectTranscript(
            "SEND jobs hello\r\nTHROW jobs boom\r\n",
            [send("jobs", "hello"), exception("jobs", "boom")])
    }

    @Test func receiveWaitLimits() {
        expectTranscript(
            """
            RECV jobs\r
            RECV jobs TIMEOUT 250\r
            RECV jobs NOWAIT\r
            RECV jobs TIMEOUT 0\r
            RECV jobs TIMEOUT 2147483647\r
            RECV jobs TIMEOUT 007\r

            """,
            [recv("jobs"), recv("jobs", .milliseconds(250)), recv("jobs", .nowait), recv("jobs", .nowait),
             recv("jobs", .milliseconds(2_147_483_647)), recv("jobs", .milliseconds(7))])
    }

    @Test func makeOptionsInAnyOrder() {
        expectTranscript(
            """
            MAKE a\r
            MAKE b CAP 10\r
            MAKE c PREFER SENDER CAP 0\r
            MAKE d PREFER RECEIVER\r
            MAKE e CAP 1000000 PREFER NONE\r

            """,
            [.make(channel: "a", capacity: nil, preference: nil, durable: false),
             .make(channel: "b", capacity: 10, preference: nil, durable: false),
             .make(channel: "c", capacity: 0, preference: .sender, durable: false),
             .make(channel: "d", capacity: nil, preference: .receiver, durable: false),
             .make(channel: "e", capacity: 1_000_000, preference: Preference.none, durable: false)])
    }

    @Test func selectWithInlineAndCountedCases() {
        expectTranscript(
            "SELECT 3 TIMEOUT 100\r\nRECV a\r\nSEND b hi there\r\nTHROW c {3}\r\nx\ny\r\nPING\r\n",
            [.select(cases: [.receive(channel: "a"),
                             .send(channel: "b", payload: bytes("hi there"), isException: false),
                             .send(channel: "c", payload: bytes("x\ny"), isException: true)],
                     wait: .milliseconds(100), hold: false),
             .ping])
    }

    @Test func selectWaitLimitsAndBlankLinesBetweenCases() {
        expectTranscript(
            "SELECT 1\r\nRECV a\r\nselect 2 nowait\r\n\r\nrecv a\r\n   \r\nsend a {0}\r\n\r\nSELECT 1 TIMEOUT 0\nRECV b\n",
            [.select(cases: [.receive(channel: "a")], wait: .forever, hold: false),
             .select(cases: [.receive(channel: "a"), .send(channel: "a", payload: [], isException: false)],
                     wait: .nowait, hold: false),
             .select(cases: [.receive(channel: "b")], wait: .nowait, hold: false)])
    }

    @Test func selectUpToTheCaseLimit() {
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nRECV b\r\nRECV c\r\n",
            [.select(cases: [.receive(channel: "a"), .receive(channel: "b"), .receive(channel: "c")], wait: .forever, hold: false)],
            limits: small)
    }

    @Test func verbsAndKeywordsIgnoreCaseButNamesDoNot() {
        expectTranscript(
            """
            ping\r
            PiNg\r
            send Jobs x\r
            recv jobs timeout 5\r
            Recv JOBS NoWait\r
            make q cap 2 prefer receiver\r
            mAkE Q Prefer Sender\r
            channels J\r
            close jobS\r
            stat JoBs\r
            info\r
            hello\r
            quit\r

            """,
            [.ping, .ping, send("Jobs", "x"), recv("jobs", .milliseconds(5)), recv("JOBS", .nowait),
             .make(channel: "q", capacity: 2, preference: .receiver, durable: false),
             .make(channel: "Q", capacity: nil, preference: .sender, durable: false),
             .channels(prefix: "J", top: nil), .close(channel: "jobS"), .stat(channel: "JoBs"), .info, .hello, .quit])
    }

    @Test func lfAloneEndsALineToo() {
        expectTranscript("PING\nSEND a b\nSEND a {1}\nz\nRECV a\r\n", [.ping, send("a", "b"), send("a", "z"), recv("a")])
    }

    @Test func runsOfSpacesSeparateTokens() {
        expectTranscript(
            "   PING   \r\nRECV   jobs    TIMEOUT   5   \r\n  MAKE  m   CAP  3  \nSEND   jobs x\r\n",
            [.ping, recv("jobs", .milliseconds(5)), .make(channel: "m", capacity: 3, preference: nil, durable: false), send("jobs", "x")])
    }

    @Test func blankLinesAreIgnored() {
        expectTranscript("\r\n\n   \r\n \n\r\nPING\r\n\n\n", [.ping])
    }

    @Test func inlinePayloadIsEverythingAfterOneSpace() {
        expectTranscript(
            "SEND jobs  two  spaces \r\nSEND jobs a\rb\r\nSEND jobs \t\nTHROW  jobs   x\r\n",
            [send("jobs", " two  spaces "), send("jobs", "a\rb"), send("jobs", "\t"), exception("jobs", "  x")])
    }

    @Test func inlinePayloadMayHoldAnyByteButLF() {
        expectTranscript(
            bytes("SEND jobs ") + [0x00, 0x80, 0xFF, 0x7F, 0x0D, 0x20] + bytes("\r\n"),
            [send("jobs", [0x00, 0x80, 0xFF, 0x7F, 0x0D, 0x20])])
    }

    @Test func onlyAnExactCountIsACountedPayload() {
        expectTranscript(
            "SEND jobs {}\r\nSEND jobs {5} \r\nSEND jobs  {2}\r\nSEND jobs {x}\r\nSEND jobs {-1}\r\nSEND jobs {1\r\n",
            [send("jobs", "{}"), send("jobs", "{5} "), send("jobs", " {2}"), send("jobs", "{x}"),
             send("jobs", "{-1}"), send("jobs", "{1")])
    }

    @Test func countedPayloadHoldsRawBytes() {
        let binary: [UInt8] = [0x0D, 0x0A, 0x00, 0x0A, 0xFF, 0x20]
        expectTranscript(
            bytes("SEND jobs {6}\r\n") + binary + bytes("\r\n")
                + bytes("THROW jobs {2}\n\n\n\n")
                + bytes("SEND jobs {0}\r\n\r\n")
                + bytes("SEND jobs {006}\r\nPING\r\n\n")
                + bytes("PING\r\n"),
            [send("jobs", binary), .send(channel: "jobs", payload: [0x0A, 0x0A], isException: true),
             send("jobs", []), send("jobs", "PING\r\n"), .ping])
    }

    @Test func countedPayloadUpToTheLimit() {
        expectTranscript("SEND jobs {8}\r\n12345678\r\n", [send("jobs", "12345678")], limits: small)
    }

    @Test func longestLegalNameAndLine() {
        let name = String(repeating: "n", count: 255)
        expectTranscript("RECV \(name)\r\nCHANNELS \(name)\r\n", [recv(name), .channels(prefix: name, top: nil)])
        // maxLine 24: exactly 24 bytes, then the line end (CRLF or LF) is fine.
        let line = "SEND jobs " + String(repeating: "x", count: 14)
        expectTranscript(
            "\(line)\r\n\(line)\n",
            [send("jobs", String(repeating: "x", count: 14)), send("jobs", String(repeating: "x", count: 14))],
            limits: small)
    }

    @Test func nameBytesArePrintableASCII() {
        let name = "!~a.b/c:d{}\"#$%&'()*+,-09;<=>?@AZ[\\]^_`az|"
        expectTranscript("STAT \(name)\r\n", [.stat(channel: name)])
    }
}
