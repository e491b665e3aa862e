import ChanAuth
import ChanProtocol

/// Who a connection authenticated as, when the server has users.
struct Login {
    /// The name given to a successful AUTH; its user is looked up again
    /// after the users file is reloaded.
    var name: String?
    var user: User?
    /// The server's `usersGeneration` that `user` was looked up in.
    var generation = 0
    var failures = 0
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
        if let user = users.authenticate(name: name, secret: secret.bytes) {
            login = Login(name: name, user: user, generation: server.usersGeneration, failures: 0)
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
        let kind: CommandKind
        let channel: String?
        switch command {
        case .ping, .hello, .auth, .quit, .invalid, .acknowledge, .giveBack:
            return true
        case .select(let cases, _, _):
            for request in cases {
                let kind: CommandKind
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
    private func currentUser() -> User? {
        if login.generation != server.usersGeneration {
            login.generation = server.usersGeneration
            login.user = login.name.flatMap { server.users?.user(named: $0) }
            if login.user == nil { login.name = nil }
        }
        return login.user
    }
}
