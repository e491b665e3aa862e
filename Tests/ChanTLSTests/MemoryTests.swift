import ChanTLS
import TestCertificates
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The heap an idle server connection keeps after its handshake (and after a
/// large transfer): printed, not asserted, since other suites allocate on
/// other threads at the same time. For a clean figure run it alone:
/// `swift test --filter MemoryTests`.
@Suite(.serialized) struct MemoryTests {
    let certificates = TestCertificates.shared
    static let sessions = 200

    @Test func idleServerConnection() throws {
        #if canImport(Glibc)
        let server = try certificates.server()
        let client = try TLSClientContext(caFile: certificates.ca)
        let up = pattern(1 << 20, seed: 3), down = pattern(1 << 20, seed: 4)
        for (label, large) in [("after the handshake and one PING", false), ("after 1 MiB each way", true)] {
            var pairs: [Pair] = []
            for _ in 0..<MemoryTests.sessions {
                var pair = try Pair(client: client, server: server)
                pair.handshake()
                pair.clientSends(Array("PING\r\n".utf8))
                pair.serverSends(Array("PONG\r\n".utf8))
                if large {
                    pair.clientSends(up)
                    pair.serverSends(down)
                }
                #expect(pair.server.state == .established && pair.serverError == nil && pair.clientError == nil)
                pairs.append(pair)
            }
            let servers = pairs.map(\.server)
            pairs = []  // the client ends are freed here; only the server ends remain
            let withServers = try #require(heapInUse())
            let count = servers.count
            _ = consume servers
            let without = try #require(heapInUse())
            let perSession = (withServers - without) / count
            print("idle TLS server connection, \(label): \(perSession) bytes of heap each (\(count) sessions, TLS 1.3, P-256 certificate)")
        }
        #endif
    }
}

#if canImport(Glibc)
/// Bytes of heap in use, from glibc's malloc_info: what it got from the system
/// (arenas and mmapped chunks) less what is free in it. Swift's Glibc module
/// does not carry <malloc.h>, so the function is looked up by name.
func heapInUse() -> Int? {
    typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_info") else { return nil }
    let mallocInfo = unsafeBitCast(symbol, to: MallocInfo.self)
    var buffer: UnsafeMutablePointer<CChar>?
    var size = 0
    guard let stream = open_memstream(&buffer, &size) else { return nil }
    _ = mallocInfo(0, stream)
    fclose(stream)
    guard let buffer else { return nil }
    defer { free(buffer) }
    let xml = String(cString: buffer)
    // The totals over all arenas are the last lines of each kind.
    func last(_ type: String) -> Int? {
        let lines = xml.split(separator: "\n").filter { $0.contains("type=\"\(type)\"") }
        guard let line = lines.last, let range = line.range(of: "size=\"") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
    guard let system = last("current"), let fast = last("fast"), let rest = last("rest"), let mmapped = last("mmap") else { return nil }
    return system + mmapped - fast - rest
}
#endif
