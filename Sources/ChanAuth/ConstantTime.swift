/// True when `a` and `b` hold the same bytes. The time taken depends only on
/// the lengths, never on where the first difference is: every byte pair is
/// compared and the differences are folded together without branching.
/// Lengths are not secret here (derived keys have a fixed length).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices {
        difference |= a[index] ^ b[index]
    }
    return difference == 0
}
