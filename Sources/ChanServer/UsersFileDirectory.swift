import ChanAuth
import ChanSession

/// The users file as sessions check it: ChanAuth's grants behind ChanSession's protocols.
extension Users: UserDirectory {
    public func user(named name: String) -> (any SessionUser)? {
        let user: User? = user(named: name)
        return user
    }

    public func authenticate(name: String, secret: [UInt8]) -> (any SessionUser)? {
        let user: User? = authenticate(name: name, secret: secret)
        return user
    }
}

extension User: SessionUser {
    public func allows(_ command: GuardedCommand, on channel: String?) -> Bool {
        allows(CommandKind(command), on: channel)
    }
}

extension CommandKind {
    init(_ command: GuardedCommand) {
        switch command {
        case .send: self = .send
        case .throw: self = .throw
        case .selectSend: self = .selectSend
        case .make: self = .make
        case .close: self = .close
        case .open: self = .open
        case .recv: self = .recv
        case .selectReceive: self = .selectReceive
        case .stat: self = .stat
        case .channels: self = .channels
        case .info: self = .info
        case .delete: self = .delete
        }
    }
}
