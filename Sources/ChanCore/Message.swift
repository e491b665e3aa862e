/// A value travelling through a channel: its bytes, and whether it was sent
/// as an exception (Stackless `send_exception`, the wire's THROW; rule 18).
public struct Message: Hashable, Sendable {
    public var payload: [UInt8]
    public var isException: Bool

    public init(_ payload: [UInt8], isException: Bool = false) {
        self.payload = payload
        self.isException = isException
    }

    /// An empty value (the model test uses it as the value of RECV cases).
    static let empty = Message([])
}

/// What a tasklet's select (or single SEND / RECV, a one-case select, rule 14)
/// ended with. `case` is the index of the case that fired.
public enum Completion: Hashable, Sendable {
    /// The value was taken by a receiver or stored in the buffer.
    case sent(case: Int)
    /// The value; after a receive with `hold` the receiver holds it (rule
    /// 22), under the tag `Tasklet.lastHeldTag`.
    case received(case: Int, Message)
    /// A SEND case on a closing or closed channel (rule 15).
    case sendFailedClosed(case: Int)
    /// A RECV case on a closed channel (rule 15).
    case receivedClosed(case: Int)
    /// NOWAIT found nothing ready, or the deadline passed.
    case timedOut
}

/// The result of asking the engine to run a select for a tasklet.
public enum Outcome: Equatable, Sendable {
    /// Done; the tasklet carries on (its reply can be written now).
    case completed(Completion)
    /// Done, but the channel preferred the blocked partner, which runs first
    /// (rule 17): the completion is stored on the tasklet, which now waits at
    /// the tail of the runnable queue.
    case yielded
    /// Nothing was ready: one chanop per case is queued and the tasklet waits.
    case blocked
}

/// How long a select may wait.
public enum Wait: Equatable, Sendable {
    case forever
    /// Complete at once as timed out when no case is ready (rule 11).
    case nowait
    /// Time out at this instant, in the milliseconds of the clock passed to
    /// `Engine.expireDeadlines(now:)`.
    case deadline(UInt64)
}

/// Which side a channel lets run first after a rendezvous (rules 16-17).
public enum Preference: Int, Equatable, Sendable {
    case receiver = -1
    case none = 0
    case sender = 1
}

/// One case of a select, as a caller states it.
public struct SelectCase {
    public enum Operation {
        case send(Message)
        case receive
    }
    public let channel: Channel
    public let operation: Operation

    public init(_ channel: Channel, _ operation: Operation) {
        self.channel = channel
        self.operation = operation
    }

    public static func send(_ channel: Channel, _ message: Message) -> SelectCase {
        SelectCase(channel, .send(message))
    }

    public static func receive(_ channel: Channel) -> SelectCase {
        SelectCase(channel, .receive)
    }

    /// The channel, for reading without a retain: valid while the select's
    /// case array lives.
    var channelRef: Unmanaged<Channel> { Unmanaged.passUnretained(channel) }

    var isSend: Bool {
        if case .send = operation { return true }
        return false
    }

    /// The value of a SEND case; nil for a RECV.
    var message: Message? {
        if case .send(let m) = operation { return m }
        return nil
    }
}
