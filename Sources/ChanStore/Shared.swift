/// What the loop thread hands to the writer: the records of one commit.
struct Batch {
    var bytes: [UInt8]
    let ticket: UInt64
    /// After these bytes: seal the segment and continue in this one.
    let rotateTo: UInt64?
    /// After sealing: compact every file up to this segment.
    let compactThrough: UInt64?
}

enum CompactionResult {
    case done(through: UInt64, snapshotBytes: Int, nanos: UInt64)
    case failed
}

/// The state shared by the loop thread, the writer and the compactor.
// @unchecked Sendable: every stored property is read and written only with
// `monitor` locked.
final class Shared: @unchecked Sendable {
    let monitor = Monitor()
    var queue: [Batch] = []
    var queuedBytes = 0
    var syncedTicket: UInt64 = 0
    var failure: StoreError?
    var stopping = false
    var compactionRequest: UInt64?
    var compactionResult: CompactionResult?
    var fsyncs = 0
}
