import ChanCore
import ChanSession
import ChanStore

/// Keeps the store (chand --data-dir) in step with the engine's durable
/// channels: a value entering a durable buffer is appended; it is removed
/// once a receiver acknowledges it, or once the reply carrying it to a
/// receiver without ACK is handed to the socket; a value given back stays
/// stored. Loop thread only.
public final class DurableChannels: DurabilityObserver, DurableReplies {
    public let store: ChanStore

    private final class Entry {
        let channel: Channel
        let id: StoreChannelID
        /// The store numbers of the channel's buffered values, in buffer order.
        var values = ValueQueue()

        init(channel: Channel, id: StoreChannelID) {
            self.channel = channel
            self.id = id
        }
    }

    private struct HeldKey: Hashable {
        let holder: ObjectIdentifier
        let tag: Int
    }

    private var entries: [ObjectIdentifier: Entry] = [:]
    private var held: [HeldKey: DurableDelivery] = [:]
    /// A value taken without ACK, until its receiver's reply is written.
    private var handedOver: [ObjectIdentifier: DurableDelivery] = [:]

    /// Brings back every channel the store holds into `engine`, then reports
    /// to the store what the engine does to durable channels.
    public init(store: ChanStore, engine: Engine) throws(RestoreError) {
        self.store = store
        for rc in store.takeRecovered() {
            let values = rc.values.map { Message($0.payload, isException: $0.isException) }
            guard let ch = engine.restoreDurableChannel(
                rc.name, capacity: rc.capacity, preference: Preference(rawValue: rc.preference) ?? .receiver,
                closing: rc.closed, values: values)
            else {
                throw RestoreError(description: "\(store.directory): durable channel \(rc.name) cannot be restored: the channel limit is reached")
            }
            let entry = Entry(channel: ch, id: rc.id)
            for v in rc.values { entry.values.append(v.id) }
            entries[ObjectIdentifier(ch)] = entry
        }
        engine.durability = self
    }

    /// The durable channels restored at start, and the values they hold.
    public var restoredSummary: (channels: Int, values: Int) {
        (entries.count, entries.values.reduce(0) { $0 + $1.values.count })
    }

    /// Writes what was recorded since the last commit (write(2) on this
    /// thread): call before the replies made meanwhile reach their sockets.
    public func commit() {
        store.commit()
    }

    // MARK: DurabilityObserver

    public func channelMade(_ ch: Channel) {
        let id = store.makeDurable(ch.name, capacity: ch.capacity, preference: ch.preference.rawValue)
        entries[ObjectIdentifier(ch)] = Entry(channel: ch, id: id)
    }

    public func channelClosed(_ ch: Channel) {
        guard let e = entries[ObjectIdentifier(ch)] else { return }
        store.closeChannel(e.id)
    }

    public func channelOpened(_ ch: Channel) {
        guard let e = entries[ObjectIdentifier(ch)] else { return }
        store.reopenChannel(e.id)
    }

    public func channelDeleted(_ ch: Channel) {
        guard let e = entries.removeValue(forKey: ObjectIdentifier(ch)) else { return }
        store.deleteChannel(e.id)
    }

    public func valueBuffered(_ m: Message, in ch: Channel) {
        guard let e = entries[ObjectIdentifier(ch)] else { return }
        e.values.append(store.append(e.id, payload: m.payload, isException: m.isException))
    }

    public func valueTaken(from ch: Channel, by receiver: Tasklet, tag: Int?) {
        guard let e = entries[ObjectIdentifier(ch)], let value = e.values.popFirst() else { return }
        let d = DurableDelivery(channel: e.id.raw, value: value)
        if let tag {
            held[HeldKey(holder: ObjectIdentifier(receiver), tag: tag)] = d
        } else {
            handedOver[ObjectIdentifier(receiver)] = d
        }
    }

    public func valueReturned(to ch: Channel, by receiver: Tasklet, tag: Int) {
        guard let d = held.removeValue(forKey: HeldKey(holder: ObjectIdentifier(receiver), tag: tag)),
              let e = entries[ObjectIdentifier(ch)] else { return }
        e.values.pushFront(d.value)
    }

    public func valueAcknowledged(from ch: Channel, by receiver: Tasklet, tag: Int) {
        guard let d = held.removeValue(forKey: HeldKey(holder: ObjectIdentifier(receiver), tag: tag)) else { return }
        store.remove(StoreChannelID(raw: d.channel), value: d.value)
    }

    // MARK: DurableReplies

    public var loggedTicket: UInt64 { store.loggedTicket }
    public var durableTicket: UInt64 { store.durableTicket }

    public var figures: StoreFigures {
        let s = store.stats
        return StoreFigures(
            channels: s.channels, values: s.values, diskBytes: s.diskBytes, liveBytes: s.liveBytes,
            segments: s.segments, fsyncs: s.fsyncs, lastFsyncMicros: Int(s.lastFsyncNanos / 1000),
            longestFsyncMicros: Int(s.longestFsyncNanos / 1000), compactions: s.compactions,
            longestCompactionMicros: Int(s.longestCompactionNanos / 1000), failed: s.failed)
    }

    public func takeDelivery(by receiver: Tasklet) -> DurableDelivery? {
        handedOver.removeValue(forKey: ObjectIdentifier(receiver))
    }

    public func delivered(_ values: [DurableDelivery]) {
        for d in values { store.remove(StoreChannelID(raw: d.channel), value: d.value) }
    }
}

public struct RestoreError: Error, CustomStringConvertible {
    public let description: String
}

/// Store numbers in buffer order; a value given back goes to the front.
struct ValueQueue {
    private var items: [StoreValueID] = []
    private var head = 0

    var count: Int { items.count - head }

    mutating func append(_ id: StoreValueID) {
        items.append(id)
    }

    mutating func popFirst() -> StoreValueID? {
        guard head < items.count else { return nil }
        let id = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return id
    }

    mutating func pushFront(_ id: StoreValueID) {
        if head > 0 {
            head -= 1
            items[head] = id
        } else {
            items.insert(id, at: 0)
        }
    }
}
