import Foundation

/// The users file, parsed: who may authenticate and what each may do.
///
/// Grammar, one user per line; blank lines and lines whose first non-blank
/// character is `#` are ignored; fields are separated by spaces or tabs:
///
///     <name> <secret> [<grant> ...]
///     name   = 1-255 bytes 0x21-0x7E, not starting with '#'
///     secret = "plain:" <text> | "scrypt$" <N> "$" <r> "$" <p> "$" <salt b64> "$" <key b64>
///     grant  = "send:" <pattern> | "recv:" <pattern> | "admin"
///     pattern = <channel name> | <prefix> "*"
///
/// A `plain:` secret is accepted with a warning. Only its SHA-256 is kept.
/// Verifying a plain secret or an unknown name also runs one scrypt
/// derivation at the cost most hashed secrets of the file have, so that a
/// plain user, a hashed one and an unknown name take the same time.
public struct Users: Sendable, CustomStringConvertible {
    public static let plainPrefix = "plain:"

    /// In file order.
    public let all: [User]
    /// One line each, e.g. `line 3: user alice has a plain: secret; hash it with chan passwd`.
    /// They never contain a secret.
    public let warnings: [String]
    private let byName: [String: User]
    /// Derived against when the name is unknown or its secret plain, so that
    /// those take as long as the file's usual hashed user.
    private let decoy: SecretHash?
    /// Compared against when the name is unknown, as a plain secret would be.
    private let decoyDigest: [UInt8]

    /// Reads and parses the file at `path`. A file that cannot be read is an
    /// error without a line number.
    public static func load(path: String) throws(UsersFileError) -> Users {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw UsersFileError(path: path, line: nil, message: "cannot read the users file: \(error.localizedDescription)")
        }
        do {
            return try Users(parsing: String(decoding: data, as: UTF8.self))
        } catch var error {
            error.path = path
            throw error
        }
    }

    /// Parses the text of a users file; the first malformed line is the error.
    public init(parsing text: String) throws(UsersFileError) {
        var all: [User] = []
        var warnings: [String] = []
        var byName: [String: User] = [:]
        // Split as bytes: as Characters, "\r\n" is one and would not split at "\n".
        for (index, rawLine) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            func fail(_ message: String) -> UsersFileError { UsersFileError(path: nil, line: line, message: message) }
            let fields = rawLine.split(whereSeparator: Users.isBlank).map { String(decoding: $0, as: UTF8.self) }
            guard let name = fields.first, !name.hasPrefix("#") else { continue }
            guard Users.isValidName(name) else {
                throw fail("bad user name \"\(name)\": 1-255 bytes 0x21-0x7E")
            }
            if let earlier = byName[name] {
                throw fail("user \(name) is already defined on line \(earlier.line)")
            }
            guard fields.count >= 2 else { throw fail("user \(name) has no secret") }
            let secretField = fields[1]
            let secret: StoredSecret
            if secretField.hasPrefix(Users.plainPrefix) {
                let plain = Array(secretField.utf8.dropFirst(Users.plainPrefix.utf8.count))
                guard !plain.isEmpty else { throw fail("user \(name) has an empty plain: secret") }
                secret = .plain(digest: StoredSecret.digest(plain))
                warnings.append("line \(line): user \(name) has a plain: secret; replace it with the line chan passwd prints")
            } else if let hash = SecretHash(secretField) {
                secret = .hash(hash)
            } else {
                // The field is not echoed: it may be a secret written wrongly.
                throw fail("the secret of user \(name) is neither plain:<text> nor a scrypt$N$r$p$salt$key hash from chan passwd")
            }
            var grants: [Grant] = []
            for (position, field) in fields.dropFirst(2).enumerated() {
                // Not echoed either: a plain secret with a space in it would show up here.
                guard let grant = Grant(field) else {
                    throw fail("grant \(position + 1) of user \(name) is not send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *")
                }
                grants.append(grant)
            }
            if grants.isEmpty {
                warnings.append("line \(line): user \(name) has no grants and may only PING, HELLO, AUTH and QUIT")
            }
            let user = User(name: name, secret: secret, grants: grants, line: line)
            all.append(user)
            byName[name] = user
        }
        if all.isEmpty {
            warnings.append("the users file has no users: nobody can authenticate")
        }
        self.all = all
        self.warnings = warnings
        self.byName = byName
        decoy = Users.decoy(mirroring: all)
        decoyDigest = SecretHash.randomBytes(SecretHash.keyBytes)
    }

    /// A hash with the cost most hashed users of the file have (the earliest
    /// such user's on a tie), a random salt and a random key: deriving against
    /// it costs what verifying them costs, and it matches nothing. nil when no
    /// secret is hashed: then every verification is one SHA-256 comparison.
    private static func decoy(mirroring users: [User]) -> SecretHash? {
        var counts: [[Int]: Int] = [:]
        var mostCommon: (cost: [Int], count: Int)?
        for user in users {
            guard case .hash(let hash) = user.secret else { continue }
            let cost = [hash.n, hash.blockSize, hash.parallelism]
            counts[cost, default: 0] += 1
            if counts[cost]! > mostCommon?.count ?? 0 { mostCommon = (cost, counts[cost]!) }
        }
        return mostCommon.map {
            SecretHash(n: $0.cost[0], blockSize: $0.cost[1], parallelism: $0.cost[2],
                       salt: SecretHash.randomBytes(SecretHash.saltBytes), key: SecretHash.randomBytes(SecretHash.keyBytes))
        }
    }

    public var isEmpty: Bool { all.isEmpty }

    /// The user of that name, for checking a connection's next command against
    /// the file as it is now (after a reload).
    public func user(named name: String) -> User? { byName[name] }

    /// The user when `name` exists and `secret` is its secret, else nil.
    /// Unknown names, plain and hashed secrets do the same work (see `decoy`),
    /// and comparisons are constant time. With hashed secrets it costs one
    /// scrypt derivation: at the default cost 16 MiB and tens of milliseconds,
    /// which a caller on an event loop may prefer to run on a worker thread
    /// (`Users` and `User` are Sendable values).
    public func authenticate(name: String, secret: [UInt8]) -> User? {
        let user = byName[name]
        let matched: Bool
        switch user?.secret {
        case .hash(let hash):
            matched = hash.matches(secret)
        case .plain(let digest):
            _ = decoy?.matches(secret)
            matched = constantTimeEqual(StoredSecret.digest(secret), digest) && !secret.isEmpty
        case nil:
            _ = decoy?.matches(secret)
            _ = constantTimeEqual(StoredSecret.digest(secret), decoyDigest)
            matched = false
        }
        return matched ? user : nil
    }

    /// `authenticate` for a secret given as text (the AUTH argument).
    public func authenticate(name: String, secret: String) -> User? {
        authenticate(name: name, secret: Array(secret.utf8))
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...255).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    public var description: String { "Users(\(all.map(\.description).joined(separator: ", ")))" }
}

/// A users file that cannot be used. `description` is the line to print
/// before exiting: `<path>:<line>: <message>`.
public struct UsersFileError: Error, Sendable, CustomStringConvertible {
    public var path: String?
    /// 1-based; nil when the file could not be read at all.
    public var line: Int?
    public var message: String

    public var description: String {
        var prefix = path.map { "\($0):" } ?? ""
        if let line { prefix += path == nil ? "line \(line):" : "\(line):" }
        return prefix.isEmpty ? message : "\(prefix) \(message)"
    }
}
