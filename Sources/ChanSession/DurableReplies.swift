import ChanCore

/// A durable channel's value on its way to a receiver that does not
/// acknowledge: it leaves the store once the reply carrying it is handed to
/// the socket.
public struct DurableDelivery: Sendable {
    public let channel: UInt32
    public let value: UInt64

    public init(channel: UInt32, value: UInt64) {
        self.channel = channel
        self.value = value
    }
}

/// What a session asks of the durable channels' store (chand --data-dir):
/// when a reply promising durability may be written, and which delivered
/// values to drop from the store once written.
public protocol DurableReplies: AnyObject {
    /// The commit ticket covering every record logged so far, which a reply
    /// promising durability waits for; 0 when replies need not wait.
    var loggedTicket: UInt64 { get }
    /// The newest ticket whose records are durable.
    var durableTicket: UInt64 { get }
    /// The store's figures, for INFO.
    var figures: StoreFigures { get }
    /// The durable value `receiver` was just handed (not held), if any:
    /// the reply being written carries it.
    func takeDelivery(by receiver: Tasklet) -> DurableDelivery?
    /// Their replies were handed to the socket (or the connection that was
    /// to carry them is gone, and they are lost as in memory).
    func delivered(_ values: [DurableDelivery])
}

/// The durable channels' store as INFO shows it (protocol.md, INFO); all
/// zero on a server without a data directory.
public struct StoreFigures: Sendable {
    public var channels = 0
    public var values = 0
    public var diskBytes = 0
    public var liveBytes = 0
    public var segments = 0
    public var fsyncs = 0
    public var lastFsyncMicros = 0
    public var longestFsyncMicros = 0
    public var compactions = 0
    public var longestCompactionMicros = 0
    public var failed = false

    public init() {}

    public init(channels: Int, values: Int, diskBytes: Int, liveBytes: Int, segments: Int, fsyncs: Int,
                lastFsyncMicros: Int, longestFsyncMicros: Int, compactions: Int, longestCompactionMicros: Int,
                failed: Bool) {
        self.channels = channels
        self.values = values
        self.diskBytes = diskBytes
        self.liveBytes = liveBytes
        self.segments = segments
        self.fsyncs = fsyncs
        self.lastFsyncMicros = lastFsyncMicros
        self.longestFsyncMicros = longestFsyncMicros
        self.compactions = compactions
        self.longestCompactionMicros = longestCompactionMicros
        self.failed = failed
    }
}
