extension Sequence {
    /// The `k` smallest elements by `areInIncreasingOrder`, sorted, and how
    /// many elements there were: one pass with a heap of k elements,
    /// O(n log k), so listing the first 1000 of a million channels does not
    /// sort the million.
    func smallest(_ k: Int, by areInIncreasingOrder: (Element, Element) -> Bool) -> (smallest: [Element], count: Int) {
        var count = 0
        // A max-heap of the k smallest seen so far: heap[0] is the largest of them.
        var heap: [Element] = []
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let left = 2 * i + 1, right = left + 1
                var largest = i
                if left < heap.count, areInIncreasingOrder(heap[largest], heap[left]) { largest = left }
                if right < heap.count, areInIncreasingOrder(heap[largest], heap[right]) { largest = right }
                if largest == i { return }
                heap.swapAt(i, largest)
                i = largest
            }
        }
        for element in self {
            count += 1
            if heap.count < k {
                heap.append(element)
                var i = heap.count - 1
                while i > 0, areInIncreasingOrder(heap[(i - 1) / 2], heap[i]) {
                    heap.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if k > 0 && areInIncreasingOrder(element, heap[0]) {
                heap[0] = element
                siftDown(0)
            }
        }
        return (heap.sorted(by: areInIncreasingOrder), count)
    }
}
