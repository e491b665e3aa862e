/// A Prometheus-style cumulative histogram: counts per upper bound, a sum
/// and a count.
struct Histogram {
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var sum = 0.0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
        sum += value
        count += 1
    }

    /// Observations at or below each bound (the `le` buckets), then +Inf.
    var cumulative: [Int] {
        var total = 0
        return counts.map { total += $0; return total } + [count]
    }
}
