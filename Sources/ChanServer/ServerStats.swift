import ChanProtocol

/// Server-wide counters for INFO (engine counters are added there).
struct ServerStats {
    var connectionsOpen = 0
    var connectionsTotal = 0
    var connectionsRefused = 0
    var commands = 0
    /// Values matched to a receiver whose connection died before the value
    /// reached the kernel (architecture.md, "Delivery truth").
    var valuesLost = 0
    var errors: [ErrorCode: Int] = [:]

    static let errorCodes: [ErrorCode] = [.unknown, .syntax, .badName, .tooBig, .tooLong, .closed, .exists, .limit]
}
