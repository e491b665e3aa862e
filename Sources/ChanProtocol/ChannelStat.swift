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
    /// `preference`: -1, 0, 1 on the wire.
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
    /// Values delivered with ACK and not yet acknowledged (`held`).
    public var held: Int
    /// Whether the channel exists (`exists=0|1`); nil from a server that does not say.
    /// STAT of a name nobody uses describes a fresh channel, with `exists=0`.
    public var exists: Bool?
    /// Made with `MAKE ... DURABLE` (`durable=0|1`); nil from a server that does not say.
    public var durable: Bool?

    public init(name: String, capacity: Int, count: Int, balance: Int, state: State, preference: Preference,
                senders: Int, receivers: Int, isPersistent: Bool, sent: Int = 0, received: Int = 0, rate: Int = 0,
                held: Int = 0, exists: Bool? = nil, durable: Bool? = nil) {
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
        self.held = held
        self.exists = exists
        self.durable = durable
    }

    /// The field names, in the wire's order.
    public enum Key {
        public static let capacity = "cap", count = "len", balance = "balance", state = "state"
        public static let preference = "preference", senders = "senders", receivers = "receivers"
        public static let persistent = "persistent", sent = "sent", received = "received", rate = "rate"
        public static let held = "held", exists = "exists", durable = "durable"
    }

    /// The fields in the wire's order and spelling (`exists` and `durable` last, when known).
    public var fields: ReplyFields {
        var pairs: [(key: String, value: String)] = [
            (Key.capacity, "\(capacity)"), (Key.count, "\(count)"), (Key.balance, "\(balance)"),
            (Key.state, state.rawValue), (Key.preference, "\(preference.rawValue)"),
            (Key.senders, "\(senders)"), (Key.receivers, "\(receivers)"), (Key.persistent, isPersistent ? "1" : "0"),
            (Key.sent, "\(sent)"), (Key.received, "\(received)"), (Key.rate, "\(rate)"), (Key.held, "\(held)"),
        ]
        if let exists { pairs.append((Key.exists, exists ? "1" : "0")) }
        if let durable { pairs.append((Key.durable, durable ? "1" : "0")) }
        return ReplyFields(pairs: pairs)
    }

    /// Reads the fields of a STAT or CHANNEL line. Keys it does not know are ignored; the activity fields
    /// (`sent`, `received`, `rate`, `held`) came later than the others and read as 0 when absent, `exists` and
    /// `durable` as nil.
    public init(name: String, fields: ReplyFields) throws(MalformedReply) {
        let values = fields.dictionary
        func int(_ key: String) throws(MalformedReply) -> Int {
            guard let text = values[key], let value = Int(text) else { throw MalformedReply("\(name) without a number for \(key)") }
            return value
        }
        func optionalInt(_ key: String) throws(MalformedReply) -> Int {
            values[key] == nil ? 0 : try int(key)
        }
        func flag(_ key: String) throws(MalformedReply) -> Bool {
            let value = try int(key)
            guard value == 0 || value == 1 else { throw MalformedReply("\(name) with \(key)=\(value)") }
            return value == 1
        }
        guard let state = values[Key.state].flatMap(State.init(rawValue:)) else {
            throw MalformedReply("\(name) with no known state")
        }
        guard let preference = Preference(rawValue: try int(Key.preference)) else {
            throw MalformedReply("\(name) with no known preference")
        }
        self.init(name: name, capacity: try int(Key.capacity), count: try int(Key.count), balance: try int(Key.balance),
                  state: state, preference: preference, senders: try int(Key.senders), receivers: try int(Key.receivers),
                  isPersistent: try flag(Key.persistent), sent: try optionalInt(Key.sent),
                  received: try optionalInt(Key.received), rate: try optionalInt(Key.rate),
                  held: try optionalInt(Key.held), exists: values[Key.exists] == nil ? nil : try flag(Key.exists),
                  durable: values[Key.durable] == nil ? nil : try flag(Key.durable))
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
    /// The most values one connection may hold (received with ACK and not yet acknowledged); nil from a
    /// server without acknowledged delivery.
    public var maxHeld: Int?
    /// Every field, known or not.
    public var fields: ReplyFields

    /// The field names, in the wire's order.
    public enum Key {
        public static let protocolVersion = "proto", server = "server", maxLine = "max_line"
        public static let maxPayload = "max_payload", maxSelectCases = "max_select_cases"
        public static let maxCapacity = "max_capacity", maxChannels = "max_channels"
        public static let maxConnections = "max_connections", maxHeld = "max_held"
    }

    /// What a server's name starts with (`server=chand/0.1.0`).
    public static let serverPrefix = "chand/"

    public init(fields: ReplyFields) throws(MalformedReply) {
        func int(_ key: String) throws(MalformedReply) -> Int {
            guard let value = fields.integer(key) else { throw MalformedReply("HELLO without a number for \(key)") }
            return value
        }
        guard let server = fields[Key.server] else { throw MalformedReply("HELLO without \(Key.server)=") }
        self.protocolVersion = try int(Key.protocolVersion)
        self.server = server
        self.maxLine = try int(Key.maxLine)
        self.maxPayload = try int(Key.maxPayload)
        self.maxSelectCases = try int(Key.maxSelectCases)
        self.maxCapacity = try int(Key.maxCapacity)
        self.maxChannels = try int(Key.maxChannels)
        self.maxConnections = try int(Key.maxConnections)
        self.maxHeld = fields[Key.maxHeld] == nil ? nil : try int(Key.maxHeld)
        self.fields = fields
    }
}
