/// What a grant gives on a channel.
public enum Access: Sendable, Equatable {
    /// `send:<pattern>`: SEND, THROW, SELECT send cases, MAKE, CLOSE, OPEN, STAT.
    case send
    /// `recv:<pattern>`: RECV, SELECT receive cases, STAT.
    case receive
    /// `admin`: every command on every channel, plus CHANNELS, INFO, DELETE.
    case admin
}

/// A channel name, or a prefix when it ends in `*` (`jobs.*`, `*`).
public struct ChannelPattern: Sendable, Equatable, CustomStringConvertible {
    public static let wildcard: Character = "*"

    /// The name, or the prefix without its `*`.
    public let stem: String
    public let isPrefix: Bool

    /// nil when `text` is empty, has a `*` anywhere but at its end, or has a
    /// byte a channel name cannot have (names are 1-255 bytes 0x21-0x7E).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        let star = UInt8(ascii: "*")
        let isPrefix = bytes.last == star
        let stem = isPrefix ? bytes.dropLast() : bytes[...]
        guard !stem.contains(star), stem.count <= 255, isPrefix || !stem.isEmpty else { return nil }
        self.stem = String(decoding: stem, as: UTF8.self)
        self.isPrefix = isPrefix
    }

    public func matches(_ channel: String) -> Bool {
        isPrefix ? channel.utf8.starts(with: stem.utf8) : channel == stem
    }

    public var description: String { isPrefix ? stem + String(ChannelPattern.wildcard) : stem }
}

/// One grant of a users-file line.
public enum Grant: Sendable, Equatable, CustomStringConvertible {
    case send(ChannelPattern)
    case receive(ChannelPattern)
    case admin

    public static let sendPrefix = "send:"
    public static let receivePrefix = "recv:"
    public static let adminWord = "admin"

    /// `send:<pattern>`, `recv:<pattern>` or `admin`; nil otherwise.
    public init?(_ text: String) {
        if text == Grant.adminWord {
            self = .admin
        } else if text.hasPrefix(Grant.sendPrefix), let pattern = ChannelPattern(String(text.dropFirst(Grant.sendPrefix.count))) {
            self = .send(pattern)
        } else if text.hasPrefix(Grant.receivePrefix), let pattern = ChannelPattern(String(text.dropFirst(Grant.receivePrefix.count))) {
            self = .receive(pattern)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .send(let pattern): Grant.sendPrefix + pattern.description
        case .receive(let pattern): Grant.receivePrefix + pattern.description
        case .admin: Grant.adminWord
        }
    }
}

/// What a command asks for, for the permission check: one per command, and
/// one per SELECT case (`.selectSend`, `.selectReceive`).
public enum CommandKind: Sendable, CaseIterable {
    case ping, hello, auth, quit
    case send, `throw`, selectSend, make, close, open
    case recv, selectReceive
    case stat
    case channels, info, delete

    /// What the command needs from the user, on the channel it names.
    public var requirement: Requirement {
        switch self {
        case .ping, .hello, .auth, .quit: .nothing
        case .send, .throw, .selectSend, .make, .close, .open: .access(.send)
        case .recv, .selectReceive: .access(.receive)
        case .stat: .sendOrReceive
        case .channels, .info, .delete: .access(.admin)
        }
    }

    /// Whether a connection that has not authenticated may do it (with users configured).
    public var allowedBeforeAuth: Bool { requirement == .nothing }
}

public enum Requirement: Sendable, Equatable {
    /// Anyone, authenticated or not.
    case nothing
    /// This access on the channel (`.admin`: the admin grant, whatever the channel).
    case access(Access)
    /// Either send or receive access on the channel (STAT).
    case sendOrReceive
}
