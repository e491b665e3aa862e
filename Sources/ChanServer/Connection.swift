import ChanCore
import ChanProtocol
import CLibUV

/// One client: its socket, its command parser, its tasklet and its replies.
/// Commands run in order; while the tasklet is blocked (or waiting in the
/// runnable queue) the later ones wait in the parser, and once enough of
/// them wait the socket is no longer read.
final class Connection {
    unowned let server: Server
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let tasklet: Tasklet
    var parser: CommandParser

    /// How the completion of the blocked (or yielded) command is answered.
    enum Waiting {
        case single(Channel)
        case select([Channel])
    }
    var waiting: Waiting?

    /// Replies not yet handed to libuv.
    var output: [UInt8] = []
    /// MSG/EXC replies in `output`: lost with the connection if it dies now.
    var messagesInOutput = 0
    private var writesInFlight = 0
    private var bytesInFlight = 0
    private var messagesInFlight = 0
    private var queuedForFlush = false

    private var reading = false
    /// The client closed (or half-closed) its side.
    private var inputEnded = false
    /// Close once every reply is written (QUIT, a fatal syntax error, end of input).
    private var closeWhenFlushed = false
    private(set) var isClosed = false

    init(server: Server, handle: UnsafeMutablePointer<uv_tcp_t>) {
        self.server = server
        self.handle = handle
        tasklet = server.engine.makeTasklet()
        parser = CommandParser(limits: server.config.limits)
        tasklet.context = self
        // The handle keeps its connection alive until the close callback.
        UV.handle(handle).pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> Connection {
        Unmanaged<Connection>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Over the connection limit: one error line, then close.
    static func refuse(_ tcp: UnsafeMutablePointer<uv_tcp_t>, server: Server) {
        var line: [UInt8] = []
        ReplyEncoder.error(.limit, "too many connections (max \(server.config.maxConnections))", into: &line)
        line.withUnsafeBytes { bytes in
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)), UInt32(bytes.count))
            _ = uv_try_write(UV.stream(tcp), &buf, 1)
        }
        UV.closeAndFree(tcp)
    }

    // MARK: Reading

    func startReading() {
        updateReading()
    }

    private var pendingOutput: Int { output.count + bytesInFlight }

    /// Reads while commands can run and replies are draining; a blocked
    /// tasklet's connection is read only until `inputHighWater` bytes wait.
    private func updateReading() {
        guard !isClosed else { return }
        let want = !inputEnded && !closeWhenFlushed && pendingOutput < server.config.outputHighWater
            && (tasklet.state == .running || parser.bufferedByteCount < server.config.inputHighWater)
        guard want != reading else { return }
        reading = want
        if want {
            uv_read_start(UV.stream(handle), { h, _, buf in
                let server = Connection.from(h!.pointee.data).server
                buf!.pointee = uv_buf_init(server.readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self),
                                           UInt32(server.readBuffer.count))
            }, { stream, nread, buf in
                Connection.from(stream!.pointee.data).didRead(nread, buf!.pointee)
            })
        } else {
            uv_read_stop(UV.stream(handle))
        }
    }

    private func didRead(_ nread: Int, _ buf: uv_buf_t) {
        if nread > 0 {
            parser.append(UnsafeRawBufferPointer(start: buf.base, count: nread))
        } else if nread == UV.eof {
            inputEnded = true
        } else if nread < 0 {
            close(reason: UV.describe(Int32(nread)))
            return
        }
        if tasklet.state == .running { runCommands() } else { afterCommands() }
    }

    // MARK: Running commands

    /// Runs buffered commands until one blocks or yields, the replies pile
    /// up, or the input holds no complete command.
    func runCommands() {
        while tasklet.state == .running && !closeWhenFlushed && !isClosed
            && pendingOutput < server.config.outputHighWater, let command = parser.next() {
            server.stats.commands += 1
            execute(command)
        }
        afterCommands()
    }

    /// Rule 20: at end of input the commands already received run until one
    /// would block; that one is withdrawn, and the connection closes once its
    /// replies are written.
    private func afterCommands() {
        if inputEnded && !closeWhenFlushed && !isClosed {
            switch tasklet.state {
            case .blocked:
                server.engine.cancel(tasklet)
                closeWhenFlushed = true
            case .running where pendingOutput < server.config.outputHighWater:
                closeWhenFlushed = true
            default:
                break  // yielded or waiting for output room: runs again later
            }
        }
        scheduleFlush()
        updateReading()
    }

    /// Called from the loop's runnable drain with the completion the tasklet
    /// was woken with: answer the waiting command, then carry on.
    func resume(_ completion: Completion) {
        if let waiting {
            self.waiting = nil
            reply(completion, waiting)
        }
        runCommands()
    }

    /// QUIT or a fatal request error: no further command runs; the
    /// connection closes once its replies are written.
    func endAfterReplies() {
        closeWhenFlushed = true
    }

    // MARK: Writing

    func scheduleFlush() {
        guard !queuedForFlush, !output.isEmpty || closeWhenFlushed else { return }
        queuedForFlush = true
        server.needFlush.append(self)
    }

    /// Writes `output`: straight into the socket when it takes it, the rest
    /// through a write request that owns a copy of its bytes. One write per
    /// connection per loop iteration.
    func flush() {
        queuedForFlush = false
        guard !isClosed else { return }
        if !output.isEmpty && writesInFlight == 0 {
            // Past the mark, commands have stopped: only a write request's
            // callback (didWrite) starts them again, so no direct write then.
            let written = output.count >= server.config.outputHighWater ? 0 : output.withUnsafeBytes { bytes -> Int32 in
                var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)),
                                      UInt32(bytes.count))
                return uv_try_write(UV.stream(handle), &buf, 1)
            }
            if written < 0 && written != UV.eagain {
                close(reason: UV.describe(written))
                return
            }
            let done = max(0, Int(written))
            if done < output.count {
                startWrite(from: done)
            } else {
                messagesInOutput = 0
            }
            output.removeAll(keepingCapacity: output.capacity <= 64 << 10)
        }
        if closeWhenFlushed && writesInFlight == 0 && output.isEmpty {
            close(reason: nil)
        }
    }

    private final class WriteRequest {
        let bytes: UnsafeMutableRawBufferPointer
        let messages: Int
        init(_ bytes: UnsafeMutableRawBufferPointer, messages: Int) {
            self.bytes = bytes
            self.messages = messages
        }
    }

    private func startWrite(from offset: Int) {
        let count = output.count - offset
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        output.withUnsafeBytes { bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        let request = WriteRequest(bytes, messages: messagesInOutput)
        messagesInOutput = 0
        let req = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        req.pointee.data = Unmanaged.passRetained(request).toOpaque()
        var buf = uv_buf_init(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(count))
        writesInFlight += 1
        bytesInFlight += count
        messagesInFlight += request.messages
        // The connection stays alive until every write callback has run: its
        // handle is closed only through uv_close, which cancels them first.
        uv_write(req, UV.stream(handle), &buf, 1) { req, status in
            let request = Unmanaged<WriteRequest>.fromOpaque(req!.pointee.data!).takeRetainedValue()
            let conn = Connection.from(req!.pointee.handle!.pointee.data)
            request.bytes.deallocate()
            req!.deallocate()
            conn.didWrite(request, status: status)
        }
    }

    private func didWrite(_ request: WriteRequest, status: Int32) {
        writesInFlight -= 1
        bytesInFlight -= request.bytes.count
        messagesInFlight -= request.messages
        guard !isClosed else { return }
        if status < 0 {
            server.stats.valuesLost += request.messages
            close(reason: UV.describe(status))
            return
        }
        // Room again: run the commands that waited for it.
        if tasklet.state == .running { runCommands() } else { afterCommands() }
        scheduleFlush()
    }

    // MARK: Closing

    /// Closes now: the tasklet is cancelled (every chanop withdrawn), and
    /// values matched to it but not yet written count as lost.
    func close(reason: String?) {
        guard !isClosed else { return }
        isClosed = true
        if case .received? = server.engine.cancel(tasklet) { server.stats.valuesLost += 1 }
        server.stats.valuesLost += messagesInOutput + messagesInFlight
        if let reason { server.logger.debug("connection \(tasklet.id): \(reason)") }
        server.forget(self)
        uv_read_stop(UV.stream(handle))
        uv_close(UV.handle(handle)) { h in
            Unmanaged<Connection>.fromOpaque(h!.pointee.data!).release()
            h!.deallocate()
        }
    }
}
