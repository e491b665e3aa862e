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
    /// The durable value `receiver` was just handed (not held), if any:
    /// the reply being written carries it.
    func takeDelivery(by receiver: Tasklet) -> DurableDelivery?
    /// Their replies were handed to the socket (or the connection that was
    /// to carry them is gone, and they are lost as in memory).
    func delivered(_ values: [DurableDelivery])
}
