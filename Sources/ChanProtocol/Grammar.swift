// The request grammar of protocol v1, one parse function per command. Tokens are separated by runs of spaces;
// verbs and keywords ignore ASCII case, channel names do not.
//
// <chan>    := 1-255 bytes, each 0x21-0x7E (else BADNAME)
// <number>  := decimal digits that fit an Int (else SYNTAX); above the command's limit: LIMIT

extension CommandParser {
    /// Parses a command line outside a SELECT. Returns nil when the command goes on past this line
    /// (a counted payload, or SELECT case lines).
    mutating func parseRequest(_ verb: Token, _ tokens: inout Tokens) -> Command? {
        do throws(LineError) {
            if verb.isKeyword(Wire.send) || verb.isKeyword(Wire.throw) {
                let isException = verb.isKeyword(Wire.throw)
                guard let inline = try parseSend(&tokens, isException: isException) else { return nil }
                return .send(channel: inline.channel, payload: inline.payload, isException: isException)
            }
            if verb.isKeyword(Wire.recv) { return try parseRecv(&tokens) }
            if verb.isKeyword(Wire.select) {
                try parseSelect(&tokens)
                return nil
            }
            if verb.isKeyword(Wire.ack) { return .acknowledge(tag: try parseTag(&tokens)) }
            if verb.isKeyword(Wire.nack) { return .giveBack(tag: try parseTag(&tokens)) }
            if verb.isKeyword(Wire.make) { return try parseMake(&tokens) }
            if verb.isKeyword(Wire.close) { return .close(channel: try parseChannelOnly(&tokens)) }
            if verb.isKeyword(Wire.open) { return .open(channel: try parseChannelOnly(&tokens)) }
            if verb.isKeyword(Wire.delete) { return .delete(channel: try parseChannelOnly(&tokens)) }
            if verb.isKeyword(Wire.auth) { return try parseAuth(&tokens) }
            if verb.isKeyword(Wire.stat) { return .stat(channel: try parseChannelOnly(&tokens)) }
            if verb.isKeyword(Wire.channels) { return try parseChannels(&tokens) }
            for (keyword, command) in Self.bareCommands where verb.isKeyword(keyword) {
                try tokens.end()
                return command
            }
            throw .unknownCommand(verb)
        } catch {
            return fail(error.isMissingArgument ? Self.missingArgument(of: verb) : error)
        }
    }

    /// `SEND needs <chan> <payload>`: a missing argument, said with the grammar of its request.
    private static func missingArgument(of verb: Token) -> LineError {
        for (keyword, grammar) in requestGrammar where verb.isKeyword(keyword) {
            return LineError(code: .syntax, text: String(decoding: keyword, as: UTF8.self) + " needs " + grammar)
        }
        return .missingArgument
    }

    private static let requestGrammar: [([UInt8], String)] = [
        (Wire.send, "<chan> <payload>"), (Wire.throw, "<chan> <payload>"),
        (Wire.recv, "<chan> [TIMEOUT <ms> | NOWAIT] [ACK]"), (Wire.select, "<n> [TIMEOUT <ms> | NOWAIT] [ACK]"),
        (Wire.make, "<chan> [CAP <n>] [PREFER RECEIVER|SENDER|NONE] [DURABLE]"),
        (Wire.close, "<chan>"), (Wire.open, "<chan>"), (Wire.delete, "<chan>"), (Wire.stat, "<chan>"),
        (Wire.channels, "[<prefix>] [TOP <n>]"), (Wire.auth, "<name> <secret>"),
    ]

    // PING | QUIT | INFO | HELLO          (no arguments)
    private static let bareCommands: [([UInt8], Command)] = [
        (Wire.ping, .ping), (Wire.quit, .quit), (Wire.info, .info), (Wire.hello, .hello),
    ]

    // CLOSE <chan> | OPEN <chan> | DELETE <chan> | STAT <chan>
    private mutating func parseChannelOnly(_ tokens: inout Tokens) throws(LineError) -> String {
        let channel = try channelName(tokens.next())
        try tokens.end()
        return channel
    }

    // CHANNELS [<prefix>] [TOP <n>]      (<prefix> obeys the <chan> rules; n: 0-1000, above: LIMIT)
    //   two tokens are TOP <n>; a lone TOP is the prefix "TOP"
    private mutating func parseChannels(_ tokens: inout Tokens) throws(LineError) -> Command {
        var words: [Token] = []
        while let word = tokens.next() {
            guard words.count < 3 else { throw .extraArgument }
            words.append(word)
        }
        let prefix = words.count % 2 == 1 ? try channelName(words[0]) : nil
        guard words.count >= 2 else { return .channels(prefix: prefix, top: nil) }
        guard words[words.count - 2].isKeyword(Wire.top) else { throw .badOption }
        return .channels(prefix: prefix, top: try boundedNumber(words[words.count - 1], max: Wire.maxListedChannels, what: "TOP",
                                                                 limit: "the \(Wire.maxListedChannels) one listing shows"))
    }

    // SEND <chan> <payload> | THROW <chan> <payload>       (standalone or as a SELECT case line)
    // <payload> := <inline> | "{" <digits> "}"
    //   inline:  every byte after the single space that follows <chan>, up to the line end;
    //            non-empty, may hold spaces
    //   counted: the rest of the line is exactly {<n>}; n raw bytes and a line end (CRLF or LF) follow the line.
    //            n above maxPayload: TOOBIG (the bytes are skipped); n beyond Int: TOOBIG and close
    //   in a SELECT, the payloads of all its cases together: at most maxPayload, else TOOBIG
    /// Returns channel and payload of an inline payload. For a counted one, switches to reading the payload
    /// (or to skipping it when the request fails) and returns nil.
    private mutating func parseSend(
        _ tokens: inout Tokens, isException: Bool
    ) throws(LineError) -> (channel: String, payload: [UInt8])? {
        guard let nameToken = tokens.next() else { throw .missingArgument }
        let rest = tokens.rest()
        guard !rest.isEmpty else { throw .missingPayload }
        guard let count = try payloadCount(rest) else {
            let channel = try channelName(nameToken)
            try countSelectPayload(rest.count)
            return (channel, Array(rest))
        }
        // The client sends the payload whatever the answer: from here on, failing skips it.
        state = .skipPayload(remaining: count)
        let channel = try channelName(nameToken)
        guard count <= limits.maxPayload else { throw .payloadTooBig }
        try countSelectPayload(count)
        if select.error == nil {  // a failed SELECT only skips its payloads
            state = .payload(count: count, send: PendingSend(channel: channel, isException: isException))
        }
        return nil
    }

    /// Adds a case payload to the open SELECT's total, if a SELECT is open.
    private mutating func countSelectPayload(_ size: Int) throws(LineError) {
        guard select.isOpen else { return }
        select.payloadBytes += size
        guard select.payloadBytes <= limits.maxPayload else { throw .selectPayloadsTooBig }
    }

    // RECV <chan> [TIMEOUT <ms> | NOWAIT] [ACK]      (options in any order)
    private mutating func parseRecv(_ tokens: inout Tokens) throws(LineError) -> Command {
        let channel = try channelName(tokens.next())
        let options = try tokens.receiveOptions()
        return .receive(channel: channel, wait: options.wait, hold: options.hold)
    }

    // ACK <tag> | NACK <tag>      (tag: a positive decimal number; anything else: SYNTAX and close, since
    //                              the replies of the requests around it could no longer be matched up)
    private func parseTag(_ tokens: inout Tokens) throws(LineError) -> Int {
        guard let token = tokens.next(), let tag = decimal(token), tag > 0, tokens.next() == nil else { throw .badTag }
        return tag
    }

    // AUTH <name> <secret>      (each one token of bytes 0x21-0x7E; the secret is never echoed or logged)
    private mutating func parseAuth(_ tokens: inout Tokens) throws(LineError) -> Command {
        let user = try channelName(tokens.next())
        guard let secret = tokens.next() else { throw .missingArgument }
        try tokens.end()
        return .auth(user: user, secret: Secret(Array(secret)))
    }

    // SELECT <n> [TIMEOUT <ms> | NOWAIT] [ACK]      (options in any order; ACK applies to its RECV cases)
    // then n case lines (see parseCase), 1 <= n <= maxSelectCases. Blank lines between them are ignored.
    // Without a readable n the case lines cannot be told from commands: SYNTAX and close.
    // With n known, any other error is reported after the n case lines (which are consumed).
    private mutating func parseSelect(_ tokens: inout Tokens) throws(LineError) {
        guard let token = tokens.next(), let count = decimal(token) else { throw .badCaseCount }
        guard count > 0 else { throw .noCases }
        select.remaining = count
        select.count = count
        select.payloadBytes = 0
        do throws(LineError) {
            guard count <= limits.maxSelectCases else {
                throw LineError(code: .limit, text: "SELECT \(count) cases above max_select_cases \(limits.maxSelectCases)")
            }
            (select.wait, select.hold) = try tokens.receiveOptions()
            if let spare = spareCases.popLast() { select.cases = spare }
            select.cases.reserveCapacity(count)
        } catch {
            select.error = error
        }
    }

    // <case line> := SEND <chan> <payload> | THROW <chan> <payload> | RECV <chan>
    // Any error fails the whole SELECT; the first one is reported after its last case line.
    /// Parses a line while a SELECT is open; returns the SELECT (or its error) after the last case line.
    mutating func parseCase(_ verb: Token, _ tokens: inout Tokens) -> Command? {
        do throws(LineError) {
            if verb.isKeyword(Wire.recv) {
                let channel = try parseChannelOnly(&tokens)
                if select.error == nil { select.cases.append(.receive(channel: channel)) }  // a failed SELECT keeps none
            } else if verb.isKeyword(Wire.send) || verb.isKeyword(Wire.throw) {
                let isException = verb.isKeyword(Wire.throw)
                if let inline = try parseSend(&tokens, isException: isException), select.error == nil {
                    select.cases.append(.send(channel: inline.channel, payload: inline.payload, isException: isException))
                }
            } else {
                throw .badCaseLine
            }
        } catch {
            // Which case line: the SELECT's one error reply names it.
            let index = select.count - select.remaining
            let named = LineError(code: error.code, text: "case \(index): " + (error.isMissingArgument
                ? "a case line is SEND, THROW or RECV <chan>" : error.text), closeAfter: error.closeAfter)
            if let fatal = fail(named) { return fatal }
        }
        // The case line is finished unless its counted payload is still to be read or skipped.
        guard case .line = state else { return nil }
        return finishCaseLine()
    }

    // MAKE <chan> [CAP <n>] [PREFER RECEIVER|SENDER|NONE] [DURABLE]   (options in any order, each at most once)
    // CAP n: 0...maxCapacity; DURABLE needs CAP 1 or more (a rendezvous channel holds nothing to keep)
    private mutating func parseMake(_ tokens: inout Tokens) throws(LineError) -> Command {
        let channel = try channelName(tokens.next())
        var capacity: Int?
        var preference: Preference?
        var durable = false
        while let option = tokens.next() {
            if option.isKeyword(Wire.cap), capacity == nil {
                capacity = try boundedNumber(tokens.next(), max: limits.maxCapacity, what: "CAP",
                                             limit: "max_capacity \(limits.maxCapacity)")
            } else if option.isKeyword(Wire.prefer), preference == nil {
                guard let value = tokens.next() else { throw .missingArgument }
                if value.isKeyword(Wire.receiver) {
                    preference = .receiver
                } else if value.isKeyword(Wire.sender) {
                    preference = .sender
                } else if value.isKeyword(Wire.none) {
                    preference = Preference.none  // not nil: PREFER NONE was given
                } else {
                    throw .badOption
                }
            } else if option.isKeyword(Wire.durable), !durable {
                durable = true
            } else {
                throw .badOption
            }
        }
        if durable && (capacity ?? 0) == 0 { throw .durableNeedsCapacity }
        return .make(channel: channel, capacity: capacity, preference: preference, durable: durable)
    }
}

/// A token (or line) of the input, read in place: valid only while the parser reads that input.
typealias Token = UnsafeBufferPointer<UInt8>

/// The space-separated tokens of one command line (its line end already removed).
struct Tokens {
    private var position: UnsafePointer<UInt8>
    private let lineEnd: UnsafePointer<UInt8>

    /// `line` lies in the parser's buffer, which holds at least its LF: its base address is never nil.
    init(_ line: Token) {
        position = line.baseAddress!
        lineEnd = position + line.count
    }

    /// The next token after a run of spaces, or nil at the end of the line.
    mutating func next() -> Token? {
        while position < lineEnd, position.pointee == Wire.space { position += 1 }
        guard position < lineEnd else { return nil }
        let tokenStart = position
        while position < lineEnd, position.pointee != Wire.space { position += 1 }
        return Token(start: tokenStart, count: tokenStart.distance(to: position))
    }

    /// Everything after the single space that ends the last token (an inline payload).
    mutating func rest() -> Token {
        let restStart = Swift.min(position + 1, lineEnd)
        position = lineEnd
        return Token(start: restStart, count: restStart.distance(to: lineEnd))
    }

    /// Fails unless no token is left.
    mutating func end() throws(LineError) {
        if next() != nil { throw .extraArgument }
    }

    // [TIMEOUT <ms> | NOWAIT] [ACK]   (the rest of the line, in any order, each at most once;
    //                                  ms: 0...2^31-1, TIMEOUT 0 means NOWAIT)
    mutating func receiveOptions() throws(LineError) -> (wait: WaitLimit, hold: Bool) {
        var wait: WaitLimit?
        var hold = false
        while let keyword = next() {
            if keyword.isKeyword(Wire.ack) {
                guard !hold else { throw .repeatedOption }
                hold = true
                continue
            }
            guard wait == nil else {
                throw keyword.isKeyword(Wire.nowait) || keyword.isKeyword(Wire.timeout) ? .repeatedOption : .badOption
            }
            if keyword.isKeyword(Wire.nowait) {
                wait = .nowait
            } else if keyword.isKeyword(Wire.timeout) {
                let milliseconds = try boundedNumber(next(), max: Wire.maxTimeoutMilliseconds, what: "TIMEOUT",
                                                     limit: "\(Wire.maxTimeoutMilliseconds) ms")
                wait = milliseconds == 0 ? .nowait : .milliseconds(milliseconds)
            } else {
                throw .badOption
            }
        }
        return (wait ?? .forever, hold)
    }
}

extension Token {
    /// Whether this token is `keyword` (uppercase ASCII letters) in any ASCII case.
    /// Clearing bit 0x20 uppercases a letter; no other byte becomes an uppercase letter that way.
    fileprivate func isKeyword(_ keyword: [UInt8]) -> Bool {
        guard count == keyword.count else { return false }
        return keyword.withUnsafeBufferPointer { keyword in
            for i in 0..<count where self[i] & 0xDF != keyword[i] { return false }
            return true
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CommandParser {
    /// A channel name (or CHANNELS prefix): SYNTAX if missing, BADNAME unless 1-255 bytes, each 0x21-0x7E.
    fileprivate mutating func channelName(_ token: Token?) throws(LineError) -> String {
        guard let token else { throw .missingArgument }
        guard let name = validName(token) else { throw .badName }
        return name
    }

    /// The token as a channel name, nil if it breaks the rule.
    mutating func validName(_ token: Token) -> String? {
        if let known = recentNames[token] { return known }
        guard ChannelName.isValid(token) else { return nil }
        let name = String(decoding: token, as: UTF8.self)
        recentNames.remember(name)
        return name
    }
}

/// The Strings of the channel names a connection named last, in a few slots chosen by each name's length and
/// last byte, so that names it repeats (a consumer's SELECT cases, a producer's SEND) are neither decoded
/// again nor, when longer than a small String's 15 bytes, allocated again per request. A name found here was
/// valid when it was remembered. Names of up to 16 bytes are compared as a `NameKey`, without touching the
/// String.
struct RecentNames {
    private static let slotCount = 8  // a power of two
    private struct Slot {
        var name = ""
        var key = NameKey()
    }
    /// Empty until the first name, then `slotCount` names ("" in a slot not used yet).
    private var slots: [Slot] = []

    private static func slot(length: Int, last: UInt8) -> Int {
        (Int(last) &+ 3 &* length) & (slotCount - 1)
    }

    subscript(token: Token) -> String? {
        guard !slots.isEmpty, let last = token.last else { return nil }
        let slot = Self.slot(length: token.count, last: last)
        guard slots[slot].key == NameKey(token), slots[slot].name.utf8.count == token.count else { return nil }
        if token.count <= NameKey.wholeNameLength { return slots[slot].name }
        var name = slots[slot].name
        return name.withUTF8 { memcmp($0.baseAddress!, token.baseAddress!, token.count) == 0 } ? name : nil
    }

    mutating func remember(_ name: String) {
        guard let last = name.utf8.last else { return }
        if slots.isEmpty { slots = Array(repeating: Slot(), count: Self.slotCount) }
        var name = name
        let key = name.withUTF8 { NameKey($0) }
        slots[Self.slot(length: name.utf8.count, last: last)] = Slot(name: name, key: key)
    }
}

/// A name's first and last eight bytes (four for a name of 4-7 bytes, each byte for a shorter one), read with
/// unaligned loads that stay within the name. For two names of the same length up to 16 bytes that is all of
/// them, so equal keys mean equal names; for longer ones, equal keys mean only that they may be.
struct NameKey: Equatable {
    static let wholeNameLength = 16
    private var first: UInt64 = 0
    private var last: UInt64 = 0

    init() {}

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base), count = bytes.count
        if count >= 8 {
            first = raw.loadUnaligned(as: UInt64.self)
            last = raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 {
            first = UInt64(raw.loadUnaligned(as: UInt32.self))
            last = UInt64(raw.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
        } else {
            for i in 0..<count { first |= UInt64(base[i]) << (8 * i) }
        }
    }
}

/// The value of a token of decimal digits, or nil if it has other bytes or does not fit an Int.
private func decimal(_ token: Token) -> Int? {
    guard !token.isEmpty else { return nil }
    var value = 0
    for byte in token {
        guard Wire.digits.contains(byte) else { return nil }
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - Wire.digits.lowerBound))
        guard !overflow1, !overflow2 else { return nil }
        value = sum
    }
    return value
}

/// A <number> argument: SYNTAX if missing or not a number, LIMIT above `max` (`CAP 9 above max_capacity 5`).
private func boundedNumber(_ token: Token?, max: Int, what: String, limit: String) throws(LineError) -> Int {
    guard let token else { throw LineError(code: .syntax, text: "\(what) needs a number") }
    guard let value = decimal(token) else { throw LineError(code: .syntax, text: "\(what) needs a number") }
    guard value <= max else { throw .numberOverLimit(what, value, limit: limit) }
    return value
}

/// n if `payload` is exactly `{<n>}` (a counted payload), nil if it is an inline payload.
private func payloadCount(_ payload: Token) throws(LineError) -> Int? {
    guard payload.count > 2, payload.first == Wire.countOpen, payload.last == Wire.countClose else { return nil }
    let digits = Token(rebasing: payload.dropFirst().dropLast())
    guard digits.allSatisfy(Wire.digits.contains) else { return nil }
    guard let count = decimal(digits) else { throw .payloadCountOverflow }
    return count
}
