import ChanCore
import ChanProtocol
import ChanSession
import CLibUV

/// One client socket: performs on libuv what its `Session` asks for, and
/// reports libuv's events back to it.
final class Connection {
    /// Unowned(unsafe): the server outlives every connection (it closes them all before it goes).
    unowned(unsafe) let server: Server
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let session: Session

    init(server: Server, handle: UnsafeMutablePointer<uv_tcp_t>) {
        self.server = server
        self.handle = handle
        session = Session(server: server.state, context: nil)
        session.tasklet.context = self
        // The handle keeps its connection alive until the close callback.
        UV.handle(handle).pointee.data = UV.context(self, retained: true)
    }

    var id: Int { session.id }

    /// Over the connection limit: one error line, then close.
    static func refuse(_ tcp: UnsafeMutablePointer<uv_tcp_t>, server: Server) {
        var line: [UInt8] = []
        ReplyEncoder.error(.limit, "too many connections (max \(server.state.config.maxConnections))", into: &line)
        line.withUnsafeBytes { bytes in
            var buf = UV.buffer(bytes)
            _ = uv_try_write(UV.stream(tcp), &buf, 1)
        }
        UV.closeAndFree(tcp)
    }

    func start() {
        perform(session.start())
    }

    /// The woken tasklet's completion, from the loop's runnable drain.
    func resume(_ completion: Completion) {
        perform(session.resume(completion))
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
            uv_read_start(UV.stream(handle), { h, _, buf in
                buf!.pointee = UV.buffer(UV.object(h!.pointee.data, as: Connection.self).server.readBuffer)
            }, { stream, nread, buf in
                UV.object(stream!.pointee.data, as: Connection.self).didRead(nread, buf!.pointee)
            })
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

    private func didRead(_ nread: Int, _ buf: uv_buf_t) {
        if nread > 0 {
            perform(session.received(UnsafeRawBufferPointer(start: buf.base, count: nread)))
        } else if nread == UV.eof {
            perform(session.inputEnded())
        } else if nread < 0 {
            close(failure: UV.describe(Int32(nread)))
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

    private func startWrite(from offset: Int) {
        let bytes = session.output.withUnsafeBytes { output in
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: output.count - offset, alignment: 1)
            copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: output[offset...]))
            return copy
        }
        let req = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        req.pointee.data = bytes.baseAddress
        var buf = UV.buffer(bytes)
        // The connection stays alive until every write callback has run: its
        // handle is closed only through uv_close, which cancels them first.
        uv_write(req, UV.stream(handle), &buf, 1) { req, status in
            req!.pointee.data.deallocate()
            let conn = UV.object(req!.pointee.handle!.pointee.data, as: Connection.self)
            req!.deallocate()
            conn.didWrite(status: status)
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
        server.forget(self)
        uv_read_stop(UV.stream(handle))
        uv_close(UV.handle(handle)) { h in
            _ = UV.release(h!.pointee.data, as: Connection.self)
            h!.deallocate()
        }
    }
}
