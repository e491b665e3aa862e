import ChanCore

/// Limits a server enforces on requests (HELLO reports them to clients).
public struct ProtocolLimits: Sendable {
    /// Longest command line in bytes, line end not counted. A longer line is discarded and answered `ERR TOOLONG`.
    public var maxLine: Int
    /// Largest SEND/THROW payload in bytes. A larger counted payload is answered `ERR TOOBIG` and skipped.
    public var maxPayload: Int
    /// Most cases one SELECT may have; more is answered `ERR LIMIT`.
    public var maxSelectCases: Int
    /// Largest `MAKE ... CAP <n>`: how many messages one channel may buffer; more is answered `ERR LIMIT`.
    /// The default, one million, is far above any sane queue depth yet keeps one client from asking a
    /// channel to promise unbounded buffering.
    public var maxCapacity: Int

    /// Most channels one CHANNELS reply lists (and the largest `TOP <n>`); `total=` tells how many matched.
    public static let maxListedChannels = Wire.maxListedChannels

    public init(maxLine: Int = 65536, maxPayload: Int = 1 << 20, maxSelectCases: Int = 256, maxCapacity: Int = 1_000_000) {
        self.maxLine = maxLine
        self.maxPayload = maxPayload
        self.maxSelectCases = maxSelectCases
        self.maxCapacity = maxCapacity
    }
}

/// `MAKE ... PREFER RECEIVER|SENDER|NONE`: which side keeps running when a rendezvous happens
/// (on the wire in STAT: -1, 0, 1). The engine's own type, so that no conversion sits between them.
public typealias Preference = ChanCore.Preference

/// Where a parser takes its counted payloads' arrays from (the engine's, so that delivered values' storage
/// comes back to it).
public typealias PayloadPool = ChanCore.PayloadPool

/// How long a RECV or SELECT may block.
public enum WaitLimit: Equatable, Sendable {
    /// No TIMEOUT given.
    case forever
    /// `NOWAIT` or `TIMEOUT 0`.
    case nowait
    /// `TIMEOUT <ms>`, 1...2^31-1.
    case milliseconds(Int)

    /// The longest `TIMEOUT <ms>` the protocol takes (about 24.8 days).
    public static let maxMilliseconds = Wire.maxTimeoutMilliseconds
}

/// The secret of an `AUTH` request. Its description never shows the bytes, so logging a command cannot leak it.
public struct Secret: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<secret>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// One case of a SELECT.
public enum CaseRequest: Equatable, Sendable {
    case send(channel: String, payload: [UInt8], isException: Bool)
    case receive(channel: String)
}

/// One parsed request.
public enum Command: Equatable, Sendable {
    case ping, quit, info, hello
    /// CHANNELS: by name, or the `top` busiest.
    case channels(prefix: String?, top: Int?)
    /// SEND (isException false) or THROW (true).
    case send(channel: String, payload: [UInt8], isException: Bool)
    /// RECV; `hold`: ACK was given, the value is held until acknowledged.
    case receive(channel: String, wait: WaitLimit, hold: Bool)
    /// SELECT; `hold` applies to its RECV cases.
    case select(cases: [CaseRequest], wait: WaitLimit, hold: Bool)
    case make(channel: String, capacity: Int?, preference: Preference?, durable: Bool)
    case close(channel: String)
    case open(channel: String)
    case delete(channel: String)
    /// ACK <tag>: the held value is the receiver's.
    case acknowledge(tag: Int)
    /// NACK <tag>: the held value goes back to its channel.
    case giveBack(tag: Int)
    case auth(user: String, secret: Secret)
    case stat(channel: String)
    /// A request that could not be parsed; the server replies with it in order.
    /// closeAfter: the connection must be closed after this reply.
    case invalid(code: ErrorCode, text: String, closeAfter: Bool)
}
