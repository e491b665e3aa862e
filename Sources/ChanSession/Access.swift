import ChanProtocol

/// Who a connection authenticated as, when the server has users.
struct Login {
    /// The name given to a successful AUTH; its user is looked up again
    /// after the users file is reloaded.
    var name: String?
    var user: (any SessionUser)?
    /// The server's `usersGeneration` that `user` was looked up in.
    var generation = 0
    var failures = 0
    /// An AUTH whose secret is being checked off the loop; no command runs meanwhile.
    var checking: AuthenticationCheck? {
        didSet { isChecking = checking != nil }
    }
    /// `checking != nil`, tested per request: an optional check holds an
    /// existential, so testing it for nil copies and destroys it.
    private(set) var isChecking = false
    /// `checking` was just set: the transport is yet to be told.
    var checkRequested = false
}

/// One AUTH to check: a scrypt derivation (tens of milliseconds or more),
/// for a worker thread. Its description never shows the secret.
public struct AuthenticationCheck: Sendable, CustomStringConvertible {
    public let users: any UserDirectory
    public let name: String
    let secret: [UInt8]

    /// The user when the secret is right; runs on any thread.
    public func run() -> (any SessionUser)? { users.authenticate(name: name, secret: secret) }

    public var description: String { "AuthenticationCheck(\(name), <secret>)" }
}

/// AUTH and the permission check every command passes when users are configured.
extension Session {
    /// Failed AUTHs after which the connection is closed.
    static let maxAuthFailures = 3

    /// `AUTH <name> <secret>`: OK, or ERR DENIED (the third failure closes the
    /// connection). A failure keeps an earlier login. The secret is never logged.
    func authenticate(_ name: String, _ secret: Secret) {
        guard let users = server.users else {
            return error(.denied, "no users are configured on this server (chand --users)")
        }
        let check = AuthenticationCheck(users: users, name: name, secret: secret.bytes)
        if server.authenticatesOffLoop {
            login.checking = check
            login.checkRequested = true
        } else {
            concludeAuthentication(name, check.run())
        }
    }

    /// The AUTH being checked, for the transport to run off the loop.
    public func takeAuthentication() -> AuthenticationCheck? { login.checking }

    /// Answers an AUTH once its secret was checked.
    func concludeAuthentication(_ name: String, _ user: (any SessionUser)?) {
        if let user {
            // Generation -1: looked up again at the next command, in case the file was reloaded meanwhile.
            login = Login(name: name, user: user, generation: -1, failures: 0)
            server.logger.info("connection \(id): authenticated as \(name)")
            ReplyEncoder.ok(into: &output)
            return
        }
        login.failures += 1
        server.logger.notice("connection \(id): AUTH failed for user \(name) (\(login.failures) of \(Session.maxAuthFailures))")
        error(.denied, "invalid user name or secret")
        if login.failures >= Session.maxAuthFailures { endAfterReplies() }
    }

    /// Whether this connection's user may run `command`; when not, its ERR
    /// NOAUTH or ERR DENIED is written. A SELECT is checked case by case
    /// before any is queued. ACK and NACK need no grant: they only settle
    /// values this connection holds.
    func mayRun(_ command: Command) -> Bool {
        switch command {
        case .ping, .hello, .auth, .quit, .invalid:
            return true
        default:
            break
        }
        guard let user = currentUser() else {
            error(.noAuth, "\(command.verb) needs AUTH <name> <secret> first")
            return false
        }
        let kind: GuardedCommand
        let channel: String?
        switch command {
        case .ping, .hello, .auth, .quit, .invalid, .acknowledge, .giveBack:
            return true
        case .select(let cases, _, _):
            for request in cases {
                let kind: GuardedCommand
                if case .send = request { kind = .selectSend } else { kind = .selectReceive }
                if !user.allows(kind, on: request.channelName) {
                    error(.denied, "user \(user.name) may not SELECT with \(request.verb) on \(request.channelName)")
                    return false
                }
            }
            return true
        case .info: (kind, channel) = (.info, nil)
        case .channels: (kind, channel) = (.channels, nil)
        case .stat(let name): (kind, channel) = (.stat, name)
        case .make(let name, _, _, _): (kind, channel) = (.make, name)
        case .close(let name): (kind, channel) = (.close, name)
        case .open(let name): (kind, channel) = (.open, name)
        case .delete(let name): (kind, channel) = (.delete, name)
        case .send(let name, _, let isException): (kind, channel) = (isException ? .throw : .send, name)
        case .receive(let name, _, _): (kind, channel) = (.recv, name)
        }
        guard user.allows(kind, on: channel) else {
            if let channel {
                error(.denied, "user \(user.name) may not \(command.verb) on \(channel)")
            } else {
                error(.denied, "user \(user.name) may not \(command.verb) (it needs admin)")
            }
            return false
        }
        return true
    }

    /// The logged-in user as the users file is now: after a reload it is
    /// looked up again, and a name no longer in the file is logged out.
    private func currentUser() -> (any SessionUser)? {
        if login.generation != server.usersGeneration {
            login.generation = server.usersGeneration
            login.user = login.name.flatMap { server.users?.user(named: $0) }
            if login.user == nil { login.name = nil }
        }
        return login.user
    }
}
