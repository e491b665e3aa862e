import ChanCore
import ChanTLS
// The client's API speaks ChanProtocol's types (Preference, ErrorCode, WaitLimit, ChannelStat, ServerHello,
// ReplyFields, ChannelName, Counters): `import ChanClient` brings them along.
@_exported import ChanProtocol

/// A client of one chand connection: one method per protocol command, each
/// blocking until its reply has arrived.
///
/// A connection is one server-side tasklet, so a ChanClient is used by one
/// thread at a time; open one per thread (they are cheap). Every payload goes
/// on the wire in the counted, binary-safe form (`SEND <chan> {n}`).
///
/// Requests are written with ChanProtocol's `RequestEncoder` and replies read
/// with its `ReplyParser`, with bounds: a header line at most
/// `Options.maxLineLength` bytes, a payload at most `Options.maxPayload`;
/// anything that breaks the protocol is `ChanError.malformedReply` and closes
/// the connection.
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
        /// Speak TLS and verify the server's certificate; nil: plain TCP.
        public var tls: TLS?
        /// Sent as `AUTH` right after connecting (servers started with `--users`).
        public var credentials: Credentials?

        public init() {}
    }

    /// How to reach a TLS server. Its certificate is always verified.
    public struct TLS: Sendable {
        /// PEM CA certificates the server's certificate must chain to; nil: the system's store.
        public var caFile: String?
        /// A client certificate and its key (PEM), for a server started with `--tls-ca`.
        public var certificateFile: String?
        public var keyFile: String?
        /// The name the server's certificate must carry; nil: the host connected to.
        public var serverName: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }

    /// A user name and secret for `AUTH`; the description never shows the secret.
    public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        public var user: String
        public var secret: String

        public init(user: String, secret: String) {
            self.user = user
            self.secret = secret
        }

        public var description: String { "Credentials(\(user), <secret>)" }
        public var debugDescription: String { description }
    }

    public let host: String
    public let port: Int
    public let options: Options
    private let stream: SocketStream
    private var parser: ReplyParser

    /// Connects to a chand server. `host` is a name or an address; an IPv6 address may come in brackets.
    public init(host: String = "127.0.0.1", port: Int = 7400, options: Options = Options()) throws(ChanError) {
        let host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.host = host
        self.port = port
        self.options = options
        parser = ReplyParser(maxLineLength: options.maxLineLength, maxPayload: options.maxPayload)
        let timeout = milliseconds(options.connectTimeout)
        let ioTimeout = max(1, milliseconds(options.ioTimeout))
        if let tls = options.tls {
            let context: TLSClientContext
            do {
                context = try TLSClientContext(caFile: tls.caFile, certificateFile: tls.certificateFile, keyFile: tls.keyFile)
            } catch {
                throw .invalidArgument("TLS: \(error)")
            }
            stream = try SocketStream.connect(host: host, port: port, tls: context, serverName: tls.serverName ?? host,
                                              timeoutMilliseconds: timeout, ioTimeoutMilliseconds: ioTimeout)
        } else {
            stream = try SocketStream.connect(host: host, port: port, timeoutMilliseconds: timeout, ioTimeoutMilliseconds: ioTimeout)
        }
        if let credentials = options.credentials {
            try auth(user: credentials.user, secret: credentials.secret)
        }
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
        let sent = try request { RequestEncoder.ping(into: &$0) }
        switch try reply(.prompt) {
        case .pong: return
        case let other: throw unexpected(other, sent)
        }
    }

    /// `AUTH <user> <secret>`: `ERR DENIED` (a `.server` error) when refused;
    /// the server closes the connection after the third refusal.
    public func auth(user: String, secret: String) throws(ChanError) {
        for (what, text) in [("user name", user), ("secret", secret)] {
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw ChanError.invalidArgument("a \(what) is one or more bytes 0x21-0x7E (no spaces)")
            }
        }
        _ = try request { RequestEncoder.auth(user: user, secret: Secret(Array(secret.utf8)), into: &$0) }
        switch try reply(.prompt) {
        case .ok: return
        case .error(let code, let text): throw ChanError.server(code: code, text: text)
        // Not the request's bytes: they hold the secret.
        case let other: throw stream.malformed("\(String(other.summary.prefix(200))) in reply to AUTH")
        }
    }

    /// `QUIT`: the server answers `BYE` and closes the connection.
    public func quit() throws(ChanError) {
        let sent = try request { RequestEncoder.quit(into: &$0) }
        let answer = try reply(.prompt)
        stream.close()
        if answer != .bye { throw unexpected(answer, sent) }
    }

    /// `HELLO`: the protocol version and the server's limits. `probing` adds an empty line (ignored by chand)
    /// so that a port where some other server listens, HTTP say, answers at once: a malformed reply.
    public func hello(probing: Bool = false) throws(ChanError) -> ServerHello {
        let sent = try request {
            RequestEncoder.hello(into: &$0)
            if probing { RequestEncoder.emptyLine(into: &$0) }
        }
        switch try reply(.prompt) {
        case .hello(let fields): return try decoded { () throws(MalformedReply) in try ServerHello(fields: fields) }
        case let other: throw unexpected(other, sent)
        }
    }

    /// `INFO`: the server's counters, as `key=value` fields (the keys: `Counters`).
    public func info() throws(ChanError) -> ReplyFields {
        let sent = try request { RequestEncoder.info(into: &$0) }
        switch try reply(.prompt) {
        case .info(let fields): return fields
        case let other: throw unexpected(other, sent)
        }
    }

    /// `SEND <chan> {n}` + bytes: returns once a receiver has taken the value
    /// or it was buffered. With a timeout (or `.nowait`) it is sent as a
    /// one-case SELECT, and gives up with `.timeout`.
    public func send(_ channel: String, _ payload: [UInt8], timeout: WaitLimit = .forever) throws(ChanError) {
        try put(channel, payload, isException: false, timeout: timeout)
    }

    public func send(_ channel: String, _ text: String, timeout: WaitLimit = .forever) throws(ChanError) {
        try put(channel, Array(text.utf8), isException: false, timeout: timeout)
    }

    /// `THROW <chan> {n}` + bytes: as `send`; the receiver gets the value as an exception.
    public func `throw`(_ channel: String, _ payload: [UInt8], timeout: WaitLimit = .forever) throws(ChanError) {
        try put(channel, payload, isException: true, timeout: timeout)
    }

    public func `throw`(_ channel: String, _ text: String, timeout: WaitLimit = .forever) throws(ChanError) {
        try put(channel, Array(text.utf8), isException: true, timeout: timeout)
    }

    /// `RECV <chan> [TIMEOUT <ms> | NOWAIT] [ACK]`: the next value (check `isException`).
    /// Throws `.closed` once the channel is closed and drained, `.timeout` when the wait ran out.
    ///
    /// With `ack`, the value is held by this connection and comes with its `tag`: its sender gets OK only
    /// when this client calls `acknowledge(tag)`; `giveBack(tag)`, or the connection ending, returns it to
    /// the front of its channel for another receiver. A connection holds at most the server's `maxHeld`
    /// values (beyond: `ChanError.server(.limit, ...)`).
    public func recv(_ channel: String, timeout: WaitLimit = .forever, ack: Bool = false) throws(ChanError) -> Message {
        try validate(name: channel)
        try validate(timeout)
        let sent = try request { RequestEncoder.receive(channel: channel, wait: timeout, hold: ack, into: &$0) }
        switch try reply(.after(timeout)) {
        case .message(let name, let payload, let isException, let tag) where name == channel && (tag != nil) == ack:
            return Message(channel: channel, payload: payload, isException: isException, tag: tag)
        case .closed(let name) where name == channel: throw ChanError.closed(channel: channel)
        case .timeout: throw ChanError.timeout
        case let other: throw unexpected(other, sent)
        }
    }

    /// `SELECT <n> [TIMEOUT <ms> | NOWAIT] [ACK]` and its case lines: performs one
    /// ready case (chosen at random among the ready ones), or waits for the
    /// first to be matched. Throws `.timeout` when none fired in time. A
    /// case on a closed channel fires with outcome `.closed`. With `ack`, a
    /// receive case that fires holds its value, as `recv(_:timeout:ack:)` does
    /// (its message carries the tag); send cases are unchanged.
    public func select(_ cases: [SelectCase], timeout: WaitLimit = .forever, ack: Bool = false) throws(ChanError) -> Selected {
        guard !cases.isEmpty else { throw ChanError.invalidArgument("a select needs at least one case") }
        try validate(timeout)
        for c in cases { try validate(name: c.channel) }
        let sent = try request { RequestEncoder.select(cases: cases.map(\.request), wait: timeout, hold: ack, into: &$0) }
        let answer = try reply(.after(timeout))
        switch answer {
        case .timeout: throw ChanError.timeout
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
            case (.receive, .message(let name, let payload, let isException, let tag)) where name == c.channel && (tag != nil) == ack:
                let message = Message(channel: name, payload: payload, isException: isException, tag: tag)
                return fired(.received(message), payload)
            case (.receive, .closed(let name)) where name == c.channel:
                return fired(.closed, nil)
            case (_, .error(let code, let text)):
                throw ChanError.server(code: code, text: text)
            default:
                throw stream.malformed("\(answer.summary) for a \(c.operation.rawValue) case on \(c.channel)")
            }
        case let other: throw unexpected(other, sent)
        }
    }

    /// `ACK <tag>`: this connection has the value received with `tag` for good; its sender gets its OK. No
    /// reply comes: the server acts on it at once. A tag this connection does not hold makes the server
    /// answer `ERR NOTHELD <tag>` and close the connection (seen by the next request).
    public func acknowledge(_ tag: Int) throws(ChanError) {
        try validate(tag: tag)
        _ = try request { RequestEncoder.acknowledge(tag: tag, into: &$0) }
    }

    /// `NACK <tag>`: gives the value received with `tag` back, to the front of its channel, where the next
    /// receiver gets it. No reply, as for `acknowledge`.
    public func giveBack(_ tag: Int) throws(ChanError) {
        try validate(tag: tag)
        _ = try request { RequestEncoder.giveBack(tag: tag, into: &$0) }
    }

    /// `MAKE <chan> CAP <n> PREFER <p> [DURABLE]`: makes a persistent channel
    /// (again with the same settings is fine; other settings are `ERR
    /// EXISTS`). `durable`: its buffered values survive a restart of a server
    /// with a data directory (`ERR NOSTORE` without one); needs a capacity of 1 or more.
    public func make(_ channel: String, capacity: Int = 0, preference: Preference = .receiver,
                     durable: Bool = false) throws(ChanError) {
        try validate(name: channel)
        guard capacity >= 0 else { throw ChanError.invalidArgument("a capacity is at least 0") }
        guard !durable || capacity >= 1 else { throw ChanError.invalidArgument("a durable channel needs a capacity of 1 or more") }
        let sent = try request {
            RequestEncoder.make(channel: channel, capacity: capacity, preference: preference, durable: durable, into: &$0)
        }
        try expectOK(sent)
    }

    /// `CLOSE <chan>`: no new sends; receivers drain what is there, then see `.closed`.
    public func close(_ channel: String) throws(ChanError) {
        try validate(name: channel)
        let sent = try request { RequestEncoder.close(channel: channel, into: &$0) }
        try expectOK(sent)
    }

    /// `OPEN <chan>`: a closing or closed channel takes sends again, keeping
    /// its buffer and settings (Stackless's `channel.open()`); open already
    /// or unknown: nothing changes.
    public func open(_ channel: String) throws(ChanError) {
        try validate(name: channel)
        let sent = try request { RequestEncoder.open(channel: channel, into: &$0) }
        try expectOK(sent)
    }

    /// `DELETE <chan>`: the channel is gone at once; its waiting receivers
    /// see it closed, its waiting senders fail, its buffered values are
    /// dropped. A later use makes the name anew.
    public func delete(_ channel: String) throws(ChanError) {
        try validate(name: channel)
        let sent = try request { RequestEncoder.delete(channel: channel, into: &$0) }
        try expectOK(sent)
    }

    /// `STAT <chan>`: the channel's state. An unknown name reads as an empty
    /// open channel; `exists` tells them apart where the server says.
    public func stat(_ channel: String) throws(ChanError) -> ChannelStat {
        try validate(name: channel)
        let sent = try request { RequestEncoder.stat(channel: channel, into: &$0) }
        switch try reply(.prompt) {
        case .stat(let name, let fields) where name == channel:
            return try decoded { () throws(MalformedReply) in try ChannelStat(name: name, fields: fields) }
        case let other: throw unexpected(other, sent)
        }
    }

    /// `CHANNELS [<prefix>] [TOP <n>]`: the existing channels whose name
    /// starts with `prefix`, by name; with `top`, the `top` busiest (most
    /// values moved in the last second, then most held and waiting).
    public func channels(prefix: String = "", top: Int? = nil) throws(ChanError) -> ChannelList {
        if !prefix.isEmpty { try validate(name: prefix) }
        if let top, !(0...ProtocolLimits.maxListedChannels).contains(top) {
            throw ChanError.invalidArgument("top is 0-\(ProtocolLimits.maxListedChannels), not \(top)")
        }
        let sent = try request { RequestEncoder.channels(prefix: prefix, top: top, into: &$0) }
        let listed: Int, total: Int
        switch try reply(.prompt) {
        case .channels(let n, let m): (listed, total) = (n, m)
        case let other: throw unexpected(other, sent)
        }
        var channels: [ChannelStat] = []
        for _ in 0..<listed {
            guard case .channel(let name, let fields) = try reply(.prompt) else {
                throw stream.malformed("a listing cut short in reply to \(firstLine(sent))")  // the parser allows only its lines here
            }
            guard name.hasPrefix(prefix) else { throw stream.malformed("channel \(name) listed for prefix \(prefix)") }
            channels.append(try decoded { () throws(MalformedReply) in try ChannelStat(name: name, fields: fields) })
        }
        return ChannelList(channels: channels, total: total)
    }

    // MARK: Requests

    private func put(_ channel: String, _ payload: [UInt8], isException: Bool, timeout: WaitLimit) throws(ChanError) {
        let operation: SelectCase.Operation = isException ? .throw : .send
        try validate(name: channel)
        if timeout != .forever {
            // The protocol's SEND has no timeout: a one-case SELECT is a timed send.
            let fired = try select([SelectCase(channel: channel, operation: operation, payload: payload)], timeout: timeout)
            if fired.outcome == .closed { throw ChanError.closed(channel: channel) }
            return
        }
        let sent = try request { RequestEncoder.send(channel: channel, payload: payload, isException: isException, into: &$0) }
        switch try reply(.forever) {
        case .ok: return
        case .error(.closed, _): throw ChanError.closed(channel: channel)
        case let other: throw unexpected(other, sent)
        }
    }

    /// Writes one request; returns its bytes, for `unexpected` to name it.
    private func request(_ encode: (inout [UInt8]) -> Void) throws(ChanError) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(&bytes)
        try stream.write(bytes)
        return bytes
    }

    private func validate(name: String) throws(ChanError) {
        guard ChannelName.isValid(name) else {
            throw ChanError.invalidArgument("bad channel name \"\(name)\": \(ChannelName.rule)")
        }
    }

    private func validate(tag: Int) throws(ChanError) {
        guard tag > 0 else { throw ChanError.invalidArgument("a delivery tag is a positive number, not \(tag)") }
    }

    private func validate(_ wait: WaitLimit) throws(ChanError) {
        if case .milliseconds(let ms) = wait, !(0...WaitLimit.maxMilliseconds).contains(ms) {
            throw ChanError.invalidArgument("a timeout is 0-\(WaitLimit.maxMilliseconds) ms")
        }
    }

    // MARK: Replies

    private enum ReplyWait {
        /// Answered at once: within the I/O timeout.
        case prompt
        /// May block for ever (SEND, RECV or SELECT without a timeout).
        case forever
        /// A RECV/SELECT with this wait: its timeout plus the I/O timeout.
        case after(WaitLimit)
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

    /// Reads one whole reply. Its first byte waits as `wait` says; once a
    /// reply has begun, each later byte at most the I/O timeout.
    private func reply(_ wait: ReplyWait) throws(ChanError) -> Reply {
        var deadline = parser.isInsideReply ? ioDeadline() : deadline(wait)
        while true {
            do {
                if let reply = try parser.next() { return reply }
            } catch {
                throw stream.malformed(error.reason)
            }
            try stream.read(into: &parser, until: deadline)
            deadline = ioDeadline()
        }
    }

    private func expectOK(_ request: [UInt8]) throws(ChanError) {
        switch try reply(.prompt) {
        case .ok: return
        case let other: throw unexpected(other, request)
        }
    }

    /// An ERR reply as a server error; any other reply that does not answer `request` as malformed.
    private func unexpected(_ reply: Reply, _ request: [UInt8]) -> ChanError {
        if case .error(let code, let text) = reply { return .server(code: code, text: text) }
        return stream.malformed("\(String(reply.summary.prefix(200))) in reply to \(firstLine(request))")
    }

    /// A request's first line, without its line end.
    private func firstLine(_ request: [UInt8]) -> String {
        String(decoding: request.prefix { $0 != UInt8(ascii: "\r") }.prefix(200), as: UTF8.self)
    }

    private func decoded<T>(_ decode: () throws(MalformedReply) -> T) throws(ChanError) -> T {
        do {
            return try decode()
        } catch {
            throw stream.malformed(error.reason)
        }
    }
}

extension SelectCase {
    var request: CaseRequest {
        switch operation {
        case .send: return .send(channel: channel, payload: payload, isException: false)
        case .throw: return .send(channel: channel, payload: payload, isException: true)
        case .receive: return .receive(channel: channel)
        }
    }
}
