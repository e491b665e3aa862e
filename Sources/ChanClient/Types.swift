/// A value received from a channel.
public struct Message: Equatable, Sendable {
    /// The channel it came from.
    public var channel: String
    /// The bytes, exactly as sent.
    public var payload: [UInt8]
    /// True when it was sent with THROW (the wire's `EXC`): in Stackless terms an
    /// exception raised in the receiver, here handed over for the caller to raise.
    public var isException: Bool

    public init(channel: String, payload: [UInt8], isException: Bool = false) {
        self.channel = channel
        self.payload = payload
        self.isException = isException
    }

    /// The payload decoded as UTF-8 (invalid sequences replaced).
    public var string: String { String(decoding: payload, as: UTF8.self) }
}

/// How long a RECV, a SELECT or a timed SEND may wait.
public enum Wait: Equatable, Sendable {
    /// Until it completes.
    case forever
    /// Not at all: `NOWAIT`, `.timeout` at once when nothing is ready.
    case nowait
    /// At most this many milliseconds (0 is `.nowait`; at most 2147483647).
    case milliseconds(Int)
}

/// Who runs first after a rendezvous on a channel (`MAKE ... PREFER`).
public enum Preference: Int, Sendable, CaseIterable {
    case receiver = -1
    case none = 0
    case sender = 1

    /// The MAKE keyword: `RECEIVER`, `NONE`, `SENDER`.
    public var keyword: String {
        switch self {
        case .receiver: return "RECEIVER"
        case .none: return "NONE"
        case .sender: return "SENDER"
        }
    }
}

/// A channel's state, as `STAT` (or a `CHANNEL` line of `CHANNELS`) reports it.
public struct ChannelStat: Equatable, Sendable {
    public enum State: String, Sendable {
        case open, closing, closed
    }

    public var name: String
    /// Buffer capacity (`cap`); 0 is a rendezvous channel.
    public var capacity: Int
    /// Values in the buffer (`len`).
    public var count: Int
    /// Senders waiting minus receivers waiting (`balance`).
    public var balance: Int
    public var state: State
    public var preference: Preference
    /// Senders waiting (`senders`).
    public var senders: Int
    /// Receivers waiting (`receivers`).
    public var receivers: Int
    /// Made by MAKE (`persistent=1`), so kept while idle.
    public var isPersistent: Bool
    /// Values that entered the channel since it was created (`sent`).
    public var sent: Int
    /// Values taken from the channel since it was created (`received`).
    public var received: Int
    /// Values moved (sent + received) in the server's last whole second (`rate`).
    public var rate: Int

    public init(name: String, capacity: Int, count: Int, balance: Int, state: State, preference: Preference,
                senders: Int, receivers: Int, isPersistent: Bool, sent: Int = 0, received: Int = 0, rate: Int = 0) {
        self.name = name
        self.capacity = capacity
        self.count = count
        self.balance = balance
        self.state = state
        self.preference = preference
        self.senders = senders
        self.receivers = receivers
        self.isPersistent = isPersistent
        self.sent = sent
        self.received = received
        self.rate = rate
    }

    /// The fields in the wire's order and spelling: `cap=0 len=0 balance=0 ...`.
    public var fieldsDescription: String {
        "cap=\(capacity) len=\(count) balance=\(balance) state=\(state.rawValue) preference=\(preference.rawValue)"
            + " senders=\(senders) receivers=\(receivers) persistent=\(isPersistent ? 1 : 0)"
            + " sent=\(sent) received=\(received) rate=\(rate)"
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

/// `key=value` fields of an `INFO` or `HELLO` line, in the order the server sent them.
public struct ServerFields: Equatable, Sendable {
    public var pairs: [(key: String, value: String)]

    public init(pairs: [(key: String, value: String)]) { self.pairs = pairs }

    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// The value of `key` as an integer, when it is one.
    public func integer(_ key: String) -> Int? { self[key].flatMap { Int($0) } }

    public var dictionary: [String: String] {
        Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    public static func == (a: ServerFields, b: ServerFields) -> Bool {
        a.pairs.elementsEqual(b.pairs) { $0.key == $1.key && $0.value == $1.value }
    }
}

/// The reply to `HELLO`: the protocol version and the limits the server enforces.
public struct ServerHello: Equatable, Sendable {
    public var protocolVersion: Int
    /// `chand/<version>`.
    public var server: String
    public var maxLine: Int
    public var maxPayload: Int
    public var maxSelectCases: Int
    public var maxCapacity: Int
    public var maxChannels: Int
    public var maxConnections: Int
    /// Every field, known or not.
    public var fields: ServerFields
}
