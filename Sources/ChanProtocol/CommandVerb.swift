extension Command {
    /// The request's verb as spelled on the wire (for messages such as ERR DENIED's).
    public var verb: String {
        let verb: [UInt8]
        switch self {
        case .ping: verb = Wire.ping
        case .quit: verb = Wire.quit
        case .info: verb = Wire.info
        case .hello: verb = Wire.hello
        case .channels: verb = Wire.channels
        case .send(_, _, let isException): verb = isException ? Wire.throw : Wire.send
        case .receive: verb = Wire.recv
        case .select: verb = Wire.select
        case .make: verb = Wire.make
        case .close: verb = Wire.close
        case .open: verb = Wire.open
        case .delete: verb = Wire.delete
        case .acknowledge: verb = Wire.ack
        case .giveBack: verb = Wire.nack
        case .auth: verb = Wire.auth
        case .stat: verb = Wire.stat
        case .invalid: return ""
        }
        return String(decoding: verb, as: UTF8.self)
    }
}

extension CaseRequest {
    /// The case line's verb: SEND, THROW or RECV.
    public var verb: String {
        switch self {
        case .send(_, _, let isException): String(decoding: isException ? Wire.throw : Wire.send, as: UTF8.self)
        case .receive: String(decoding: Wire.recv, as: UTF8.self)
        }
    }

    public var channelName: String {
        switch self {
        case .send(let name, _, _), .receive(let name): name
        }
    }
}
