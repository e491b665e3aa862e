import ChanClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes straight to file descriptors 1 and 2, unbuffered, so that a pipe
/// sees every message as it arrives.
enum Output {
    static func standardOutput(_ bytes: [UInt8]) { write(1, bytes) }

    static func standardOutput(_ text: String) { write(1, Array(text.utf8)) }

    static func standardError(_ text: String) { write(2, Array(text.utf8)) }

    /// Writes to standard output; on failure returns errno instead of stopping,
    /// so that the caller can first give a held value back, then `failed(errno:)`.
    static func attemptStandardOutput(_ bytes: [UInt8]) -> Int32? { attempt(1, bytes) }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) {
        if let error = attempt(fd, bytes) { failed(fd, errno: error) }
    }

    private static func attempt(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n < 0 ? errno : EIO }
            offset += n
        }
        return nil
    }

    /// Standard output could not be written: see `failed(_:errno:)`.
    static func standardOutputFailed(errno error: Int32) -> Never { failed(1, errno: error) }

    /// Output that cannot be written (a full disk, a closed pipe) would be
    /// lost without a word: say so and stop (exit 7). A value already taken
    /// from the server is lost with it (unless it was received with ACK and
    /// given back), and the exit status tells.
    private static func failed(_ fd: Int32, errno error: Int32) -> Never {
        let reason = String(cString: strerror(error))
        if fd != 2 { write(2, Array("chan: cannot write standard output: \(reason)\n".utf8)) }
        exit(ExitStatus.output)
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}

/// Reads standard input as raw bytes: all of it, or line by line as lines
/// arrive. A message longer than `limit` (the server's max_payload) fails
/// before more of it is read: the server would refuse it anyway.
struct StandardInput {
    let limit: Int
    private var buffer: [UInt8] = []
    private var ended = false

    init(limit: Int) {
        self.limit = limit
    }

    private func tooLong() -> ChanError {
        .invalidArgument("a value on standard input is longer than the server's max_payload (\(limit) bytes)")
    }

    /// Reads more; false at end of input.
    private mutating func fill() -> Bool {
        guard !ended else { return false }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return true
            }
            if n < 0 && errno == EINTR { continue }
            ended = true
            return false
        }
    }

    /// The next line without its LF (and a CR just before it); the last line
    /// may lack its LF. nil at end of input.
    mutating func nextLine() throws(ChanError) -> [UInt8]? {
        var scanned = 0
        while true {
            if let lf = buffer[scanned...].firstIndex(of: 10) {
                var line = Array(buffer[..<lf])
                buffer.removeFirst(lf + 1)
                if line.last == 13 { line.removeLast() }
                guard line.count <= limit else { throw tooLong() }
                return line
            }
            scanned = buffer.count
            // One byte more than the limit may be the CR of a CRLF.
            guard scanned <= limit + 1 else { throw tooLong() }
            if !fill() {
                guard buffer.count <= limit else { throw tooLong() }
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return buffer
            }
        }
    }

    /// Everything up to end of input.
    mutating func readAll() throws(ChanError) -> [UInt8] {
        while fill() {
            guard buffer.count <= limit else { throw tooLong() }
        }
        defer { buffer.removeAll() }
        return buffer
    }
}
