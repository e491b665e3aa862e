/// The code of an `ERR <CODE> <text>` reply. A client keeps a code it does not know as it came.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public static let unknown = ErrorCode(rawValue: "UNKNOWN")
    public static let syntax = ErrorCode(rawValue: "SYNTAX")
    public static let badName = ErrorCode(rawValue: "BADNAME")
    public static let tooBig = ErrorCode(rawValue: "TOOBIG")
    public static let tooLong = ErrorCode(rawValue: "TOOLONG")
    public static let closed = ErrorCode(rawValue: "CLOSED")
    public static let exists = ErrorCode(rawValue: "EXISTS")
    public static let limit = ErrorCode(rawValue: "LIMIT")
    /// `ACK`/`NACK` of a tag the connection does not hold.
    public static let notHeld = ErrorCode(rawValue: "NOTHELD")
    /// Wrong credentials, a command the user may not run, or protected mode.
    public static let denied = ErrorCode(rawValue: "DENIED")
    /// Users are configured and the connection has not authenticated.
    public static let noAuth = ErrorCode(rawValue: "NOAUTH")
    /// `MAKE ... DURABLE` on a server without a data directory.
    public static let noStore = ErrorCode(rawValue: "NOSTORE")

    /// Every code protocol v1 defines, in protocol.md's order.
    public static let all: [ErrorCode] = [
        .unknown, .syntax, .badName, .tooBig, .tooLong, .closed, .exists, .limit, .notHeld, .denied, .noAuth, .noStore,
    ]

    public var description: String { rawValue }
}
