import COpenSSL
import Foundation

/// A salted scrypt hash of a secret, as `chan passwd` writes it and the users
/// file holds it:
///
///     scrypt$<N>$<r>$<p>$<salt, base64>$<derived key, base64>
///
/// Why scrypt: it is memory-hard, where PBKDF2 is only iterated (a GPU or
/// ASIC guesses far faster per watt than the server verifies) and HKDF has no
/// work factor at all. It comes from the system's OpenSSL (`EVP_PBE_scrypt`),
/// which the daemon links for TLS anyway, so no second crypto library is
/// built. The parameters travel with the hash, so a stronger default later
/// does not invalidate existing lines.
public struct SecretHash: Sendable, Equatable {
    public static let scheme = "scrypt"
    static let separator: Character = "$"

    /// The default cost: N = 2^14, r = 8, p = 1, 16 MiB and some tens of
    /// milliseconds per verification: RFC 7914's figure for interactive
    /// logins (a verification runs on the server's one event loop).
    public static let defaultLog2N = 14
    public static let defaultBlockSize = 8
    public static let defaultParallelism = 1
    static let saltBytes = 16
    static let keyBytes = 32

    /// Bounds that keep one line of a users file from asking the server for
    /// more than 256 MiB or minutes of work per AUTH.
    static let log2NRange = 1...20
    static let blockSizeRange = 1...32
    static let parallelismRange = 1...16
    static let maxMemory = 256 << 20
    static let saltLengths = 8...64
    static let keyLengths = 16...64

    public let n: Int
    public let blockSize: Int
    public let parallelism: Int
    let salt: [UInt8]
    let key: [UInt8]

    /// Hashes `secret` with a fresh random salt.
    public static func make(secret: [UInt8], log2N: Int = defaultLog2N, blockSize: Int = defaultBlockSize,
                            parallelism: Int = defaultParallelism) throws -> SecretHash {
        let n = 1 << log2N
        guard !secret.isEmpty else { throw SecretHashError.emptySecret }
        guard log2NRange.contains(log2N), blockSizeRange.contains(blockSize), parallelismRange.contains(parallelism),
              128 * n * blockSize <= maxMemory else {
            throw SecretHashError.parametersOutOfRange
        }
        let salt = randomBytes(saltBytes)
        let key = try derive(secret, salt: salt, n: n, blockSize: blockSize, parallelism: parallelism, keyBytes: keyBytes)
        return SecretHash(n: n, blockSize: blockSize, parallelism: parallelism, salt: salt, key: key)
    }

    /// Reads the text form; nil when it is not one (malformed, or out of bounds).
    public init?(_ text: String) {
        let fields = text.split(separator: SecretHash.separator, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == SecretHash.scheme,
              let n = Int(fields[1]), n > 1, n & (n - 1) == 0,
              let blockSize = Int(fields[2]), SecretHash.blockSizeRange.contains(blockSize),
              let parallelism = Int(fields[3]), SecretHash.parallelismRange.contains(parallelism),
              SecretHash.log2NRange.contains(n.trailingZeroBitCount),
              128 * n * blockSize <= SecretHash.maxMemory,
              let salt = Data(base64Encoded: String(fields[4])), SecretHash.saltLengths.contains(salt.count),
              let key = Data(base64Encoded: String(fields[5])), SecretHash.keyLengths.contains(key.count)
        else { return nil }
        self.init(n: n, blockSize: blockSize, parallelism: parallelism, salt: Array(salt), key: Array(key))
    }

    init(n: Int, blockSize: Int, parallelism: Int, salt: [UInt8], key: [UInt8]) {
        self.n = n
        self.blockSize = blockSize
        self.parallelism = parallelism
        self.salt = salt
        self.key = key
    }

    /// The line field: `scrypt$N$r$p$salt$key`. Not a description: it is what
    /// `chan passwd` prints, and nothing else should print it.
    public var encoded: String {
        [SecretHash.scheme, String(n), String(blockSize), String(parallelism),
         Data(salt).base64EncodedString(), Data(key).base64EncodedString()].joined(separator: String(SecretHash.separator))
    }

    /// Derives the key for `secret` with this hash's salt and cost and compares
    /// it in constant time. Always does the full derivation.
    /// An empty secret never matches, after the same work.
    public func matches(_ secret: [UInt8]) -> Bool {
        // The KDF reads its input through a base address, which an empty array may lack.
        let input = secret.isEmpty ? [0] : secret
        guard let candidate = try? SecretHash.derive(input, salt: salt, n: n, blockSize: blockSize,
                                                     parallelism: parallelism, keyBytes: key.count)
        else { return false }
        return constantTimeEqual(candidate, key) && !secret.isEmpty
    }

    static func derive(_ secret: [UInt8], salt: [UInt8], n: Int, blockSize: Int, parallelism: Int, keyBytes: Int) throws -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyBytes)
        // maxmem: scrypt needs 128 * N * r bytes, and a little more for its own bookkeeping.
        let done = EVP_PBE_scrypt(secret.map { CChar(bitPattern: $0) }, secret.count, salt, salt.count,
                                  UInt64(n), UInt64(blockSize), UInt64(parallelism), UInt64(maxMemory + (1 << 20)),
                                  &key, keyBytes)
        guard done == 1 else { throw SecretHashError.parametersOutOfRange }
        return key
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { fatalError("the system's random source failed") }
        return bytes
    }
}

extension SecretHash: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "scrypt(N=\(n), r=\(blockSize), p=\(parallelism), <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

public enum SecretHashError: Error, Sendable {
    case parametersOutOfRange
    case emptySecret
}
