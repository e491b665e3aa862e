import ChanCore
import ChanProtocol

/// Turns parsed commands into engine calls and engine outcomes into replies.
extension Session {
    var engine: Engine { server.engine }

    /// Consuming: a SELECT's case array goes back to the parser afterwards,
    /// and is reused only if nothing else holds it.
    func execute(_ command: consuming Command) {
        if server.requiresLogin && !mayRun(command) { return }
        switch consume command {
        case .ping:
            ReplyEncoder.pong(into: &output)
        case .quit:
            ReplyEncoder.bye(into: &output)
            endAfterReplies()
        case .hello:
            ReplyEncoder.line(server.helloLine(), into: &output)
        case .info:
            ReplyEncoder.line(server.infoLine(), into: &output)
        case .channels(let prefix, let top):
            listing = Listing(prefix: prefix ?? "", top: top)
        case .stat(let name):
            server.stat(name, into: &output)
        case .make(let name, let capacity, let preference, let durable):
            make(name, capacity: capacity ?? 0, preference: preference ?? .receiver, durable: durable)
        case .close(let name):
            guard let ch = channel(name) else { return }
            engine.close(ch)
            okDurable(ch.isDurable)
        case .open(let name):
            let ch = engine.existingChannel(named: name)
            if let ch { engine.open(ch) }
            okDurable(ch?.isDurable == true)
        case .delete(let name):
            let durable = engine.existingChannel(named: name)?.isDurable == true
            engine.delete(named: name)
            okDurable(durable)
        case .send(let name, let payload, let isException):
            guard let ch = channel(name) else { return }
            let outcome = engine.send(tasklet, ch, Message(payload, isException: isException))
            handle(outcome, .single(ch), holds: false)
        case .receive(let name, let wait, let hold):
            guard !hold || mayHoldAnother(), let ch = channel(name) else { return }
            handle(engine.receive(tasklet, ch, wait: deadline(wait), hold: hold), .single(ch), holds: hold)
        case .select(let requests, let wait, let hold):
            if !hold || mayHoldAnother() { select(requests, wait: wait, hold: hold) }
            parser.recycle(requests)
        case .acknowledge(let tag):
            if !engine.acknowledge(tasklet, tag: tag) { notHeld(tag) }
        case .giveBack(let tag):
            if !engine.giveBack(tasklet, tag: tag) { notHeld(tag) }
        case .auth(let user, let secret):
            authenticate(user, secret)
        case .invalid(let code, let text, let closeAfter):
            error(code, text)
            if closeAfter { endAfterReplies() }
        }
    }

    /// The named channel, created on first use; nil (and ERR LIMIT written)
    /// when the server holds its maximum number of channels.
    private func channel(_ name: String) -> Channel? {
        if let ch = engine.table.channel(named: name, last: &lastChannel) { return ch }
        error(.limit, "too many channels (max \(server.config.maxChannels))")
        return nil
    }

    private func deadline(_ wait: WaitLimit) -> Wait {
        switch wait {
        case .forever: return .forever
        case .nowait: return .nowait
        case .milliseconds(let ms):
            return .deadline(server.clock.currentMilliseconds() + UInt64(ms))
        }
    }

    /// Rule 22's bound: a connection holds at most `maxHeld` values; a
    /// receive with ACK past it is refused (ERR LIMIT written).
    private func mayHoldAnother() -> Bool {
        guard tasklet.heldCount >= server.config.maxHeld else { return true }
        error(.limit, "\(tasklet.heldCount) values held, max_held \(server.config.maxHeld): ACK or NACK some first")
        return false
    }

    /// An ACK or NACK of a tag this connection does not hold: the replies
    /// around it could no longer be matched up, so the connection ends.
    private func notHeld(_ tag: Int) {
        error(.notHeld, "\(tag)")
        endAfterReplies()
    }

    /// Every case's channel is resolved before anything is queued, so a
    /// SELECT refused midway (channel limit) leaves nothing behind. The
    /// arrays are the session's `selectStorage`, reused by every SELECT.
    private func select(_ requests: [CaseRequest], wait: WaitLimit, hold: Bool) {
        let found = engine.table.channels(count: requests.count, named: { i in
            switch requests[i] {
            case .send(let name, _, _), .receive(let name): name
            }
        }, into: &selectStorage.channels)
        guard found else { return error(.limit, "too many channels (max \(server.config.maxChannels))") }
        for (request, ch) in zip(requests, selectStorage.channels) {
            switch request {
            case .send(_, let payload, let isException):
                selectStorage.cases.append(.send(ch, Message(payload, isException: isException)))
            case .receive:
                selectStorage.cases.append(.receive(ch))
            }
        }
        let outcome = engine.select(tasklet, selectStorage.cases, wait: deadline(wait), hold: hold)
        selectStorage.cases.removeAll(keepingCapacity: true)  // the messages are the engine's now
        handle(outcome, .select(selectStorage.channels), holds: hold)
        if selectStorage.channels.count > SelectStorage.keptChannels { selectStorage.channels = [] }
    }

    private func make(_ name: String, capacity: Int, preference: Preference, durable: Bool) {
        if durable && server.durable == nil {
            return error(.noStore, "MAKE \(name) DURABLE needs a data directory (chand --data-dir)")
        }
        switch engine.make(name, capacity: capacity, preference: preference, durable: durable) {
        case .made:
            okDurable(durable)
        case .exists(let cap, let pref):
            error(.exists, "channel \(name) exists with cap=\(cap) preference=\(pref.rawValue)")
        case .limitReached:
            error(.limit, "too many channels (max \(server.config.maxChannels))")
        case .closed:
            error(.closed, "channel \(name) is closed: OPEN it, or DELETE it first")
        }
    }

    private func handle(_ outcome: consuming Outcome, _ waiting: Waiting, holds: Bool) {
        switch consume outcome {
        case .completed(let completion):
            reply(consume completion, waiting, holds: holds)
        case .yielded:
            self.waiting = waiting
            waitingHolds = holds
        case .blocked:
            self.waiting = waiting
            waitingHolds = holds
            blockedSince = server.clock.nanoseconds()
        }
    }

    /// Writes the reply of a completed SEND, THROW, RECV or SELECT; `holds`:
    /// it was asked with ACK, so a value it received carries its tag.
    /// A value received without ACK is written, then its payload's storage
    /// goes back to the engine's pool for the next SEND's payload.
    func reply(_ completion: consuming Completion, _ waiting: Waiting, holds: Bool) {
        if case .select = waiting, completion != .timedOut {
            ReplyEncoder.selected(completion.caseIndex, into: &output)
        }
        // The channel of case i (a single SEND or RECV has one case), without an array per reply.
        func channel(_ i: Int) -> Channel {
            switch waiting {
            case .single(let ch): ch
            case .select(let cases): cases[i]
            }
        }
        switch consume completion {
        case .sent(let i):
            okDurable(channel(i).isDurable)
        case .received(let i, let m) where holds:
            // Held: not lost if the connection dies, it comes back (rule 23).
            ReplyEncoder.message(channel: channel(i).name, payload: m.payload, isException: m.isException,
                                 tag: tasklet.lastHeldTag, into: &output)
        case .received(let i, var m):
            if channel(i).isDurable, let d = server.durable!.takeDelivery(by: tasklet) { durableInOutput.append(d) }
            ReplyEncoder.message(channel: channel(i).name, payload: m.payload, isException: m.isException, into: &output)
            messagesInOutput += 1
            engine.payloads.giveBack(&m.payload)
        case .sendFailedClosed(let i):
            error(.closed, "channel \(channel(i).name) is closed")
        case .receivedClosed(let i):
            ReplyEncoder.closed(channel: channel(i).name, into: &output)
        case .timedOut:
            ReplyEncoder.timeout(into: &output)
        }
    }

    /// `OK`; when it reports a change to a durable channel, written only once
    /// the store has made the change durable.
    private func okDurable(_ durable: Bool) {
        if durable { durableWait = max(durableWait, server.durable!.loggedTicket) }
        ReplyEncoder.ok(into: &output)
    }

    /// An ERR reply. Logged at debug: bad requests are the client's
    /// business, and never with payload bytes.
    func error(_ code: ErrorCode, _ text: String) {
        server.stats.errors[code, default: 0] += 1
        server.logger.debug("connection \(tasklet.id): ERR \(code.rawValue) \(text)")
        ReplyEncoder.error(code, text, into: &output)
    }
}

/// The arrays a session's SELECTs are built in, reused so that a SELECT
/// allocates none: its channels and the engine's cases. The channels are
/// what `Waiting.select` refers to while it waits (the next SELECT runs only
/// after that one is answered), and they are kept after it: a SELECT of the
/// same names finds them there without looking them up
/// (`ChannelTable.channels(count:named:into:)`).
struct SelectStorage {
    var channels: [Channel] = []
    var cases: [SelectCase] = []
    /// More channels than this are not kept past their SELECT: a forgotten
    /// channel held here outlives the table's limit on channels.
    static let keptChannels = 16
}

extension Completion {
    var caseIndex: Int {
        switch self {
        case .sent(let i), .received(let i, _), .sendFailedClosed(let i), .receivedClosed(let i): return i
        case .timedOut: return -1
        }
    }
}
