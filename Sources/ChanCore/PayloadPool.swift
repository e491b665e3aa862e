/// Storage of delivered payloads, kept for the next values a parser reads:
/// a rendezvous handoff then allocates nothing for its value. One per
/// engine, used only on its loop. Bounded, so that a burst of big or many
/// values is not kept: at most `keptArrays` arrays, none with room for more
/// than `keptCapacity` bytes.
///
/// A payload given back while something else still refers to it (a value
/// also buffered, held or given back elsewhere) is safe: arrays copy on
/// write, so replacing its bytes for the next value makes new storage and
/// leaves the other holder's bytes as they were. It costs that allocation,
/// so callers give back only payloads that are normally their storage's
/// last reference (the allocation counts in Benchmarks/RESULTS.md check it).
public final class PayloadPool {
    public static let keptArrays = 64
    public static let keptCapacity = 4096
    private var spare: [[UInt8]] = []

    public init() {}

    /// How many arrays wait for reuse.
    public var count: Int { spare.count }

    /// A payload holding a copy of `bytes`, in the storage of one given back when there is one.
    public func payload(copying bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard bytes.count <= Self.keptCapacity, var payload = spare.popLast() else { return Array(bytes) }
        payload.replaceSubrange(payload.indices, with: bytes)  // the old value's bytes, replaced in one call
        return payload
    }

    /// Takes `payload`'s storage for a later value (its old bytes stay until then); `payload` is left empty.
    public func giveBack(_ payload: inout [UInt8]) {
        guard payload.capacity > 0 else { return }
        var storage: [UInt8] = []
        swap(&storage, &payload)
        guard storage.capacity <= Self.keptCapacity, spare.count < Self.keptArrays else { return }
        spare.append(storage)
    }
}
