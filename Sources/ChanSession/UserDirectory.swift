/// What a command asks of the user's grants: one per command, and one per
/// SELECT case. The users file's own model (ChanAuth) answers it; sessions
/// see only these protocols, so that they build without it.
public enum GuardedCommand: Sendable, CaseIterable {
    case send, `throw`, selectSend, make, close, open
    case recv, selectReceive
    case stat
    case channels, info, delete
}

/// An authenticated user, as sessions check it.
public protocol SessionUser: Sendable {
    var name: String { get }
    /// Whether the user may run `command` on `channel` (nil: a command without one).
    func allows(_ command: GuardedCommand, on channel: String?) -> Bool
}

/// The users a server authenticates against (its users file).
public protocol UserDirectory: Sendable {
    /// The user of that name, after a reload.
    func user(named name: String) -> (any SessionUser)?
    /// The user when `secret` is its secret, else nil. May take tens of
    /// milliseconds (a memory-hard KDF); safe on any thread.
    func authenticate(name: String, secret: [UInt8]) -> (any SessionUser)?
}
