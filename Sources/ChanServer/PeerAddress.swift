import CLibUV
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a client connects from, for protected mode.
enum PeerAddress {
    /// Whether the peer of an accepted socket is on loopback; false when its
    /// address cannot be read (refusing is the safe answer).
    static func isLoopback(_ tcp: UnsafeMutablePointer<uv_tcp_t>) -> Bool {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(tcp, $0, &length) }
        }
        return status == 0 && isLoopback(storage)
    }

    /// 127.0.0.0/8, ::1, and 127.0.0.0/8 mapped into IPv6 (::ffff:127.x.y.z).
    static func isLoopback(_ address: sockaddr_storage) -> Bool {
        let family = Int32(address.ss_family)
        return withUnsafeBytes(of: address) { raw in
            switch family {
            case AF_INET:
                let v4 = raw.load(as: sockaddr_in.self)
                return UInt32(bigEndian: v4.sin_addr.s_addr) >> 24 == 127
            case AF_INET6:
                let v6 = raw.load(as: sockaddr_in6.self)
                let bytes = withUnsafeBytes(of: v6.sin6_addr) { Array($0) }
                let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
                let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
                return bytes == loopback || (Array(bytes[0..<12]) == mappedPrefix && bytes[12] == 127)
            default:
                return false
            }
        }
    }
}
