import ChanAuth
import Foundation
import Testing

/// Hashes made by chan passwd's code path, verified as AUTH verifies them.
@Suite struct SecretTests {
    @Test func hashRoundTripThroughItsTextForm() throws {
        let hash = try SecretHash.make(secret: Array("correct horse".utf8), log2N: 10)
        let text = hash.encoded
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        #expect(fields.count == 6)
        #expect(fields[0] == "scrypt" && fields[1] == "1024" && fields[2] == "8" && fields[3] == "1")
        #expect(Data(base64Encoded: String(fields[4]))?.count == 16)
        #expect(Data(base64Encoded: String(fields[5]))?.count == 32)
        let parsed = try #require(SecretHash(text))
        #expect(parsed == hash)
        #expect(parsed.matches(Array("correct horse".utf8)))
        #expect(!parsed.matches(Array("correct horse ".utf8)))
        #expect(!parsed.matches(Array("Correct horse".utf8)))
        #expect(!parsed.matches([]))
    }

    @Test func defaultCostIsTheDocumentedOne() throws {
        let hash = try SecretHash.make(secret: Array("pw".utf8))
        #expect(hash.encoded.hasPrefix("scrypt$16384$8$1$"))
        #expect(hash.matches(Array("pw".utf8)))
    }

    /// RFC 7914, section 12, the third test vector ("pleaseletmein", "SodiumChloride", N=16384, r=8, p=1), in the
    /// users file's form: a line made elsewhere with the same scrypt verifies here.
    @Test func theRFCTestVectorVerifies() throws {
        let key = "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            + "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
        let bytes = stride(from: 0, to: key.count, by: 2).map { i -> UInt8 in
            let start = key.index(key.startIndex, offsetBy: i)
            return UInt8(key[start..<key.index(start, offsetBy: 2)], radix: 16)!
        }
        let line = "scrypt$16384$8$1$" + Data("SodiumChloride".utf8).base64EncodedString() + "$" + Data(bytes).base64EncodedString()
        let hash = try #require(SecretHash(line))
        #expect(hash.matches(Array("pleaseletmein".utf8)))
        #expect(!hash.matches(Array("pleaseletmeim".utf8)))
    }

    @Test func saltsDifferSoEqualSecretsHashDifferently() throws {
        let a = try SecretHash.make(secret: Array("same".utf8), log2N: 8)
        let b = try SecretHash.make(secret: Array("same".utf8), log2N: 8)
        #expect(a.encoded != b.encoded)
        #expect(a.matches(Array("same".utf8)) && b.matches(Array("same".utf8)))
    }

    @Test func emptySecretOrWildCostIsRefused() {
        #expect(throws: SecretHashError.emptySecret) { try SecretHash.make(secret: []) }
        #expect(throws: SecretHashError.parametersOutOfRange) { try SecretHash.make(secret: [1], log2N: 21) }
        #expect(throws: SecretHashError.parametersOutOfRange) { try SecretHash.make(secret: [1], log2N: 20, blockSize: 8) }
    }

    @Test func authenticateAcceptsOnlyTheRightNameAndSecret() throws {
        let hash = try SecretHash.make(secret: Array("s3cret".utf8), log2N: 10)
        let users = try Users(parsing: "alice \(hash.encoded) recv:jobs\nbob plain:hunter2 admin\n")
        #expect(users.authenticate(name: "alice", secret: "s3cret")?.name == "alice")
        #expect(users.authenticate(name: "alice", secret: "s3cret!") == nil)
        #expect(users.authenticate(name: "alice", secret: "hunter2") == nil)
        #expect(users.authenticate(name: "bob", secret: "hunter2")?.name == "bob")
        #expect(users.authenticate(name: "bob", secret: "hunter") == nil)
        #expect(users.authenticate(name: "carol", secret: "s3cret") == nil)
        #expect(users.authenticate(name: "", secret: "") == nil)
    }

    @Test func descriptionsRedactTheSecret() throws {
        let users = try Users(parsing: "bob plain:hunter2 send:jobs admin\n")
        let bob = try #require(users.user(named: "bob"))
        var dumped = ""
        dump(bob, to: &dumped)
        var dumpedUsers = ""
        dump(users, to: &dumpedUsers)
        for text in [bob.description, String(reflecting: bob), "\(bob)", dumped, users.description, dumpedUsers] {
            #expect(!text.contains("hunter2"))
            #expect(!text.contains("scrypt$"))
        }
        #expect(bob.description == "User(bob, line 1, secret <redacted>, grants: send:jobs admin)")
    }

    @Test func constantTimeEqualComparesEveryByte() {
        #expect(constantTimeEqual([], []))
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!constantTimeEqual([1, 2, 3], [0, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        // Every single-bit difference at every position is seen.
        let base = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        for position in base.indices {
            for bit in 0..<8 {
                var other = base
                other[position] ^= 1 << bit
                #expect(!constantTimeEqual(base, other))
            }
        }
    }
}
