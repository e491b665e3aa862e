import ChanAuth
import Testing

/// What one AUTH costs at the default scrypt cost, for a hashed user, a plain
/// one and an unknown name: printed, never asserted (the three should be
/// alike). Meaningful in a release build: `swift test -c release --filter AuthCostFigures`.
@Suite(.serialized) struct AuthCostFigures {
    @Test func authenticationAtTheDefaultCost() throws {
        let hash = try SecretHash.make(secret: Array("s3cret".utf8))
        let users = try Users(parsing: "alice \(hash.encoded) admin\nbob plain:hunter2 admin\n")
        let clock = ContinuousClock()
        let rounds = 1
        var figures: [String] = []
        for (label, name, secret, expected) in [("hashed user", "alice", "s3cret", true), ("plain user", "bob", "hunter2", true),
                                                ("unknown name", "carol", "s3cret", false)] {
            var accepted = 0
            let time = clock.measure {
                for _ in 0..<rounds where users.authenticate(name: name, secret: secret) != nil { accepted += 1 }
            }
            #expect(accepted == (expected ? rounds : 0))
            figures.append("\(label) \(time.components.attoseconds / 1_000_000_000_000_000 / Int64(rounds) + time.components.seconds * 1000 / Int64(rounds)) ms")
        }
        print("AUTH at the default cost (scrypt N=2^\(SecretHash.defaultLog2N), r=8, p=1): " + figures.joined(separator: ", "))
    }
}
