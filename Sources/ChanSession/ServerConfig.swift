import ChanProtocol

/// Everything the daemon's flags can set.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 binds any free port; `Server.start()` returns the real one.
    public var port = 7400
    /// Serve Prometheus metrics over HTTP on this port (0: a free one); nil: off.
    public var metricsPort: Int?
    /// The interface the metrics endpoint listens on (loopback unless asked).
    public var metricsHost = "127.0.0.1"
    /// The users file (`--users`); nil: no users, no AUTH.
    public var usersFile: String?
    /// Without a users file, serve only loopback clients.
    public var protectedMode = true
    /// PEM certificate chain and key: when both are set the listener speaks TLS only.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// PEM CA file: clients must present a certificate signed by it.
    public var tlsClientCA: String?
    /// Seconds a TLS handshake may take before the connection is closed.
    public var tlsHandshakeSeconds = 10
    public var limits = ProtocolLimits()
    public var maxConnections = 10_000
    public var maxChannels = 1_000_000
    /// Seeds the select generator, for reproducible runs; nil seeds from the system.
    public var seed: UInt64?
    /// A connection whose replies waiting to be written pass this many bytes
    /// stops having its commands run (and its socket read) until they drain.
    public var outputHighWater = 1 << 20
    /// A blocked connection stops being read once this many bytes of later
    /// commands are waiting.
    public var inputHighWater = 64 << 10
    /// Requests one connection runs before the others get their turn (the
    /// rest run on the loop's next iteration).
    public var commandsPerTurn = 64
    /// Values one connection may hold (received with ACK, not yet acknowledged).
    public var maxHeld = 1024
    /// Seconds a closed, drained channel nobody waits on is remembered
    /// (RECV answers CLOSED) before the name is forgotten.
    public var closedTTLSeconds = 60
    /// Bytes of buffered and held values, all channels together; a SEND that
    /// would be buffered past it waits as if its buffer were full.
    public var maxMemory = 256 << 20
    /// Table positions a CHANNELS listing walks per turn of its connection.
    public var listingStep = 16384
    /// Idle seconds before TCP keepalive probes start on a client socket.
    public var keepaliveSeconds = 60

    public init() {}
}
