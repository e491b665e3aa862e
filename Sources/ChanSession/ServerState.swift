import ChanCore
import Logging

/// The time as the event loop sees it.
public protocol SessionClock: AnyObject {
    /// Milliseconds as of this loop iteration (cheap; may lag by the iteration's work).
    var milliseconds: UInt64 { get }
    /// Milliseconds as of now: a timeout counts from the moment its request runs.
    func currentMilliseconds() -> UInt64
    /// Monotonic nanoseconds, for the blocked-time histogram.
    func nanoseconds() -> UInt64
}

/// What every session of one server shares: the engine, the settings, the
/// counters and the clock.
public final class ServerState {
    public let config: ServerConfig
    public let engine: Engine
    public let logger: Logger
    public let clock: any SessionClock
    public var stats = ServerStats()
    /// The durable channels' store, when the server has a data directory.
    public var durable: (any DurableReplies)?
    /// Seconds that SEND/RECV/SELECT waited before a partner completed them.
    public var blockedSeconds = Histogram(bounds: [0.0001, 0.001, 0.01, 0.1, 1, 10, 60, 600])
    public let startedAt: UInt64
    /// The users file; nil: none, every connection may run every command.
    public internal(set) var users: (any UserDirectory)?
    /// Users are configured: a connection must AUTH, and each command is
    /// checked against its user's grants. A plain flag, so that a server
    /// without users pays one test per command.
    public internal(set) var requiresLogin = false
    /// The transport checks AUTH secrets off the loop (`Session.Actions.authenticate`);
    /// else they are checked at once, on the loop.
    public var authenticatesOffLoop = false
    /// Changes with every `setUsers`: a session holding an older one looks its user up again.
    var usersGeneration = 0

    public init(config: ServerConfig, logger: Logger = Logger(label: "chand"), clock: any SessionClock) {
        self.config = config
        self.logger = logger
        self.clock = clock
        let random = config.seed.map { Xoshiro256(seed: $0) } ?? Xoshiro256()
        engine = Engine(random: random, maxChannels: config.maxChannels, maxMemory: config.maxMemory)
        startedAt = clock.milliseconds
    }
}
