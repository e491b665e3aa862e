import COpenSSL

/// What one call into a `TLSConnection` produced.
public struct TLSOutput: Sendable, Equatable {
    /// Application data decrypted from the input, in order.
    public var plaintext: [UInt8] = []
    /// Bytes to write to the peer now: handshake messages, encrypted
    /// application data, alerts (also on failure: send them, then close).
    public var ciphertext: [UInt8] = []
    /// True on the one call that completed the handshake.
    public var handshakeCompleted = false
    /// The peer sent close_notify: no more plaintext will come. Writing is
    /// still possible; `close()` answers with our own close_notify.
    public var peerClosed = false
    /// The connection failed (set once, on the failing call); later calls
    /// repeat it. Send `ciphertext`, then close the socket.
    public var error: TLSError?

    public init() {}
}

/// One TLS connection driven over memory: ciphertext from the socket goes in
/// through `feed`, plaintext for the peer through `write`, and each returns
/// the bytes to put on the socket. No socket, no thread, no event loop of its
/// own: the caller's loop performs every read and write.
///
/// Confined to one thread (the event loop's); not Sendable.
public final class TLSConnection {
    public enum State: Equatable, Sendable {
        case handshaking
        case established
        /// close_notify received or sent.
        case closed
        case failed(TLSError)
    }

    public private(set) var state: State = .handshaking
    private let ssl: OpaquePointer
    /// The ciphertext being fed; only set during `feed`, read by the BIO.
    private var input = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Ciphertext written by OpenSSL through the BIO, not yet handed out.
    private var output: [UInt8] = []
    /// Plaintext written before the handshake completed, sent as soon as it does.
    private var pendingPlaintext: [UInt8] = []
    private var peerHasClosed = false

    /// Most plaintext decrypted per SSL_read call (one TLS record at most).
    private static let readChunk = 16 * 1024

    /// A server end; the client speaks first.
    public convenience init(server context: TLSServerContext) throws(TLSError) {
        try self.init(context: context.context, configure: { ssl in
            SSL_set_accept_state(ssl)
            return true
        })
    }

    /// A client end checking the server's certificate for `serverName` (a DNS
    /// name, sent as SNI, or an IP address). Call `start()` for the ClientHello.
    public convenience init(client context: TLSClientContext, serverName: String) throws(TLSError) {
        try self.init(context: context.context, configure: { ssl in
            SSL_set_connect_state(ssl)
            if TLSConnection.isIPAddress(serverName) {
                guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else { return false }
            } else {
                guard SSL_set1_host(ssl, serverName) == 1, chand_SSL_set_tlsext_host_name(ssl, serverName) == 1 else { return false }
            }
            return true
        })
    }

    private init(context: OpaquePointer, configure: (OpaquePointer) -> Bool) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            throw TLSError(.configuration, "cannot make a TLS connection", openSSLReason())
        }
        self.ssl = ssl
        guard let bio = BIO_new(MemoryBIO.method) else {
            throw TLSError(.configuration, "cannot make a TLS connection's BIO", openSSLReason())
        }
        // Unretained: the BIO lives inside `ssl`, which this object frees in deinit.
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        SSL_set_bio(ssl, bio, bio)
        guard configure(ssl) else {
            throw TLSError(.configuration, "cannot set the server name", openSSLReason())
        }
    }

    deinit { SSL_free(ssl) }

    public var isHandshaking: Bool { state == .handshaking }

    /// The negotiated version, e.g. `TLSv1.3`, once established.
    public var protocolVersion: String? {
        state == .handshaking ? nil : SSL_get_version(ssl).map { String(cString: $0) }
    }

    /// Begins the handshake: for a client, the ClientHello to send. A server
    /// needs no call (its handshake starts with the first `feed`).
    public func start() -> TLSOutput {
        var out = TLSOutput()
        if state == .handshaking { advanceHandshake(&out) }
        out.ciphertext = takeOutput()
        return out
    }

    /// Ciphertext read from the peer, any amount (a partial record is kept
    /// until the rest arrives). All of it is consumed.
    public func feed(_ ciphertext: UnsafeRawBufferPointer) -> TLSOutput {
        var out = TLSOutput()
        if case .failed(let error) = state {
            out.error = error
            return out
        }
        ERR_clear_error()
        input = ciphertext
        defer { input = UnsafeRawBufferPointer(start: nil, count: 0) }
        if state == .handshaking { advanceHandshake(&out) }
        if state == .established || (state == .closed && !peerHasClosed) { readPlaintext(&out) }
        out.ciphertext = takeOutput()
        return out
    }

    public func feed(_ ciphertext: [UInt8]) -> TLSOutput {
        ciphertext.withUnsafeBytes { feed($0) }
    }

    /// Encrypts `plaintext` for the peer. Before the handshake completes it is
    /// kept and sent with the call that completes it.
    public func write(_ plaintext: UnsafeRawBufferPointer) -> TLSOutput {
        var out = TLSOutput()
        switch state {
        case .handshaking:
            pendingPlaintext.append(contentsOf: plaintext)
        case .established:
            ERR_clear_error()
            encrypt(plaintext, &out)
        case .closed:
            if peerHasClosed {
                ERR_clear_error()
                encrypt(plaintext, &out)
            } else {
                out.error = TLSError(.closed, "write after close")
            }
        case .failed(let error):
            out.error = error
        }
        out.ciphertext = takeOutput()
        return out
    }

    public func write(_ plaintext: [UInt8]) -> TLSOutput {
        plaintext.withUnsafeBytes { write($0) }
    }

    /// Our close_notify, to send before closing the socket. Plaintext still
    /// pending from the handshake is dropped.
    public func close() -> [UInt8] {
        if state == .established || (state == .closed && peerHasClosed) {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            ERR_clear_error()
        }
        if case .failed = state {} else { state = .closed }
        pendingPlaintext = []
        return takeOutput()
    }

    private func advanceHandshake(_ out: inout TLSOutput) {
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            state = .established
            out.handshakeCompleted = true
            if !pendingPlaintext.isEmpty {
                let pending = pendingPlaintext
                pendingPlaintext = []
                pending.withUnsafeBytes { encrypt($0, &out) }
            }
            return
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ:
            return
        case SSL_ERROR_ZERO_RETURN:
            fail(&out, TLSError(.handshake, "the peer closed during the handshake"))
        default:
            fail(&out, TLSError(.handshake, "TLS handshake failed", handshakeReason()))
        }
    }

    private func readPlaintext(_ out: inout TLSOutput) {
        // Ends when OpenSSL wants more input than was fed (all of it is then
        // consumed), on close_notify, or on an error.
        while true {
            var count = 0
            let result = withUnsafeTemporaryAllocation(byteCount: TLSConnection.readChunk, alignment: 1) { chunk in
                let result = SSL_read_ex(ssl, chunk.baseAddress, chunk.count, &count)
                if result == 1 { out.plaintext.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<count])) }
                return result
            }
            if result == 1 { continue }
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_WANT_READ:
                return
            case SSL_ERROR_ZERO_RETURN:
                peerHasClosed = true
                state = .closed
                out.peerClosed = true
                return
            default:
                fail(&out, TLSError(.connection, "TLS input refused", openSSLReason()))
                return
            }
        }
    }

    private func encrypt(_ plaintext: UnsafeRawBufferPointer, _ out: inout TLSOutput) {
        guard let base = plaintext.baseAddress, !plaintext.isEmpty else { return }
        var written = 0
        // The BIO accepts every byte, so OpenSSL writes all of it in one call.
        if SSL_write_ex(ssl, base, plaintext.count, &written) != 1 || written != plaintext.count {
            fail(&out, TLSError(.connection, "TLS write failed", openSSLReason()))
        }
    }

    private func fail(_ out: inout TLSOutput, _ error: TLSError) {
        state = .failed(error)
        out.error = error
        pendingPlaintext = []
    }

    /// OpenSSL's reason, preferring a certificate verification failure.
    private func handshakeReason() -> String? {
        let verification = SSL_get_verify_result(ssl)
        if verification != X509_V_OK, let text = X509_verify_cert_error_string(verification) {
            ERR_clear_error()
            return "certificate verification: " + String(cString: text)
        }
        return openSSLReason()
    }

    private func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }

    static func isIPAddress(_ name: String) -> Bool {
        name.contains(":") || (!name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") })
    }

    // MARK: The BIO's ends

    fileprivate func bioRead(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        let count = min(capacity, input.count)
        guard count > 0, let base = input.baseAddress else { return 0 }
        buffer.copyMemory(from: base, byteCount: count)
        input = UnsafeRawBufferPointer(rebasing: input[count...])
        return count
    }

    fileprivate func bioWrite(_ bytes: UnsafeRawBufferPointer) {
        output.append(contentsOf: bytes)
    }
}

/// A memory BIO whose reads take from the connection's current input and
/// whose writes append to its output: nothing is buffered in the BIO itself,
/// so an idle connection keeps no ciphertext buffer. (OpenSSL's BIO_s_mem
/// grows its BUF_MEM to the most ever queued, a whole 1 MiB reply, and never
/// shrinks it.)
private enum MemoryBIO {
    /// Made once, never changed; OpenSSL allows sharing a BIO_METHOD between threads.
    nonisolated(unsafe) static let method: OpaquePointer = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "chand memory") else {
            preconditionFailure("OpenSSL cannot make a BIO method")
        }
        BIO_meth_set_read(method, read)
        BIO_meth_set_write(method, write)
        BIO_meth_set_ctrl(method, control)
        return method
    }()

    static func connection(_ bio: OpaquePointer?) -> TLSConnection {
        Unmanaged<TLSConnection>.fromOpaque(BIO_get_data(bio)!).takeUnretainedValue()
    }
}

private func read(_ bio: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int32) -> Int32 {
    chand_BIO_clear_retry_flags(bio)
    guard let buffer, capacity > 0 else { return 0 }
    let count = MemoryBIO.connection(bio).bioRead(into: buffer, capacity: Int(capacity))
    if count == 0 {
        chand_BIO_set_retry_read(bio)
        return -1
    }
    return Int32(count)
}

private func write(_ bio: OpaquePointer?, _ bytes: UnsafePointer<CChar>?, _ count: Int32) -> Int32 {
    chand_BIO_clear_retry_flags(bio)
    guard let bytes, count > 0 else { return 0 }
    MemoryBIO.connection(bio).bioWrite(UnsafeRawBufferPointer(start: bytes, count: Int(count)))
    return count
}

private func control(_ bio: OpaquePointer?, _ command: Int32, _ argument: Int, _ pointer: UnsafeMutableRawPointer?) -> Int {
    command == BIO_CTRL_FLUSH ? 1 : 0
}
