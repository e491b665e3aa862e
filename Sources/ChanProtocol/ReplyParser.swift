/// Incremental parser for protocol v1 replies; one per client connection.
///
/// Bytes go in with `append`, replies come out of `next()`; the parser never touches a socket and the result
/// never depends on how the input was split into appends. A line longer than `maxLineLength` (line end not
/// counted) or a payload above `maxPayload` is refused before it is buffered whole. Anything that breaks the
/// protocol is a `MalformedReply`, and every later `next()` gives the same error.
///
/// A reply line ends with CRLF (a bare LF is taken too); its words are separated by single spaces.
public struct ReplyParser {
    public let maxLineLength: Int
    public let maxPayload: Int
    /// The most CHANNEL lines one CHANNELS reply may announce (chand lists at most 1000).
    public static let maxListedChannels = 100_000

    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` known to hold no LF.
    private var scanned = 0
    private var state = State.line
    /// CHANNEL lines still due after a CHANNELS header.
    private var channelLinesLeft = 0

    private enum State {
        case line
        /// A message header was read; its payload and CRLF are due. `selected`: the case index it answers.
        case payload(channel: String, count: Int, isException: Bool, tag: Int?, selected: Int?)
        case failed(MalformedReply)
    }

    public init(maxLineLength: Int = 64 * 1024, maxPayload: Int = 1 << 30) {
        self.maxLineLength = maxLineLength
        self.maxPayload = maxPayload
    }

    public mutating func append<Bytes: Sequence<UInt8>>(contentsOf bytes: Bytes) {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes appended and not yet consumed.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether a reply has begun and not ended: bytes of it are buffered, or CHANNEL lines are still due.
    public var isInsideReply: Bool { bufferedByteCount > 0 || channelLinesLeft > 0 }

    /// The next whole reply, nil when more bytes are needed.
    public mutating func next() throws(MalformedReply) -> Reply? {
        do throws(MalformedReply) {
            defer { compact() }
            switch state {
            case .failed(let error):
                throw error
            case .payload:
                return try readPayload()
            case .line:
                guard let line = try nextLine() else { return nil }
                return try reply(line)
            }
        } catch {
            state = .failed(error)
            buffer = []
            start = 0
            throw error
        }
    }

    // MARK: Framing

    private mutating func nextLine() throws(MalformedReply) -> ArraySlice<UInt8>? {
        guard let lf = buffer[(start + scanned)...].firstIndex(of: Wire.lf) else {
            scanned = bufferedByteCount
            // One byte over the limit may be the CR of a CRLF.
            guard scanned <= maxLineLength + 1 else { throw MalformedReply("a reply line longer than \(maxLineLength) bytes") }
            return nil
        }
        let end = lf > start && buffer[lf - 1] == Wire.cr ? lf - 1 : lf
        guard end - start <= maxLineLength else { throw MalformedReply("a reply line longer than \(maxLineLength) bytes") }
        let line = buffer[start..<end]
        start = lf + 1
        scanned = 0
        return line
    }

    private mutating func payload(
        channel: String, count: Int, isException: Bool, tag: Int?, selected: Int?
    ) throws(MalformedReply) -> Reply? {
        guard bufferedByteCount >= count + 2 else { return nil }
        let payloadEnd = start + count
        guard buffer[payloadEnd] == Wire.cr, buffer[payloadEnd + 1] == Wire.lf else {
            throw MalformedReply("a \(count)-byte payload not followed by CRLF")
        }
        let message = Reply.message(channel: channel, payload: Array(buffer[start..<payloadEnd]), isException: isException, tag: tag)
        start = payloadEnd + 2
        state = .line
        return selected.map { .selected(index: $0, reply: message) } ?? message
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            start = 0
        } else if start >= 1 << 16, start * 2 >= buffer.count {
            buffer.removeSubrange(..<start)
            start = 0
        }
    }

    // MARK: Grammar

    /// One reply line, its words split at single spaces.
    private mutating func reply(_ line: ArraySlice<UInt8>) throws(MalformedReply) -> Reply? {
        let words = line.split(separator: Wire.space, omittingEmptySubsequences: false)
        let verb = words[0]
        if channelLinesLeft > 0 {
            guard verb.elementsEqual(Wire.channel), words.count >= 2, !words[1].isEmpty else {
                throw MalformedReply("\"\(text(line))\" where a CHANNEL line belongs")
            }
            channelLinesLeft -= 1
            return .channel(channel: text(words[1]), fields: try fields(words.dropFirst(2), in: line))
        }
        if verb.elementsEqual(Wire.selected) {
            guard words.count >= 3, let index = count(words[1]) else { throw MalformedReply("bad SELECTED line \"\(text(line))\"") }
            let inner = Array(words.dropFirst(2))
            if try startMessage(inner, selected: index, line: line) { return try readPayload() }
            guard let reply = caseReply(inner, line: line) else { throw MalformedReply("bad SELECTED line \"\(text(line))\"") }
            return .selected(index: index, reply: reply)
        }
        if try startMessage(words, selected: nil, line: line) { return try readPayload() }
        if let reply = caseReply(words, line: line) { return reply }
        switch verb {
        case _ where verb.elementsEqual(Wire.pong) && words.count == 1: return .pong
        case _ where verb.elementsEqual(Wire.bye) && words.count == 1: return .bye
        case _ where verb.elementsEqual(Wire.timeout) && words.count == 1: return .timeout
        case _ where verb.elementsEqual(Wire.stat):
            guard words.count >= 2, !words[1].isEmpty else { throw MalformedReply("STAT without a channel name") }
            return .stat(channel: text(words[1]), fields: try fields(words.dropFirst(2), in: line))
        case _ where verb.elementsEqual(Wire.info): return .info(try fields(words.dropFirst(), in: line))
        case _ where verb.elementsEqual(Wire.hello): return .hello(try fields(words.dropFirst(), in: line))
        case _ where verb.elementsEqual(Wire.channels):
            let totalPrefix = Array("\(Wire.total)=".utf8)
            guard words.count == 3, let listed = count(words[1]), words[2].starts(with: totalPrefix),
                  let total = count(words[2].dropFirst(totalPrefix.count)), listed <= total, listed <= Self.maxListedChannels
            else { throw MalformedReply("bad CHANNELS header \"\(text(line))\"") }
            channelLinesLeft = listed
            return .channels(listed: listed, total: total)
        default:
            throw MalformedReply("unknown reply \"\(text(line.prefix(200)))\"")
        }
    }

    /// OK, CLOSED or ERR: what a single operation answers, alone or as a SELECT case (besides MSG/EXC).
    private func caseReply(_ words: [ArraySlice<UInt8>], line: ArraySlice<UInt8>) -> Reply? {
        let verb = words[0]
        if verb.elementsEqual(Wire.ok), words.count == 1 { return .ok }
        if verb.elementsEqual(Wire.closed), words.count == 2, !words[1].isEmpty { return .closed(channel: text(words[1])) }
        if verb.elementsEqual(Wire.err), words.count >= 2, !words[1].isEmpty {
            let message = words.count > 2 ? text(line[words[2].startIndex...]) : ""
            return .error(code: ErrorCode(rawValue: text(words[1])), text: message)
        }
        return nil
    }

    /// For a `MSG <chan> <n> [<tag>]` or `EXC <chan> <n> [<tag>]` header (the tag, a positive number, on a
    /// value received with ACK): switches to reading its payload and returns true.
    private mutating func startMessage(
        _ words: [ArraySlice<UInt8>], selected: Int?, line: ArraySlice<UInt8>
    ) throws(MalformedReply) -> Bool {
        let isException = words[0].elementsEqual(Wire.exc)
        guard isException || words[0].elementsEqual(Wire.msg) else { return false }
        guard words.count == 3 || words.count == 4, !words[1].isEmpty, let n = count(words[2]) else {
            throw MalformedReply("bad message header \"\(text(line))\"")
        }
        var tag: Int?
        if words.count == 4 {
            guard let t = count(words[3]), t > 0 else { throw MalformedReply("bad delivery tag in \"\(text(line))\"") }
            tag = t
        }
        guard n <= maxPayload else { throw MalformedReply("a \(n)-byte payload, above this client's limit of \(maxPayload)") }
        state = .payload(channel: text(words[1]), count: n, isException: isException, tag: tag, selected: selected)
        return true
    }

    private mutating func readPayload() throws(MalformedReply) -> Reply? {
        guard case .payload(let channel, let count, let isException, let tag, let selected) = state else { return nil }
        return try payload(channel: channel, count: count, isException: isException, tag: tag, selected: selected)
    }

    /// `key=value` words, each with a non-empty key.
    private func fields(_ words: ArraySlice<ArraySlice<UInt8>>, in line: ArraySlice<UInt8>) throws(MalformedReply) -> ReplyFields {
        var pairs: [(key: String, value: String)] = []
        pairs.reserveCapacity(words.count)
        for word in words {
            guard let eq = word.firstIndex(of: Wire.equals), eq != word.startIndex else {
                throw MalformedReply("\"\(text(word))\" in \"\(text(line.prefix(200)))\" is not key=value")
            }
            pairs.append((text(word[..<eq]), text(word[(eq + 1)...])))
        }
        return ReplyFields(pairs: pairs)
    }
}

private func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

/// A count or index: decimal digits only, no sign, at most 18 of them (so it fits an Int).
private func count(_ word: ArraySlice<UInt8>) -> Int? {
    guard !word.isEmpty, word.count <= 18, word.allSatisfy(Wire.digits.contains) else { return nil }
    return word.reduce(0) { $0 * 10 + Int($1 - Wire.digits.lowerBound) }
}
