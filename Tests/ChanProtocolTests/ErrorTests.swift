import ChanProtocol
import Testing

/// Every parse error. Each bad request is followed by a PING to show the connection stays usable.
@Suite struct ErrorTests {
    @Test func unknownVerb() {
        expectTranscript(
            "FOO\r\nPING\r\n",
            [.invalid(code: .unknown, text: "unknown command FOO", closeAfter: false), .ping])
        expectTranscript("PING\tnow\r\nSENDjobs x\r\nPINGS\r\nPIN\r\nPING\r\n",
                         [err(.unknown), err(.unknown), err(.unknown), err(.unknown), .ping])
    }

    @Test(arguments: [
        "SEND", "SEND jobs", "SEND jobs ", "THROW jobs", "RECV", "RECV ", "CLOSE", "STAT", "MAKE",
        "RECV jobs TIMEOUT", "MAKE jobs CAP", "MAKE jobs PREFER", "SELECT 0", "SELECT 0 NOWAIT",
    ])
    func missingArgument(request: String) {
        expectTranscript("\(request)\r\nPING\r\n", [err(.syntax), .ping])
    }

    @Test(arguments: [
        "PING x", "QUIT now", "INFO x", "HELLO 1", "CHANNELS a b", "CHANNELS a TOP 3 x", "CHANNELS a b 3",
        "CHANNELS a TOP", "CLOSE a b", "STAT a b",
        "RECV a NOWAIT x", "RECV a TIMEOUT 5 NOWAIT", "RECV a NOWAIT NOWAIT", "RECV a FOREVER", "RECV a b",
        "MAKE a CAP 1 CAP 2", "MAKE a PREFER SENDER PREFER NONE", "MAKE a PREFER LIFO", "MAKE a SIZE 3", "MAKE a 3",
    ])
    func extraOrUnknownArgument(request: String) {
        expectTranscript("\(request)\r\nPING\r\n", [err(.syntax), .ping])
    }

    @Test(arguments: [
        "RECV a TIMEOUT abc", "RECV a TIMEOUT -1", "RECV a TIMEOUT +1", "RECV a TIMEOUT 1.5", "RECV a TIMEOUT 5ms",
        "RECV a TIMEOUT 99999999999999999999", "MAKE a CAP x", "MAKE a CAP -3", "MAKE a CAP 99999999999999999999",
        "CHANNELS TOP x", "CHANNELS a TOP -1", "CHANNELS TOP 99999999999999999999",
    ])
    func badNumber(request: String) {
        expectTranscript("\(request)\r\nPING\r\n", [err(.syntax), .ping])
    }

    @Test func numberAboveItsLimit() {
        expectTranscript(
            "RECV a TIMEOUT 2147483648\r\nMAKE a CAP 1000001\r\nMAKE a CAP 1000000\r\nCHANNELS TOP 1001\r\n",
            [err(.limit), err(.limit), .make(channel: "a", capacity: 1_000_000, preference: nil, durable: false), err(.limit)])
        expectTranscript(
            "MAKE a CAP 101\r\nMAKE a CAP 100\r\n",
            [err(.limit), .make(channel: "a", capacity: 100, preference: nil, durable: false)], limits: small)
    }

    @Test(arguments: [
        bytes(String(repeating: "n", count: 256)),
        [0x01], bytes("a\u{7F}"), [0x61, 0x80], [0xFF, 0x61], bytes("a\tb"), bytes("a\rb"), [0x00],
        bytes("é"),
    ])
    func badName(name: [UInt8]) {
        for request in ["RECV ", "CLOSE ", "STAT ", "MAKE ", "CHANNELS "] {
            expectTranscript(bytes(request) + name + bytes("\r\nPING\r\n"), [err(.badName), .ping])
        }
        expectTranscript(bytes("SEND ") + name + bytes(" x\r\nPING\r\n"), [err(.badName), .ping])
        // The counted payload of a refused SEND is still skipped.
        expectTranscript(bytes("THROW ") + name + bytes(" {6}\r\nPING\r\n\r\nPING\r\n"), [err(.badName), .ping])
    }

    @Test func lineTooLongIsDiscardedAndAnswered() {
        let long = "SEND jobs " + String(repeating: "x", count: 15)  // 25 bytes, maxLine is 24
        expectTranscript("\(long)\r\nPING\r\n\(long)\nPING\n", [err(.tooLong), .ping, err(.tooLong), .ping], limits: small)
        expectTranscript(
            "RECV " + String(repeating: "a", count: 300) + "\r\nPING\r\n",
            [.invalid(code: .tooLong, text: "line too long", closeAfter: false), .ping], limits: small)
        // A long run of CRs is not a line end.
        expectTranscript(String(repeating: "\r", count: 40) + "\nPING\r\n", [err(.tooLong), .ping], limits: small)
    }

    @Test func payloadTooBigIsAnsweredAndSkipped() {
        expectTranscript("SEND jobs {9}\r\nPING\r\nxyz\r\nPING\r\n", [err(.tooBig), .ping], limits: small)
        expectTranscript(
            "SEND jobs {2000}\r\n" + String(repeating: "PING\n", count: 400) + "\nPING\n",
            [err(.tooBig), .ping], limits: small)
    }

    @Test func payloadCountBeyondIntClosesTheConnection() {
        expectTranscript("SEND jobs {99999999999999999999}\r\nPING\r\n", [err(.tooBig, closing: true)])
    }

    @Test func countedPayloadWithoutLineEndClosesTheConnection() {
        expectTranscript("SEND jobs {3}\r\nabcPING\r\nPING\r\n", [err(.syntax, closing: true)])
        expectTranscript("SEND jobs {3}\r\nabc\rPING\r\n", [err(.syntax, closing: true)])
        expectTranscript(
            "SEND jobs {3}\r\nabc\r\r\n",
            [.invalid(code: .syntax, text: "payload not followed by a line end", closeAfter: true)])
        // Also after a skipped payload, and inside a SELECT (reported at once).
        expectTranscript("SEND jobs {9}\r\n123456789XPING\r\n", [err(.tooBig), err(.syntax, closing: true)], limits: small)
        expectTranscript("SELECT 2\r\nSEND a {1}\r\nxy\r\nRECV b\r\n", [err(.syntax, closing: true)])
    }

    @Test func nothingIsParsedAfterAFatalError() {
        var parser = CommandParser()
        parser.append(contentsOf: bytes("PING\r\nSEND a {1}\r\nxyPING\r\nPING\r\n"))
        #expect(parser.next() == .ping)
        #expect(parser.next() == .invalid(code: .syntax, text: "payload not followed by a line end", closeAfter: true))
        #expect(parser.next() == nil)
        #expect(parser.bufferedByteCount == 0)
        parser.append(contentsOf: bytes("PING\r\n"))
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.next() == nil)
    }

    // MARK: SELECT

    @Test func selectOverTheLimitConsumesItsCaseLines() {
        expectTranscript(
            "SELECT 4\r\nRECV a\r\nSEND b {6}\r\nPING\r\n\r\nFOO\r\nRECV c\r\nPING\r\n",
            [.invalid(code: .limit, text: "SELECT 4 cases above max_select_cases 3", closeAfter: false), .ping], limits: small)
    }

    @Test func badCaseLineGivesOneErrorAfterAllCaseLines() {
        expectTranscript("SELECT 3\r\nRECV a\r\nPING\r\nRECV b\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 2\r\nFOO\r\nSELECT 1\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 1\r\nRECV a TIMEOUT 5\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 1\r\nRECV a NOWAIT\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 2\r\nSEND a\r\nRECV b\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 2\r\nRECV a\r\nRECV b\u{7F}\r\nPING\r\n", [err(.badName), .ping])
    }

    @Test func firstCaseErrorWinsAndLaterPayloadsAreSkipped() {
        expectTranscript(
            "SELECT 3\r\nRECV bad\u{7F}\r\nRECV a TIMEOUT 5\r\nSEND c {20}\r\nPING\r\nPING\r\nPING\r\nXY\r\nPING\r\n",
            [err(.badName), .ping], limits: small)
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nSEND b {6}\r\nPING\r\n\r\nRECV c d\r\nPING\r\n",
            [err(.syntax), .ping], limits: small)
    }

    @Test func caseWithPayloadTooBig() {
        expectTranscript("SELECT 2\r\nSEND a {9}\r\n123456789\r\nRECV b\r\nPING\r\n", [err(.tooBig), .ping], limits: small)
    }

    /// One SELECT's payloads together fit in maxPayload (8 here), inline or counted.
    @Test func selectPayloadsTogetherTooBig() {
        expectTranscript("SELECT 2\r\nSEND a {5}\r\n12345\r\nSEND b {4}\r\n1234\r\nPING\r\n", [err(.tooBig), .ping], limits: small)
        expectTranscript("SELECT 2\r\nSEND a 12345\r\nSEND b 1234\r\nPING\r\n", [err(.tooBig), .ping], limits: small)
        expectTranscript(
            "SELECT 2\r\nSEND a {4}\r\n1234\r\nSEND b 1234\r\nPING\r\n",
            [.select(cases: [.send(channel: "a", payload: bytes("1234"), isException: false),
                             .send(channel: "b", payload: bytes("1234"), isException: false)], wait: .forever, hold: false), .ping],
            limits: small)
    }

    @Test func caseLineTooLong() {
        let long = "SEND a " + String(repeating: "x", count: 30)
        expectTranscript("SELECT 2\r\n\(long)\r\nRECV b\r\nPING\r\n", [err(.tooLong), .ping], limits: small)
        expectTranscript("SELECT 2\r\nRECV b\r\n\(long)\nPING\r\n", [err(.tooLong), .ping], limits: small)
    }

    @Test func badSelectHeaderTailIsReportedAfterTheCaseLines() {
        expectTranscript("SELECT 2 TIMEOUT x\r\nRECV a\r\nRECV b\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 1 LATER\r\nRECV a\r\nPING\r\n", [err(.syntax), .ping])
        expectTranscript("SELECT 1 TIMEOUT 2147483648\r\nRECV a\r\nPING\r\n", [err(.limit), .ping])
    }

    @Test(arguments: ["SELECT x", "SELECT", "SELECT -1", "SELECT 2x", "SELECT 99999999999999999999", "SELECT {2}"])
    func selectWithoutACaseCountClosesTheConnection(header: String) {
        expectTranscript(
            "\(header)\r\nRECV a\r\nPING\r\n",
            [.invalid(code: .syntax, text: "bad SELECT case count", closeAfter: true)])
    }
}
