import ChanProtocol
import Testing

/// Small limits so that framing edge cases fit in short transcripts.
let small = ProtocolLimits(maxLine: 24, maxPayload: 8, maxSelectCases: 3, maxCapacity: 100)

/// The bytes of a transcript written as text (`\u{7F}` and the like give single control bytes).
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// An expected parse error; its text is not compared (any non-empty text matches).
func err(_ code: ErrorCode, closing: Bool = false) -> Command {
    .invalid(code: code, text: "", closeAfter: closing)
}

func send(_ channel: String, _ payload: String) -> Command {
    .send(channel: channel, payload: bytes(payload), isException: false)
}

func send(_ channel: String, _ payload: [UInt8]) -> Command {
    .send(channel: channel, payload: payload, isException: false)
}

func exception(_ channel: String, _ payload: String) -> Command {
    .send(channel: channel, payload: bytes(payload), isException: true)
}

func recv(_ channel: String, _ wait: WaitLimit = .forever, hold: Bool = false) -> Command {
    .receive(channel: channel, wait: wait, hold: hold)
}

/// Feeds the chunks to a fresh parser, draining `next()` after every append. A SELECT's case array is given
/// back to the parser (as the server does), which must not change any later command.
func parse<S: Sequence>(_ chunks: S, limits: ProtocolLimits) -> [Command] where S.Element == ArraySlice<UInt8> {
    var parser = CommandParser(limits: limits)
    var commands: [Command] = []
    for chunk in chunks {
        parser.append(contentsOf: chunk)
        while let command = parser.next() {
            guard case .select(let cases, let wait, let hold) = command else {
                commands.append(command)
                continue
            }
            commands.append(.select(cases: cases.map { $0 }, wait: wait, hold: hold))  // a copy of the cases
            parser.recycle(cases)
        }
    }
    return commands
}

/// The swift-nio technique: feeds `input` whole, in chunks of every size 1...count, and split in two at every
/// point. Every way must give the same commands; returns them.
func replay(_ input: [UInt8], limits: ProtocolLimits, sourceLocation: SourceLocation = #_sourceLocation) -> [Command] {
    let whole = parse([input[...]], limits: limits)
    for size in 1...max(input.count, 1) {
        let chunks = stride(from: 0, to: input.count, by: size).lazy.map { input[$0..<min($0 + size, input.count)] }
        let commands = parse(chunks, limits: limits)
        guard commands == whole else {
            Issue.record("chunks of \(size) bytes gave \(commands), whole input \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    for split in 0...input.count {
        let commands = parse([input[..<split], input[split...]], limits: limits)
        guard commands == whole else {
            Issue.record("split at \(split) gave \(commands), whole input \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    return whole
}

/// Replays `input` (see `replay`) and expects exactly `expected`. Error texts are compared only where
/// `expected` spells one out.
func expectTranscript(
    _ input: [UInt8], _ expected: [Command], limits: ProtocolLimits = .init(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var commands = replay(input, limits: limits, sourceLocation: sourceLocation)
    for (index, command) in commands.enumerated() where index < expected.count {
        if case .invalid(let code, let text, let closeAfter) = command, !text.isEmpty,
           case .invalid(_, "", _) = expected[index] {
            commands[index] = .invalid(code: code, text: "", closeAfter: closeAfter)
        }
    }
    #expect(commands == expected, sourceLocation: sourceLocation)
}

func expectTranscript(
    _ input: String, _ expected: [Command], limits: ProtocolLimits = .init(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    expectTranscript(bytes(input), expected, limits: limits, sourceLocation: sourceLocation)
}

/// A seeded generator (SplitMix64), so random tests are repeatable.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
