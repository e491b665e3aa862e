import ChanAuth
import ChanCore
import ChanProtocol
import ChanSession
import ChanTLS
import CLibUV

/// An AUTH check under way on the thread pool. The worker writes `user`
/// only; the loop reads it after the worker is done (libuv orders the two).
private final class AuthenticationJob: @unchecked Sendable {
    let connection: Connection
    let check: AuthenticationCheck
    var user: (any SessionUser)?

    init(connection: Connection, check: AuthenticationCheck) {
        self.connection = connection
        self.check = check
    }
}

/// One client socket: performs on libuv what its `Session` asks for, and
/// reports libuv's events back to it. On a TLS listener the bytes read go
/// through `tls` before the session sees them, and the session's replies go
/// through it before the socket.
final class Connection {
    /// Strong, though the server outlives every connection: read through an
    /// unowned(unsafe) reference it was retained and released around each
    /// use. The cycle lasts until the connection closes (`Server.forget`),
    /// and `Server.stop` closes them all.
    let server: Server
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let session: Session
    /// nil on a plain listener.
    private let tls: TLSConnection?
    /// Protected mode: the session starts only to answer ERR DENIED and close.
    private var refused = false
    /// Loop time (ms) by which the TLS handshake must be done.
    private(set) var handshakeDeadline: UInt64 = 0

    init(server: Server, handle: UnsafeMutablePointer<uv_tcp_t>) {
        self.server = server
        self.handle = handle
        session = Session(server: server.state, context: nil)
        if let context = server.tls {
            // Only fails when OpenSSL cannot allocate; the connection is then closed at start.
            tls = try? TLSConnection(server: context)
        } else {
            tls = nil
        }
        session.tasklet.context = self
        // The handle keeps its connection alive until the close callback.
        UV.handle(handle).pointee.data = UV.context(self, retained: true)
    }

    var id: Int { session.id }

    /// Over the connection limit: one error line, then close. A TLS client
    /// could not read a plain line: it is closed without one.
    static func refuse(_ tcp: UnsafeMutablePointer<uv_tcp_t>, server: Server) {
        guard server.tls == nil else { return UV.closeAndFree(tcp) }
        var line: [UInt8] = []
        ReplyEncoder.error(.limit, "too many connections (max \(server.state.config.maxConnections))", into: &line)
        line.withUnsafeBytes { bytes in
            var buf = UV.buffer(bytes)
            _ = uv_try_write(UV.stream(tcp), &buf, 1)
        }
        UV.closeAndFree(tcp)
    }

    /// `refused`: protected mode turns this client away (after the TLS handshake, so that it can read why).
    func start(refused: Bool) {
        self.refused = refused
        guard server.tls != nil else { return startSession() }
        guard tls != nil else { return close(failure: "cannot make a TLS connection") }
        // The handshake is read whatever the session would want; the session starts once it is done.
        handshakeDeadline = uv_now(server.loop) + UInt64(server.config.tlsHandshakeSeconds) * 1000
        server.handshaking[ObjectIdentifier(self)] = self
        startReading()
    }

    private func startSession() {
        if refused {
            perform(session.refuse(.denied, Connection.protectedModeText))
        } else {
            perform(session.start())
        }
    }

    static let protectedModeText = "protected mode: this server has no users and serves only loopback clients; "
        + "start chand with --users <file> (lines made with chan passwd) so that clients AUTH, "
        + "or with --protected-mode no to serve every client without authentication"

    /// The woken tasklet's completion, from the loop's runnable drain.
    /// Consuming: the session gives a delivered payload's storage back to the engine's pool, which reuses it only
    /// if nothing else refers to it.
    func resume(_ completion: consuming Completion) {
        perform(session.resume(consume completion))
    }

    /// The peer closed its side while the socket was not being read.
    func peerClosedWhilePaused() {
        perform(session.peerClosedWhilePaused())
    }

    /// Does what the session asked for.
    private func perform(_ actions: Session.Actions) {
        guard !actions.isEmpty else { return }
        if actions.contains(.close) {
            closeSocket()
            return
        }
        if actions.contains(.stopReading) {
            uv_read_stop(UV.stream(handle))
        } else if actions.contains(.startReading) {
            startReading()
        }
        if actions.contains(.authenticate), let check = session.takeAuthentication() {
            authenticate(check)
        }
        if actions.contains(.flush) {
            server.needFlush.append(self)
        }
        if actions.contains(.continueNextTurn) {
            server.continueNextTurn(self)
        }
    }

    /// Its turn again, on the loop iteration after the one it yielded in.
    func nextTurn() {
        perform(session.nextTurn())
    }

    private func startReading() {
        // The handle holds a reference to its connection (see `init`): the
        // callbacks borrow it rather than retaining it for every read.
        uv_read_start(UV.stream(handle), { h, _, buf in
            UV.withObject(h!.pointee.data, as: Connection.self) { buf!.pointee = UV.buffer($0.server.readBuffer) }
        }, { stream, nread, buf in
            UV.withObject(stream!.pointee.data, as: Connection.self) { $0.didRead(nread, buf!.pointee) }
        })
    }

    private func didRead(_ nread: Int, _ buf: uv_buf_t) {
        if nread > 0, let tls {
            decrypt(tls, UnsafeRawBufferPointer(start: buf.base, count: nread))
        } else if nread > 0 {
            perform(session.received(UnsafeRawBufferPointer(start: buf.base, count: nread)))
        } else if nread == UV.eof {
            perform(session.inputEnded())
        } else if nread < 0 {
            close(failure: UV.describe(Int32(nread)))
        }
    }

    /// Ciphertext read: handshake messages are answered here; decrypted
    /// requests go to the session. A failed handshake is the client's
    /// business (logged at debug); its alert is sent, then the socket closed.
    private func decrypt(_ tls: TLSConnection, _ ciphertext: UnsafeRawBufferPointer) {
        let wasHandshaking = tls.isHandshaking
        let out = tls.feed(ciphertext)
        if !out.ciphertext.isEmpty { send(out.ciphertext) }
        if let error = out.error {
            server.logger.debug("connection \(id): \(error)")
            return close()
        }
        if out.handshakeCompleted {
            server.handshaking[ObjectIdentifier(self)] = nil
            server.logger.debug("connection \(id): \(tls.protocolVersion ?? "TLS") established")
            startSession()
        }
        if wasHandshaking && tls.isHandshaking { return }
        if !out.plaintext.isEmpty && !session.isClosed {
            out.plaintext.withUnsafeBytes { perform(session.received($0)) }
        }
        if out.peerClosed && !session.isClosed { perform(session.inputEnded()) }
    }

    /// Checks an AUTH secret on libuv's thread pool (a scrypt derivation
    /// would stall every connection for its tens of milliseconds), then
    /// answers it on the loop.
    private func authenticate(_ check: AuthenticationCheck) {
        let job = AuthenticationJob(connection: self, check: check)
        let req = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
        req.pointee.data = Unmanaged.passRetained(job).toOpaque()
        let status = uv_queue_work(server.loop, req, { req in
            let job = Unmanaged<AuthenticationJob>.fromOpaque(req!.pointee.data).takeUnretainedValue()
            job.user = job.check.run()
        }, { req, _ in
            let job = Unmanaged<AuthenticationJob>.fromOpaque(req!.pointee.data).takeRetainedValue()
            req!.deallocate()
            job.connection.perform(job.connection.session.authenticated(job.user))
        })
        if status < 0 {
            _ = Unmanaged<AuthenticationJob>.fromOpaque(req.pointee.data).takeRetainedValue()
            req.deallocate()
            perform(session.authenticated(check.run()))
        }
    }

    // MARK: Writing

    /// Writes the session's output: straight into the socket when it takes
    /// it, the rest through a write request that owns a copy of its bytes.
    /// One write per connection per loop iteration.
    func flush() {
        guard !session.isClosed else { return }
        guard session.canWrite else {
            if session.awaitsDurability { server.awaitDurability(self) }
            return perform(session.flushSkipped())
        }
        if let tls { return flushEncrypted(tls) }
        let written = session.output.withUnsafeBytes { bytes -> Int32 in
            var buf = UV.buffer(bytes)
            return uv_try_write(UV.stream(handle), &buf, 1)
        }
        if written < 0 && written != UV.eagain {
            return close(failure: UV.describe(written))
        }
        let done = max(0, Int(written))
        if done < session.output.count { startWrite(from: done) }
        perform(session.wrote(done))
    }

    /// The session's output encrypted. All of it counts as written when the
    /// socket took all the ciphertext at once, else all of it is in flight
    /// with the one write request.
    private func flushEncrypted(_ tls: TLSConnection) {
        let out = session.output.withUnsafeBytes { tls.write($0) }
        if let error = out.error {
            server.logger.debug("connection \(id): \(error)")
            return close()
        }
        let status = out.ciphertext.withUnsafeBytes { bytes -> Int32 in
            var buf = UV.buffer(bytes)
            return uv_try_write(UV.stream(handle), &buf, 1)
        }
        if status < 0 && status != UV.eagain { return close(failure: UV.describe(status)) }
        let taken = max(0, Int(status))
        if taken < out.ciphertext.count {
            out.ciphertext.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[taken...]), reportsToSession: true) }
        }
        perform(session.wrote(taken == out.ciphertext.count ? session.output.count : 0))
    }

    /// TLS bytes of the connection's own (handshake, alerts, tickets), written
    /// in order behind any write in flight; their completion is not the session's.
    private func send(_ ciphertext: [UInt8]) {
        // uv_try_write takes nothing while a write is queued, so the order holds.
        let status = ciphertext.withUnsafeBytes { bytes -> Int32 in
            var buf = UV.buffer(bytes)
            return uv_try_write(UV.stream(handle), &buf, 1)
        }
        let taken = max(0, Int(status))
        if taken < ciphertext.count {
            ciphertext.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[taken...]), reportsToSession: false) }
        }
    }

    private func startWrite(from offset: Int) {
        session.output.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[offset...]), reportsToSession: true) }
    }

    /// One write request that owns a copy of `bytes`; `reportsToSession`:
    /// its completion is the session's write (`writeCompleted`).
    private func write(_ bytes: UnsafeRawBufferPointer, reportsToSession: Bool) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        copy.copyMemory(from: bytes)
        let req = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        req.pointee.data = copy.baseAddress
        var buf = UV.buffer(copy)
        // The connection stays alive until every write callback has run: its
        // handle is closed only through uv_close, which cancels them first.
        if reportsToSession {
            uv_write(req, UV.stream(handle), &buf, 1) { req, status in
                req!.pointee.data.deallocate()
                let conn = UV.object(req!.pointee.handle!.pointee.data, as: Connection.self)
                req!.deallocate()
                conn.didWrite(status: status)
            }
        } else {
            uv_write(req, UV.stream(handle), &buf, 1) { req, status in
                req!.pointee.data.deallocate()
                let conn = UV.object(req!.pointee.handle!.pointee.data, as: Connection.self)
                req!.deallocate()
                if status < 0 && status != UV.canceled { conn.close(failure: UV.describe(status)) }
            }
        }
    }

    private func didWrite(status: Int32) {
        guard !session.isClosed else { return }
        if status < 0 { return close(failure: UV.describe(status)) }
        perform(session.writeCompleted())
    }

    // MARK: Closing

    /// Closes now; a socket error (`failure`) is logged as a warning.
    func close(failure: String? = nil) {
        guard !session.isClosed else { return }
        session.close()
        if let failure { server.logger.warning("connection \(id): \(failure)") }
        closeSocket()
    }

    private func closeSocket() {
        if let tls, !tls.isHandshaking {
            // close_notify, if the socket takes it now; the peer sees the close either way.
            let notify = tls.close()
            notify.withUnsafeBytes { bytes in
                var buf = UV.buffer(bytes)
                _ = uv_try_write(UV.stream(handle), &buf, 1)
            }
        }
        server.forget(self)
        uv_read_stop(UV.stream(handle))
        uv_close(UV.handle(handle)) { h in
            _ = UV.release(h!.pointee.data, as: Connection.self)
            h!.deallocate()
        }
    }
}
