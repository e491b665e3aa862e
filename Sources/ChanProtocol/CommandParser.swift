#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Incremental parser for protocol v1 requests; one per connection.
///
/// Bytes go in with `append`, commands come out of `next()`; the parser never touches a socket. It holds only
/// what was appended and not yet consumed, and needs at most `maxLine` + 2 bytes to finish a command line and
/// `maxPayload` + 2 to finish a counted payload. Overlong lines and refused payloads are dropped, not kept.
/// The result never depends on how the input was split into appends.
public struct CommandParser {
    let limits: ProtocolLimits
    /// Received bytes; `buffer[start...]` is not consumed yet.
    @usableFromInline internal private(set) var buffer: [UInt8] = []
    @usableFromInline internal private(set) var start = 0
    /// How many bytes from `start` are known to hold no LF, so the search for a line end resumes there.
    private var scanned = 0
    var state = State.line
    /// The SELECT whose case lines are being read, if `select.isOpen`. Not optional: its fields are updated
    /// in place, never copied as a whole.
    var select = SelectInProgress()
    /// The channel names last parsed, kept as Strings for the next request that names them again.
    var recentNames = RecentNames()
    /// Empty storage for the next SELECTs' cases, given back by `recycle`: one array per SELECT that ran
    /// while others had been parsed after it (a client pipelining SELECTs), at most `keptSpares`.
    var spareCases: [[CaseRequest]] = []
    /// Where a counted payload's array comes from: the storage of values delivered before, when it has some.
    let payloads: PayloadPool

    /// A fully consumed buffer keeps its storage up to this size; a larger one (after a big payload) is freed,
    /// so that thousands of idle connections do not each hold the high-water mark of their past.
    private static let keptCapacity = 4096
    /// A recycled case array is kept if it has room for at most this many cases, for the same reason, and
    /// at most this many of them.
    private static let keptCases = 16
    private static let keptSpares = 8

    enum State {
        /// Reading a command line, or a case line while `select` is set.
        case line
        /// Dropping the rest of an overlong line through its LF.
        case discardLine
        /// Waiting for `count` payload bytes and the line end after them. `send` is nil after a skipped payload
        /// (count 0 then: only the line end is left).
        case payload(count: Int, send: PendingSend?)
        /// Dropping `remaining` bytes of a refused counted payload; its line end follows.
        case skipPayload(remaining: Int)
        /// After a fatal error: nothing more is parsed.
        case closed
    }

    /// A SEND/THROW (or SELECT case) whose counted payload is being read.
    struct PendingSend {
        let channel: String
        let isException: Bool
    }

    /// A SELECT whose case lines are still being read.
    struct SelectInProgress {
        /// Case lines still to finish, the current one included; 0 when no SELECT is open.
        var remaining = 0
        /// Case lines in all (the header's n).
        var count = 0
        var wait = WaitLimit.forever
        /// ACK was given: its RECV cases hold their value.
        var hold = false
        var cases: [CaseRequest] = []
        /// Payload bytes of its SEND/THROW cases so far: together at most maxPayload, so one SELECT
        /// holds no more memory than one SEND.
        var payloadBytes = 0
        /// The first error in the header or a case line; replaces the SELECT after its last case line.
        var error: LineError?

        var isOpen: Bool { remaining > 0 }
    }

    /// `payloads`: shared with the engine that delivers the values, which gives their storage back to it
    /// (nil: a pool of the parser's own).
    public init(limits: ProtocolLimits = .init(), payloads: PayloadPool? = nil) {
        self.limits = limits
        self.payloads = payloads ?? PayloadPool()
    }

    /// Bytes received but not yet consumed by `next()`.
    @inlinable public var bufferedByteCount: Int { buffer.count - start }

    /// Appends received bytes (copies them into the internal buffer).
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(contentsOf: bytes)
    }

    /// Appends received bytes (copies them into the internal buffer).
    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if case .closed = state { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Gives back the case array of a SELECT from `next()` once it has run, so that the next SELECT's cases are
    /// parsed into its storage instead of a new array. Its storage is reused only if this is its last reference.
    public mutating func recycle(_ cases: consuming [CaseRequest]) {
        guard cases.capacity <= Self.keptCases, spareCases.count < Self.keptSpares else { return }
        var cases = cases
        cases.removeAll(keepingCapacity: true)  // here, so that a SEND case's payload is not kept till the next SELECT
        spareCases.append(cases)
    }

    /// The next complete command, or nil when more bytes are needed. Call it only when ready to run a command:
    /// unconsumed bytes stay buffered.
    public mutating func next() -> Command? {
        // Lines are read in place through a pointer (no slice of the array to retain per token); `bytes` keeps
        // the storage alive even if a fatal error empties `buffer` meanwhile.
        let bytes = buffer
        return bytes.withUnsafeBufferPointer { input in next(in: input) }
    }

    private mutating func next(in buffer: UnsafeBufferPointer<UInt8>) -> Command? {
        while true {
            switch state {
            case .closed:
                return nil

            case .line:
                if let lf = findLineFeed(in: buffer) {
                    if !select.isOpen {
                        if let command = takeTagLine(through: lf, in: buffer) { return command }
                        if let command = takeLine(through: lf, in: buffer) { return command }
                    } else if let command = takeCaseLines(from: lf, in: buffer) {
                        return command
                    }
                } else if bufferedByteCount > limits.maxLine + 1 {  // + 1: room for the CR of a CRLF
                    consume(to: buffer.count)
                    state = .discardLine
                    if let command = fail(.lineTooLong) { return command }
                } else {
                    return nil
                }

            case .discardLine:
                guard let lf = lineFeed(in: buffer, from: start) else {
                    consume(to: buffer.count)
                    return nil
                }
                consume(to: lf + 1)
                state = .line
                if let command = finishCaseLine() { return command }

            case .payload(let count, let send):
                let end = start + count
                guard end < buffer.count else { return nil }
                let lineEndLength = buffer[end] == Wire.cr ? 2 : 1
                guard end + lineEndLength <= buffer.count else { return nil }
                guard buffer[end + lineEndLength - 1] == Wire.lf else { return fail(.unterminatedPayload) }
                // The one copy the message keeps.
                let payload = send == nil ? [] : payloads.payload(copying: UnsafeBufferPointer(rebasing: buffer[start..<end]))
                consume(to: end + lineEndLength)
                state = .line
                if let command = finishPayload(payload, for: send) { return command }

            case .skipPayload(let remaining):
                let skipped = min(remaining, bufferedByteCount)
                consume(to: start + skipped)
                guard skipped == remaining else {
                    state = .skipPayload(remaining: remaining - skipped)
                    return nil
                }
                state = .payload(count: 0, send: nil)
            }
        }
    }

    /// Consumes the line ending at `lf` and parses it as a command or a SELECT case line; blank lines are ignored.
    private mutating func takeLine(through lf: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Command? {
        let end = lf > start && buffer[lf - 1] == Wire.cr ? lf - 1 : lf
        let line = Token(rebasing: buffer[start..<end])
        consume(to: lf + 1)
        if line.count > limits.maxLine {
            return fail(.lineTooLong) ?? finishCaseLine()
        }
        var tokens = Tokens(line)
        guard let verb = tokens.next() else { return nil }
        return select.isOpen ? parseCase(verb, &tokens) : parseRequest(verb, &tokens)
    }

    /// The open SELECT's case lines from the one ending at `lf`, in one pass while they are buffered (one read
    /// usually holds a whole SELECT): one line-end search per line, no state-machine step between lines.
    /// Returns the SELECT (or its error) after its last case line; nil when more bytes are needed or a case
    /// line's counted payload is next.
    private mutating func takeCaseLines(from lf: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Command? {
        var lf = lf
        while true {
            if takeReceiveCase(through: lf, in: buffer) {
                if let command = finishCaseLine() { return command }
            } else {
                if let command = takeLine(through: lf, in: buffer) { return command }
                guard case .line = state else { return nil }
            }
            guard let next = findLineFeed(in: buffer) else { return nil }
            lf = next
        }
    }

    /// Consumes the line ending at `lf` and adds its case if it is `RECV <chan>` in the plainest spelling
    /// (one space after the verb, then a known or valid name up to the line end) in a SELECT with no error so
    /// far. Any other line is left for `takeLine` and the full grammar, which gives it the same meaning.
    private mutating func takeReceiveCase(through lf: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        let end = lf > start && buffer[lf - 1] == Wire.cr ? lf - 1 : lf
        let nameStart = start + MemoryLayout.size(ofValue: Wire.recvWord) + 1  // after `RECV `
        guard nameStart < end, end - start <= limits.maxLine, select.error == nil else { return false }
        let base = buffer.baseAddress!
        // Four bytes in one load: the line holds at least five.
        let verb = UInt32(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt32.self))
        guard verb & Wire.uppercaseMask32 == Wire.recvWord, base[nameStart - 1] == Wire.space else { return false }
        // The rest of the line as one name: a valid name holds no space, so it is the line's one argument.
        guard let channel = validName(Token(start: base + nameStart, count: end - nameStart)) else { return false }
        select.cases.append(.receive(channel: channel))
        consume(to: lf + 1)
        return true
    }

    /// Consumes the line ending at `lf` and returns its command if it is `ACK <tag>` or `NACK <tag>` in the
    /// plainest spelling (one space after the verb, then 1 to 18 digits up to the line end, not all zeros).
    /// Any other line is left, unconsumed, for `takeLine` and the full grammar, which gives it the same
    /// meaning: other spellings, a bad or overlong tag, extra tokens.
    @inline(__always)
    private mutating func takeTagLine(through lf: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Command? {
        let end = lf > start && buffer[lf - 1] == Wire.cr ? lf - 1 : lf
        guard end - start >= 5, end - start <= limits.maxLine else { return nil }  // at least `ACK 1`
        let base = buffer.baseAddress!
        let verb = UInt32(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt32.self))
        let isAcknowledge: Bool
        var i: Int
        if verb & Wire.ackSpaceMask == Wire.ackSpaceWord {
            (isAcknowledge, i) = (true, start + 4)
        } else if verb & Wire.uppercaseMask32 == Wire.nackWord && base[start + 4] == Wire.space {
            (isAcknowledge, i) = (false, start + 5)
        } else {
            return nil
        }
        // At most 18 digits: no overflow; longer tags take the full grammar.
        guard i < end, end - i <= 18 else { return nil }
        var tag = 0
        while i < end {
            let digit = base[i] &- Wire.digits.lowerBound
            guard digit < 10 else { return nil }
            tag = tag &* 10 &+ Int(digit)
            i += 1
        }
        guard tag > 0 else { return nil }
        consume(to: lf + 1)
        return isAcknowledge ? .acknowledge(tag: tag) : .giveBack(tag: tag)
    }

    /// The command (or, inside a SELECT, the case) a counted payload completes.
    private mutating func finishPayload(_ payload: [UInt8], for send: PendingSend?) -> Command? {
        guard select.isOpen else {
            guard let send else { return nil }  // a skipped payload was answered before
            return .send(channel: send.channel, payload: payload, isException: send.isException)
        }
        if let send {
            select.cases.append(.send(channel: send.channel, payload: payload, isException: send.isException))
        }
        return finishCaseLine()
    }

    /// Counts a finished SELECT case line; after the last one, returns the SELECT or its error.
    mutating func finishCaseLine() -> Command? {
        guard select.isOpen else { return nil }
        select.remaining -= 1
        guard select.remaining == 0 else { return nil }
        var cases: [CaseRequest] = []
        swap(&cases, &select.cases)
        guard let error = select.error.take() else { return .select(cases: cases, wait: select.wait, hold: select.hold) }
        return error.command
    }

    /// Reports a request error: at once, or for a SELECT after its last case line (the first error wins).
    /// A fatal error is reported at once and closes the parser.
    mutating func fail(_ error: LineError) -> Command? {
        if error.closeAfter {
            state = .closed
            select = SelectInProgress()
            buffer = []
            consume(to: 0)
        } else if select.isOpen {
            if select.error == nil { select.error = error }
            return nil
        }
        return error.command
    }

    /// Index of the next LF in the unconsumed bytes, resuming where the last search stopped.
    private mutating func findLineFeed(in buffer: UnsafeBufferPointer<UInt8>) -> Int? {
        if let lf = lineFeed(in: buffer, from: start + scanned) { return lf }
        scanned = buffer.count - start
        return nil
    }

    /// Index of the first LF in `buffer[from...]`.
    private func lineFeed(in buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < buffer.count, let base = buffer.baseAddress,
              let found = memchr(base + from, Int32(Wire.lf), buffer.count - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    private mutating func consume(to index: Int) {
        start = index
        scanned = 0
    }

    /// Drops consumed bytes: all of them once everything is consumed, else once they are at least half the
    /// buffer, so each byte is moved O(1) times.
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.keptCapacity)
            start = 0
        } else if start >= buffer.count - start {
            buffer.removeSubrange(..<start)
            start = 0
        }
    }
}
