/// When the sync thread calls fsync, with Redis's `appendfsync` meanings.
/// Under every policy the loop thread writes (write(2)) a commit's records
/// before its ticket completes, so a crash of the process loses nothing
/// answered.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// After every write, one fsync for all the commits written meanwhile
    /// (group commit); a ticket completes only after its fsync.
    case always
    /// Once a second in the background; a ticket completes once written. A
    /// crash of the machine loses about the last second.
    case everysec
    /// Never on its own (only when a segment is sealed, and at shutdown):
    /// the kernel writes back when it chooses.
    case no
}

public struct ChanStoreOptions: Sendable {
    public var fsync: FsyncPolicy
    /// A segment is sealed and a new one begun once it holds this many bytes.
    public var segmentBytes: Int
    /// Compaction starts when the files hold at least this many dead bytes...
    public var compactionMinDeadBytes: Int
    /// ...and the files are more than this multiple of the live data.
    public var compactionRatio: Double

    public init(fsync: FsyncPolicy = .everysec, segmentBytes: Int = 64 << 20,
                compactionMinDeadBytes: Int = 16 << 20, compactionRatio: Double = 2) {
        self.fsync = fsync
        self.segmentBytes = segmentBytes
        self.compactionMinDeadBytes = compactionMinDeadBytes
        self.compactionRatio = compactionRatio
    }
}

/// A durable channel's number in the store, fixed for its life (a channel
/// deleted and made again gets a new one).
public struct StoreChannelID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt32
    public init(raw: UInt32) { self.raw = raw }
    public var description: String { "channel#\(raw)" }
}

/// A stored value's number: unique in the store and increasing in append
/// order, also across restarts.
public typealias StoreValueID = UInt64

/// The records of one `commit()`, written together: a reply promising one of them waits for it.
public typealias CommitTicket = UInt64

public struct RecoveredValue: Sendable, Equatable {
    public let id: StoreValueID
    public let payload: [UInt8]
    public let isException: Bool
}

/// A durable channel as the files describe it at start.
public struct RecoveredChannel: Sendable, Equatable {
    public let id: StoreChannelID
    public let name: String
    public let capacity: Int
    /// `ChanCore.Preference.rawValue` as it was recorded.
    public let preference: Int
    /// Closed: with values it is closing (they are delivered first), without it is closed.
    public let closed: Bool
    /// In append order (a value given back before a crash is in its append place).
    public let values: [RecoveredValue]
}

public struct ChanStoreStats: Sendable {
    /// Bytes of every store file (snapshot and segments, written or still in memory).
    public let diskBytes: Int
    /// Bytes a snapshot of the live state would take.
    public let liveBytes: Int
    /// Records encoded but not yet written (the current iteration's, or waiting for a seal).
    public let unwrittenBytes: Int
    /// Segment files, the active one included.
    public let segments: Int
    /// Durable channels, and the values they hold (delivered ones not yet removed included).
    public let channels: Int
    public let values: Int
    /// fsyncs of segments by the sync thread (after writes, and at seals).
    public let fsyncs: Int
    public let lastFsyncNanos: UInt64
    public let longestFsyncNanos: UInt64
    public let compactions: Int
    /// A compaction is under way (or its segment is being synced ahead of it).
    public let compacting: Bool
    /// The longest compaction, on the compactor thread (not a pause of the caller).
    public let longestCompactionNanos: UInt64
    /// Writing or syncing failed: no more is written.
    public let failed: Bool
}
