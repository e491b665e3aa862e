/// A named channel: two wait queues, an optional ring buffer, close state and
/// preference (semantics.md rules 1-7, 15-16).
public final class Channel {
    public enum State: String, Sendable {
        case open, closing, closed
    }

    public let name: String
    public internal(set) var capacity: Int
    public internal(set) var preference: Preference
    public internal(set) var state = State.open
    /// Made by MAKE: kept when idle. Channels created by use are dropped once
    /// idle (empty, nobody waiting, open).
    public internal(set) var isPersistent = false
    /// Made with `durable`: its buffer is reported to the engine's
    /// `DurabilityObserver`. Always persistent.
    public internal(set) var isDurable = false

    var buffer = MessageRing()
    var sendq = WaitQueue()
    var recvq = WaitQueue()
    /// Queued on the engine's idle list, awaiting the next sweep.
    var isIdleCandidate = false
    /// On the engine's list of channels whose senders wait for memory.
    var waitsForMemory = false
    /// Its position in the table (`ChannelTable.scan`); -1 once forgotten
    /// or deleted.
    @usableFromInline var slot = -1
    /// On the table's list of closed channels, and when that saw it closed.
    var isClosedCandidate = false
    var closedSince: UInt64?

    /// Values taken out of the channel by receivers since it was created.
    public internal(set) var received = 0
    // Values moved (sent + received) per activity interval of the table,
    // kept lazily (`ChannelTable.noteMoved`): the interval of the last move, the moves in it, and the
    // moves in the interval before it.
    var activityInterval = -1  // none yet: the first move starts one
    var movedInInterval = 0
    var movedInIntervalBefore = 0

    init(name: String, capacity: Int, preference: Preference) {
        self.name = name
        self.capacity = capacity
        self.preference = preference
    }

    deinit {
        buffer.free()
    }

    /// Values received with `hold` and not yet acknowledged or given back
    /// (rule 22). A rendezvous sender whose value is held is counted here,
    /// not among the waiting senders.
    public internal(set) var held = 0

    /// Values that entered the channel (handed to a receiver or buffered)
    /// since it was created: every one was received, is still buffered, or
    /// is held. (`received` counts a held value once acknowledged.)
    public var sent: Int { received + count + held }

    /// Values held in the buffer.
    public var count: Int { buffer.count }
    /// Rule 2: senders waiting minus receivers waiting.
    public var balance: Int { sendq.count - recvq.count }
    /// Rule 21: waiting chanops per direction.
    public var waitingSenders: Int { sendq.count }
    public var waitingReceivers: Int { recvq.count }

    /// Holds nothing, nobody waits, and open: an implicit channel in this
    /// state can be forgotten without anyone noticing.
    var isIdle: Bool {
        state == .open && buffer.isEmpty && sendq.isEmpty && recvq.isEmpty && held == 0
    }

    /// Rule 9 for a SEND case: can it complete now (or fail at once on a
    /// closing or closed channel)? Asked only for a running tasklet, which has
    /// nothing queued, so a waiter found here is never the asking tasklet
    /// itself (rule 12). With the engine's memory budget spent, a value
    /// that would be buffered waits as if the buffer were full.
    @inline(__always)
    func canSend(memoryFull: Bool) -> Bool {
        state != .open || !recvq.isEmpty || (buffer.count < capacity && !memoryFull)
    }

    /// Rule 9 for a RECV case, as `canSend`.
    var canReceive: Bool {
        !buffer.isEmpty || !sendq.isEmpty || state == .closed
    }

    /// The values in the buffer, head first (for inspection and tests).
    public var bufferedMessages: [Message] { buffer.messages }
}
