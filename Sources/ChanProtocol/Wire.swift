/// Every token of wire protocol v1, as bytes. Request verbs and keywords are matched ignoring ASCII case;
/// replies are written exactly as spelled here.
enum Wire {
    // Framing.
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let crlf: [UInt8] = [cr, lf]
    /// A counted payload is announced as `{<n>}`.
    static let countOpen = UInt8(ascii: "{")
    static let countClose = UInt8(ascii: "}")
    static let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
    static let equals = UInt8(ascii: "=")

    /// A channel name is 1-255 bytes, each printable ASCII except space.
    static let nameBytes: ClosedRange<UInt8> = 0x21...0x7E
    static let maxNameLength = 255

    /// CHANNELS lists at most this many channels (`TOP <n>` at most this n).
    static let maxListedChannels = 1000

    /// `TIMEOUT <ms>` takes 0...2^31-1 milliseconds (about 24.8 days); 0 means NOWAIT.
    static let maxTimeoutMilliseconds = Int(Int32.max)

    // Request verbs.
    static let ping = Array("PING".utf8)
    static let quit = Array("QUIT".utf8)
    static let info = Array("INFO".utf8)
    static let hello = Array("HELLO".utf8)
    static let channels = Array("CHANNELS".utf8)
    static let send = Array("SEND".utf8)
    static let `throw` = Array("THROW".utf8)
    static let recv = Array("RECV".utf8)
    static let select = Array("SELECT".utf8)
    static let make = Array("MAKE".utf8)
    static let close = Array("CLOSE".utf8)
    static let stat = Array("STAT".utf8)  // also the STAT reply
    static let open = Array("OPEN".utf8)
    static let delete = Array("DELETE".utf8)
    static let ack = Array("ACK".utf8)  // also a RECV/SELECT option
    static let nack = Array("NACK".utf8)
    static let auth = Array("AUTH".utf8)

    // Verbs as words, to match four bytes in one compare: loaded little-endian, each byte's 0x20 bit cleared
    // by `uppercaseMask32` (as `Token.isKeyword` does per byte).
    static let uppercaseMask32: UInt32 = 0xDFDF_DFDF
    /// `RECV` (bytes 0x52 0x45 0x43 0x56).
    static let recvWord: UInt32 = 0x5643_4552
    /// `NACK` (bytes 0x4E 0x41 0x43 0x4B).
    static let nackWord: UInt32 = 0x4B43_414E
    /// `ACK ` with its space (bytes 0x41 0x43 0x4B 0x20), matched under `ackSpaceMask`: the letters' 0x20
    /// bits cleared, the space's kept.
    static let ackSpaceWord: UInt32 = 0x204B_4341
    static let ackSpaceMask: UInt32 = 0xFFDF_DFDF

    // Request keywords.
    static let timeout = Array("TIMEOUT".utf8)  // also the TIMEOUT reply
    static let nowait = Array("NOWAIT".utf8)
    static let cap = Array("CAP".utf8)
    static let prefer = Array("PREFER".utf8)
    static let receiver = Array("RECEIVER".utf8)
    static let sender = Array("SENDER".utf8)
    static let none = Array("NONE".utf8)
    static let top = Array("TOP".utf8)
    static let durable = Array("DURABLE".utf8)

    // Replies.
    static let ok = Array("OK".utf8)
    static let pong = Array("PONG".utf8)
    static let bye = Array("BYE".utf8)
    static let msg = Array("MSG".utf8)
    static let exc = Array("EXC".utf8)
    static let closed = Array("CLOSED".utf8)
    static let selected = Array("SELECTED".utf8)
    static let err = Array("ERR".utf8)
    static let channel = Array("CHANNEL".utf8)  // one line of a CHANNELS reply

    // Keys of reply fields (`key=value`) that are part of a reply's framing.
    static let total = "total"  // CHANNELS <n> total=<m>
}

/// A request error found by the parser, with its reply text.
struct LineError: Error {
    let code: ErrorCode
    let text: String
    /// The connection cannot be kept in sync: it must be closed after the reply.
    var closeAfter = false
    /// Said as `<VERB> needs <its grammar>` once the verb is known.
    var isMissingArgument = false

    var command: Command { .invalid(code: code, text: text, closeAfter: closeAfter) }

    /// An unknown verb, echoed (printable bytes only, at most 32, so a reply never carries raw input).
    static func unknownCommand(_ verb: Token) -> LineError {
        let shown = verb.prefix(32).map { (0x21...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "?" }
        return LineError(code: .unknown, text: "unknown command " + String(shown) + (verb.count > 32 ? "..." : ""))
    }
    /// A missing argument; the request's parser names the verb and its grammar (see `naming(verb:)`).
    static let missingArgument = LineError(code: .syntax, text: "missing argument", isMissingArgument: true)
    /// A number above its limit: `CAP 99999999 above max_capacity 1000000`.
    static func numberOverLimit(_ what: String, _ value: Int, limit: String) -> LineError {
        LineError(code: .limit, text: "\(what) \(value) above \(limit)")
    }
    static let extraArgument = LineError(code: .syntax, text: "unexpected argument")
    static let badOption = LineError(code: .syntax, text: "bad option")
    static let missingPayload = LineError(code: .syntax, text: "missing payload")
    static let badCaseLine = LineError(code: .syntax, text: "a case line is SEND, THROW or RECV <chan>")
    static let noCases = LineError(code: .syntax, text: "SELECT needs at least one case")
    static let badCaseCount = LineError(code: .syntax, text: "bad SELECT case count", closeAfter: true)
    static let unterminatedPayload = LineError(code: .syntax, text: "payload not followed by a line end", closeAfter: true)
    static let badName = LineError(code: .badName, text: "a channel name is 1-255 bytes 0x21-0x7E")
    static let lineTooLong = LineError(code: .tooLong, text: "line too long")
    static let payloadTooBig = LineError(code: .tooBig, text: "payload too big")
    static let selectPayloadsTooBig = LineError(code: .tooBig, text: "SELECT payloads together too big")
    static let payloadCountOverflow = LineError(code: .tooBig, text: "payload too big", closeAfter: true)
    static let repeatedOption = LineError(code: .syntax, text: "option given twice")
    static let badTag = LineError(code: .syntax, text: "ACK and NACK take one tag, a positive number", closeAfter: true)
    static let durableNeedsCapacity = LineError(code: .syntax, text: "DURABLE needs CAP 1 or more")
}
