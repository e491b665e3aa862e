import CLibUV

/// Small conversions for libuv's handle "subclassing" (a uv_tcp_t is a
/// uv_stream_t is a uv_handle_t) and its error codes.
enum UV {
    static func stream<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: uv_stream_t.self)
    }

    static func handle<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: uv_handle_t.self)
    }

    /// A uv_buf_t over bytes libuv only reads (a write) or fills (a read).
    static func buffer(_ bytes: UnsafeRawBufferPointer) -> uv_buf_t {
        uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: CChar.self)), UInt32(bytes.count))
    }

    static func buffer(_ bytes: UnsafeMutableRawBufferPointer) -> uv_buf_t {
        buffer(UnsafeRawBufferPointer(bytes))
    }

    /// Stores an object in a handle's or request's `data` field (retained or not).
    static func context(_ object: AnyObject, retained: Bool = false) -> UnsafeMutableRawPointer {
        retained ? Unmanaged.passRetained(object).toOpaque() : Unmanaged.passUnretained(object).toOpaque()
    }

    /// The object stored with `context`; the reference stays where it is.
    static func object<T: AnyObject>(_ data: UnsafeMutableRawPointer?, as: T.Type = T.self) -> T {
        Unmanaged<T>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Runs `body` with the object stored with `context`, borrowed: no
    /// retain and release around it, for hot callbacks whose handle keeps
    /// the object alive.
    @inline(__always)
    static func withObject<T: AnyObject, R>(_ data: UnsafeMutableRawPointer?, as: T.Type = T.self, _ body: (T) -> R) -> R {
        Unmanaged<T>.fromOpaque(data!)._withUnsafeGuaranteedRef(body)
    }

    /// Releases the reference `context(_:retained: true)` stored.
    static func release<T: AnyObject>(_ data: UnsafeMutableRawPointer?, as: T.Type = T.self) -> T {
        Unmanaged<T>.fromOpaque(data!).takeRetainedValue()
    }

    static let eof = Int(UV_EOF.rawValue)
    static let eagain = Int32(UV_EAGAIN.rawValue)
    static let canceled = Int32(UV_ECANCELED.rawValue)
    static let emfile = Int32(UV_EMFILE.rawValue)
    static let enfile = Int32(UV_ENFILE.rawValue)

    static func describe(_ code: Int32) -> String {
        String(cString: uv_strerror(code))
    }

    /// Closes a handle allocated with `UnsafeMutablePointer.allocate` and frees
    /// it in the close callback (libuv may touch it until then).
    static func closeAndFree<T>(_ p: UnsafeMutablePointer<T>) {
        let h = handle(p)
        guard uv_is_closing(h) == 0 else { return }
        uv_close(h) { h in
            h!.deallocate()
        }
    }
}

extension UV {
    /// A TCP listener bound to host:port (IPv4 or IPv6 literal) whose
    /// handle's data is `context` (unretained: the owner outlives it).
    static func listen(
        _ loop: UnsafeMutablePointer<uv_loop_t>, host: String, port: Int, context: AnyObject,
        _ onConnection: @convention(c) (UnsafeMutablePointer<uv_stream_t>?, Int32) -> Void
    ) throws -> UnsafeMutablePointer<uv_tcp_t> {
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop, tcp)
        handle(tcp).pointee.data = UV.context(context)
        var storage = sockaddr_storage()
        do {
            try withUnsafeMutablePointer(to: &storage) { p in
                if p.withMemoryRebound(to: sockaddr_in.self, capacity: 1, { uv_ip4_addr(host, Int32(port), $0) }) != 0 {
                    try LibUVError.check(
                        p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_addr(host, Int32(port), $0) },
                        "address \(host)")
                }
                try LibUVError.check(p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_bind(tcp, $0, 0) },
                                     "bind \(host):\(port)")
            }
            try LibUVError.check(uv_listen(stream(tcp), 511, onConnection), "listen on \(host):\(port)")
        } catch {
            closeAndFree(tcp)
            throw error
        }
        return tcp
    }

    /// The local port of a bound TCP handle.
    static func boundPort(_ tcp: UnsafeMutablePointer<uv_tcp_t>) -> Int {
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { p in
            _ = p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(tcp, $0, &len) }
            // sin_port and sin6_port sit at the same offset.
            return Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }))
        }
    }
}

struct LibUVError: Error, CustomStringConvertible {
    let what: String
    let code: Int32
    var description: String { "\(what): \(UV.describe(code))" }

    static func check(_ code: Int32, _ what: String) throws {
        if code < 0 { throw LibUVError(what: what, code: code) }
    }
}
