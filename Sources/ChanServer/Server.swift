import ChanAuth
import ChanCore
import ChanDurability
import ChanProtocol
import ChanTLS
@_exported import ChanSession
import ChanStore
import CLibUV
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon: one libuv loop owning the listener, every client connection,
/// the engine and its timers. Everything runs on the thread that calls `run()`.
public final class Server {
    /// The engine, settings and counters every session shares.
    let state: ServerState
    var config: ServerConfig { state.config }
    var engine: Engine { state.engine }
    var logger: Logger { state.logger }

    let loop: UnsafeMutablePointer<uv_loop_t>
    private var listener: UnsafeMutablePointer<uv_tcp_t>?
    /// Before the loop polls: resume woken tasklets, then write replies.
    private let prepare: UnsafeMutablePointer<uv_prepare_t>
    /// Active while connections wait for their next turn: the loop then
    /// polls without sleeping (their turns run before each poll).
    private let turns: UnsafeMutablePointer<uv_idle_t>
    private var waitingForTurn: [Connection] = []
    /// Fires at the engine's earliest select deadline.
    private let deadlineTimer: UnsafeMutablePointer<uv_timer_t>
    private var armedDeadline: UInt64?
    /// Forgets idle implicit channels once a second.
    private let sweepTimer: UnsafeMutablePointer<uv_timer_t>
    private var signals: [UnsafeMutablePointer<uv_signal_t>] = []
    /// Durable channels' store (--data-dir), and the store's sync thread's signal
    /// that more of it is durable.
    private var durable: DurableChannels?
    private var durableSignal: UnsafeMutablePointer<uv_async_t>?
    /// Connections whose replies wait for the store (`Session.awaitsDurability`).
    private var awaitingDurability: [Connection] = []
    private var reportedStoreFailure = false
    private(set) var metricsEndpoint: MetricsEndpoint?
    /// The metrics endpoint's port, when it is on.
    public var metricsPort: Int? { metricsEndpoint?.port }

    /// Every connection is TLS when set (`--tls-cert`, `--tls-key`).
    let tls: TLSServerContext?
    /// TLS connections still in their handshake, closed when it takes longer
    /// than `tlsHandshakeSeconds` (checked once a second).
    var handshaking: [ObjectIdentifier: Connection] = [:]

    var connections: [ObjectIdentifier: Connection] = [:]
    /// Connections with replies to write before the loop sleeps.
    var needFlush: [Connection] = []
    /// The batch being flushed or given turns, swapped with the lists above
    /// so that no loop iteration allocates an array.
    private var batch: [Connection] = []
    /// Shared by every read: the loop copies each read into a connection's
    /// parser before the next one, so one buffer serves all.
    let readBuffer: UnsafeMutableRawBufferPointer
    private var stopping = false

    /// Seconds since the epoch when the server was made (process_start_time_seconds).
    let startTime = time(nil)

    /// `storage`: where durable channels are kept and when they are synced
    /// (chand --data-dir, --fsync); nil: no channel may be durable.
    /// Throws `UsersFileError` for a users file that cannot be used, `TLSError` for TLS files.
    public init(config: ServerConfig, storage: StorageSettings? = nil, logger: Logger = Logger(label: "chand")) throws {
        let users = try config.usersFile.map { path throws(UsersFileError) in try Users.load(path: path) }
        tls = try config.tlsCertificate.map { certificate throws(TLSError) in
            try TLSServerContext(certificateFile: certificate, keyFile: config.tlsKey ?? certificate, clientCAFile: config.tlsClientCA)
        }
        loop = .allocate(capacity: 1)
        try LibUVError.check(uv_loop_init(loop), "uv_loop_init")
        var config = config
        let reserve = OpenFiles.reserve(metrics: config.metricsPort != nil)
        let (allowed, limit) = OpenFiles.fit(connections: config.maxConnections, reserve: reserve)
        if allowed < config.maxConnections {
            // Past the open-file limit accept would fail, and clients would be dropped without a word.
            logger.warning("open-file limit \(limit) allows \(allowed) connections, not --max-connections \(config.maxConnections): clients past \(allowed) get ERR LIMIT")
            config.maxConnections = allowed
        }
        state = ServerState(config: config, logger: logger, clock: LoopClock(loop))
        state.authenticatesOffLoop = true
        readBuffer = .allocate(byteCount: 64 << 10, alignment: 16)
        prepare = .allocate(capacity: 1)
        turns = .allocate(capacity: 1)
        deadlineTimer = .allocate(capacity: 1)
        sweepTimer = .allocate(capacity: 1)
        uv_prepare_init(loop, prepare)
        uv_idle_init(loop, turns)
        uv_timer_init(loop, deadlineTimer)
        uv_timer_init(loop, sweepTimer)
        for h in [UV.handle(prepare), UV.handle(turns), UV.handle(deadlineTimer), UV.handle(sweepTimer)] {
            h.pointee.data = UV.context(self)
        }
        if let path = config.usersFile, let users {
            for warning in users.warnings { logger.warning("\(path): \(warning)") }
            logger.info("\(users.all.count) users from \(path): clients must AUTH")
            state.setUsers(users)
        } else if config.protectedMode {
            logger.info("protected mode: no --users, so only loopback clients are served")
        }
        if let ca = config.tlsClientCA {
            logger.info("TLS only, client certificates signed by \(ca) required")
        } else if tls != nil {
            logger.info("TLS only")
        }
        if let storage { try openStore(storage) }
    }

    /// Opens the data directory (a torn tail is cut and logged; damage
    /// before it throws) and brings back its durable channels.
    private func openStore(_ storage: StorageSettings) throws {
        let directory = storage.directory
        let signal = UnsafeMutablePointer<uv_async_t>.allocate(capacity: 1)
        uv_async_init(loop, signal) { h in UV.object(h!.pointee.data, as: Server.self).storeAdvanced() }
        UV.handle(signal).pointee.data = UV.context(self)
        durableSignal = signal
        let address = UInt(bitPattern: signal)
        let logger = self.logger
        let store = try ChanStore(
            directory: directory, options: ChanStoreOptions(fsync: storage.fsync),
            log: { logger.warning("\($0)") },
            onDurable: { uv_async_send(UnsafeMutablePointer<uv_async_t>(bitPattern: address)) })
        let channels = try DurableChannels(store: store, engine: engine)
        durable = channels
        state.durable = channels
        let (count, values) = channels.restoredSummary
        logger.info("data directory \(directory) (fsync \(storage.fsync.rawValue)): \(count) durable channels, \(values) values restored")
    }

    /// The store's sync thread synced (`always`), finished sealing a segment
    /// (the records that waited for it can be written now), or failed.
    private func storeAdvanced() {
        commitDurable()
        if let failure = durable?.store.failure, !reportedStoreFailure {
            reportedStoreFailure = true
            logger.critical("the data directory cannot be written, durable changes are no longer answered: \(failure)")
        }
    }

    /// Writes the store's records logged since the last commit (under
    /// `everysec` and `no`, write(2) on this thread), then queues the
    /// replies that waited for their records. Called before replies are
    /// handed to sockets, so that no OK promising durability goes out ahead
    /// of its record.
    private func commitDurable() {
        guard let durable else { return }
        durable.commit()
        guard !awaitingDurability.isEmpty else { return }
        var still: [Connection] = []
        for conn in awaitingDurability where !conn.session.isClosed {
            if conn.session.awaitsDurability { still.append(conn) } else { needFlush.append(conn) }
        }
        awaitingDurability = still
    }

    /// A connection's replies wait for the store; `commitDurable` queues them once they may go.
    func awaitDurability(_ conn: Connection) {
        awaitingDurability.append(conn)
    }

    deinit {
        readBuffer.deallocate()
        loop.deallocate()
    }

    /// Binds and listens; returns the port (the real one when asked for 0).
    public func start() throws -> Int {
        let tcp = try UV.listen(loop, host: config.host, port: config.port, context: self) { server, status in
            UV.object(server!.pointee.data, as: Server.self).accept(status)
        }
        listener = tcp
        if let port = config.metricsPort {
            do {
                metricsEndpoint = try MetricsEndpoint(server: self, port: port)
            } catch let error as LibUVError {
                throw LibUVError(what: "metrics listener (--metrics-port): " + error.what, code: error.code)
            }
        }
        uv_prepare_start(prepare) { h in UV.object(h!.pointee.data, as: Server.self).beforePoll() }
        // Every second: forget idle implicit channels, end an activity
        // interval (so a channel's `rate` is its values moved per second),
        // and look for peers gone from sockets nobody reads.
        uv_timer_start(sweepTimer, { h in
            let server = UV.object(h!.pointee.data, as: Server.self)
            server.engine.sweepIdleChannels(sparingActive: true)
            server.engine.forgetClosedChannels(now: uv_now(server.loop), ttl: UInt64(server.config.closedTTLSeconds) * 1000)
            server.engine.startActivityInterval()
            server.noticeVanishedPeers()
            server.closeSlowHandshakes()
        }, 1000, 1000)
        // The timer alone must not keep the loop alive at shutdown.
        uv_unref(UV.handle(sweepTimer))
        let hangup = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        uv_signal_init(loop, hangup)
        UV.handle(hangup).pointee.data = UV.context(self)
        uv_signal_start(hangup, { h, _ in UV.object(h!.pointee.data, as: Server.self).reloadUsers() }, SIGHUP)
        // SIGHUP alone must not keep the loop alive at shutdown.
        uv_unref(UV.handle(hangup))
        signals.append(hangup)
        for signum in [SIGINT, SIGTERM] {
            let s = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
            uv_signal_init(loop, s)
            UV.handle(s).pointee.data = UV.context(self)
            uv_signal_start(s, { h, signum in
                let server = UV.object(h!.pointee.data, as: Server.self)
                server.logger.info("signal \(signum): shutting down")
                server.stop()
            }, signum)
            signals.append(s)
        }
        return UV.boundPort(tcp)
    }

    /// Runs the loop until `stop()` and every handle is closed; then the loop
    /// is closed (architecture.md, libuv rule 10).
    public func run() throws {
        uv_run(loop, UV_RUN_DEFAULT)
        try LibUVError.check(uv_loop_close(loop), "uv_loop_close")
    }

    /// Stops accepting, closes every client (blocked ones are withdrawn from
    /// their channels first) and every handle; `run()` then returns.
    public func stop() {
        guard !stopping else { return }
        stopping = true
        if let listener { UV.closeAndFree(listener) }
        metricsEndpoint?.stop()
        for conn in Array(connections.values) { conn.close() }
        for s in signals { UV.closeAndFree(s) }
        uv_prepare_stop(prepare)
        UV.closeAndFree(prepare)
        uv_idle_stop(turns)
        UV.closeAndFree(turns)
        UV.closeAndFree(deadlineTimer)
        UV.closeAndFree(sweepTimer)
        if let durableSignal {
            // What the closed connections recorded is written and synced, and
            // the sync thread is gone before its signal is.
            durable?.store.shutdown()
            UV.closeAndFree(durableSignal)
        }
    }

    private func accept(_ status: Int32) {
        guard status >= 0, let listener else {
            if status == UV.emfile || status == UV.enfile {
                // libuv has closed the clients waiting to be accepted.
                state.stats.connectionsRefused += 1
            }
            logger.warning("accept failed: \(UV.describe(status))")
            return
        }
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop, tcp)
        guard uv_accept(UV.stream(listener), UV.stream(tcp)) == 0 else {
            UV.closeAndFree(tcp)
            return
        }
        uv_tcp_nodelay(tcp, 1)
        uv_tcp_keepalive(tcp, 1, UInt32(config.keepaliveSeconds))
        if connections.count >= config.maxConnections {
            state.stats.connectionsRefused += 1
            Connection.refuse(tcp, server: self)
            return
        }
        let refusal = config.protectedMode && !state.requiresLogin && !PeerAddress.isLoopback(tcp)
        let conn = Connection(server: self, handle: tcp)
        connections[ObjectIdentifier(conn)] = conn
        state.stats.connectionsOpen += 1
        state.stats.connectionsTotal += 1
        logger.debug("connection \(conn.id) opened")
        conn.start(refused: refusal)
    }

    /// SIGHUP: reads the users file again. A file that cannot be used keeps
    /// the users as they were.
    private func reloadUsers() {
        guard let path = config.usersFile else {
            return logger.info("SIGHUP: no users file to reload (chand --users)")
        }
        do {
            let users = try Users.load(path: path)
            for warning in users.warnings { logger.warning("\(path): \(warning)") }
            state.setUsers(users)
            logger.info("SIGHUP: \(users.all.count) users reloaded from \(path)")
        } catch {
            logger.error("SIGHUP: the users file was not reloaded, the previous users stay: \(error)")
        }
    }

    private func closeSlowHandshakes() {
        guard !handshaking.isEmpty else { return }
        let now = uv_now(loop)
        for conn in Array(handshaking.values) where now >= conn.handshakeDeadline {
            logger.debug("connection \(conn.id): TLS handshake not done in \(config.tlsHandshakeSeconds) s, closed")
            conn.close()
        }
    }

    func forget(_ conn: Connection) {
        handshaking[ObjectIdentifier(conn)] = nil
        connections[ObjectIdentifier(conn)] = nil
        state.stats.connectionsOpen -= 1
        logger.debug("connection \(conn.id) closed")
    }

    /// libuv watches only the sockets it reads, so a client that closes or
    /// resets a paused connection (blocked, with more pipelined than
    /// `inputHighWater`) would go unseen, and its blocked request would keep
    /// taking values. Asked here once a second, without reading: a reset
    /// closes the connection, a close ends a blocked request's input (rule 20).
    private func noticeVanishedPeers() {
        var watched: [(conn: Connection, fd: pollfd)] = []
        for conn in connections.values where conn.session.state == .paused {
            var fd = uv_os_fd_t()
            guard uv_fileno(UV.handle(conn.handle), &fd) == 0 else { continue }
            watched.append((conn, pollfd(fd: fd, events: Int16(Server.peerGone), revents: 0)))
        }
        guard !watched.isEmpty else { return }
        var fds = watched.map(\.fd)
        guard poll(&fds, nfds_t(fds.count), 0) > 0 else { return }
        for (entry, fd) in zip(watched, fds) where fd.revents & Int16(Server.peerGone) != 0 {
            if fd.revents & Int16(POLLERR) != 0 {
                entry.conn.close(failure: "connection reset while not read")
            } else {
                entry.conn.peerClosedWhilePaused()
            }
        }
    }

    /// The poll(2) events of a peer that closed or reset its side.
    #if os(Linux)
    private static let peerGone = Int32(POLLHUP | POLLERR) | 0x2000  // POLLRDHUP (glibc declares it only with _GNU_SOURCE)
    #else
    private static let peerGone = Int32(POLLHUP | POLLERR)
    #endif

    /// A connection used its turn with requests left (fair turns, so that
    /// one client's pipelined requests do not hold up the others).
    func continueNextTurn(_ conn: Connection) {
        if waitingForTurn.isEmpty {
            // Nothing to do in the callback: an active idle handle only keeps the poll from sleeping.
            uv_idle_start(turns) { _ in }
        }
        waitingForTurn.append(conn)
    }

    /// Before the loop polls: resume woken tasklets and write replies (the
    /// replies of what the last poll read go out before anyone's next turn),
    /// then give each yielded connection one more turn and write its replies.
    private func beforePoll() {
        resumeAndFlush()
        if !waitingForTurn.isEmpty {
            swap(&batch, &waitingForTurn)
            for conn in batch { conn.nextTurn() }
            batch.removeAll(keepingCapacity: true)
            if waitingForTurn.isEmpty { uv_idle_stop(turns) }
            resumeAndFlush()
        }
        // What the last flush recorded (removals of delivered values).
        commitDurable()
        if !needFlush.isEmpty { resumeAndFlush() }
        armDeadlineTimer()
    }

    /// Resumes woken tasklets in runnable order (never re-entrantly, redis's
    /// beforeSleep) and writes every pending reply. Writing can make room for
    /// more commands to run, and those can wake tasklets and write more:
    /// repeat until nothing is left, so the loop never sleeps with work queued.
    private func resumeAndFlush() {
        repeat {
            // A connection is kept alive by its handle until its close
            // callback: borrowed here rather than retained per resume and flush.
            while let t = engine.nextRunnable() {
                UV.withObject(UV.context(t.context!), as: Connection.self) { $0.resume(t.takeCompletion()!) }
            }
            commitDurable()
            swap(&batch, &needFlush)
            for i in batch.indices {
                Unmanaged.passUnretained(batch[i])._withUnsafeGuaranteedRef { $0.flush() }
            }
            batch.removeAll(keepingCapacity: true)
        } while !needFlush.isEmpty || engine.runnableCount > 0
    }

    private func armDeadlineTimer() {
        let next = engine.nextDeadline
        guard next != armedDeadline, !stopping else { return }
        armedDeadline = next
        guard let next else {
            uv_timer_stop(deadlineTimer)
            return
        }
        let now = uv_now(loop)
        uv_timer_start(deadlineTimer, { h in
            let server = UV.object(h!.pointee.data, as: Server.self)
            server.armedDeadline = nil
            server.engine.expireDeadlines(now: uv_now(server.loop))
        }, next > now ? next - now : 0, 0)
    }
}

/// Where the durable channels' store lives, and its fsync policy.
public struct StorageSettings: Sendable {
    public var directory: String
    public var fsync: FsyncPolicy

    public init(directory: String, fsync: FsyncPolicy = .everysec) {
        self.directory = directory
        self.fsync = fsync
    }
}

/// The loop's clock, for sessions.
final class LoopClock: SessionClock {
    private let loop: UnsafeMutablePointer<uv_loop_t>

    init(_ loop: UnsafeMutablePointer<uv_loop_t>) {
        self.loop = loop
    }

    var milliseconds: UInt64 { uv_now(loop) }

    func currentMilliseconds() -> UInt64 {
        // The loop's cached time may be behind by this iteration's work.
        uv_update_time(loop)
        return uv_now(loop)
    }

    func nanoseconds() -> UInt64 { uv_hrtime() }
}
