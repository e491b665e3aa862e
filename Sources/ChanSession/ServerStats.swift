import ChanProtocol

/// Server-wide counters for INFO (engine counters are added there).
public struct ServerStats {
    public var connectionsOpen = 0
    public var connectionsTotal = 0
    public var connectionsRefused = 0
    public var commands = 0
    /// Values matched to a receiver whose connection died before the value
    /// reached the kernel (architecture.md, "Delivery truth").
    public var valuesLost = 0
    public var errors: [ErrorCode: Int] = [:]
    /// Metrics connections closed unanswered: over the limit, or too slow to send their request.
    public var metricsRefused = 0

    public init() {}
}
