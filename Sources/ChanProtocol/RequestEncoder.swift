/// Appends protocol v1 requests to an output buffer, one function per command; every line ends with CRLF.
/// Payloads always go in the counted, binary-safe form (`SEND <chan> {n}`, the n bytes, CRLF).
///
/// The encoder does not check its arguments: names must pass `ChannelName.isValid`, a timeout must be at most
/// `WaitLimit.maxMilliseconds` and a CHANNELS top at most `ProtocolLimits.maxListedChannels`, else the server
/// answers ERR.
public enum RequestEncoder {
    /// `PING`
    public static func ping(into out: inout [UInt8]) { line(Wire.ping, into: &out) }

    /// `QUIT`
    public static func quit(into out: inout [UInt8]) { line(Wire.quit, into: &out) }

    /// `INFO`
    public static func info(into out: inout [UInt8]) { line(Wire.info, into: &out) }

    /// `HELLO`
    public static func hello(into out: inout [UInt8]) { line(Wire.hello, into: &out) }

    /// An empty line: the server ignores it. After a HELLO it completes what an HTTP server takes for a
    /// request head, so that a port serving HTTP answers (with something that is not HELLO) instead of waiting.
    public static func emptyLine(into out: inout [UInt8]) { out.append(contentsOf: Wire.crlf) }

    /// `SEND <chan> {n}` or `THROW <chan> {n}`, then the payload and CRLF. Also a SELECT case line.
    public static func send(channel: String, payload: [UInt8], isException: Bool, into out: inout [UInt8]) {
        out.append(contentsOf: isException ? Wire.throw : Wire.send)
        word(channel, into: &out)
        out.append(Wire.space)
        out.append(Wire.countOpen)
        decimal(payload.count, into: &out)
        out.append(Wire.countClose)
        out.append(contentsOf: Wire.crlf)
        out.append(contentsOf: payload)
        out.append(contentsOf: Wire.crlf)
    }

    /// `RECV <chan> [TIMEOUT <ms> | NOWAIT] [ACK]`
    public static func receive(channel: String, wait: WaitLimit, hold: Bool = false, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.recv)
        word(channel, into: &out)
        waitLimit(wait, into: &out)
        if hold { keyword(Wire.ack, into: &out) }
        out.append(contentsOf: Wire.crlf)
    }

    /// `SELECT <n> [TIMEOUT <ms> | NOWAIT] [ACK]` and its n case lines.
    public static func select(cases: [CaseRequest], wait: WaitLimit, hold: Bool = false, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.select)
        out.append(Wire.space)
        decimal(cases.count, into: &out)
        waitLimit(wait, into: &out)
        if hold { keyword(Wire.ack, into: &out) }
        out.append(contentsOf: Wire.crlf)
        for selectCase in cases {
            switch selectCase {
            case .send(let channel, let payload, let isException):
                send(channel: channel, payload: payload, isException: isException, into: &out)
            case .receive(let channel):
                out.append(contentsOf: Wire.recv)
                word(channel, into: &out)
                out.append(contentsOf: Wire.crlf)
            }
        }
    }

    /// `MAKE <chan> [CAP <n>] [PREFER RECEIVER|SENDER|NONE] [DURABLE]`
    public static func make(channel: String, capacity: Int?, preference: Preference?, durable: Bool = false,
                            into out: inout [UInt8]) {
        out.append(contentsOf: Wire.make)
        word(channel, into: &out)
        if let capacity {
            out.append(Wire.space)
            out.append(contentsOf: Wire.cap)
            out.append(Wire.space)
            decimal(capacity, into: &out)
        }
        if let preference {
            out.append(Wire.space)
            out.append(contentsOf: Wire.prefer)
            out.append(Wire.space)
            switch preference {
            case .receiver: out.append(contentsOf: Wire.receiver)
            case .sender: out.append(contentsOf: Wire.sender)
            case .none: out.append(contentsOf: Wire.none)
            }
        }
        if durable { keyword(Wire.durable, into: &out) }
        out.append(contentsOf: Wire.crlf)
    }

    /// `OPEN <chan>`
    public static func open(channel: String, into out: inout [UInt8]) { onChannel(Wire.open, channel, into: &out) }

    /// `DELETE <chan>`
    public static func delete(channel: String, into out: inout [UInt8]) { onChannel(Wire.delete, channel, into: &out) }

    /// `ACK <tag>`
    public static func acknowledge(tag: Int, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.ack)
        out.append(Wire.space)
        decimal(tag, into: &out)
        out.append(contentsOf: Wire.crlf)
    }

    /// `NACK <tag>`
    public static func giveBack(tag: Int, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.nack)
        out.append(Wire.space)
        decimal(tag, into: &out)
        out.append(contentsOf: Wire.crlf)
    }

    /// `AUTH <name> <secret>`
    public static func auth(user: String, secret: Secret, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.auth)
        word(user, into: &out)
        out.append(Wire.space)
        out.append(contentsOf: secret.bytes)
        out.append(contentsOf: Wire.crlf)
    }

    /// `CLOSE <chan>`
    public static func close(channel: String, into out: inout [UInt8]) { onChannel(Wire.close, channel, into: &out) }

    /// `STAT <chan>`
    public static func stat(channel: String, into out: inout [UInt8]) { onChannel(Wire.stat, channel, into: &out) }

    /// `CHANNELS [<prefix>] [TOP <n>]`; an empty prefix is no prefix.
    public static func channels(prefix: String?, top: Int?, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.channels)
        if let prefix, !prefix.isEmpty { word(prefix, into: &out) }
        if let top {
            out.append(Wire.space)
            out.append(contentsOf: Wire.top)
            out.append(Wire.space)
            decimal(top, into: &out)
        }
        out.append(contentsOf: Wire.crlf)
    }

    /// `<VERB> <chan>`: the requests whose one argument is a channel.
    private static func onChannel(_ verb: [UInt8], _ channel: String, into out: inout [UInt8]) {
        out.append(contentsOf: verb)
        word(channel, into: &out)
        out.append(contentsOf: Wire.crlf)
    }

    private static func line(_ verb: [UInt8], into out: inout [UInt8]) {
        out.append(contentsOf: verb)
        out.append(contentsOf: Wire.crlf)
    }

    /// A space, then `text`.
    private static func word(_ text: String, into out: inout [UInt8]) {
        out.append(Wire.space)
        out.append(contentsOf: text.utf8)
    }

    /// A space, then a keyword.
    private static func keyword(_ token: [UInt8], into out: inout [UInt8]) {
        out.append(Wire.space)
        out.append(contentsOf: token)
    }

    private static func waitLimit(_ wait: WaitLimit, into out: inout [UInt8]) {
        switch wait {
        case .forever: return
        case .nowait, .milliseconds(0):
            out.append(Wire.space)
            out.append(contentsOf: Wire.nowait)
        case .milliseconds(let ms):
            out.append(Wire.space)
            out.append(contentsOf: Wire.timeout)
            out.append(Wire.space)
            decimal(ms, into: &out)
        }
    }

    private static func decimal(_ value: Int, into out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}
