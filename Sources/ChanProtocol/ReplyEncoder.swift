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
        // The header line is written on the stack and appended with one copy. Its room: the keyword, the
        // name, two numbers of up to 19 digits, the spaces and the CRLF (on the heap past 1 KiB, which a valid
        // name never reaches).
        let room = 3 + channel.utf8.count + 2 * 19 + 3 + 2
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: room) { header in
            var line = HeaderLine(header.baseAddress!)
            line.add(isException ? Wire.exc : Wire.msg)
            line.add(Wire.space)
            for byte in channel.utf8 { line.add(byte) }
            line.add(Wire.space)
            line.addDecimal(payload.count)
            if tag > 0 {
                line.add(Wire.space)
                line.addDecimal(tag)
            }
            line.add(Wire.cr)
            line.add(Wire.lf)
            out.append(contentsOf: UnsafeBufferPointer(start: header.baseAddress!, count: line.count))
        }
        out.append(contentsOf: payload)
        appendLineEnd(to: &out)
    }

    /// `CLOSED <chan>`
    public static func closed(channel: String, into out: inout [UInt8]) {
        appendShort(Wire.closed, to: &out)
        out.append(Wire.space)
        appendName(channel, to: &out)
        appendLineEnd(to: &out)
    }

    /// `SELECTED <index> ` — only the prefix: append the chosen case's own reply right after it.
    public static func selected(_ index: Int, into out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Wire.selected.count + 19 + 2) { prefix in
            var line = HeaderLine(prefix.baseAddress!)
            line.add(Wire.selected)
            line.add(Wire.space)
            line.addDecimal(index)
            line.add(Wire.space)
            out.append(contentsOf: UnsafeBufferPointer(start: prefix.baseAddress!, count: line.count))
        }
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
        appendShort(token, to: &out)
        appendLineEnd(to: &out)
    }

    // The pieces of the replies sent per message, byte by byte: the generic `append(contentsOf:)` costs about
    // 95 instructions a call, more than appending a few bytes one at a time.

    /// A keyword of a few bytes.
    @inline(__always)
    private static func appendShort(_ token: [UInt8], to out: inout [UInt8]) {
        for byte in token { out.append(byte) }
    }

    /// A channel name (at most 255 bytes, usually a few).
    @inline(__always)
    private static func appendName(_ name: String, to out: inout [UInt8]) {
        for byte in name.utf8 { out.append(byte) }
    }

    @inline(__always)
    private static func appendLineEnd(to out: inout [UInt8]) {
        out.append(Wire.cr)
        out.append(Wire.lf)
    }
}

/// The start of a reply written into memory the caller sized for it (on the stack), to be appended to the
/// output with one copy: each byte appended to the output alone would check its uniqueness and capacity.
private struct HeaderLine {
    let base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0

    init(_ base: UnsafeMutablePointer<UInt8>) {
        self.base = base
    }

    mutating func add(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    mutating func add(_ token: [UInt8]) {
        for byte in token { add(byte) }
    }

    /// A non-negative integer as ASCII digits, without an intermediate String.
    mutating func addDecimal(_ value: Int) {
        precondition(value >= 0, "counts and indices are never negative")
        var digits = 1
        var power = 10
        while digits < 19 && value >= power {
            digits += 1
            power &*= 10
        }
        var rest = value
        for i in stride(from: count + digits - 1, through: count, by: -1) {
            base[i] = Wire.digits.lowerBound + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += digits
    }
}
