import ChanProtocol
import ChanTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds on the monotonic clock.
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func milliseconds(_ d: Duration) -> Int {
    let (seconds, attoseconds) = d.components
    return max(0, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
}

private func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

#if canImport(Glibc)
private let streamSocket = Int32(SOCK_STREAM.rawValue)
private let noSignal = Int32(MSG_NOSIGNAL)
#else
private let streamSocket = SOCK_STREAM
private let noSignal: Int32 = 0
#endif

/// A connected blocking TCP socket that feeds a reply parser, in plain text
/// or through TLS.
///
/// Every wait goes through `poll`, so no read waits longer than it is told to:
/// the first byte of a reply waits until the command's deadline (or for ever
/// for a blocking command), every later byte of the same reply at most
/// `ioTimeout`. Any failure closes the socket; the stream is then unusable.
final class SocketStream {
    private var fd: Int32
    /// nil on a plain connection.
    private var tls: TLSConnection?
    /// Replies decrypted with the end of the handshake, before any was asked for.
    private var early: [UInt8] = []
    /// What one recv(2) reads into before it goes to the reply parser.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
    let ioTimeoutMilliseconds: Int

    var isOpen: Bool { fd >= 0 }

    private init(fd: Int32, ioTimeoutMilliseconds: Int) {
        self.fd = fd
        self.ioTimeoutMilliseconds = ioTimeoutMilliseconds
    }

    deinit {
        close()
        scratch.deallocate()
    }

    func close() {
        if fd >= 0 {
            _ = systemClose(fd)
            fd = -1
        }
    }

    /// Connects as `connect(host:port:...)` does, then completes a TLS
    /// handshake within the same timeout: the server's certificate must
    /// verify against `context` for `serverName`.
    static func connect(host: String, port: Int, tls context: TLSClientContext, serverName: String,
                        timeoutMilliseconds: Int, ioTimeoutMilliseconds: Int) throws(ChanError) -> SocketStream {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        let stream = try connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds,
                                 ioTimeoutMilliseconds: ioTimeoutMilliseconds)
        let target = ServerAddress.display(host: host, port: port)
        let tls: TLSConnection
        do {
            tls = try TLSConnection(client: context, serverName: serverName)
        } catch {
            throw .connectFailed("\(target): \(error)")
        }
        do throws(ChanError) {
            var out = tls.start()
            while true {
                if !out.ciphertext.isEmpty { try stream.sendAll(out.ciphertext) }
                if let error = out.error { throw ChanError.connectFailed("\(target): \(error)") }
                if !tls.isHandshaking { break }
                let n = try stream.receive(until: deadline, insideReply: false)
                out = tls.feed(UnsafeRawBufferPointer(rebasing: stream.scratch[..<n]))
                stream.early += out.plaintext
            }
        } catch {
            stream.close()
            if case .connectionLost(let why) = error { throw .connectFailed("\(target): TLS handshake: \(why)") }
            throw error
        }
        stream.tls = tls
        return stream
    }

    /// Resolves `host` (a name or a numeric IPv4/IPv6 address) and connects to
    /// the first address that answers within the timeout.
    static func connect(host: String, port: Int, timeoutMilliseconds: Int, ioTimeoutMilliseconds: Int) throws(ChanError) -> SocketStream {
        let target = ServerAddress.display(host: host, port: port)
        guard (1...65535).contains(port) else { throw .connectFailed("\(target): port must be 1-65535") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamSocket
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .connectFailed("\(target): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        var lastError = "no address"
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let ai = next {
            next = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd < 0 {
                lastError = errnoText()
                continue
            }
            if let failure = connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen, deadline: deadline) {
                lastError = failure
                _ = systemClose(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
            #if canImport(Darwin)
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            // A write that the server does not take within ioTimeout fails instead of hanging.
            var tv = timeval(tv_sec: ioTimeoutMilliseconds / 1000, tv_usec: .init((ioTimeoutMilliseconds % 1000) * 1000))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            return SocketStream(fd: fd, ioTimeoutMilliseconds: ioTimeoutMilliseconds)
        }
        throw .connectFailed("\(target): \(lastError)")
    }

    /// Non-blocking connect bounded by `deadline`; nil on success, else the reason.
    private static func connect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: socklen_t, deadline: UInt64) -> String? {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if systemConnect(fd, addr, len) == 0 { return nil }
        guard errno == EINPROGRESS || errno == EINTR else { return errnoText() }
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return "connect timed out" }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let n = poll(&pfd, 1, Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000)))
            if n < 0 {
                if errno == EINTR { continue }
                return errnoText()
            }
            if n == 0 { continue }
            var soError: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size)
            return soError == 0 ? nil : errnoText(soError)
        }
    }

    // MARK: Writing

    func write(_ bytes: [UInt8]) throws(ChanError) {
        guard fd >= 0 else { throw .connectionLost("the connection is closed") }
        guard let tls else { return try sendAll(bytes) }
        let out = tls.write(bytes)
        if let error = out.error {
            close()
            throw .connectionLost("\(error)")
        }
        try sendAll(out.ciphertext)
    }

    private func sendAll(_ bytes: [UInt8]) throws(ChanError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                systemSend(fd, raw.baseAddress! + sent, raw.count - sent, noSignal)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = errno == EAGAIN || errno == EWOULDBLOCK
                    ? "the server took no request bytes for \(ioTimeoutMilliseconds) ms" : errnoText()
                close()
                throw .connectionLost(reason)
            }
            sent += n
        }
    }

    // MARK: Reading

    /// Reads what has arrived into `parser`, waiting until `deadline` (nil: for ever) for at least one byte.
    func read(into parser: inout ReplyParser, until deadline: UInt64?) throws(ChanError) {
        guard fd >= 0 else { throw .connectionLost("the connection is closed") }
        if !early.isEmpty {
            parser.append(contentsOf: early)
            early = []
            return
        }
        while true {
            let n = try receive(until: deadline, insideReply: parser.isInsideReply)
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[..<n])
            guard let tls else { return parser.append(contentsOf: bytes) }
            // A record may arrive in pieces: read on until it yields plaintext.
            let out = tls.feed(bytes)
            if !out.ciphertext.isEmpty { try sendAll(out.ciphertext) }
            if let error = out.error {
                close()
                throw .connectionLost("\(error)")
            }
            if !out.plaintext.isEmpty {
                return parser.append(contentsOf: out.plaintext)
            }
            if out.peerClosed {
                close()
                throw .connectionLost(parser.isInsideReply
                    ? "the server closed the connection in the middle of a reply" : "the server closed the connection")
            }
        }
    }

    /// recv(2) into `scratch`, waiting until `deadline` (nil: for ever) for at least one byte; the count read.
    private func receive(until deadline: UInt64?, insideReply: Bool) throws(ChanError) -> Int {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let now = monotonicNanoseconds()
                guard now < deadline else {
                    close()
                    throw .connectionLost(insideReply
                        ? "the server stopped in the middle of a reply" : "no reply from the server in time")
                }
                timeout = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                let reason = errnoText()
                close()
                throw .connectionLost(reason)
            }
            if ready == 0 { continue }  // the deadline check above decides
            let n = systemRecv(fd, scratch.baseAddress!, scratch.count, 0)
            if n > 0 { return n }
            if n < 0 && errno == EINTR { continue }
            let reason = n == 0 ? "the server closed the connection" : errnoText()
            close()
            throw .connectionLost(insideReply ? "\(reason) in the middle of a reply" : reason)
        }
    }

    /// A malformed reply leaves the stream out of step: close it.
    func malformed(_ what: String) -> ChanError {
        close()
        return .malformedReply(what)
    }
}

// The libc calls whose names the methods above shadow.
private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

private func systemConnect(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr>?, _ len: socklen_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.connect(fd, addr, len)
    #else
    Darwin.connect(fd, addr, len)
    #endif
}

private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.send(fd, bytes, count, flags)
    #else
    Darwin.send(fd, bytes, count, flags)
    #endif
}

private func systemRecv(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.recv(fd, bytes, count, flags)
    #else
    Darwin.recv(fd, bytes, count, flags)
    #endif
}
