/// Everything a ChanClient call can fail with.
public enum ChanError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The channel is closed: a RECV found it closed and drained (`CLOSED <chan>`),
    /// or a SEND/THROW was refused (`ERR CLOSED`).
    case closed(channel: String)
    /// The operation's own timeout passed (`TIMEOUT`), or NOWAIT found nothing ready.
    case timeout
    /// The server refused the request: `ERR <code> <text>` (other than `ERR CLOSED`).
    case server(code: ServerErrorCode, text: String)
    /// No connection could be made (refused, unreachable, unknown host, connect timeout).
    case connectFailed(String)
    /// The connection ended or broke, or the server stopped answering in the
    /// middle of a reply (or a prompt command got no reply within the I/O timeout).
    case connectionLost(String)
    /// The server's reply does not follow the protocol (the connection is closed).
    case malformedReply(String)
    /// A request that cannot be put on the wire (a bad channel name, a timeout
    /// out of range); nothing was sent and the connection is still usable.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .closed(let channel): return "channel \(channel) is closed"
        case .timeout: return "timed out"
        case .server(let code, let text): return "server error: ERR \(code.rawValue) \(text)"
        case .connectFailed(let why): return "cannot connect to \(why)"
        case .connectionLost(let why): return "connection lost: \(why)"
        case .malformedReply(let why): return "malformed reply from the server: \(why)"
        case .invalidArgument(let why): return why
        }
    }
}

/// The code of an `ERR` reply. Codes this client does not know are kept as they came.
public struct ServerErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let unknown = ServerErrorCode(rawValue: "UNKNOWN")
    public static let syntax = ServerErrorCode(rawValue: "SYNTAX")
    public static let badName = ServerErrorCode(rawValue: "BADNAME")
    public static let tooBig = ServerErrorCode(rawValue: "TOOBIG")
    public static let tooLong = ServerErrorCode(rawValue: "TOOLONG")
    public static let closed = ServerErrorCode(rawValue: "CLOSED")
    public static let exists = ServerErrorCode(rawValue: "EXISTS")
    public static let limit = ServerErrorCode(rawValue: "LIMIT")

    public var description: String { rawValue }
}
