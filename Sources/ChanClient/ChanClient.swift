/// A client of one chand connection: one method per protocol command, each
/// blocking until its reply has arrived.
///
/// A connection is one server-side tasklet, so a ChanClient is used by one
/// thread at a time; open one per thread (they are cheap). Every payload goes
/// on the wire in the counted, binary-safe form (`SEND <chan> {n}`).
///
/// Replies are read with bounds: a header line at most `Options.maxLineLength`
/// bytes, a payload at most `Options.maxPayload`; anything that breaks the
/// protocol is `ChanError.malformedReply` and closes the connection.
public final class ChanClient {
    public struct Options: Sendable {
        /// How long connecting may take.
        public var connectTimeout: Duration = .seconds(5)
        /// How long the server may take to answer a prompt command (PING,
        /// STAT, ...), on top of a RECV's or SELECT's own timeout, and the
        /// longest pause inside a reply once it has started.
        public var ioTimeout: Duration = .seconds(30)
        /// The longest reply line accepted (header of a message, STAT, INFO, ...).
        public var maxLineLength = 64 * 1024
        /// The largest payload accepted in a reply: chand's own ceiling for
        /// `--max-payload`, so that no value a server may hand over is refused
        /// (and lost) here.
        public var maxPayload = 1 << 30

        public init() {}
    }

    public let host: String
    public let port: Int
    public let options: Options
    private let stream: SocketStream

    /// The longest a channel name may be on the wire.
    public static let maxNameLength = 255
    /// The longest RECV/SELECT timeout the protocol takes, in milliseconds.
    public static let maxTimeoutMilliseconds = Int(Int32.max)

    /// Connects to a chand server.
    public init(host: String = "127.0.0.1", port: Int = 7400, options: Options = Options()) throws(ChanError) {
        self.host = host
        self.port = port
        self.options = options
        stream = try SocketStream.connect(host: host, port: port,
                                          timeoutMilliseconds: milliseconds(options.connectTimeout),
                                          ioTimeoutMilliseconds: max(1, milliseconds(options.ioTimeout)))
    }

    /// False once the connection has ended (QUIT, a lost connection, a malformed reply).
    public var isConnected: Bool { stream.isOpen }

    /// Closes the connection without QUIT.
    public func disconnect() { stream.close() }

    /// A channel of this connection, for its operations and select cases.
    public func channel(_ name: String) -> Channel { Channel(client: self, name: name) }

    // MARK: Commands

    /// `PING`: answered `PONG`.
    public func ping() throws(ChanError) {
        try request(line("PING"))
        switch try reply(.prompt) {
        case .pong: return
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to PING")
        }
    }

    /// `QUIT`: the server answers `BYE` and closes the connection.
    public func quit() throws(ChanError) {
        try request(line("QUIT"))
        let answer = try reply(.prompt)
        stream.close()
        switch answer {
        case .bye: return
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        default: throw ChanError.malformedReply("\(answer.summary) in reply to QUIT")
        }
    }

    /// `HELLO`: the protocol version and the server's limits.
    public func hello() throws(ChanError) -> ServerHello {
        try request(line("HELLO"))
        let fields = try fieldsLine("HELLO")
        func int(_ key: String) throws(ChanError) -> Int {
            guard let v = fields.integer(key) else { throw stream.malformed("HELLO without a number for \(key)") }
            return v
        }
        guard let server = fields["server"] else { throw stream.malformed("HELLO without server=") }
        return ServerHello(protocolVersion: try int("proto"), server: server, maxLine: try int("max_line"),
                           maxPayload: try int("max_payload"), maxSelectCases: try int("max_select_cases"),
                           maxCapacity: try int("max_capacity"), maxChannels: try int("max_channels"),
                           maxConnections: try int("max_connections"), fields: fields)
    }

    /// `INFO`: the server's counters, as `key=value` fields.
    public func info() throws(ChanError) -> ServerFields {
        try request(line("INFO"))
        return try fieldsLine("INFO")
    }

    /// `SEND <chan> {n}` + bytes: returns once a receiver has taken the value
    /// or it was buffered. With a timeout (or `.nowait`) it is sent as a
    /// one-case SELECT, and gives up with `.timeout`.
    public func send(_ channel: String, _ payload: [UInt8], timeout: Wait = .forever) throws(ChanError) {
        try put(channel, payload, operation: .send, timeout: timeout)
    }

    public func send(_ channel: String, _ text: String, timeout: Wait = .forever) throws(ChanError) {
        try put(channel, Array(text.utf8), operation: .send, timeout: timeout)
    }

    /// `THROW <chan> {n}` + bytes: as `send`; the receiver gets the value as an exception.
    public func `throw`(_ channel: String, _ payload: [UInt8], timeout: Wait = .forever) throws(ChanError) {
        try put(channel, payload, operation: .throw, timeout: timeout)
    }

    public func `throw`(_ channel: String, _ text: String, timeout: Wait = .forever) throws(ChanError) {
        try put(channel, Array(text.utf8), operation: .throw, timeout: timeout)
    }

    /// `RECV <chan> [TIMEOUT <ms> | NOWAIT]`: the next value (check `isException`).
    /// Throws `.closed` once the channel is closed and drained, `.timeout` when the wait ran out.
    public func recv(_ channel: String, timeout: Wait = .forever) throws(ChanError) -> Message {
        try validate(name: channel)
        try request(line("RECV \(channel)\(try waitSuffix(timeout))"))
        switch try reply(.after(timeout)) {
        case .message(let m) where m.channel == channel: return m
        case .closed(let name) where name == channel: throw ChanError.closed(channel: channel)
        case .timeout: throw ChanError.timeout
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to RECV \(channel)")
        }
    }

    /// `SELECT <n> [TIMEOUT <ms> | NOWAIT]` and its case lines: performs one
    /// ready case (chosen at random among the ready ones), or waits for the
    /// first to be matched. Throws `.timeout` when none fired in time. A
    /// case on a closed channel fires with outcome `.closed`.
    public func select(_ cases: [SelectCase], timeout: Wait = .forever) throws(ChanError) -> Selected {
        guard !cases.isEmpty else { throw ChanError.invalidArgument("a select needs at least one case") }
        var bytes = line("SELECT \(cases.count)\(try waitSuffix(timeout))")
        for c in cases {
            try validate(name: c.channel)
            switch c.operation {
            case .send: appendCounted("SEND", c.channel, c.payload, to: &bytes)
            case .throw: appendCounted("THROW", c.channel, c.payload, to: &bytes)
            case .receive: bytes += line("RECV \(c.channel)")
            }
        }
        try request(bytes)
        let answer = try reply(.after(timeout))
        switch answer {
        case .timeout: throw ChanError.timeout
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case .selected(let index, let inner) where index < cases.count:
            let c = cases[index]
            func fired(_ outcome: Selected.Outcome, _ value: [UInt8]?) -> Selected {
                Selected(index: index, channel: c.channel, operation: c.operation, outcome: outcome, value: value)
            }
            switch (c.operation, inner) {
            case (.send, .ok), (.throw, .ok):
                return fired(.sent, c.payload)
            case (.send, .error(.closed, _)), (.throw, .error(.closed, _)):
                return fired(.closed, nil)
            case (.receive, .message(let m)) where m.channel == c.channel:
                return fired(.received(m), m.payload)
            case (.receive, .closed(let name)) where name == c.channel:
                return fired(.closed, nil)
            case (_, .error(let code, let text)):
                throw ChanError.server(code: code, text: text)
            default:
                throw stream.malformed("\(answer.summary) for a \(c.operation.rawValue) case on \(c.channel)")
            }
        default:
            throw stream.malformed("\(answer.summary) in reply to a SELECT of \(cases.count) cases")
        }
    }

    /// `MAKE <chan> CAP <n> PREFER <p>`: makes a persistent channel (again
    /// with the same settings is fine; other settings are `ERR EXISTS`).
    public func make(_ channel: String, capacity: Int = 0, preference: Preference = .receiver) throws(ChanError) {
        try validate(name: channel)
        guard capacity >= 0 else { throw ChanError.invalidArgument("a capacity is at least 0") }
        try request(line("MAKE \(channel) CAP \(capacity) PREFER \(preference.keyword)"))
        try expectOK("MAKE \(channel)")
    }

    /// `CLOSE <chan>`: no new sends; receivers drain what is there, then see `.closed`.
    public func close(_ channel: String) throws(ChanError) {
        try validate(name: channel)
        try request(line("CLOSE \(channel)"))
        try expectOK("CLOSE \(channel)")
    }

    /// `STAT <chan>`: the channel's state (an unknown name reads as an empty open channel).
    public func stat(_ channel: String) throws(ChanError) -> ChannelStat {
        try validate(name: channel)
        try request(line("STAT \(channel)"))
        switch try reply(.prompt) {
        case .line(let words) where words.first == "STAT":
            let stat = try parseStat(words, verb: "STAT")
            guard stat.name == channel else { throw stream.malformed("STAT of \(stat.name) in reply to STAT \(channel)") }
            return stat
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to STAT")
        }
    }

    /// `CHANNELS [<prefix>] [TOP <n>]`: the existing channels whose name
    /// starts with `prefix`, by name; with `top`, the `top` busiest (most
    /// values moved in the last second, then most held and waiting).
    public func channels(prefix: String = "", top: Int? = nil) throws(ChanError) -> ChannelList {
        if !prefix.isEmpty { try validate(name: prefix) }
        if let top, !(0...1000).contains(top) { throw ChanError.invalidArgument("top is 0-1000, not \(top)") }
        var command = prefix.isEmpty ? "CHANNELS" : "CHANNELS \(prefix)"
        if let top { command += " TOP \(top)" }
        try request(line(command))
        let header: [Substring]
        switch try reply(.prompt) {
        case .line(let words) where words.first == "CHANNELS": header = words
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to CHANNELS")
        }
        guard header.count == 3, let listed = count(header[1]), header[2].hasPrefix("total="),
              let total = count(header[2].dropFirst(6)), listed <= total, listed <= Self.maxListedChannels
        else { throw stream.malformed("bad CHANNELS header \"\(header.joined(separator: " "))\"") }
        var channels: [ChannelStat] = []
        for _ in 0..<listed {
            let words = try readWords(firstByteDeadline: ioDeadline())
            guard words.first == "CHANNEL" else { throw stream.malformed("\"\(words.joined(separator: " "))\" where a CHANNEL line belongs") }
            let stat = try parseStat(words, verb: "CHANNEL")
            guard prefix.isEmpty || stat.name.hasPrefix(prefix) else {
                throw stream.malformed("channel \(stat.name) listed for prefix \(prefix)")
            }
            channels.append(stat)
        }
        return ChannelList(channels: channels, total: total)
    }

    /// The most CHANNEL lines one reply may announce (the server sends at most 1000).
    static let maxListedChannels = 100_000

    // MARK: Requests

    private func put(_ channel: String, _ payload: [UInt8], operation: SelectCase.Operation, timeout: Wait) throws(ChanError) {
        let verb = operation == .throw ? "THROW" : "SEND"
        try validate(name: channel)
        if timeout != .forever {
            // The protocol's SEND has no timeout: a one-case SELECT is a timed send.
            let fired = try select([SelectCase(channel: channel, operation: operation, payload: payload)], timeout: timeout)
            if fired.outcome == .closed { throw ChanError.closed(channel: channel) }
            return
        }
        var bytes: [UInt8] = []
        appendCounted(verb, channel, payload, to: &bytes)
        try request(bytes)
        switch try reply(.forever) {
        case .ok: return
        case .error(.closed, _): throw ChanError.closed(channel: channel)
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to \(verb) \(channel)")
        }
    }

    private func line(_ text: String) -> [UInt8] { Array(text.utf8) + [13, 10] }

    /// `<VERB> <chan> {n}\r\n<n bytes>\r\n`: the counted, binary-safe form.
    private func appendCounted(_ verb: String, _ channel: String, _ payload: [UInt8], to bytes: inout [UInt8]) {
        bytes += line("\(verb) \(channel) {\(payload.count)}")
        bytes += payload
        bytes += [13, 10]
    }

    private func request(_ bytes: [UInt8]) throws(ChanError) {
        try stream.write(bytes)
    }

    private func validate(name: String) throws(ChanError) {
        guard Self.isValidName(name) else {
            throw ChanError.invalidArgument("bad channel name \"\(name)\": a name is 1-255 printable ASCII characters, no spaces")
        }
    }

    /// Whether the server accepts `name` as a channel name (or CHANNELS prefix).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...maxNameLength).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    private func waitSuffix(_ wait: Wait) throws(ChanError) -> String {
        switch wait {
        case .forever: return ""
        case .nowait, .milliseconds(0): return " NOWAIT"
        case .milliseconds(let ms):
            guard (1...Self.maxTimeoutMilliseconds).contains(ms) else {
                throw ChanError.invalidArgument("a timeout is 0-\(Self.maxTimeoutMilliseconds) ms")
            }
            return " TIMEOUT \(ms)"
        }
    }

    // MARK: Replies

    private enum ReplyWait {
        /// Answered at once: within the I/O timeout.
        case prompt
        /// May block for ever (SEND, RECV or SELECT without a timeout).
        case forever
        /// A RECV/SELECT with this wait: its timeout plus the I/O timeout.
        case after(Wait)
    }

    private func ioDeadline(plus extra: Int = 0) -> UInt64 {
        monotonicNanoseconds() + UInt64(stream.ioTimeoutMilliseconds + extra) * 1_000_000
    }

    private func deadline(_ wait: ReplyWait) -> UInt64? {
        switch wait {
        case .prompt, .after(.nowait): return ioDeadline()
        case .forever, .after(.forever): return nil
        case .after(.milliseconds(let ms)): return ioDeadline(plus: ms)
        }
    }

    private func readWords(firstByteDeadline: UInt64?) throws(ChanError) -> [Substring] {
        let bytes = try stream.readLine(maxLength: options.maxLineLength, firstByteDeadline: firstByteDeadline)
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: " ", omittingEmptySubsequences: false)
    }

    /// Reads one whole reply: its header line, and for MSG/EXC its payload.
    private func reply(_ wait: ReplyWait) throws(ChanError) -> Reply {
        let words = try readWords(firstByteDeadline: deadline(wait))
        if words.first == "SELECTED" {
            guard words.count >= 3, let index = count(words[1]) else {
                throw stream.malformed("bad SELECTED line \"\(words.joined(separator: " "))\"")
            }
            let inner = try reply(Array(words.dropFirst(2)))
            if case .timeout = inner { throw stream.malformed("SELECTED \(index) TIMEOUT") }
            return .selected(index, inner)
        }
        return try reply(words)
    }

    private func reply(_ words: [Substring]) throws(ChanError) -> Reply {
        let header = words.joined(separator: " ")
        switch words.first ?? "" {
        case "OK" where words.count == 1: return .ok
        case "PONG" where words.count == 1: return .pong
        case "BYE" where words.count == 1: return .bye
        case "TIMEOUT" where words.count == 1: return .timeout
        case "CLOSED" where words.count == 2 && !words[1].isEmpty: return .closed(String(words[1]))
        case "MSG", "EXC":
            guard words.count == 3, !words[1].isEmpty, let n = count(words[2]) else {
                throw stream.malformed("bad message header \"\(header)\"")
            }
            guard n <= options.maxPayload else {
                throw stream.malformed("a \(n)-byte payload, above this client's limit of \(options.maxPayload)")
            }
            let payload = try stream.readPayload(n)
            return .message(Message(channel: String(words[1]), payload: payload, isException: words[0] == "EXC"))
        case "ERR" where words.count >= 2 && !words[1].isEmpty:
            return .error(ServerErrorCode(rawValue: String(words[1])), words.dropFirst(2).joined(separator: " "))
        case "STAT", "INFO", "HELLO", "CHANNELS":
            return .line(words)
        default:
            throw stream.malformed("unknown reply \"\(header.prefix(200))\"")
        }
    }

    private func expectOK(_ what: String) throws(ChanError) {
        switch try reply(.prompt) {
        case .ok: return
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to \(what)")
        }
    }

    /// `<VERB> key=value ...` (INFO, HELLO).
    private func fieldsLine(_ verb: String) throws(ChanError) -> ServerFields {
        switch try reply(.prompt) {
        case .line(let words) where words.first.map(String.init) == verb:
            var pairs: [(key: String, value: String)] = []
            for word in words.dropFirst() {
                guard let eq = word.firstIndex(of: "="), eq != word.startIndex else {
                    throw stream.malformed("\"\(word)\" in \(verb) is not key=value")
                }
                pairs.append((String(word[..<eq]), String(word[word.index(after: eq)...])))
            }
            return ServerFields(pairs: pairs)
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        case let other: throw stream.malformed("\(other.summary) in reply to \(verb)")
        }
    }

    /// `STAT <chan> cap=.. len=.. balance=.. state=.. preference=.. senders=.. receivers=.. persistent=..`
    /// (or `CHANNEL <chan> ...`); keys this client does not know are ignored.
    private func parseStat(_ words: [Substring], verb: String) throws(ChanError) -> ChannelStat {
        guard words.count >= 2, !words[1].isEmpty else { throw stream.malformed("\(verb) without a channel name") }
        var fields: [Substring: Substring] = [:]
        for word in words.dropFirst(2) {
            guard let eq = word.firstIndex(of: "=") else { throw stream.malformed("\"\(word)\" in \(verb) is not key=value") }
            fields[word[..<eq]] = word[word.index(after: eq)...]
        }
        func int(_ key: Substring) throws(ChanError) -> Int {
            guard let text = fields[key], let value = Int(text) else { throw stream.malformed("\(verb) without a number for \(key)") }
            return value
        }
        // Activity fields came later than the others: 0 when a server does not send them.
        func optionalInt(_ key: Substring) throws(ChanError) -> Int {
            fields[key] == nil ? 0 : try int(key)
        }
        guard let state = fields["state"].flatMap({ ChannelStat.State(rawValue: String($0)) }) else {
            throw stream.malformed("\(verb) with no known state")
        }
        guard let preference = Preference(rawValue: try int("preference")) else {
            throw stream.malformed("\(verb) with no known preference")
        }
        let persistent = try int("persistent")
        guard persistent == 0 || persistent == 1 else { throw stream.malformed("\(verb) with persistent=\(persistent)") }
        return ChannelStat(name: String(words[1]), capacity: try int("cap"), count: try int("len"), balance: try int("balance"),
                           state: state, preference: preference, senders: try int("senders"),
                           receivers: try int("receivers"), isPersistent: persistent == 1,
                           sent: try optionalInt("sent"), received: try optionalInt("received"),
                           rate: try optionalInt("rate"))
    }

    /// A count or index: decimal digits only, no sign, fits an Int.
    private func count(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 18, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text)
    }
}

/// One reply, as read off the wire.
private indirect enum Reply {
    case ok, pong, bye, timeout
    case message(Message)
    case closed(String)
    case error(ServerErrorCode, String)
    case selected(Int, Reply)
    /// STAT, INFO, HELLO, CHANNELS: the words of the line.
    case line([Substring])

    var summary: String {
        switch self {
        case .ok: return "OK"
        case .pong: return "PONG"
        case .bye: return "BYE"
        case .timeout: return "TIMEOUT"
        case .message(let m): return "\(m.isException ? "EXC" : "MSG") \(m.channel) \(m.payload.count)"
        case .closed(let name): return "CLOSED \(name)"
        case .error(let code, let text): return "ERR \(code.rawValue) \(text)"
        case .selected(let i, let inner): return "SELECTED \(i) \(inner.summary)"
        case .line(let words): return String(words.joined(separator: " ").prefix(200))
        }
    }
}
