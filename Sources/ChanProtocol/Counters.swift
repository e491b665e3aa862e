/// One figure of the `INFO` reply: its wire name, how Prometheus shows it, and how `chan top` labels it.
public struct Counter: Sendable {
    public enum Kind: String, Sendable {
        /// Only grows while the server runs (shown per second).
        case counter
        /// Goes up and down.
        case gauge
    }

    /// The INFO key.
    public let key: String
    public let kind: Kind
    /// `# HELP` text.
    public let help: String
    /// The Prometheus metric (without the `chand_` prefix) and, when several INFO keys share one metric,
    /// the label that tells them apart (`state="blocked"`). nil: not exported (`uptime_ms`).
    public let metric: String?
    public let label: (name: String, value: String)?
    /// The short label `chan top` shows it under; nil: not shown.
    public let display: String?

    public init(_ key: String, _ kind: Kind, help: String, metric: String?, label: (name: String, value: String)? = nil,
                display: String? = nil) {
        self.key = key
        self.kind = kind
        self.help = help
        self.metric = metric
        self.label = label
        self.display = display
    }

    /// `chand_<metric>{<label>}`, or nil when not exported.
    public var prometheusSample: String? {
        guard let metric else { return nil }
        return "chand_" + metric + (label.map { "{\($0.name)=\"\($0.value)\"}" } ?? "")
    }
}

/// Every INFO figure, in the order INFO lists them (protocol.md, INFO). The server builds INFO and the
/// Prometheus text from this table, and `chan top` reads it to label what it shows.
public enum Counters {
    public static let connections = Counter("connections", .gauge, help: "Open client connections.",
                                            metric: "connections", display: "connections")
    public static let connectionsTotal = Counter("connections_total", .counter, help: "Client connections accepted.",
                                                 metric: "connections_accepted_total")
    public static let connectionsRefused = Counter("connections_refused", .counter,
                                                   help: "Connections refused at max-connections.",
                                                   metric: "connections_refused_total")
    public static let taskletsBlocked = Counter("tasklets_blocked", .gauge, help: taskletsHelp, metric: "tasklets",
                                                label: ("state", "blocked"), display: "blocked")
    public static let taskletsRunnable = Counter("tasklets_runnable", .gauge, help: taskletsHelp, metric: "tasklets",
                                                 label: ("state", "runnable"), display: "runnable")
    public static let channels = Counter("channels", .gauge, help: "Channels that exist.", metric: "channels",
                                         display: "channels")
    public static let channelsClosed = Counter("channels_closed", .gauge,
                                               help: "Closed channels not yet forgotten (see --closed-ttl).",
                                               metric: "channels_closed")
    public static let commands = Counter("commands", .counter, help: "Requests run.", metric: "commands_total",
                                         display: "commands")
    public static let sends = operation("sends", "send")
    public static let throws_ = operation("throws", "throw")
    public static let receives = operation("receives", "receive")
    public static let selects = operation("selects", "select")
    public static let closes = operation("closes", "close")
    public static let opens = operation("opens", "open", shown: false)
    public static let deletes = operation("deletes", "delete", shown: false)
    public static let rendezvous = outcome("rendezvous", "rendezvous")
    public static let buffered = outcome("buffered", "buffered")
    public static let timeouts = outcome("timeouts", "timeout")
    public static let held = Counter("held", .gauge, help: "Values delivered with ACK and not yet acknowledged.",
                                     metric: "held_values")
    public static let redelivered = Counter("redelivered", .counter,
                                            help: "Held values given back (NACK, or their holder ended) and offered again.",
                                            metric: "redelivered_total")
    public static let valuesDropped = Counter("values_dropped", .counter, help: "Buffered values dropped by DELETE.",
                                              metric: "values_dropped_total")
    public static let memoryUsed = Counter("memory_used", .gauge,
                                           help: "Bytes of buffered and held values, all channels together.",
                                           metric: "memory_used_bytes")
    public static let memoryMax = Counter("memory_max", .gauge,
                                          help: "The bound on memory_used (--max-memory): past it, SENDs wait.",
                                          metric: "memory_max_bytes")
    public static let valuesLost = Counter("values_lost", .counter,
                                           help: "Values matched to a receiver whose connection died before they were written.",
                                           metric: "values_lost_total", display: "lost")
    /// The durable channels' store (chand --data-dir); zero without one, as
    /// Redis's INFO shows its persistence fields with AOF off.
    public static let storeEnabled = Counter("store_enabled", .gauge, help: "1 when the server has a data directory (--data-dir).",
                                             metric: "store_enabled")
    public static let storeChannels = Counter("store_channels", .gauge, help: "Durable channels.",
                                              metric: "store_channels")
    public static let storeValues = Counter("store_values", .gauge,
                                            help: "Values in durable channels' store (delivered ones not yet removed included).",
                                            metric: "store_values")
    public static let storeDiskBytes = Counter("store_disk_bytes", .gauge, help: "Bytes of the store's files.",
                                               metric: "store_disk_bytes")
    public static let storeLiveBytes = Counter("store_live_bytes", .gauge,
                                               help: "Bytes a snapshot of the store's live data would take.",
                                               metric: "store_live_bytes")
    public static let storeSegments = Counter("store_segments", .gauge, help: "The store's segment files.",
                                              metric: "store_segments")
    public static let storeFsyncs = Counter("store_fsyncs", .counter, help: "fsyncs of the store's segments.",
                                            metric: "store_fsyncs_total")
    public static let storeFsyncLast = Counter("store_fsync_last_us", .gauge, help: "Microseconds the last fsync took.",
                                               metric: "store_fsync_last_microseconds")
    public static let storeFsyncMax = Counter("store_fsync_max_us", .gauge, help: "Microseconds the longest fsync took.",
                                              metric: "store_fsync_max_microseconds")
    public static let storeCompactions = Counter("store_compactions", .counter,
                                                 help: "Compactions of the store into a snapshot.",
                                                 metric: "store_compactions_total")
    public static let storeCompactionMax = Counter("store_compaction_max_us", .gauge,
                                                   help: "Microseconds the longest compaction took on its own thread.",
                                                   metric: "store_compaction_max_microseconds")
    public static let storeFailed = Counter("store_failed", .gauge,
                                            help: "1 once writing or syncing the store failed (durable changes are no longer answered).",
                                            metric: "store_failed")
    /// `errors_<code>` for every error code.
    public static let errors: [Counter] = ErrorCode.all.map { code in
        Counter("errors_" + code.rawValue.lowercased(), .counter, help: "ERR replies by code.", metric: "errors_total",
                label: ("code", code.rawValue))
    }
    public static let uptime = Counter("uptime_ms", .gauge, help: "Milliseconds since the server started.", metric: nil)

    public static let all: [Counter] =
        [connections, connectionsTotal, connectionsRefused, taskletsBlocked, taskletsRunnable, channels, channelsClosed,
         commands, sends, throws_, receives, selects, rendezvous, buffered, timeouts, closes, opens, deletes, held, redelivered, valuesDropped,
         memoryUsed, memoryMax, valuesLost, storeEnabled, storeChannels, storeValues, storeDiskBytes, storeLiveBytes,
         storeSegments, storeFsyncs, storeFsyncLast, storeFsyncMax, storeCompactions, storeCompactionMax, storeFailed]
        + errors + [uptime]

    private static let taskletsHelp = "Connections blocked in SEND/RECV/SELECT, and woken but not yet resumed."

    /// A request, by kind: the kinds of `operations_total` add up to the channel requests run.
    /// `shown`: `chan top` lists it among its rates (its lines have room for the busiest kinds only).
    private static func operation(_ key: String, _ kind: String, shown: Bool = true) -> Counter {
        Counter(key, .counter, help: "Channel requests by kind (SELECT once, its cases in send/throw/receive).",
                metric: "operations_total", label: ("kind", kind), display: shown ? key : nil)
    }

    /// How a value moved or a wait ended: counted apart from the requests, so no sum counts twice.
    private static func outcome(_ key: String, _ kind: String) -> Counter {
        Counter(key, .counter, help: "Values handed over directly, values buffered, and waits that timed out.",
                metric: "outcomes_total", label: ("kind", kind), display: key)
    }
}
