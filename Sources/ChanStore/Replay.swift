/// The state a sequence of store files describes, rebuilt record by record:
/// at start (recovery) and in the background (compaction).
struct ReplayState {
    struct Value {
        let id: UInt64
        let isException: Bool
        let payload: ArraySlice<UInt8>
    }

    struct Channel {
        var name: String
        var capacity: Int
        var preference: Int8
        var closed = false
        var lastValue: UInt64 = 0
        /// In append order, so in increasing id order: a removal finds its
        /// value by binary search over `ids` and leaves a hole until the
        /// holes are half the array.
        var values: [Value?] = []
        var ids: [UInt64] = []
        var holes = 0

        var liveValues: [Value] { values.compactMap { $0 } }

        mutating func append(_ value: Value) {
            values.append(value)
            ids.append(value.id)
        }

        mutating func remove(_ id: UInt64) {
            var low = 0, high = ids.count
            while low < high {
                let mid = (low + high) / 2
                if ids[mid] < id { low = mid + 1 } else { high = mid }
            }
            guard low < ids.count, ids[low] == id, values[low] != nil else { return }
            values[low] = nil
            holes += 1
            if holes >= 64 && holes * 2 >= values.count {
                values.removeAll { $0 == nil }
                ids = values.map { $0!.id }
                holes = 0
            }
        }
    }

    var channels: [UInt32: Channel] = [:]
    var nextValue: UInt64 = 1
    var nextChannel: UInt32 = 1

    /// Applies one record; the text says why a record does not fit the state.
    mutating func apply(_ record: Record) -> String? {
        switch record {
        case let .channel(id, name, capacity, preference):
            if var ch = channels[id] {
                ch.capacity = capacity
                ch.preference = preference
                channels[id] = ch
            } else {
                channels[id] = Channel(name: name, capacity: capacity, preference: preference)
            }
            nextChannel = max(nextChannel, id &+ 1)
        case .closed(let id), .reopened(let id), .deleted(let id):
            guard channels[id] != nil else { return "channel \(id) is not known" }
            switch record {
            case .closed: channels[id]!.closed = true
            case .reopened: channels[id]!.closed = false
            default: channels[id] = nil
            }
        case let .value(channel, id, isException, payload):
            guard channels[channel] != nil else { return "value \(id) for channel \(channel), which is not known" }
            guard id > channels[channel]!.lastValue else {
                return "value \(id) is not after value \(channels[channel]!.lastValue) of its channel"
            }
            channels[channel]!.lastValue = id
            channels[channel]!.append(Value(id: id, isException: isException, payload: payload))
            nextValue = max(nextValue, id + 1)
        case let .removed(channel, id):
            // A removal may name a value of a channel deleted since: nothing to do.
            channels[channel]?.remove(id)
        case let .counters(next, nextChannelID):
            nextValue = max(nextValue, next)
            nextChannel = max(nextChannel, nextChannelID)
        }
        return nil
    }

    /// Writes the live state as records: what a snapshot holds.
    func encode(into out: inout RecordEncoder, flush: (inout RecordEncoder) throws -> Void) rethrows {
        out.counters(nextValue: nextValue, nextChannel: nextChannel)
        for id in channels.keys.sorted() {
            let ch = channels[id]!
            out.channel(id, name: ch.name, capacity: ch.capacity, preference: ch.preference)
            if ch.closed { out.stateChange(.closed, id) }
            for v in ch.values {
                guard let v else { continue }
                v.payload.withUnsafeBytes { out.value(id, id: v.id, isException: v.isException, payload: $0) }
                if out.count >= 1 << 22 { try flush(&out) }
            }
        }
        try flush(&out)
    }
}

/// Reads one store file into a `ReplayState`.
enum FileScanner {
    enum Outcome: Equatable {
        case complete
        /// The last file ends in a torn or damaged record at this offset, and
        /// no whole record follows it: the bytes from here on are to be cut.
        case tornTail(at: Int)
    }

    /// Applies every record of `file` to `state`. Damage in a file that is
    /// not the last one written, or damage followed by a whole record, is an
    /// error naming the file and offset; damage at the end of the last file
    /// is a torn tail.
    static func scan(_ file: [UInt8], path: String, isLast: Bool, into state: inout ReplayState) throws -> Outcome {
        guard file.count >= FileFormat.headerSize, Array(file[..<FileFormat.headerSize]) == FileFormat.header() else {
            if isLast && file.count <= FileFormat.headerSize { return .tornTail(at: 0) }
            if isLast && !hasWholeRecord(file, after: 0) { return .tornTail(at: 0) }
            throw StoreError.damaged(path, offset: 0, "not a store file header")
        }
        var at = FileFormat.headerSize
        while at < file.count {
            switch RecordDecoder.frame(file, at: at) {
            case let .valid(body, next):
                guard let record = RecordDecoder.decode(file, body) else {
                    throw StoreError.damaged(path, offset: at, "record of unknown kind or shape")
                }
                if let why = state.apply(record) { throw StoreError.damaged(path, offset: at, why) }
                at = next
            case .invalid:
                if !isLast { throw StoreError.damaged(path, offset: at, "checksum or length does not match") }
                if hasWholeRecord(file, after: at) {
                    throw StoreError.damaged(path, offset: at, "checksum or length does not match, and whole records follow")
                }
                return .tornTail(at: at)
            }
        }
        return .complete
    }

    /// Whether a record with a matching checksum starts anywhere after `offset`.
    private static func hasWholeRecord(_ file: [UInt8], after offset: Int) -> Bool {
        var at = offset + 1
        while at + FileFormat.recordHeaderSize < file.count {
            if case let .valid(body, _) = RecordDecoder.frame(file, at: at), RecordDecoder.decode(file, body) != nil {
                return true
            }
            at += 1
        }
        return false
    }
}
