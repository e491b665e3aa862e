import COpenSSL

/// A user of the users file: a name, a secret and grants.
/// Its descriptions (and mirror) never show the secret.
public struct User: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let name: String
    public let grants: [Grant]
    let secret: StoredSecret
    /// The users-file line the user is on.
    public let line: Int

    init(name: String, secret: StoredSecret, grants: [Grant], line: Int) {
        self.name = name
        self.secret = secret
        self.grants = grants
        self.line = line
    }

    public var isAdmin: Bool { grants.contains(.admin) }

    /// Whether the user has `access` on `channel`. Admin has every access on
    /// every channel; `.admin` ignores the channel.
    public func may(_ access: Access, channel: String) -> Bool {
        for grant in grants {
            switch (grant, access) {
            case (.admin, _): return true
            case (.send(let pattern), .send), (.receive(let pattern), .receive):
                if pattern.matches(channel) { return true }
            default: continue
            }
        }
        return false
    }

    /// Whether the user may perform `command`; `channel` is the channel it
    /// names (nil for commands without one: PING, INFO, CHANNELS ...).
    /// A SELECT is allowed only when every one of its cases is: check each
    /// as `.selectSend` or `.selectReceive` before queueing any.
    public func allows(_ command: CommandKind, on channel: String?) -> Bool {
        switch command.requirement {
        case .nothing: return true
        case .access(.admin): return isAdmin
        case .access(let access): return channel.map { may(access, channel: $0) } ?? isAdmin
        case .sendOrReceive: return channel.map { may(.send, channel: $0) || may(.receive, channel: $0) } ?? isAdmin
        }
    }

    public var description: String {
        "User(\(name), line \(line), secret <redacted>, grants: \(grants.map(\.description).joined(separator: " ")))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

/// A user's secret as held in memory: a scrypt hash, or (for `plain:`) the
/// SHA-256 of the text, compared in constant time.
enum StoredSecret: Sendable {
    case hash(SecretHash)
    case plain(digest: [UInt8])

    static func digest(_ secret: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        SHA256(secret, secret.count, &digest)
        return digest
    }
}
