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

    static let eof = Int(UV_EOF.rawValue)
    static let eagain = Int32(UV_EAGAIN.rawValue)

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
        handle(tcp).pointee.data = Unmanaged.passUnretained(context).toOpaque()
        var storage = sockaddr_storage()
        do {
            try withUnsafeMutablePointer(to: &storage) { p in
                let sa = UnsafeMutableRawPointer(p)
                if uv_ip4_addr(host, Int32(port), sa.assumingMemoryBound(to: sockaddr_in.self)) != 0 {
                    try LibUVError.check(
                        uv_ip6_addr(host, Int32(port), sa.assumingMemoryBound(to: sockaddr_in6.self)), "address \(host)")
                }
                try LibUVError.check(uv_tcp_bind(tcp, sa.assumingMemoryBound(to: sockaddr.self), 0), "bind \(host):\(port)")
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
            let sa = UnsafeMutableRawPointer(p)
            uv_tcp_getsockname(tcp, sa.assumingMemoryBound(to: sockaddr.self), &len)
            // sin_port and sin6_port sit at the same offset.
            return Int(UInt16(bigEndian: sa.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port))
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
