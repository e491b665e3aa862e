/// Appends protocol v1 replies to an output buffer. Every reply ends with CRLF.
///
/// A SELECT reply is `selected(_:into:)` followed by the reply its case would give alone, e.g.
/// `SELECTED 1 MSG jobs 5\r\nhello\r\n`, `SELECTED 0 OK\r\n`, `SELECTED 0 ERR CLOSED channel jobs is closed\r\n`.
public enum ReplyEncoder {
    /// `OK`
    public static func ok(into out: inout [UInt8]) {
        appendLine(Wire.ok, to: &out)
    }

    /// `PONG`
    public static func pong(into out: inout [UInt8]) {
        appendLine(Wire.pong, to: &out)
    }

    /// `BYE`
    public static func bye(into out: inout [UInt8]) {
        appendLine(Wire.bye, to: &out)
    }

    /// `TIMEOUT`
    public static func timeout(into out: inout [UInt8]) {
        appendLine(Wire.timeout, to: &out)
    }

    /// `MSG <chan> <n>` (or `EXC ...` for an exception), `MSG <chan> <n> <tag>` for a held value (tag > 0),
    /// then the n payload bytes and a CRLF.
    public static func message(channel: String, payload: [UInt8], isException: Bool, tag: Int = 0,
                               into out: inout [UInt8]) {
        out.append(contentsOf: isException ? Wire.exc : Wire.msg)
        out.append(Wire.space)
        out.append(contentsOf: channel.utf8)
        out.append(Wire.space)
        appendDecimal(payload.count, to: &out)
        if tag > 0 {
            out.append(Wire.space)
            appendDecimal(tag, to: &out)
        }
        out.append(contentsOf: Wire.crlf)
        out.append(contentsOf: payload)
        out.append(contentsOf: Wire.crlf)
    }

    /// `CLOSED <chan>`
    public static func closed(channel: String, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.closed)
        out.append(Wire.space)
        out.append(contentsOf: channel.utf8)
        out.append(contentsOf: Wire.crlf)
    }

    /// `SELECTED <index> ` — only the prefix: append the chosen case's own reply right after it.
    public static func selected(_ index: Int, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.selected)
        out.append(Wire.space)
        appendDecimal(index, to: &out)
        out.append(Wire.space)
    }

    /// `ERR <CODE> <text>`
    public static func error(_ code: ErrorCode, _ text: String, into out: inout [UInt8]) {
        out.append(contentsOf: Wire.err)
        out.append(Wire.space)
        out.append(contentsOf: code.rawValue.utf8)
        out.append(Wire.space)
        out.append(contentsOf: text.utf8)
        out.append(contentsOf: Wire.crlf)
    }

    /// `STAT <chan> <key>=<value> <key>=<value> ...`, fields in the given order.
    public static func stat(channel: String, fields: [(key: String, value: String)], into out: inout [UInt8]) {
        out.append(contentsOf: Wire.stat)
        out.append(Wire.space)
        out.append(contentsOf: channel.utf8)
        for field in fields {
            out.append(Wire.space)
            out.append(contentsOf: field.key.utf8)
            out.append(Wire.equals)
            out.append(contentsOf: field.value.utf8)
        }
        out.append(contentsOf: Wire.crlf)
    }

    /// `<text>`: any other reply line (INFO, HELLO, CHANNELS).
    public static func line(_ text: String, into out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
        out.append(contentsOf: Wire.crlf)
    }

    private static func appendLine(_ token: [UInt8], to out: inout [UInt8]) {
        out.append(contentsOf: token)
        out.append(contentsOf: Wire.crlf)
    }

    /// Writes a non-negative integer as ASCII digits, without an intermediate String, and in place (reversing
    /// a slice of `out` instead would copy its storage, one allocation per reply).
    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        precondition(value >= 0, "counts and indices are never negative")
        var digits = 1
        var power = 10
        while digits < 19 && value >= power {
            digits += 1
            power &*= 10
        }
        let first = out.count
        out.append(contentsOf: repeatElement(Wire.digits.lowerBound, count: digits))
        out.withUnsafeMutableBufferPointer { out in
            var rest = value
            for i in stride(from: first + digits - 1, through: first, by: -1) {
                out[i] = Wire.digits.lowerBound + UInt8(rest % 10)
                rest /= 10
            }
        }
    }
}
