import ChanTLS
import Foundation
import TestCertificates
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server end over a real loopback socket against `openssl s_client`, a
/// peer driven by OpenSSL's own socket code rather than by ours.
@Suite struct OpenSSLCommandTests {
    let certificates = TestCertificates.shared

    /// `openssl s_client -quiet` is how an operator talks to chand by hand.
    @Test func sClientQuietExchangesLines() throws {
        let listener = try Listener()
        let client = try sClient(port: listener.port, extra: [], input: "PING\r\n")
        let server = try TLSConnection(server: certificates.server())
        let socket = try listener.accept()
        defer { close(socket) }
        var received: [UInt8] = []
        var answered = false
        // Bounded: at most 200 reads of 50 ms without anything arriving.
        for _ in 0..<200 {
            guard let bytes = readSome(socket) else { break }
            let out = server.feed(bytes)
            #expect(out.error == nil)
            sendAll(socket, out.ciphertext)
            received += out.plaintext
            if !answered, received == Array("PING\r\n".utf8) {
                answered = true
                sendAll(socket, server.write(Array("PONG\r\n".utf8)).ciphertext)
                sendAll(socket, server.close())
                break
            }
        }
        shutdown(socket, Int32(SHUT_WR))
        let output = client.finish()
        #expect(received == Array("PING\r\n".utf8))
        #expect(output.contains("PONG"))
        #expect(server.protocolVersion == "TLSv1.3")
    }

    @Test func sClientOfferingOnlyTLS11IsRefused() throws {
        let listener = try Listener()
        // SECLEVEL=0: OpenSSL 3 would not even offer TLS 1.1 otherwise.
        let client = try sClient(port: listener.port, extra: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], input: "PING\r\n")
        let server = try TLSConnection(server: certificates.server())
        let socket = try listener.accept()
        defer { close(socket) }
        var error: TLSError?
        for _ in 0..<200 {
            guard let bytes = readSome(socket) else { break }
            let out = server.feed(bytes)
            sendAll(socket, out.ciphertext)
            #expect(out.plaintext.isEmpty)
            if let failure = out.error {
                error = failure
                break
            }
        }
        shutdown(socket, Int32(SHUT_RDWR))
        _ = client.finish()
        #expect(error?.kind == .handshake)
        #expect(error?.reason?.contains("unsupported protocol") == true)
        #expect(client.status != 0)
    }

    private func sClient(port: Int, extra: [String], input: String) throws -> RunningCommand {
        try RunningCommand("/usr/bin/openssl", ["s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
                                                "-CAfile", certificates.ca, "-verify_return_error"] + extra, input: input)
    }
}

/// A child process with its standard input given and its output collected.
final class RunningCommand: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()
    private(set) var status: Int32 = -1

    init(_ path: String, _ arguments: [String], input: String) throws {
        let stdin = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        // Left open: s_client -quiet would otherwise end at end of input, before the answer.
        self.stdinHandle = stdin.fileHandleForWriting
    }

    private let stdinHandle: FileHandle

    /// Waits for the exit (the server closed the connection) and returns standard output.
    func finish() -> String {
        try? stdinHandle.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        status = process.terminationStatus
        return String(decoding: data, as: UTF8.self)
    }
}

/// A blocking loopback listener on a port the kernel chooses.
struct Listener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            throw SocketError(what: "listen on 127.0.0.1")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// The first connection, waiting at most 10 s; the listener is closed after it.
    func accept() throws -> Int32 {
        defer { close(fd) }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, 10_000) == 1 else { throw SocketError(what: "no connection came") }
        let socket = Glibc.accept(fd, nil, nil)
        guard socket >= 0 else { throw SocketError(what: "accept") }
        return socket
    }
}

struct SocketError: Error { let what: String }

/// What arrives within 50 ms (empty when nothing did), or nil at end of stream.
func readSome(_ socket: Int32) -> [UInt8]? {
    var poll = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
    guard Glibc.poll(&poll, 1, 50) == 1 else { return [] }
    var buffer = [UInt8](repeating: 0, count: 65536)
    let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
    return count > 0 ? Array(buffer.prefix(count)) : nil
}

func sendAll(_ socket: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { return }
        offset += sent
    }
}
