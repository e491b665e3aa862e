/// The on-disk format.
///
/// A file (segment or snapshot) starts with a 16-byte header: the magic
/// `CHANSTOR`, a little-endian u32 format version, and the CRC-32C of those
/// 12 bytes. Records follow back to back:
///
///     u32 bodyLength | u32 crc32c(body) | u32 crc32c(the 8 bytes before) | body
///
/// and a body is one kind byte and its fields, integers little-endian:
///
///     1 channel   u32 channel, u64 capacity, i8 preference, u16 nameLength, name
///     2 closed    u32 channel
///     3 reopened  u32 channel
///     4 deleted   u32 channel
///     5 value     u32 channel, u64 value, u8 flags (bit 0: exception), payload (the rest)
///     6 removed   u32 channel, u64 value
///     7 counters  u64 next value, u32 next channel
///
/// The header has its own checksum, so a damaged length cannot make a reader
/// skip to a wrong place, and looking for a whole record after a damaged one
/// (is it the torn tail, or damage before it?) costs one 8-byte checksum per
/// offset, not one body checksum.
enum RecordKind: UInt8 {
    case channel = 1
    case closed = 2
    case reopened = 3
    case deleted = 4
    case value = 5
    case removed = 6
    case counters = 7
}

enum FileFormat {
    static let magic: [UInt8] = Array("CHANSTOR".utf8)
    static let version: UInt32 = 1
    static let headerSize = 16
    static let recordHeaderSize = 12
    /// A value record's bytes beyond its payload.
    static let valueOverhead = recordHeaderSize + 1 + 4 + 8 + 1
    static let removedSize = recordHeaderSize + 1 + 4 + 8
    static let countersSize = recordHeaderSize + 1 + 8 + 4
    static let stateChangeSize = recordHeaderSize + 1 + 4
    static func channelSize(nameBytes: Int) -> Int { recordHeaderSize + 1 + 4 + 8 + 1 + 2 + nameBytes }
    /// Longest channel name the format holds.
    static let maxNameBytes = Int(UInt16.max)
    /// Longest body the reader accepts: a 1 GiB payload and its fields, with room.
    static let maxBodyLength = (1 << 30) + 4096

    static func header() -> [UInt8] {
        var h = magic
        withUnsafeBytes(of: version.littleEndian) { h.append(contentsOf: $0) }
        let crc = h.withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { h.append(contentsOf: $0) }
        return h
    }
}

/// Appends encoded records to a byte buffer.
struct RecordEncoder {
    var bytes: [UInt8] = []

    var count: Int { bytes.count }

    mutating func channel(_ id: UInt32, name: String, capacity: Int, preference: Int8) {
        let start = begin(.channel)
        put(id)
        put(UInt64(capacity))
        put(UInt8(bitPattern: preference))
        let utf8 = Array(name.utf8)
        put(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
        end(start)
    }

    mutating func stateChange(_ kind: RecordKind, _ id: UInt32) {
        let start = begin(kind)
        put(id)
        end(start)
    }

    mutating func value(_ channel: UInt32, id: UInt64, isException: Bool, payload: UnsafeRawBufferPointer) {
        let start = begin(.value)
        put(channel)
        put(id)
        put(UInt8(isException ? 1 : 0))
        bytes.append(contentsOf: payload)
        end(start)
    }

    mutating func removed(_ channel: UInt32, id: UInt64) {
        let start = begin(.removed)
        put(channel)
        put(id)
        end(start)
    }

    mutating func counters(nextValue: UInt64, nextChannel: UInt32) {
        let start = begin(.counters)
        put(nextValue)
        put(nextChannel)
        end(start)
    }

    private mutating func begin(_ kind: RecordKind) -> Int {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: FileFormat.recordHeaderSize))
        bytes.append(kind.rawValue)
        return start
    }

    private mutating func end(_ start: Int) {
        let bodyLength = UInt32(bytes.count - start - FileFormat.recordHeaderSize)
        bytes.withUnsafeMutableBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[(start + FileFormat.recordHeaderSize)...])
            raw.storeBytes(of: bodyLength.littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: CRC32C.checksum(body).littleEndian, toByteOffset: start + 4, as: UInt32.self)
            let header = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 8]))
            raw.storeBytes(of: header.littleEndian, toByteOffset: start + 8, as: UInt32.self)
        }
    }

    private mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// One decoded record; payloads are slices of the file's bytes.
enum Record {
    case channel(UInt32, name: String, capacity: Int, preference: Int8)
    case closed(UInt32)
    case reopened(UInt32)
    case deleted(UInt32)
    case value(UInt32, id: UInt64, isException: Bool, payload: ArraySlice<UInt8>)
    case removed(UInt32, id: UInt64)
    case counters(nextValue: UInt64, nextChannel: UInt32)
}

enum RecordDecoder {
    enum Frame {
        /// A whole record whose checksum matches: its body and where the next one starts.
        case valid(body: Range<Int>, next: Int)
        /// The bytes at this offset are not a whole record with a matching checksum.
        case invalid
    }

    static func frame(_ file: [UInt8], at offset: Int) -> Frame {
        let remaining = file.count - offset
        if remaining < FileFormat.recordHeaderSize { return .invalid }
        return file.withUnsafeBytes { raw in
            let header = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self).littleEndian
            if CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 8])) != header { return .invalid }
            let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
            if length < 1 || length > FileFormat.maxBodyLength || length > remaining - FileFormat.recordHeaderSize {
                return .invalid
            }
            let stored = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian
            let bodyStart = offset + FileFormat.recordHeaderSize
            let body = UnsafeRawBufferPointer(rebasing: raw[bodyStart..<bodyStart + length])
            if CRC32C.checksum(body) != stored { return .invalid }
            return .valid(body: bodyStart..<bodyStart + length, next: bodyStart + length)
        }
    }

    /// Decodes a body whose checksum matched; nil when it does not parse
    /// (a record of a newer format, or a bug), which the reader treats as damage.
    static func decode(_ file: [UInt8], _ body: Range<Int>) -> Record? {
        var r = Reader(file: file, at: body.lowerBound, end: body.upperBound)
        guard let kindByte: UInt8 = r.read(), let kind = RecordKind(rawValue: kindByte) else { return nil }
        let record: Record?
        switch kind {
        case .channel:
            guard let id: UInt32 = r.read(), let capacity: UInt64 = r.read(), let pref: UInt8 = r.read(),
                  let nameLength: UInt16 = r.read(), let name = r.bytes(Int(nameLength)),
                  capacity <= UInt64(Int.max)
            else { return nil }
            record = .channel(id, name: String(decoding: name, as: UTF8.self), capacity: Int(capacity),
                              preference: Int8(bitPattern: pref))
        case .closed, .reopened, .deleted:
            guard let id: UInt32 = r.read() else { return nil }
            record = kind == .closed ? .closed(id) : kind == .reopened ? .reopened(id) : .deleted(id)
        case .value:
            guard let channel: UInt32 = r.read(), let id: UInt64 = r.read(), let flags: UInt8 = r.read() else { return nil }
            return .value(channel, id: id, isException: flags & 1 != 0, payload: file[r.at..<body.upperBound])
        case .removed:
            guard let channel: UInt32 = r.read(), let id: UInt64 = r.read() else { return nil }
            record = .removed(channel, id: id)
        case .counters:
            guard let next: UInt64 = r.read(), let nextChannel: UInt32 = r.read() else { return nil }
            record = .counters(nextValue: next, nextChannel: nextChannel)
        }
        return r.at == body.upperBound ? record : nil
    }

    private struct Reader {
        let file: [UInt8]
        var at: Int
        let end: Int

        init(file: [UInt8], at: Int, end: Int) {
            self.file = file
            self.at = at
            self.end = end
        }

        mutating func read<T: FixedWidthInteger>() -> T? {
            let size = MemoryLayout<T>.size
            guard end - at >= size else { return nil }
            let v = file.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
            at += size
            return v
        }

        mutating func bytes(_ n: Int) -> ArraySlice<UInt8>? {
            guard end - at >= n else { return nil }
            defer { at += n }
            return file[at..<at + n]
        }
    }
}
