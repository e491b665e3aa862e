import Glibc
import Synchronization

/// The durable channels' store: an append-only log of CRC-checked records in
/// numbered segment files, written by the loop thread, synced by a
/// background thread, compacted into snapshots by another.
///
/// Confined to one thread (the daemon's loop). Apart from `init` (recovery)
/// and `shutdown`, no method takes a lock or waits for the store's threads:
/// records are encoded into memory, and `commit()` writes them with one
/// write(2) to the active segment (Redis writes its AOF the same way before
/// it answers); fsync, sealing a full segment and compaction run on the
/// store's own threads.
///
/// Per loop iteration: `append`, `remove` and the channel changes while
/// commands run, then `commit()` before any reply of the iteration reaches
/// a socket. A reply that promises durability (the OK of a SEND into a
/// durable channel, of MAKE ... DURABLE, CLOSE, OPEN, DELETE of a durable
/// channel) is held until `durableTicket >= loggedTicket` (as read when the
/// reply was made). Under `.everysec` and `.no` that is once `commit()` has
/// written the records, normally within the same commit; under `.always`
/// once the sync thread has fsynced them. The `onDurable` hook says when to
/// look again (route it through `uv_async_send`, and call `commit()`, which
/// takes in what the store's threads did). As with Redis's
/// appendfsync: under every policy an answered value survives a crash of
/// the daemon (it was written to the kernel); under `.always` also a crash
/// of the machine (fsynced); under `.everysec` the machine's crash loses
/// about the last second, under `.no` what the kernel had not written back.
///
/// While the sync thread seals a full segment (fsync, then the next file),
/// commits keep their records in memory and their tickets wait: the loop
/// never writes a segment before its predecessor is whole on disk. Under
/// `.everysec` and `.no` the segment is first synced while the loop goes
/// on writing it, so that the seal itself has little left to sync.
///
/// When a value leaves the store (at-least-once): `remove` is called once
/// the value's bytes were handed to the receiver's socket (its write
/// completed) or, for a receiver that acknowledges, at the acknowledgement.
/// A value given back to its channel (refused, or its holder ended) needs
/// no record: it never left the store, and keeps its `StoreValueID`. A
/// crash between delivery and `remove`, or before the removal record was
/// written, brings the value back at start. A value passed straight to a
/// waiting receiver is appended and removed the same way, so that a sender
/// told OK never loses its value to a crash before the receiver's write.
/// After a restart the values of a channel come back in append order: a
/// value given back before the crash is in its append place, not at the front.
public final class ChanStore {
    public let directory: String
    public let options: ChanStoreOptions
    private let shared: Shared
    private let lockFD: Int32
    private var syncer: BackgroundThread?
    private var compactor: BackgroundThread?
    private var recovered: [RecoveredChannel]

    private struct LiveChannel {
        var name: String
        var capacity: Int
        var preference: Int8
        var closed: Bool
        var values: ValueIndex
        var bytes: Int
    }

    private var channels: [UInt32: LiveChannel] = [:]
    private var byName: [String: UInt32] = [:]
    private var nextValue: UInt64
    private var nextChannel: UInt32
    private var liveBytes: Int

    private let onDurable: @Sendable () -> Void
    private var pending = RecordEncoder()
    /// Bytes of `pending` that a ticket already covers (they wait for a seal).
    private var ticketedBytes = 0
    private var lastTicket: CommitTicket = 0
    /// The newest ticket whose records this thread has written.
    private var writtenTicket: CommitTicket = 0
    /// The sync thread's `syncedTicket` as of the last commit: what this
    /// thread sees changes only in `commit()`, so that a reply found
    /// waiting is still waiting when it is put aside.
    private var syncedSeen: CommitTicket = 0
    /// The active segment's descriptor, which this thread writes (the sync
    /// thread syncs it); -1 while a seal is under way.
    private var fd: Int32
    private var fdPath: String
    private var failureOfWrite: StoreError?
    private var liveValues = 0
    private var activeSegment: UInt64
    private var activeBytes: Int
    private var sealed: [(seq: UInt64, bytes: Int)]
    private var snapshotBytes: Int
    private var compactionInFlight = false
    /// The active segment is full (or due for compaction, when true) and the
    /// sync thread is syncing it ahead of its seal; nil when not.
    private var presyncCompacts: Bool?
    /// After a failed compaction, the file size at which to try again.
    private var compactionRetryBytes = 0
    private var compactions = 0
    private var longestCompaction: UInt64 = 0

    /// Opens (creating if needed) the directory, takes its lock, and replays
    /// its files. A torn tail of the newest segment is cut, with a `log`
    /// line naming the file and offset; any other damage throws a
    /// `StoreError` naming the file and offset.
    ///
    /// `onDurable` runs on the sync thread each time `durableTicket`
    /// advances, and once if writing fails (`failure`); it must only signal
    /// the owning thread (e.g. `uv_async_send`). `log` may
    /// be called from any of the store's threads.
    public init(directory: String, options: ChanStoreOptions = ChanStoreOptions(),
                log: @escaping @Sendable (String) -> Void = { _ in },
                onDurable: @escaping @Sendable () -> Void = {}) throws {
        self.directory = directory
        self.options = options
        self.onDurable = onDurable
        // Past a file size limit (RLIMIT_FSIZE) a write then fails with EFBIG,
        // a write failure like a full disk, instead of killing the process.
        signal(SIGXFSZ, SIG_IGN)
        shared = try Shared()
        try Files.ensureDirectory(directory)
        lockFD = try Files.lockDirectory(directory)
        do {
            let r = try Recovery.run(directory: directory, log: log)
            var live: [UInt32: LiveChannel] = [:]
            var names: [String: UInt32] = [:]
            var total = FileFormat.countersSize
            var out: [RecoveredChannel] = []
            var liveCount = 0
            for id in r.state.channels.keys.sorted() {
                let ch = r.state.channels[id]!
                let values = ch.liveValues
                var sizes = ValueIndex()
                var bytes = FileFormat.channelSize(nameBytes: ch.name.utf8.count)
                    + (ch.closed ? FileFormat.stateChangeSize : 0)
                for v in values {
                    sizes.append(v.id, size: FileFormat.valueOverhead + v.payload.count)
                    bytes += FileFormat.valueOverhead + v.payload.count
                }
                liveCount += values.count
                live[id] = LiveChannel(name: ch.name, capacity: ch.capacity, preference: ch.preference,
                                       closed: ch.closed, values: sizes, bytes: bytes)
                names[ch.name] = id
                total += bytes
                out.append(RecoveredChannel(
                    id: StoreChannelID(raw: id), name: ch.name, capacity: ch.capacity,
                    preference: Int(ch.preference), closed: ch.closed,
                    values: values.map { RecoveredValue(id: $0.id, payload: Array($0.payload), isException: $0.isException) }))
            }
            channels = live
            byName = names
            liveBytes = total
            liveValues = liveCount
            recovered = out
            nextValue = r.state.nextValue
            nextChannel = r.state.nextChannel
            sealed = r.segments
            snapshotBytes = r.snapshotBytes
            activeSegment = r.activeSegment
            activeBytes = FileFormat.headerSize
            fdPath = directory + "/" + Files.name(.segment, r.activeSegment)
            let fd = try Files.createWithHeader(directory, Files.name(.segment, r.activeSegment))
            self.fd = fd
            let w = Syncer(shared: shared, directory: directory, policy: options.fsync,
                           segment: r.activeSegment, fd: fd, onDurable: onDurable)
            let c = Compactor(shared: shared, directory: directory, snapshot: r.snapshot,
                              firstSegment: r.segments.first?.seq ?? r.activeSegment, log: log)
            syncer = BackgroundThread { w.run() }
            compactor = BackgroundThread { c.run() }
        } catch {
            close(lockFD)
            throw error
        }
    }

    deinit {
        shutdown()
    }

    /// The channels the files held at open, once; later calls return [].
    public func takeRecovered() -> [RecoveredChannel] {
        defer { recovered = [] }
        return recovered
    }

    // MARK: Channels

    /// The store number of a durable channel, nil when no durable channel has this name.
    public func channel(named name: String) -> StoreChannelID? {
        byName[name].map { StoreChannelID(raw: $0) }
    }

    /// Records a channel as durable (or its new settings); returns its number.
    /// `preference` is `ChanCore.Preference.rawValue` (-1, 0, 1); `name` at most 65535 UTF-8 bytes.
    public func makeDurable(_ name: String, capacity: Int, preference: Int) -> StoreChannelID {
        precondition(name.utf8.count <= FileFormat.maxNameBytes && capacity >= 0 && (-1...1).contains(preference))
        let pref = Int8(preference)
        if let id = byName[name] {
            if channels[id]!.capacity != capacity || channels[id]!.preference != pref {
                channels[id]!.capacity = capacity
                channels[id]!.preference = pref
                encode { $0.channel(id, name: name, capacity: capacity, preference: pref) }
            }
            return StoreChannelID(raw: id)
        }
        let id = nextChannel
        nextChannel += 1
        let bytes = FileFormat.channelSize(nameBytes: name.utf8.count)
        channels[id] = LiveChannel(name: name, capacity: capacity, preference: pref, closed: false, values: ValueIndex(), bytes: bytes)
        byName[name] = id
        liveBytes += bytes
        encode { $0.channel(id, name: name, capacity: capacity, preference: pref) }
        return StoreChannelID(raw: id)
    }

    /// Records CLOSE of a durable channel (nothing when already closed).
    public func closeChannel(_ channel: StoreChannelID) {
        let id = channel.raw
        precondition(channels[id] != nil, "\(channel) is not a durable channel")
        guard !channels[id]!.closed else { return }
        channels[id]!.closed = true
        channels[id]!.bytes += FileFormat.stateChangeSize
        liveBytes += FileFormat.stateChangeSize
        encode { $0.stateChange(.closed, id) }
    }

    /// Records OPEN of a closed durable channel (nothing when open).
    public func reopenChannel(_ channel: StoreChannelID) {
        let id = channel.raw
        precondition(channels[id] != nil, "\(channel) is not a durable channel")
        guard channels[id]!.closed else { return }
        channels[id]!.closed = false
        channels[id]!.bytes -= FileFormat.stateChangeSize
        liveBytes -= FileFormat.stateChangeSize
        encode { $0.stateChange(.reopened, id) }
    }

    /// Records DELETE of a durable channel: it and its values are gone.
    public func deleteChannel(_ channel: StoreChannelID) {
        let id = channel.raw
        guard let ch = channels.removeValue(forKey: id) else { return }
        byName[ch.name] = nil
        liveBytes -= ch.bytes
        liveValues -= ch.values.count
        encode { $0.stateChange(.deleted, id) }
    }

    // MARK: Values

    /// The largest payload a value record holds (chand's ceiling, 1 GiB).
    public static let maxPayloadBytes = 1 << 30

    /// Records a value stored in a durable channel; returns its number. It
    /// is written by the next `commit()` (see `durableTicket`).
    public func append(_ channel: StoreChannelID, payload: UnsafeRawBufferPointer, isException: Bool) -> StoreValueID {
        let id = channel.raw
        precondition(channels[id] != nil, "\(channel) is not a durable channel")
        precondition(payload.count <= Self.maxPayloadBytes, "a payload of \(payload.count) bytes is over the store's ceiling")
        let value = nextValue
        nextValue += 1
        let size = FileFormat.valueOverhead + payload.count
        channels[id]!.values.append(value, size: size)
        channels[id]!.bytes += size
        liveBytes += size
        liveValues += 1
        encode { $0.value(id, id: value, isException: isException, payload: payload) }
        return value
    }

    public func append(_ channel: StoreChannelID, payload: [UInt8], isException: Bool) -> StoreValueID {
        payload.withUnsafeBytes { append(channel, payload: $0, isException: isException) }
    }

    /// Records that a value left its channel for good (delivered to a
    /// socket, or acknowledged). Returns false, recording nothing, when the
    /// channel holds no such value (already removed, or channel deleted).
    @discardableResult
    public func remove(_ channel: StoreChannelID, value: StoreValueID) -> Bool {
        let id = channel.raw
        guard let size = channels[id]?.values.remove(value) else { return false }
        channels[id]!.bytes -= size
        liveBytes -= size
        liveValues -= 1
        encode { $0.removed(id, id: value) }
        return true
    }

    // MARK: Commit and sync

    /// Gives everything recorded since the last commit a ticket and writes
    /// it to the active segment (one write(2)); returns the ticket (the
    /// previous one when nothing was recorded). Call before the replies
    /// made since the last commit are handed to sockets. Under `.always`
    /// the sync thread is woken to fsync it. While a seal is under way the
    /// records stay in memory and are written by the first commit after it.
    /// Also starts sealing a full segment, and compaction.
    @discardableResult
    public func commit() -> CommitTicket {
        syncedSeen = shared.syncedTicket.load(ordering: .acquiring)
        collectCompaction()
        if pending.bytes.count > ticketedBytes {
            lastTicket += 1
            ticketedBytes = pending.bytes.count
        }
        guard !shared.failed.load(ordering: .acquiring) else { return lastTicket }
        if fd < 0 {
            guard adoptSealedSegment() else { return lastTicket }
        }
        if !pending.bytes.isEmpty {
            do {
                try Files.writeAll(fd, pending.bytes, path: fdPath)
            } catch let error as StoreError {
                // Nothing more is written: this ticket and later ones never complete.
                failureOfWrite = error
                shared.fail(error)
                onDurable()
                return lastTicket
            } catch {
                fatalError("unexpected error \(error)")
            }
            pending.bytes.removeAll(keepingCapacity: pending.bytes.capacity <= 1 << 20)
            ticketedBytes = 0
            writtenTicket = lastTicket
            shared.writtenTicket.store(lastTicket, ordering: .releasing)
            if options.fsync == .always { shared.wake() }
        }
        if let compact = presyncCompacts {
            let compactNow = compact || (!compactionInFlight && shouldCompact())
            if shared.presyncedUpTo.load(ordering: .acquiring) >= activeSegment {
                startSeal(compacting: compactNow)
            } else {
                presyncCompacts = compactNow
            }
        } else {
            let compact = !compactionInFlight && shouldCompact()
            if compact || activeBytes >= options.segmentBytes {
                if options.fsync == .always { startSeal(compacting: compact) } else { startPresync(compacting: compact) }
            }
        }
        return lastTicket
    }

    /// The ticket the next `commit()` returns for what is recorded so far: a
    /// reply promising what was just recorded waits for it.
    public var loggedTicket: CommitTicket {
        pending.bytes.count > ticketedBytes ? lastTicket + 1 : lastTicket
    }

    /// The newest ticket whose records are as durable as the policy makes
    /// them: written to the kernel (they survive a crash of the process),
    /// and under `.always` also fsynced (they survive a crash of the
    /// machine). Tickets complete in order; none completes after `failure`.
    /// It changes only in `commit()`: call it when `onDurable` signals.
    public var durableTicket: CommitTicket {
        options.fsync == .always ? syncedSeen : writtenTicket
    }

    /// Set when the store could not write or sync: it writes no more, and
    /// tickets after the failure never complete (no reply waiting for one
    /// is written).
    public var failure: StoreError? {
        if let failureOfWrite { return failureOfWrite }
        guard shared.failed.load(ordering: .acquiring) else { return nil }
        return shared.monitor.locked { shared.failureError }
    }

    public var stats: ChanStoreStats {
        collectCompaction()
        return ChanStoreStats(
            diskBytes: diskBytes, liveBytes: liveBytes, unwrittenBytes: pending.bytes.count,
            segments: sealed.count + 1, channels: channels.count, values: liveValues,
            fsyncs: shared.fsyncs.load(ordering: .relaxed),
            lastFsyncNanos: shared.lastFsyncNanos.load(ordering: .relaxed),
            longestFsyncNanos: shared.longestFsyncNanos.load(ordering: .relaxed),
            compactions: compactions, compacting: compactionInFlight || presyncCompacts == true,
            longestCompactionNanos: longestCompaction, failed: failure != nil)
    }

    /// Writes what is pending (after a seal under way), waits until the
    /// sync thread has synced it and the threads have ended, then releases
    /// the directory. A compaction under way is finished first. Blocks:
    /// call at daemon exit.
    public func shutdown() {
        guard let syncer, let compactor else { return }
        commit()
        while fd < 0 && !shared.failed.load(ordering: .acquiring) {
            if shared.sealedUpTo.load(ordering: .acquiring) >= activeSegment { commit() } else { usleep(1000) }
        }
        shared.stopping.store(true, ordering: .releasing)
        shared.wake()
        syncer.join()
        compactor.join()
        if fd >= 0 { close(fd) }
        fd = -1
        self.syncer = nil
        self.compactor = nil
        close(lockFD)
    }

    // MARK: Private

    private func encode(_ body: (inout RecordEncoder) -> Void) {
        let before = pending.bytes.count
        body(&pending)
        activeBytes += pending.bytes.count - before
    }

    /// Asks the sync thread to sync the active segment while this thread
    /// goes on writing it, so that the seal after it syncs only what was
    /// written meanwhile: the replies held during a seal wait for that, not
    /// for up to a second (`everysec`) or a whole segment (`no`).
    private func startPresync(compacting: Bool) {
        presyncCompacts = compacting
        shared.presyncRequest.store(activeSegment, ordering: .releasing)
        shared.wake()
    }

    /// Hands the active segment to the sync thread to be sealed (synced and
    /// closed) and the next one created; until then commits write nothing.
    private func startSeal(compacting: Bool) {
        presyncCompacts = nil
        sealed.append((activeSegment, activeBytes))
        activeSegment += 1
        activeBytes = FileFormat.headerSize
        fd = -1
        if compacting { compactionInFlight = true }
        shared.compactAfterSeal.store(compacting, ordering: .relaxed)
        shared.sealRequest.store(activeSegment, ordering: .releasing)
        shared.wake()
    }

    /// The sync thread's new segment once the seal is done; false while it is not.
    private func adoptSealedSegment() -> Bool {
        guard shared.sealedUpTo.load(ordering: .acquiring) >= activeSegment else { return false }
        fd = shared.nextFD.load(ordering: .relaxed)
        fdPath = directory + "/" + Files.name(.segment, activeSegment)
        return true
    }

    private var diskBytes: Int { snapshotBytes + sealed.reduce(0) { $0 + $1.bytes } + activeBytes }

    private func shouldCompact() -> Bool {
        let disk = diskBytes
        let dead = disk - liveBytes
        return dead >= options.compactionMinDeadBytes && Double(disk) > options.compactionRatio * Double(liveBytes)
            && disk >= compactionRetryBytes
    }

    private func collectCompaction() {
        guard compactionInFlight else { return }
        switch shared.compactionOutcome.load(ordering: .acquiring) {
        case 1:
            let through = shared.compactedThrough.load(ordering: .relaxed)
            sealed.removeAll { $0.seq <= through }
            snapshotBytes = shared.snapshotBytes.load(ordering: .relaxed)
            compactions += 1
            longestCompaction = max(longestCompaction, shared.compactionNanos.load(ordering: .relaxed))
            compactionRetryBytes = 0
        case 2:
            compactionRetryBytes = diskBytes + options.compactionMinDeadBytes
        default:
            return
        }
        shared.compactionOutcome.store(0, ordering: .relaxed)
        compactionInFlight = false
    }
}
