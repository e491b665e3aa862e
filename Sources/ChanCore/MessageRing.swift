#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A channel's buffer: values packed back to back in one growable ring of
/// bytes, each as a 4-byte header (length, and the exception flag in the top
/// bit) followed by its payload. A buffered 16-byte value costs 20 bytes
/// (plus the ring's slack), where an array per value would cost about 80.
struct MessageRing {
    private var storage: UnsafeMutableRawBufferPointer?
    /// Offset of the first record, and bytes in use.
    private var head = 0
    private var used = 0
    private(set) var count = 0

    private static let headerSize = 4
    private static let exceptionBit: UInt32 = 1 << 31
    /// An emptied ring keeps its storage up to this size.
    private static let keptCapacity = 4096

    var isEmpty: Bool { count == 0 }
    private var capacity: Int { storage?.count ?? 0 }

    mutating func append(_ message: Message) {
        precondition(message.payload.count < Int(Self.exceptionBit), "payload too large to buffer")
        let size = Self.headerSize + message.payload.count
        if used + size > capacity { grow(toFit: used + size) }
        var header = UInt32(message.payload.count) | (message.isException ? Self.exceptionBit : 0)
        withUnsafeBytes(of: &header) { write($0, at: head + used) }
        message.payload.withUnsafeBytes { write($0, at: head + used + Self.headerSize) }
        used += size
        count += 1
    }

    /// Adds `message` before the head (a held value given back, rule 23).
    mutating func prepend(_ message: Message) {
        precondition(message.payload.count < Int(Self.exceptionBit), "payload too large to buffer")
        let size = Self.headerSize + message.payload.count
        if used + size > capacity { grow(toFit: used + size) }
        head = (head - size + capacity) % capacity
        var header = UInt32(message.payload.count) | (message.isException ? Self.exceptionBit : 0)
        withUnsafeBytes(of: &header) { write($0, at: head) }
        message.payload.withUnsafeBytes { write($0, at: head + Self.headerSize) }
        used += size
        count += 1
    }

    mutating func popFirst() -> Message? {
        guard count > 0 else { return nil }
        var header: UInt32 = 0
        withUnsafeMutableBytes(of: &header) { read(into: $0, at: head) }
        let length = Int(header & ~Self.exceptionBit)
        let payload = [UInt8](unsafeUninitializedCapacity: length) { bytes, initialized in
            read(into: UnsafeMutableRawBufferPointer(bytes), at: head + Self.headerSize)
            initialized = length
        }
        head = (head + Self.headerSize + length) % capacity
        used -= Self.headerSize + length
        count -= 1
        if count == 0 { reset() }
        return Message(payload, isException: header & Self.exceptionBit != 0)
    }

    /// The values, head first (for inspection and tests).
    var messages: [Message] {
        var copy = self
        copy.storage = nil
        if let storage {
            // An independent copy of the bytes, so popping leaves `self` intact.
            let bytes = UnsafeMutableRawBufferPointer(start: malloc(storage.count), count: storage.count)
            bytes.copyMemory(from: UnsafeRawBufferPointer(storage))
            copy.storage = bytes
        }
        var out: [Message] = []
        while let m = copy.popFirst() { out.append(m) }
        copy.free()
        return out
    }

    /// Frees the storage; the ring must not be used afterwards.
    mutating func free() {
        releaseStorage(storage?.baseAddress)
        storage = nil
    }

    private mutating func reset() {
        head = 0
        if capacity > Self.keptCapacity { free() }
    }

    /// Copies `bytes` into the ring at logical offset `offset`, wrapping.
    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let storage, !bytes.isEmpty else { return }
        let start = offset % storage.count
        let first = min(bytes.count, storage.count - start)
        UnsafeMutableRawBufferPointer(rebasing: storage[start..<start + first])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<first]))
        if first < bytes.count {
            UnsafeMutableRawBufferPointer(rebasing: storage[..<(bytes.count - first)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[first...]))
        }
    }

    /// Copies bytes out of the ring from logical offset `offset`, wrapping.
    private func read(into bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        guard let storage, !bytes.isEmpty else { return }
        let start = offset % storage.count
        let first = min(bytes.count, storage.count - start)
        UnsafeMutableRawBufferPointer(rebasing: bytes[..<first])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[start..<start + first]))
        if first < bytes.count {
            UnsafeMutableRawBufferPointer(rebasing: bytes[first...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[..<(bytes.count - first)]))
        }
    }

    /// Grows the storage until `needed` bytes fit: doubling while small,
    /// by an eighth past `largeRing`, since every page of a ring is touched as
    /// it turns and a large one should stay close to its contents. The
    /// storage is malloc'ed so that this is a realloc: a large ring's pages
    /// are moved by the kernel, not copied, so its values are never resident
    /// twice. Records that had wrapped round stay contiguous: the shorter of
    /// the two pieces moves, the start past the old end, or the tail to the
    /// new end.
    private mutating func grow(toFit needed: Int) {
        let oldCapacity = capacity
        var newCapacity = max(oldCapacity, 64)
        while newCapacity < needed { newCapacity += newCapacity < Self.largeRing ? newCapacity : newCapacity / 8 }
        guard let bigger = realloc(storage?.baseAddress, newCapacity) else {
            fatalError("out of memory: a channel buffer of \(newCapacity) bytes")
        }
        storage = UnsafeMutableRawBufferPointer(start: bigger, count: newCapacity)
        let wrapped = head + used - oldCapacity, tail = oldCapacity - head
        guard wrapped > 0 else { return }
        if wrapped <= tail && wrapped <= newCapacity - oldCapacity {
            (bigger + oldCapacity).copyMemory(from: bigger, byteCount: wrapped)
        } else {
            memmove(bigger + newCapacity - tail, bigger + head, tail)
            head = newCapacity - tail
        }
    }

    private static let largeRing = 1 << 20
}

private func releaseStorage(_ bytes: UnsafeMutableRawPointer?) {
    #if canImport(Glibc)
    Glibc.free(bytes)
    #else
    Darwin.free(bytes)
    #endif
}
