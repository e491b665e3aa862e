import ChanProtocol

/// Everything a ChanClient call can fail with.
public enum ChanError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The channel is closed: a RECV found it closed and drained (`CLOSED <chan>`),
    /// or a SEND/THROW was refused (`ERR CLOSED`).
    case closed(channel: String)
    /// The operation's own timeout passed (`TIMEOUT`), or NOWAIT found nothing ready.
    case timeout
    /// The server refused the request: `ERR <code> <text>` (other than `ERR CLOSED`).
    case server(code: ErrorCode, text: String)
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
        case .server(let code, let text): return "server error: \(Reply.error(code: code, text: text).summary)"
        case .connectFailed(let why): return "cannot connect to \(why)"
        case .connectionLost(let why): return "connection lost: \(why)"
        case .malformedReply(let why): return "malformed reply from the server: \(why)"
        case .invalidArgument(let why): return why
        }
    }
}
