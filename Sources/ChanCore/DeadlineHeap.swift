/// Min-heap of blocked tasklets by deadline, with O(log n) removal through the
/// index each tasklet keeps of its slot: a select that completes before its
/// deadline leaves no entry behind, so the heap never outgrows the number of
/// tasklets waiting with a timeout.
struct DeadlineHeap {
    private var items: [Tasklet] = []

    var count: Int { items.count }
    var earliest: UInt64? { items.first?.deadline }

    mutating func insert(_ t: Tasklet) {
        precondition(t.heapIndex < 0)
        t.heapIndex = items.count
        items.append(t)
        siftUp(items.count - 1)
    }

    mutating func remove(_ t: Tasklet) {
        let i = t.heapIndex
        precondition(i >= 0 && items[i] === t)
        let last = items.removeLast()
        t.heapIndex = -1
        guard i < items.count else { return }
        items[i] = last
        last.heapIndex = i
        siftDown(i)
        siftUp(last.heapIndex)
    }

    /// Removes and returns the earliest tasklet if its deadline is at or before `now`.
    mutating func popDue(now: UInt64) -> Tasklet? {
        guard let first = items.first, first.deadline <= now else { return nil }
        remove(first)
        return first
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].deadline < items[parent].deadline else { break }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == i { return }
            swapAt(i, smallest)
            i = smallest
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a].heapIndex = a
        items[b].heapIndex = b
    }
}
