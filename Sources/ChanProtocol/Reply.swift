/// One reply of protocol v1, as a client reads it (see `ReplyParser`).
public indirect enum Reply: Equatable, Sendable {
    case ok, pong, bye, timeout
    /// `MSG <chan> <n>` (or `EXC ...` for an exception) and its n payload bytes; `MSG <chan> <n> <tag>` for a
    /// value received with ACK, held until `ACK <tag>` or `NACK <tag>`.
    case message(channel: String, payload: [UInt8], isException: Bool, tag: Int? = nil)
    /// `CLOSED <chan>`: a receive found the channel closed and drained.
    case closed(channel: String)
    /// `ERR <CODE> <text>`
    case error(code: ErrorCode, text: String)
    /// `SELECTED <index> <reply>`: the case that fired and what it alone would have answered
    /// (OK, MSG, EXC, CLOSED or ERR).
    case selected(index: Int, reply: Reply)
    /// `STAT <chan> <key>=<value> ...` (decode with `ChannelStat(name:fields:)`).
    case stat(channel: String, fields: ReplyFields)
    /// `CHANNELS <n> total=<m>`: n `channel` replies follow.
    case channels(listed: Int, total: Int)
    /// `CHANNEL <chan> <key>=<value> ...`: one line of a CHANNELS listing.
    case channel(channel: String, fields: ReplyFields)
    /// `INFO <key>=<value> ...` (the keys: `Counters`).
    case info(ReplyFields)
    /// `HELLO <key>=<value> ...` (decode with `ServerHello(fields:)`).
    case hello(ReplyFields)

    /// The reply as it reads on the wire, short (a payload by its size), for messages.
    public var summary: String {
        func text(_ token: [UInt8]) -> String { String(decoding: token, as: UTF8.self) }
        func line(_ token: [UInt8], _ rest: String) -> String { rest.isEmpty ? text(token) : text(token) + " " + rest }
        switch self {
        case .ok: return text(Wire.ok)
        case .pong: return text(Wire.pong)
        case .bye: return text(Wire.bye)
        case .timeout: return text(Wire.timeout)
        case .message(let channel, let payload, let isException, let tag):
            return line(isException ? Wire.exc : Wire.msg, "\(channel) \(payload.count)" + (tag.map { " \($0)" } ?? ""))
        case .closed(let channel): return line(Wire.closed, channel)
        case .error(let code, let message): return line(Wire.err, line(Array(code.rawValue.utf8), message))
        case .selected(let index, let reply): return line(Wire.selected, "\(index) \(reply.summary)")
        case .stat(let channel, let fields): return line(Wire.stat, line(Array(channel.utf8), fields.description))
        case .channels(let listed, let total): return line(Wire.channels, "\(listed) \(Wire.total)=\(total)")
        case .channel(let channel, let fields): return line(Wire.channel, line(Array(channel.utf8), fields.description))
        case .info(let fields): return line(Wire.info, fields.description)
        case .hello(let fields): return line(Wire.hello, fields.description)
        }
    }
}

/// The `key=value` fields of an INFO, HELLO, STAT or CHANNEL line, in the order the server sent them.
public struct ReplyFields: Equatable, Sendable, CustomStringConvertible {
    public var pairs: [(key: String, value: String)]

    public init(pairs: [(key: String, value: String)] = []) { self.pairs = pairs }

    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// The value of `key` as an integer, when it is one.
    public func integer(_ key: String) -> Int? { self[key].flatMap { Int($0) } }

    public var dictionary: [String: String] {
        Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// `key=value key=value ...`
    public var description: String { pairs.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }

    public static func == (a: ReplyFields, b: ReplyFields) -> Bool {
        a.pairs.elementsEqual(b.pairs) { $0.key == $1.key && $0.value == $1.value }
    }
}

/// A reply that does not follow the protocol; the connection it came on is out of step and must be closed.
public struct MalformedReply: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
