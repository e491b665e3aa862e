import ChanCore

/// One case of a select, made from a channel the way the stackless.py select
/// prototype makes them: `jobs.sendCase(value)`, `events.receiveCase()`.
public struct SelectCase: Equatable, Sendable {
    public enum Operation: String, Sendable {
        case send, `throw`, receive
    }

    public var channel: String
    public var operation: Operation
    /// The value a send or throw case offers; empty for a receive case.
    public var payload: [UInt8]

    public init(channel: String, operation: Operation, payload: [UInt8] = []) {
        self.channel = channel
        self.operation = operation
        self.payload = payload
    }

    public static func send(_ channel: String, _ payload: [UInt8]) -> SelectCase {
        SelectCase(channel: channel, operation: .send, payload: payload)
    }

    public static func send(_ channel: String, _ text: String) -> SelectCase {
        send(channel, Array(text.utf8))
    }

    public static func `throw`(_ channel: String, _ payload: [UInt8]) -> SelectCase {
        SelectCase(channel: channel, operation: .throw, payload: payload)
    }

    public static func `throw`(_ channel: String, _ text: String) -> SelectCase {
        `throw`(channel, Array(text.utf8))
    }

    public static func receive(_ channel: String) -> SelectCase {
        SelectCase(channel: channel, operation: .receive)
    }
}

/// The case a select performed.
public struct Selected: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// A send or throw case handed its value over (or buffered it).
        case sent
        /// A receive case took this value.
        case received(Message)
        /// The case's channel is closed: a receive case found it closed and
        /// drained, or a send/throw case was refused (`ERR CLOSED`).
        case closed
    }

    /// The case's position in the list given to `select`, from 0.
    public var index: Int
    public var channel: String
    public var operation: SelectCase.Operation
    public var outcome: Outcome

    /// The value that moved: the received message's payload for a receive
    /// case, the payload sent for a send/throw case; nil when the channel was closed.
    public var value: [UInt8]?

    /// The received message, for a receive case that got one.
    public var message: Message? {
        if case .received(let m) = outcome { return m }
        return nil
    }
}

/// A channel of one client's connection: a name and the client that uses it.
/// Operations on it are the client's (`jobs.send("x")` is `client.send("jobs", "x")`).
public struct Channel {
    public let client: ChanClient
    public let name: String

    public init(client: ChanClient, name: String) {
        self.client = client
        self.name = name
    }

    public func sendCase(_ payload: [UInt8]) -> SelectCase { .send(name, payload) }
    public func sendCase(_ text: String) -> SelectCase { .send(name, text) }
    public func throwCase(_ payload: [UInt8]) -> SelectCase { .throw(name, payload) }
    public func throwCase(_ text: String) -> SelectCase { .throw(name, text) }
    public func receiveCase() -> SelectCase { .receive(name) }

    public func send(_ payload: [UInt8], timeout: WaitLimit = .forever) throws(ChanError) {
        try client.send(name, payload, timeout: timeout)
    }

    public func send(_ text: String, timeout: WaitLimit = .forever) throws(ChanError) {
        try client.send(name, text, timeout: timeout)
    }

    public func `throw`(_ payload: [UInt8], timeout: WaitLimit = .forever) throws(ChanError) {
        try client.throw(name, payload, timeout: timeout)
    }

    public func `throw`(_ text: String, timeout: WaitLimit = .forever) throws(ChanError) {
        try client.throw(name, text, timeout: timeout)
    }

    public func receive(timeout: WaitLimit = .forever, ack: Bool = false) throws(ChanError) -> Message {
        try client.recv(name, timeout: timeout, ack: ack)
    }

    public func make(capacity: Int = 0, preference: Preference = .receiver, durable: Bool = false) throws(ChanError) {
        try client.make(name, capacity: capacity, preference: preference, durable: durable)
    }

    public func close() throws(ChanError) { try client.close(name) }

    public func stat() throws(ChanError) -> ChannelStat { try client.stat(name) }
}
