import ChanProtocol
import Testing

/// SELECT case lines as they usually come (`RECV <chan>`, the whole SELECT in one read) are parsed in one
/// pass; every other spelling goes through the full grammar. Both must mean the same, however the input is
/// split (each transcript is replayed in chunks of every size).
@Suite struct SelectCaseLineTests {
    private func receiving(_ names: [String], wait: WaitLimit = .forever, hold: Bool = false) -> Command {
        .select(cases: names.map { .receive(channel: $0) }, wait: wait, hold: hold)
    }

    @Test func receiveCasesInEverySpelling() {
        expectTranscript(
            "SELECT 8\r\nRECV a\r\nrecv b\r\nRECV  c\r\n RECV d\r\nRECV e \r\nrEcV f\nRECV g\r\n\r\nRECV h\r\nPING\r\n",
            [receiving(["a", "b", "c", "d", "e", "f", "g", "h"]), .ping])
    }

    @Test func eightReceiveCasesWithAckAndTimeout() {
        let names = (0..<8).map { "r0fanin.\($0)" }
        expectTranscript(
            "SELECT 8 ACK TIMEOUT 50\r\n" + names.map { "RECV \($0)\r\n" }.joined() + "select 8 ack\n"
                + names.map { "recv \($0)\n" }.joined(),
            [receiving(names, wait: .milliseconds(50), hold: true), receiving(names, hold: true)])
    }

    @Test func receiveCasesAroundSendCases() {
        expectTranscript(
            "SELECT 4\r\nRECV a\r\nSEND b {2}\r\nhi\r\nRECV c\r\nTHROW d x y\r\nPING\r\n",
            [.select(cases: [.receive(channel: "a"), .send(channel: "b", payload: bytes("hi"), isException: false),
                             .receive(channel: "c"), .send(channel: "d", payload: bytes("x y"), isException: true)],
                     wait: .forever, hold: false), .ping])
    }

    /// A bad line in the middle: one error for the SELECT, naming that case, after its last case line.
    @Test func badReceiveCaseInTheMiddle() {
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nRECV b\u{7F}\r\nRECV c\r\nPING\r\n",
            [.invalid(code: .badName, text: "case 1: a channel name is 1-255 bytes 0x21-0x7E", closeAfter: false), .ping])
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nRECV b c\r\nRECV bad\u{7F}\r\nPING\r\n",
            [.invalid(code: .syntax, text: "case 1: unexpected argument", closeAfter: false), .ping])
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nRECV\tb\r\nRECV c\r\nPING\r\n",
            [.invalid(code: .syntax, text: "case 1: a case line is SEND, THROW or RECV <chan>", closeAfter: false), .ping])
        expectTranscript(
            "SELECT 2\r\nRECV \r\nRECV c\r\nPING\r\n",
            [.invalid(code: .syntax, text: "case 0: a case line is SEND, THROW or RECV <chan>", closeAfter: false), .ping])
    }

    /// Only the CR right before the LF ends a line; any other is part of the name, which it makes bad.
    @Test func carriageReturnsInsideACaseLine() {
        expectTranscript("SELECT 1\r\nRECV a\rb\r\nPING\r\n", [err(.badName), .ping])
        expectTranscript("SELECT 1\r\nRECV a\r\r\nPING\r\n", [err(.badName), .ping])
        expectTranscript("SELECT 2\nRECV a\nRECV b\r\nPING\n", [receiving(["a", "b"]), .ping])
    }

    /// maxLine is 24 here: `RECV ` and a 19-byte name fit, a 20-byte name does not.
    @Test func receiveCaseLineAtAndOverTheLineLimit() {
        let fits = String(repeating: "n", count: 19), over = String(repeating: "n", count: 20)
        expectTranscript("SELECT 2\r\nRECV \(fits)\r\nRECV b\r\nPING\r\n", [receiving([fits, "b"]), .ping], limits: small)
        expectTranscript("SELECT 2\r\nRECV \(over)\r\nRECV b\r\nPING\r\n", [err(.tooLong), .ping], limits: small)
        expectTranscript("SELECT 2\r\nRECV a\r\nRECV \(over)\nPING\r\n", [err(.tooLong), .ping], limits: small)
    }

    @Test func channelNameLengthLimitInACase() {
        let longest = String(repeating: "n", count: 255)
        expectTranscript("SELECT 2\r\nRECV \(longest)\r\nRECV \(longest)\r\n", [receiving([longest, longest])])
        expectTranscript("SELECT 1\r\nRECV \(longest)n\r\nPING\r\n", [err(.badName), .ping])
    }

    /// Case arrays given back to the parser are reused: SELECTs of fewer, more, and very many cases, and
    /// with payloads, one after another, each keep exactly their own cases.
    @Test func selectsOneAfterAnotherKeepTheirOwnCases() {
        let many = (0..<20).map { "m\($0)" }
        expectTranscript(
            "SELECT 3\r\nRECV a\r\nRECV b\r\nRECV c\r\nSELECT 1\r\nRECV d\r\nSELECT 20\r\n"
                + many.map { "RECV \($0)\r\n" }.joined()
                + "SELECT 2\r\nSEND e {1}\r\nx\r\nRECV f\r\nSELECT 2\r\nRECV g\r\nRECV h\u{7F}\r\nSELECT 1\r\nRECV i\r\n",
            [receiving(["a", "b", "c"]), receiving(["d"]), receiving(many),
             .select(cases: [.send(channel: "e", payload: bytes("x"), isException: false), .receive(channel: "f")],
                     wait: .forever, hold: false),
             err(.badName), receiving(["i"])])
    }

    /// A client pipelining SELECTs: several are parsed before any is given back, then all are given back,
    /// and the next ones are parsed into their storage, each with exactly its own cases.
    @Test func selectsParsedAheadAndGivenBackTogether() {
        var parser = CommandParser()
        var held: [[CaseRequest]] = []
        parser.append(contentsOf: bytes(String(repeating: "SELECT 2\r\nRECV a\r\nRECV b\r\n", count: 10)))
        while let command = parser.next() {
            #expect(command == receiving(["a", "b"]))
            if case .select(let cases, _, _) = command { held.append(cases) }
        }
        #expect(held.count == 10)
        while let cases = held.popLast() { parser.recycle(cases) }
        parser.append(contentsOf: bytes(String(repeating: "SELECT 3 NOWAIT\r\nRECV c\r\nSEND d x\r\nRECV e\r\n", count: 12)))
        var count = 0
        while let command = parser.next() {
            count += 1
            #expect(command == .select(cases: [.receive(channel: "c"), .send(channel: "d", payload: bytes("x"), isException: false),
                                               .receive(channel: "e")], wait: .nowait, hold: false))
        }
        #expect(count == 12)
    }
}
