import ChanCore
import ChanProtocol

/// One client connection's logic, without the socket: its tasklet, its
/// command parser, its replies and their flow control, and end of input
/// (rule 20). Its transport (the server's libuv connection, the fuzzer, the
/// tests) reports events; each event answers what the transport must do, and
/// the replies to write are read from `output`.
///
/// Commands run in order; while the tasklet is blocked (or waiting in the
/// runnable queue) the later ones wait in the parser, and once enough of
/// them wait the socket is no longer read.
public final class Session {
    public enum State: Equatable, Sendable {
        /// The transport reads the socket.
        case reading
        /// Not read for now: a blocked tasklet with enough later commands
        /// waiting, replies piled up past the high-water mark, or not started.
        case paused
        /// The client closed (or half-closed) its side; the commands it sent
        /// before that still run until one would block.
        case inputEnded
        /// No further command runs; close once every reply is written
        /// (QUIT, a fatal request error, end of input).
        case closingAfterFlush
        case closed
    }

    /// What the transport does after an event, in this order: `close`
    /// (nothing else then), `stopReading` or `startReading`, `flush` (write
    /// `output` before the loop sleeps, then report it with `wrote(_:)` or
    /// `flushSkipped()`).
    ///
    /// The transport tests these after every event: they are inlinable
    /// constants, not globals behind an accessor call each.
    public struct Actions: OptionSet, Sendable {
        public let rawValue: UInt8
        @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
        @inlinable public static var startReading: Actions { Actions(rawValue: 1 << 0) }
        @inlinable public static var stopReading: Actions { Actions(rawValue: 1 << 1) }
        @inlinable public static var flush: Actions { Actions(rawValue: 1 << 2) }
        @inlinable public static var close: Actions { Actions(rawValue: 1 << 3) }
        /// The session used its turn with requests left: call `nextTurn()`
        /// on the loop's next iteration, after other connections had theirs
        /// (and without letting the loop sleep meanwhile).
        @inlinable public static var continueNextTurn: Actions { Actions(rawValue: 1 << 4) }
        /// An AUTH waits for its secret to be checked: take it with
        /// `takeAuthentication()`, check it off the loop, report with
        /// `authenticated(_:)`. Later commands wait meanwhile.
        @inlinable public static var authenticate: Actions { Actions(rawValue: 1 << 5) }
    }

    /// Strong, though the server outlives every session: read through an
    /// unowned(unsafe) reference, every field used (the engine, the clock,
    /// the counters) was retained and released around its use. No cycle:
    /// the state refers to no session.
    let server: ServerState
    public let tasklet: Tasklet
    var parser: CommandParser
    public private(set) var state = State.paused

    /// How the completion of the blocked (or yielded) command is answered.
    enum Waiting {
        case single(Channel)
        case select([Channel])
    }
    var waiting: Waiting?
    /// Reused by every SELECT (see `select(_:wait:hold:)`).
    var selectStorage = SelectStorage()
    /// The channel of the last single SEND, THROW, RECV or CLOSE, tried
    /// first by the next (see `ChannelTable.channel(named:last:)`).
    var lastChannel: Channel?
    /// The waiting command was a receive with ACK: a value it gets is held (rule 22).
    var waitingHolds = false
    /// Requests read past a blocked one while looking for `ACK`/`NACK`, which
    /// are acted on at once; the others run in order once the tasklet does.
    var readAhead = ReadAhead()
    /// A CHANNELS listing under way, walked through the table a bounded step per turn.
    var listing: Listing? {
        didSet { listingUnderWay = listing != nil }
    }
    /// `listing != nil`, tested per request without copying the listing.
    private var listingUnderWay = false
    /// When the waiting command blocked (clock ns), for the blocked-time histogram.
    var blockedSince: UInt64 = 0
    /// Who authenticated on this connection (with a users file).
    var login = Login()

    /// Replies not yet handed to the socket.
    public internal(set) var output: [UInt8] = []
    /// MSG/EXC replies in `output`: lost with the connection if it dies now.
    var messagesInOutput = 0
    /// The one write the socket has not finished (a write starts only when
    /// none is in flight, so replies keep their order).
    private var bytesInFlight = 0
    private var messagesInFlight = 0
    /// `output` holds a reply promising durability (a SEND's OK into a
    /// durable channel, ...): nothing is written before the store's
    /// `durableTicket` reaches this, so replies keep their order.
    var durableWait: UInt64 = 0
    /// Durable values in `output` handed over without ACK: they leave the
    /// store once it is written.
    var durableInOutput: [DurableDelivery] = []
    /// A `flush` was asked for and not yet reported.
    private var flushRequested = false
    /// Actions decided while commands ran (QUIT stops reading), returned with the event's.
    private var pending: Actions = []
    /// Requests run in this turn; at `commandsPerTurn` the session yields to
    /// the other connections until `nextTurn()`.
    private var turnUsed = 0
    private(set) var turnYielded = false

    /// `context` is what the engine hands back with a woken tasklet (the transport's connection).
    public init(server: ServerState, context: AnyObject?) {
        self.server = server
        tasklet = server.engine.makeTasklet()
        parser = CommandParser(limits: server.config.limits, payloads: server.engine.payloads)
        tasklet.context = context
    }

    public var id: Int { tasklet.id }
    public var isClosed: Bool { state == .closed }
    /// Whether `output` may be handed to the socket now.
    public var canWrite: Bool { !output.isEmpty && bytesInFlight == 0 && !awaitsDurability }
    /// `output` waits for the store (`DurableReplies.durableTicket`); ask again when it advances.
    public var awaitsDurability: Bool { durableWait != 0 && durableWait > server.durable!.durableTicket }
    private var pendingOutput: Int { output.count + bytesInFlight }
    private var outputFull: Bool { pendingOutput >= server.config.outputHighWater }

    // MARK: Events

    /// The connection is accepted: read it.
    public func start() -> Actions {
        progress()
    }

    /// The secret of the AUTH waiting since `.authenticate` was checked:
    /// `user` is who it authenticates, nil when refused.
    public func authenticated(_ user: (any SessionUser)?) -> Actions {
        guard let check = login.checking else { return [] }
        login.checking = nil
        guard state != .closed else { return [] }
        concludeAuthentication(check.name, user)
        return progress()
    }

    /// The connection is accepted only to be refused (protected mode): one
    /// error reply, then close.
    public func refuse(_ code: ErrorCode, _ text: String) -> Actions {
        error(code, text)
        endAfterReplies()
        return progress()
    }

    /// Bytes arrived from the client.
    public func received(_ bytes: UnsafeRawBufferPointer) -> Actions {
        parser.append(bytes)
        return progress()
    }

    /// The client closed or half-closed its side, or it vanished (rule 20).
    /// While paused, that is the transport's look at a socket it does not
    /// read: it ends the input of a blocked request's connection at once
    /// (the blocked request is withdrawn, as it would be once the rest was
    /// read). Any other paused connection waits for its replies to drain;
    /// its remaining requests are then read and run, and end of input
    /// arrives after them.
    public func inputEnded() -> Actions {
        switch state {
        case .reading:
            state = .inputEnded
            pending.insert(.stopReading)
        case .paused:
            state = .inputEnded
        case .inputEnded, .closingAfterFlush, .closed:
            return []
        }
        return progress()
    }

    /// The peer closed its side while its socket was not read (the transport
    /// polls paused sockets). With a request blocked this is its end of
    /// input: rule 20 withdraws that request, and nothing after it would run.
    /// Otherwise (paused for output room) the requests still unread come
    /// first, so the end of input is left to be read in order.
    public func peerClosedWhilePaused() -> Actions {
        guard state == .paused && tasklet.state == .blocked else { return [] }
        return inputEnded()
    }

    /// The engine woke the tasklet with `completion` (the loop's runnable
    /// drain): answer the waiting command, then carry on.
    /// Consuming: a delivered value's payload is then its storage's last
    /// reference once written, and goes back to the engine's pool.
    public func resume(_ completion: consuming Completion) -> Actions {
        if blockedSince != 0 {
            switch completion {
            case .sent, .received:
                server.blockedSeconds.observe(Double(server.clock.nanoseconds() - blockedSince) / 1e9)
            default:
                break
            }
            blockedSince = 0
        }
        if let waiting {
            self.waiting = nil
            reply(consume completion, waiting, holds: waitingHolds)
            waitingHolds = false
        }
        return progress()
    }

    /// The transport handed the first `count` bytes of `output` to the
    /// socket, and the rest (if any) to one write request that owns a copy.
    public func wrote(_ count: Int) -> Actions {
        flushRequested = false
        let wasFull = outputFull
        if count < output.count {
            bytesInFlight = output.count - count
            messagesInFlight = messagesInOutput
        }
        messagesInOutput = 0
        durableWait = 0
        if !durableInOutput.isEmpty { handDurableValues() }
        // Keep a small buffer for the next replies; free a big one (idle connections stay small).
        if output.capacity <= 4096 {
            output.removeAll(keepingCapacity: true)
        } else {
            output = []
        }
        if let done = closeIfFlushed() { return done }
        // The socket took it all at once, so no write completion will come
        // to say there is room again: carry on from here.
        return wasFull && !outputFull ? progress() : []
    }

    /// A flush found nothing it could write (empty, or a write in flight).
    public func flushSkipped() -> Actions {
        flushRequested = false
        return closeIfFlushed() ?? []
    }

    /// The loop's next iteration: run on where the last turn stopped.
    public func nextTurn() -> Actions {
        turnYielded = false
        turnUsed = 0
        guard state != .closed else { return [] }
        return progress()
    }

    /// The write request finished: room again for the commands that waited for it.
    public func writeCompleted() -> Actions {
        bytesInFlight = 0
        messagesInFlight = 0
        guard state != .closed else { return [] }
        return progress()
    }

    /// Closes now (a reset or failed socket, a server stop, or the transport
    /// performing `close`): the tasklet is cancelled (every chanop
    /// withdrawn), and values matched to it but not yet written count as lost.
    public func close() {
        guard state != .closed else { return }
        state = .closed
        // Held values go back to their channels (rule 23); only a value this
        // connection was about to be told of without holding it is lost.
        if case .received? = server.engine.cancel(tasklet), !waitingHolds { server.stats.valuesLost += 1 }
        server.stats.valuesLost += messagesInOutput + messagesInFlight
        if let durable = server.durable {
            if let d = durable.takeDelivery(by: tasklet) { durableInOutput.append(d) }
            if !durableInOutput.isEmpty { handDurableValues() }
        }
        messagesInOutput = 0
        messagesInFlight = 0
    }

    private func handDurableValues() {
        server.durable!.delivered(durableInOutput)
        durableInOutput.removeAll(keepingCapacity: true)
    }

    // MARK: Running commands

    /// The one re-drive after any event: run what can run, apply rule 20,
    /// and say whether to flush and whether to read.
    private func progress() -> Actions {
        if tasklet.state == .running { runCommands() }
        if tasklet.state != .running && tasklet.heldCount > 0 { settleAhead() }
        endInputIfDue()
        var actions = pending
        pending = []
        if turnYielded { actions.insert(.continueNextTurn) }
        if login.checkRequested {
            login.checkRequested = false
            actions.insert(.authenticate)
        }
        if !flushRequested && (!output.isEmpty || state == .closingAfterFlush) {
            flushRequested = true
            actions.insert(.flush)
        }
        switch state {
        case .reading where !wantsInput:
            state = .paused
            actions.insert(.stopReading)
        case .paused where wantsInput:
            state = .reading
            actions.insert(.startReading)
        default:
            break
        }
        return actions
    }

    /// Reads while commands can run and replies are draining; a blocked
    /// tasklet's connection is read only until `inputHighWater` bytes wait.
    private var wantsInput: Bool {
        !outputFull && (tasklet.state == .running && !turnYielded && !login.isChecking
            || parser.bufferedByteCount + readAhead.byteCount < server.config.inputHighWater)
    }

    /// Rule 22's consumer: while the tasklet waits, the requests behind the
    /// waiting one are read ahead (up to the input mark) for `ACK`/`NACK` of
    /// values this connection holds, which take effect at once. Anything
    /// else, an unknown tag included (its `ERR NOTHELD` must come in order),
    /// waits its turn.
    private func settleAhead() {
        guard runsCommands else { return }
        while readAhead.byteCount < server.config.inputHighWater {
            let before = parser.bufferedByteCount
            guard let command = parser.next() else { return }
            switch command {
            case .acknowledge(let tag) where server.engine.acknowledge(tasklet, tag: tag):
                server.stats.commands += 1
            case .giveBack(let tag) where server.engine.giveBack(tasklet, tag: tag):
                server.stats.commands += 1
            default:
                readAhead.append(command, bytes: before - parser.bufferedByteCount)
            }
        }
    }

    private var runsCommands: Bool { state == .reading || state == .paused || state == .inputEnded }

    /// Runs buffered commands until one blocks or yields, the replies pile
    /// up, the input holds no complete command, or the turn is used up.
    private func runCommands() {
        guard !turnYielded else { return }
        while tasklet.state == .running && runsCommands && !outputFull && !login.isChecking {
            // A step of a listing is a whole turn: the others run before the next one.
            if listingUnderWay, let listing {
                let done = continueListing(listing)
                if !done || parser.bufferedByteCount > 0 || !readAhead.isEmpty {
                    turnYielded = true
                    return
                }
                continue
            }
            if turnUsed == server.config.commandsPerTurn && (parser.bufferedByteCount > 0 || !readAhead.isEmpty) {
                turnYielded = true
                return
            }
            guard let command = readAhead.isEmpty ? parser.next() : readAhead.popFirst() else { break }
            turnUsed += 1
            server.stats.commands += 1
            execute(command)
        }
        // Nothing left to run at once: the next request starts a new turn.
        turnUsed = 0
    }

    /// Rule 20: at end of input the commands already received run until one
    /// would block; that one is withdrawn, and the connection closes once its
    /// replies are written.
    private func endInputIfDue() {
        guard state == .inputEnded else { return }
        switch tasklet.state {
        case .blocked:
            server.engine.cancel(tasklet)
            state = .closingAfterFlush
        case .running where !outputFull && !turnYielded && !login.isChecking:
            state = .closingAfterFlush
        default:
            break  // yielded or waiting for output room: runs again later
        }
    }

    /// QUIT or a fatal request error: no further command runs; the
    /// connection closes once its replies are written.
    func endAfterReplies() {
        if state == .reading { pending.insert(.stopReading) }
        if state != .closed { state = .closingAfterFlush }
    }

    private func closeIfFlushed() -> Actions? {
        guard state == .closingAfterFlush && bytesInFlight == 0 && output.isEmpty else { return nil }
        close()
        return .close
    }
}
