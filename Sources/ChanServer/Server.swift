import ChanCore
import ChanProtocol
import CLibUV
import Logging

/// The daemon: one libuv loop owning the listener, every client connection,
/// the engine and its timers. Everything runs on the thread that calls `run()`.
public final class Server {
    let config: ServerConfig
    let engine: Engine
    let logger: Logger
    var stats = ServerStats()
    let startedAt: UInt64

    let loop: UnsafeMutablePointer<uv_loop_t>
    private var listener: UnsafeMutablePointer<uv_tcp_t>?
    /// Before the loop polls: resume woken tasklets, then write replies.
    private let prepare: UnsafeMutablePointer<uv_prepare_t>
    /// Fires at the engine's earliest select deadline.
    private let deadlineTimer: UnsafeMutablePointer<uv_timer_t>
    private var armedDeadline: UInt64?
    /// Forgets idle implicit channels once a second.
    private let sweepTimer: UnsafeMutablePointer<uv_timer_t>
    private var signals: [UnsafeMutablePointer<uv_signal_t>] = []
    private(set) var metricsEndpoint: MetricsEndpoint?
    /// The metrics endpoint's port, when it is on.
    public var metricsPort: Int? { metricsEndpoint?.port }
    /// Seconds that SEND/RECV/SELECT waited before a partner completed them.
    var blockedSeconds = Histogram(bounds: [0.0001, 0.001, 0.01, 0.1, 1, 10, 60, 600])

    var connections: [ObjectIdentifier: Connection] = [:]
    /// Connections with replies to write before the loop sleeps.
    var needFlush: [Connection] = []
    /// Shared by every read: the loop copies each read into a connection's
    /// parser before the next one, so one buffer serves all.
    let readBuffer: UnsafeMutableRawBufferPointer
    private var stopping = false

    public init(config: ServerConfig, logger: Logger = Logger(label: "chand")) throws {
        self.config = config
        self.logger = logger
        let random = config.seed.map { Xoshiro256(seed: $0) } ?? Xoshiro256()
        engine = Engine(random: random, maxChannels: config.maxChannels)
        loop = .allocate(capacity: 1)
        try LibUVError.check(uv_loop_init(loop), "uv_loop_init")
        startedAt = uv_now(loop)
        readBuffer = .allocate(byteCount: 64 << 10, alignment: 16)
        prepare = .allocate(capacity: 1)
        deadlineTimer = .allocate(capacity: 1)
        sweepTimer = .allocate(capacity: 1)
        uv_prepare_init(loop, prepare)
        uv_timer_init(loop, deadlineTimer)
        uv_timer_init(loop, sweepTimer)
        let me = Unmanaged.passUnretained(self).toOpaque()
        for h in [UV.handle(prepare), UV.handle(deadlineTimer), UV.handle(sweepTimer)] { h.pointee.data = me }
    }

    deinit {
        readBuffer.deallocate()
        loop.deallocate()
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> Server {
        Unmanaged<Server>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Binds and listens; returns the port (the real one when asked for 0).
    public func start() throws -> Int {
        let tcp = try UV.listen(loop, host: config.host, port: config.port, context: self) { server, status in
            Server.from(server!.pointee.data).accept(status)
        }
        listener = tcp
        if let port = config.metricsPort {
            metricsEndpoint = try MetricsEndpoint(server: self, port: port)
        }
        uv_prepare_start(prepare) { h in Server.from(h!.pointee.data).beforePoll() }
        // Every second: forget idle implicit channels, and end an activity
        // interval (so a channel's `rate` is its values moved per second).
        uv_timer_start(sweepTimer, { h in
            let engine = Server.from(h!.pointee.data).engine
            engine.sweepIdleChannels(sparingActive: true)
            engine.startActivityInterval()
        }, 1000, 1000)
        // The timer alone must not keep the loop alive at shutdown.
        uv_unref(UV.handle(sweepTimer))
        for signum in [SIGINT, SIGTERM] {
            let s = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
            uv_signal_init(loop, s)
            UV.handle(s).pointee.data = Unmanaged.passUnretained(self).toOpaque()
            uv_signal_start(s, { h, signum in
                let server = Server.from(h!.pointee.data)
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
        UV.closeAndFree(deadlineTimer)
        UV.closeAndFree(sweepTimer)
    }

    private func accept(_ status: Int32) {
        guard status >= 0, let listener else {
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
            stats.connectionsRefused += 1
            Connection.refuse(tcp, server: self)
            return
        }
        let conn = Connection(server: self, handle: tcp)
        connections[ObjectIdentifier(conn)] = conn
        stats.connectionsOpen += 1
        stats.connectionsTotal += 1
        logger.debug("connection \(conn.tasklet.id) opened")
        conn.startReading()
    }

    func forget(_ conn: Connection) {
        connections[ObjectIdentifier(conn)] = nil
        stats.connectionsOpen -= 1
        logger.debug("connection \(conn.tasklet.id) closed")
    }

    /// Resumes woken tasklets in runnable order (never re-entrantly, redis's
    /// beforeSleep), writes every pending reply, and arms the deadline timer.
    private func beforePoll() {
        // Writing can make room for more commands to run, and those can
        // wake tasklets and write more: repeat until nothing is left, so the
        // loop never sleeps with work queued.
        repeat {
            while let t = engine.nextRunnable() {
                (t.context as! Connection).resume(t.takeCompletion()!)
            }
            let batch = needFlush
            needFlush.removeAll(keepingCapacity: true)
            for conn in batch { conn.flush() }
        } while !needFlush.isEmpty || engine.runnableCount > 0
        armDeadlineTimer()
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
            let server = Server.from(h!.pointee.data)
            server.armedDeadline = nil
            server.engine.expireDeadlines(now: uv_now(server.loop))
        }, next > now ? next - now : 0, 0)
    }

    /// The current loop time in milliseconds, for select deadlines.
    var now: UInt64 { uv_now(loop) }
}
