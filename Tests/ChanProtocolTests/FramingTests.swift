import ChanProtocol
import Testing

/// Buffering, backpressure, bounded memory and robustness against arbitrary input.
@Suite struct FramingTests {
    @Test func unconsumedBytesStayBuffered() {
        var parser = CommandParser()
        parser.append(contentsOf: bytes("PING\r\nRECV jobs\r\nRECV jo"))
        #expect(parser.bufferedByteCount == 24)
        #expect(parser.next() == .ping)
        #expect(parser.bufferedByteCount == 18)
        #expect(parser.next() == recv("jobs"))
        #expect(parser.bufferedByteCount == 7)
        #expect(parser.next() == nil)
        #expect(parser.bufferedByteCount == 7)
        parser.append(contentsOf: bytes("bs\n"))
        #expect(parser.next() == recv("jobs"))
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.next() == nil)
    }

    @Test func appendsFromARawBuffer() {
        var parser = CommandParser()
        bytes("SEND jobs {3}\r\na\0b\r\n").withUnsafeBytes { parser.append($0) }
        #expect(parser.next() == send("jobs", [0x61, 0x00, 0x62]))
        #expect(parser.next() == nil)
    }

    @Test func overlongLineIsNeverBuffered() {
        let limits = ProtocolLimits()
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var parser = CommandParser(limits: limits)
        var commands: [Command] = []
        var mostBuffered = 0
        parser.append(contentsOf: bytes("SEND jobs "))
        for _ in 0..<(10 << 20) / chunk.count {  // 10 MiB without a LF
            parser.append(contentsOf: chunk)
            mostBuffered = max(mostBuffered, parser.bufferedByteCount)
            while let command = parser.next() { commands.append(command) }
        }
        parser.append(contentsOf: bytes("\r\nPING\r\n"))
        while let command = parser.next() { commands.append(command) }
        #expect(mostBuffered <= limits.maxLine + 1 + chunk.count)
        #expect(commands == [.invalid(code: .tooLong, text: "line too long", closeAfter: false), .ping])
    }

    @Test func refusedPayloadIsDroppedAsItArrives() {
        let chunk = [UInt8](repeating: UInt8(ascii: "\n"), count: 4096)
        var parser = CommandParser()
        var commands: [Command] = []
        var mostBuffered = 0
        parser.append(contentsOf: bytes("SEND jobs {10485760}\r\n"))
        for _ in 0..<(10 << 20) / chunk.count {
            parser.append(contentsOf: chunk)
            while let command = parser.next() { commands.append(command) }
            mostBuffered = max(mostBuffered, parser.bufferedByteCount)
        }
        parser.append(contentsOf: bytes("\r\nPING\r\n"))
        while let command = parser.next() { commands.append(command) }
        #expect(mostBuffered == 0)
        #expect(commands == [.invalid(code: .tooBig, text: "payload too big", closeAfter: false), .ping])
    }

    /// Byte-by-byte feeding of the longest line and a large payload stays linear (the LF search resumes
    /// where it stopped), and the maxLine boundary is exact.
    @Test func longInputFedByteByByte() {
        func feedByteByByte(_ input: [UInt8]) -> [Command] {
            var parser = CommandParser()
            var commands: [Command] = []
            for byte in input {
                parser.append(contentsOf: CollectionOfOne(byte))
                while let command = parser.next() { commands.append(command) }
            }
            return commands
        }
        let longest = [UInt8](repeating: UInt8(ascii: "x"), count: 65536 - 10)
        #expect(feedByteByByte(bytes("SEND jobs ") + longest + bytes("\r\n")) == [send("jobs", longest)])
        #expect(feedByteByByte(bytes("SEND jobs x") + longest + bytes("\r\nPING\n")) == 
            [.invalid(code: .tooLong, text: "line too long", closeAfter: false), .ping])
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        #expect(feedByteByByte(bytes("SEND jobs {200000}\r\n") + payload + bytes("\r\n")) == [send("jobs", payload)])
    }

    @Test func randomBytesOnlyGiveCommandsOrErrors() {
        let limits = ProtocolLimits(maxLine: 512, maxPayload: 64, maxSelectCases: 4, maxCapacity: 10)
        var random = SeededGenerator(state: 2024)
        let input = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var parser = CommandParser(limits: limits)
        var commands: [Command] = []
        var mostBuffered = 0
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + Int.random(in: 1...8192, using: &random))
            parser.append(contentsOf: input[offset..<end])
            offset = end
            while let command = parser.next() { commands.append(command) }
            mostBuffered = max(mostBuffered, parser.bufferedByteCount)
        }
        #expect(commands.count > 10_000)
        #expect(violations(commands, limits: limits).isEmpty)
        #expect(mostBuffered <= limits.maxLine + limits.maxPayload + 2)
    }

    /// Random sessions built from protocol tokens reach every parser state; each must parse the same whole
    /// and in random chunks.
    @Test func tokenSoupParsesTheSameInAnyChunks() {
        let limits = ProtocolLimits(maxLine: 40, maxPayload: 8, maxSelectCases: 3, maxCapacity: 10)
        var random = SeededGenerator(state: 7)
        var kinds: Set<String> = []
        for _ in 0..<600 {
            let session = tokenSoup(lines: 40, using: &random)
            let whole = parse([session[...]], limits: limits)
            var chunks: [ArraySlice<UInt8>] = []
            var offset = 0
            while offset < session.count {
                let end = min(session.count, offset + Int.random(in: 1...16, using: &random))
                chunks.append(session[offset..<end])
                offset = end
            }
            #expect(parse(chunks, limits: limits) == whole)
            #expect(violations(whole, limits: limits).isEmpty)
            for command in whole { kinds.insert(kind(command)) }
        }
        // The soup did reach the interesting outcomes.
        for expected in ["send", "receive", "select", "make", "SYNTAX", "SYNTAX!", "BADNAME", "TOOBIG", "TOOLONG", "LIMIT"] {
            #expect(kinds.contains(expected), "never saw \(expected)")
        }
    }
}

/// A short name for what a command is ("SYNTAX!" for a fatal SYNTAX error).
private func kind(_ command: Command) -> String {
    switch command {
    case .invalid(let code, _, let closeAfter): code.rawValue + (closeAfter ? "!" : "")
    case .send: "send"
    case .receive: "receive"
    case .select: "select"
    case .make: "make"
    default: "other"
    }
}

/// The commands that break what the parser promises: valid names, numbers within limits, parser error codes
/// only, nothing after a fatal error.
private func violations(_ commands: [Command], limits: ProtocolLimits) -> [Command] {
    func isName(_ name: String) -> Bool {
        (1...255).contains(name.utf8.count) && name.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
    func isWait(_ wait: WaitLimit) -> Bool {
        if case .milliseconds(let ms) = wait { return (1...Int(Int32.max)).contains(ms) }
        return true
    }
    let parserCodes: [ErrorCode] = [.unknown, .syntax, .badName, .tooBig, .tooLong, .limit]
    return commands.enumerated().filter { index, command in
        switch command {
        case .ping, .quit, .info, .hello:
            return false
        case .channels(let prefix, let top):
            return !(prefix.map(isName) ?? true) || (top ?? 0) > ProtocolLimits.maxListedChannels
        case .close(let name), .stat(let name), .open(let name), .delete(let name):
            return !isName(name)
        case .acknowledge(let tag), .giveBack(let tag):
            return tag <= 0
        case .auth(let user, let secret):
            return !isName(user) || secret.bytes.isEmpty
        case .send(let channel, let payload, _):
            return !isName(channel) || payload.count > max(limits.maxPayload, limits.maxLine)
        case .receive(let channel, let wait, _):
            return !isName(channel) || !isWait(wait)
        case .make(let channel, let capacity, _, let durable):
            return !isName(channel) || (capacity ?? 0) > limits.maxCapacity || durable && (capacity ?? 0) == 0
        case .select(let cases, let wait, _):
            return !(1...limits.maxSelectCases).contains(cases.count) || !isWait(wait) || cases.contains {
                switch $0 {
                case .receive(let channel): !isName(channel)
                case .send(let channel, let payload, _): !isName(channel) || payload.count > max(limits.maxPayload, limits.maxLine)
                }
            }
        case .invalid(let code, let text, let closeAfter):
            return !parserCodes.contains(code) || text.isEmpty || closeAfter && index != commands.count - 1
        }
    }.map(\.element)
}

/// Random request lines made of protocol tokens, spaces, line ends, counted payloads (of right and wrong
/// length) and the odd random byte.
private func tokenSoup(lines: Int, using random: inout SeededGenerator) -> [UInt8] {
    let verbs = ["PING", "quit", "INFO", "Hello", "CHANNELS", "SEND", "send", "THROW", "RECV", "recv", "SELECT",
                 "select", "MAKE", "CLOSE", "STAT", "FOO", "OPEN", "DELETE", "ACK", "nack", "AUTH"]
    let arguments = ["jobs", "a", "Jobs", "bad\u{7F}", String(repeating: "n", count: 30), "TIMEOUT", "timeout",
                     "NOWAIT", "ACK", "DURABLE", "CAP", "PREFER", "RECEIVER", "sender", "NONE", "0", "1", "2", "3", "5", "11",
                     "2147483648", "99999999999999999999", "x", "-1", "{3}", "{}"]
    let lineEnds = ["\r\n", "\n", "\n", "\r\n", "\r\r\n"]
    var out: [UInt8] = []
    for _ in 0..<lines {
        if Int.random(in: 0..<8, using: &random) == 0 {  // a SELECT with mostly good case lines
            let count = Int.random(in: 1...4, using: &random)
            out += bytes("SELECT \(count)\(Bool.random(using: &random) ? " NOWAIT" : "")\r\n")
            for _ in 0..<count {
                let caseLines = ["RECV a\r\n", "SEND b x y\r\n", "THROW c {2}\r\n\r\n\r\n", "recv Jobs\n", "RECV a b\n"]
                out += bytes(caseLines.randomElement(using: &random)!)
            }
            continue
        }
        out += bytes(verbs.randomElement(using: &random)!)
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            out += [UInt8](repeating: UInt8(ascii: " "), count: Int.random(in: 1...2, using: &random))
            out += bytes(arguments.randomElement(using: &random)!)
        }
        if Int.random(in: 0..<8, using: &random) == 0 {
            out.append(UInt8.random(in: 0...255, using: &random))
        }
        if Bool.random(using: &random) {  // a payload, counted or inline
            let count = Int.random(in: 0...12, using: &random)
            if Bool.random(using: &random) {
                out += bytes(" {\(count)}")
                out += bytes(lineEnds.randomElement(using: &random)!)
                out += (0..<count).map { _ in [UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x41, 0x20].randomElement(using: &random)! }
                if Int.random(in: 0..<20, using: &random) == 0 { out.append(0x42) }  // unterminated
            } else {
                out += bytes(" " + String(repeating: "p", count: count))
            }
        }
        out += bytes(lineEnds.randomElement(using: &random)!)
    }
    return out
}
