/// xoshiro256** (Blackman and Vigna): a fast generator with a 2^256 period,
/// seeded through splitmix64. All arithmetic wraps (`&+`, `&*`), so it runs
/// for ever without overflow traps (rule 10; Go issue 21806 came from a weak
/// generator). `RandomNumberGenerator.next(upperBound:)` turns its output
/// into an unbiased choice.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    /// Seeded from the system's generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        self.init(seed: system.next())
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

extension Xoshiro256 {
    /// A uniform random permutation of `0..<n` as Fisher-Yates swaps, each
    /// reported to `swap` (i, j) with j in 0...i, i from n-1 down to 1. Up to
    /// 12 elements take one draw, split by multiply-shift (12! < 2^29, so the
    /// bias is below 2^-35); more take one draw each.
    @inline(__always)
    mutating func permute(_ n: Int, _ swap: (Int, Int) -> Void) {
        if n <= 12 {
            var bits = next()
            var i = n - 1
            while i > 0 {
                let (j, rest) = bits.multipliedFullWidth(by: UInt64(i + 1))
                swap(i, Int(j))
                bits = rest
                i -= 1
            }
        } else {
            var i = n - 1
            while i > 0 {
                swap(i, Int(next(upperBound: UInt(i + 1))))
                i -= 1
            }
        }
    }
}
