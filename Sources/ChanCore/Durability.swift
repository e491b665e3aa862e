/// What a store of durable channels is told (issue 14), in the order it
/// happens, so that it can log a durable channel's buffer and replay it after
/// a restart. The engine calls it only for channels made with `durable`;
/// any other channel costs one flag test where a value enters or leaves a
/// buffer.
///
/// A store can mirror each durable buffer as a queue of its records: a value
/// buffered joins the tail; a value taken leaves the head (for a receiver
/// without `hold`, the store keeps it until the caller has written it out; a
/// held value stays the store's, under its holder and tag, until it is
/// acknowledged, or it returns to the head).
public protocol DurabilityObserver: AnyObject {
    /// MAKE made `ch` durable (a new channel, or an idle one reshaped).
    func channelMade(_ ch: Channel)
    /// CLOSE of an open channel: it is closing.
    func channelClosed(_ ch: Channel)
    /// OPEN of a closing or closed channel.
    func channelOpened(_ ch: Channel)
    /// DELETE, or a closed channel forgotten after its TTL: its buffered
    /// values are gone with it (held ones are dropped if given back).
    func channelDeleted(_ ch: Channel)
    /// `m` joined the tail of `ch`'s buffer.
    func valueBuffered(_ m: Message, in ch: Channel)
    /// The head of `ch`'s buffer went to `receiver`: held under `tag`, or,
    /// when `tag` is nil, handed over.
    func valueTaken(from ch: Channel, by receiver: Tasklet, tag: Int?)
    /// The value `receiver` held under `tag` returned to the head of `ch`'s buffer.
    func valueReturned(to ch: Channel, by receiver: Tasklet, tag: Int)
    /// The value `receiver` held under `tag` was acknowledged: gone for good.
    func valueAcknowledged(from ch: Channel, by receiver: Tasklet, tag: Int)
}

extension Engine {
    /// Brings back a durable channel from a store at start: made (durable,
    /// persistent) with these settings and values in its buffer, in order,
    /// and closing if it was (closed once drained). Nothing is reported to
    /// the observer. Nil when the channel limit is reached or the name is
    /// taken.
    public func restoreDurableChannel(_ name: String, capacity: Int, preference: Preference,
                                      closing: Bool, values: [Message]) -> Channel? {
        guard table.existing(named: name) == nil, let ch = table.channel(named: name) else { return nil }
        ch.capacity = capacity
        ch.preference = preference
        ch.isPersistent = true
        ch.isDurable = true
        for m in values {
            memoryUsed &+= m.payload.count
            ch.buffer.append(m)
        }
        if closing {
            ch.state = .closing
            settleClose(ch)
        }
        return ch
    }

    /// Reports the buffer's head, just taken by `receiver`, to the observer.
    @inline(never)
    func noteTaken(from ch: Channel, by receiver: Tasklet, held: Bool) {
        durability?.valueTaken(from: ch, by: receiver, tag: held ? receiver.lastHeldTag : nil)
    }
}
