/// A value received from a channel.
public struct Message: Equatable, Sendable {
    /// The channel it came from.
    public var channel: String
    /// The bytes, exactly as sent.
    public var payload: [UInt8]
    /// True when it was sent with THROW (the wire's `EXC`): in Stackless terms an
    /// exception raised in the receiver, here handed over for the caller to raise.
    public var isException: Bool
    /// For a value received with `ack: true`: its delivery tag. The connection
    /// holds the value until `acknowledge(tag)` (the sender then gets its OK)
    /// or `giveBack(tag)` (it goes back to the front of its channel); if the
    /// connection ends first, the value goes back too. Nil otherwise.
    public var tag: Int?

    public init(channel: String, payload: [UInt8], isException: Bool = false, tag: Int? = nil) {
        self.channel = channel
        self.payload = payload
        self.isException = isException
        self.tag = tag
    }

    /// The payload decoded as UTF-8 (invalid sequences replaced).
    public var string: String { String(decoding: payload, as: UTF8.self) }
}

extension Preference {
    /// Every preference, in the order people list them.
    public static let all: [Preference] = [.receiver, .sender, .none]

    /// How people read it (the wire says -1, 1, 0): `receiver`, `sender`, `none`, as in `chan make --prefer`.
    public var name: String {
        switch self {
        case .receiver: return "receiver"
        case .sender: return "sender"
        case .none: return "none"
        }
    }

    public init?(name: String) {
        guard let found = Preference.all.first(where: { $0.name == name }) else { return nil }
        self = found
    }
}

/// The reply to `CHANNELS [<prefix>]`.
public struct ChannelList: Equatable, Sendable {
    /// The channels listed (sorted by name, or busiest first for `top`; the server lists at most 1000).
    public var channels: [ChannelStat]
    /// How many channels match the prefix, listed or not.
    public var total: Int

    public init(channels: [ChannelStat], total: Int) {
        self.channels = channels
        self.total = total
    }
}
