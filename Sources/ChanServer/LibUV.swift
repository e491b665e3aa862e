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

struct LibUVError: Error, CustomStringConvertible {
    let what: String
    let code: Int32
    var description: String { "\(what): \(UV.describe(code))" }

    static func check(_ code: Int32, _ what: String) throws {
        if code < 0 { throw LibUVError(what: what, code: code) }
    }
}
