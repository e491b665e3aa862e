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

    /// Every code protocol v1 defines, in protocol.md's order.
    public static let all: [ErrorCode] = [.unknown, .syntax, .badName, .tooBig, .tooLong, .closed, .exists, .limit]

    public var description: String { rawValue }
}
