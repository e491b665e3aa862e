/// A Prometheus-style cumulative histogram: counts per upper bound, a sum
/// and a count.
public struct Histogram {
    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
        sum += value
        count += 1
    }

    /// Observations at or below each bound (the `le` buckets), then +Inf.
    public var cumulative: [Int] {
        var total = 0
        return counts.map { total += $0; return total } + [count]
    }
}
