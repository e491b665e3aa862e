/// A channel's live values as the loop thread tracks them: number and record
/// size, in append order (numbers increase within a channel), so that a
/// removal finds its value by binary search. Removed values stay as holes
/// until the front passes them; the consumed front is dropped once it is
/// half the array. Flat arrays instead of a dictionary: no rehash of every
/// live value when the queue grows, only a memmove of 16 bytes a value.
struct ValueIndex {
    private var ids: [StoreValueID] = []
    /// Record size, or -1 once removed.
    private var sizes: [Int] = []
    private var head = 0
    private(set) var count = 0

    mutating func append(_ id: StoreValueID, size: Int) {
        ids.append(id)
        sizes.append(size)
        count += 1
    }

    /// The removed value's record size, nil when it is not live.
    mutating func remove(_ id: StoreValueID) -> Int? {
        var low = head, high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < id { low = mid + 1 } else { high = mid }
        }
        guard low < ids.count, ids[low] == id, sizes[low] >= 0 else { return nil }
        let size = sizes[low]
        sizes[low] = -1
        count -= 1
        while head < ids.count && sizes[head] < 0 { head += 1 }
        if head >= 1024 && head * 2 >= ids.count {
            ids.removeFirst(head)
            sizes.removeFirst(head)
            head = 0
        }
        return size
    }
}
