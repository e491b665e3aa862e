import ChanCore
import ChanProtocol

/// Turns parsed commands into engine calls and engine outcomes into replies.
extension Session {
    var engine: Engine { server.engine }

    func execute(_ command: Command) {
        switch command {
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
            server.listChannels(prefix: prefix ?? "", top: top, into: &output)
            // A listing walks the channel table: it takes a whole turn.
            useWholeTurn()
        case .stat(let name):
            server.stat(name, into: &output)
        case .make(let name, let capacity, let preference):
            make(name, capacity: capacity ?? 0, preference: preference ?? .receiver)
        case .close(let name):
            guard let ch = channel(name) else { return }
            engine.close(ch)
            ReplyEncoder.ok(into: &output)
        case .send(let name, let payload, let isException):
            guard let ch = channel(name) else { return }
            let outcome = engine.send(tasklet, ch, Message(payload, isException: isException))
            handle(outcome, .single(ch))
        case .receive(let name, let wait):
            guard let ch = channel(name) else { return }
            handle(engine.receive(tasklet, ch, wait: deadline(wait)), .single(ch))
        case .select(let requests, let wait):
            select(requests, wait: wait)
        case .invalid(let code, let text, let closeAfter):
            error(code, text)
            if closeAfter { endAfterReplies() }
        }
    }

    /// The named channel, created on first use; nil (and ERR LIMIT written)
    /// when the server holds its maximum number of channels.
    private func channel(_ name: String) -> Channel? {
        if let ch = engine.channel(named: name) { return ch }
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

    /// Every case's channel is resolved before anything is queued, so a
    /// SELECT refused midway (channel limit) leaves nothing behind.
    private func select(_ requests: [CaseRequest], wait: WaitLimit) {
        let names = requests.map { request in
            switch request {
            case .send(let name, _, _), .receive(let name): name
            }
        }
        guard let channels = engine.channels(named: names) else {
            return error(.limit, "too many channels (max \(server.config.maxChannels))")
        }
        let cases = zip(requests, channels).map { request, ch -> SelectCase in
            switch request {
            case .send(_, let payload, let isException): .send(ch, Message(payload, isException: isException))
            case .receive: .receive(ch)
            }
        }
        let outcome = engine.select(tasklet, cases, wait: deadline(wait))
        handle(outcome, .select(cases.map(\.channel)))
    }

    private func make(_ name: String, capacity: Int, preference: ChanProtocol.Preference) {
        let wanted = ChanCore.Preference(rawValue: preference.rawValue)!
        switch engine.make(name, capacity: capacity, preference: wanted) {
        case .made:
            ReplyEncoder.ok(into: &output)
        case .exists(let cap, let pref):
            error(.exists, "channel \(name) exists with cap=\(cap) preference=\(pref.rawValue)")
        case .limitReached:
            error(.limit, "too many channels (max \(server.config.maxChannels))")
        }
    }

    private func handle(_ outcome: Outcome, _ waiting: Waiting) {
        switch outcome {
        case .completed(let completion):
            reply(completion, waiting)
        case .yielded:
            self.waiting = waiting
        case .blocked:
            self.waiting = waiting
            blockedSince = server.clock.nanoseconds()
        }
    }

    /// Writes the reply of a completed SEND, THROW, RECV or SELECT.
    func reply(_ completion: Completion, _ waiting: Waiting) {
        let channels: [Channel]
        switch waiting {
        case .single(let ch):
            channels = [ch]
        case .select(let cases):
            channels = cases
            if case .timedOut = completion { break }
            ReplyEncoder.selected(completion.caseIndex, into: &output)
        }
        switch completion {
        case .sent:
            ReplyEncoder.ok(into: &output)
        case .received(let i, let m):
            ReplyEncoder.message(channel: channels[i].name, payload: m.payload, isException: m.isException, into: &output)
            messagesInOutput += 1
        case .sendFailedClosed(let i):
            error(.closed, "channel \(channels[i].name) is closed")
        case .receivedClosed(let i):
            ReplyEncoder.closed(channel: channels[i].name, into: &output)
        case .timedOut:
            ReplyEncoder.timeout(into: &output)
        }
    }

    /// An ERR reply. Logged at debug: bad requests are the client's
    /// business, and never with payload bytes.
    func error(_ code: ErrorCode, _ text: String) {
        server.stats.errors[code, default: 0] += 1
        server.logger.debug("connection \(tasklet.id): ERR \(code.rawValue) \(text)")
        ReplyEncoder.error(code, text, into: &output)
    }
}

extension Completion {
    var caseIndex: Int {
        switch self {
        case .sent(let i), .received(let i, _), .sendFailedClosed(let i), .receivedClosed(let i): return i
        case .timedOut: return -1
        }
    }
}
