// libFuzzer entry point for chand's request handling: the protocol parser
// (ChanProtocol) and the channel engine (ChanCore), driven the way the
// daemon drives them, without sockets. Built by Tests/Fuzz/build.sh with
// `swiftc -sanitize=fuzzer,address`; see README, "Reliability".
//
// An input is one byte of settings, then a byte stream. Bytes below 0xFC are
// request bytes for the current simulated connection; the others are events:
//
//   0xFF x   switch to connection x % connections (the bytes so far are
//            handed to the current one first, as one read)
//   0xFE x   the clock moves x * 8 ms on; due select deadlines expire; an odd x runs the timer's sweep and ends an activity interval
//   0xFD     the current connection resets (its tasklet is cancelled, as a
//            dropped socket) and a fresh one takes its place
//   0xFC     end of input on the current connection (rule 20), then a fresh
//            connection; idle implicit channels are swept
//
// Settings byte: low 4 bits + 1 = chunk size for the split check, next 2 bits
// + 1 = number of connections.
//
// Checked on every input (a failed check traps, which libFuzzer reports):
// - the parser gives the same commands whole and in chunks, every command
//   obeys the limits, and a parser never holds more than one line, one
//   payload and one SELECT's worth of cases;
// - after every event the engine keeps semantics.md's invariants: rule 7
//   (buffer non-empty => no receiver waits; buffer not full => no sender
//   waits), a channel never holds waiting senders and receivers of two
//   different tasklets (a missed rendezvous), blocked tasklets have all their
//   chanops queued and running ones none, counters agree with the tasklets;
// - values are conserved: every value a sender was told was sent (or would
//   have been, for a cancelled one) is received (or lost with a cancelled
//   receiver) or still buffered, in count and in bytes;
// - once every connection is gone, no channel keeps a waiter and the sweep
//   leaves only made, closed or non-empty channels.

@testable import ChanCore
@testable import ChanProtocol

let limits = ProtocolLimits(maxLine: 64, maxPayload: 32, maxSelectCases: 6, maxCapacity: 4)
let maxChannels = 12

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("check failed: \(message())") }
}

// MARK: The parser on its own

func isName(_ name: String) -> Bool {
    (1...255).contains(name.utf8.count) && name.utf8.allSatisfy { (0x21...0x7E).contains($0) }
}

func isWait(_ wait: WaitLimit) -> Bool {
    if case .milliseconds(let ms) = wait { return (1...Int(Int32.max)).contains(ms) }
    return true
}

/// Every command obeys the limits; a closing error is the last command.
func checkCommands(_ commands: [Command]) {
    for (index, command) in commands.enumerated() {
        switch command {
        case .ping, .quit, .info, .hello:
            break
        case .channels(let prefix, let top):
            check(prefix.map(isName) ?? true, "bad name in \(command)")
            check((top ?? 0) <= ProtocolLimits.maxListedChannels, "TOP above the limit in \(command)")
        case .close(let name), .stat(let name):
            check(isName(name), "bad name in \(command)")
        case .send(let channel, let payload, _):
            check(isName(channel) && payload.count <= max(limits.maxPayload, limits.maxLine), "bad \(command)")
        case .receive(let channel, let wait):
            check(isName(channel) && isWait(wait), "bad \(command)")
        case .make(let channel, let capacity, _):
            check(isName(channel) && (capacity ?? 0) <= limits.maxCapacity, "bad \(command)")
        case .select(let cases, let wait):
            check((1...limits.maxSelectCases).contains(cases.count) && isWait(wait), "bad \(command)")
            var total = 0
            for c in cases {
                switch c {
                case .receive(let channel):
                    check(isName(channel), "bad case in \(command)")
                case .send(let channel, let payload, _):
                    check(isName(channel), "bad case in \(command)")
                    total += payload.count
                }
            }
            check(total <= limits.maxPayload, "SELECT payloads together above max_payload: \(command)")
        case .invalid(_, let text, let closeAfter):
            check(!text.isEmpty, "error without text")
            check(!closeAfter || index == commands.count - 1, "commands after a closing error")
        }
    }
}

/// What one parser may hold once drained: an unfinished line or payload, and
/// one SELECT's cases.
func checkParserBounds(_ parser: CommandParser) {
    check(parser.bufferedByteCount <= limits.maxLine + limits.maxPayload + 2,
          "parser holds \(parser.bufferedByteCount) bytes")
    if let select = parser.select {
        check(select.cases.count <= limits.maxSelectCases, "open SELECT holds \(select.cases.count) cases")
        var total = 0
        for case .send(_, let payload, _) in select.cases { total += payload.count }
        check(total <= limits.maxPayload, "open SELECT holds \(total) payload bytes")
    }
}

func parseAll(_ input: ArraySlice<UInt8>, chunk: Int) -> [Command] {
    var parser = CommandParser(limits: limits)
    var commands: [Command] = []
    var offset = input.startIndex
    while offset < input.endIndex {
        let end = min(offset + chunk, input.endIndex)
        parser.append(contentsOf: input[offset..<end])
        offset = end
        while let command = parser.next() { commands.append(command) }
        checkParserBounds(parser)
    }
    return commands
}

// MARK: The engine, driven as the server drives it

/// Values told sent and values received, in count and bytes.
struct Ledger {
    var sent = 0, sentBytes = 0, received = 0, receivedBytes = 0
}

final class Simulation {
    let engine = Engine(random: Xoshiro256(seed: 1), maxChannels: maxChannels)
    var now: UInt64 = 1000
    var ledger = Ledger()
    var connections: [Connection] = []

    init(count: Int) {
        connections = (0..<count).map { _ in Connection(self) }
    }

    /// Resumes woken tasklets in order, as the server's prepare callback does.
    func drain() {
        while let t = engine.nextRunnable() {
            (t.context as! Connection).resume(t.takeCompletion()!)
        }
    }

    func replace(_ index: Int) {
        connections[index].disconnect()
        connections[index] = Connection(self)
    }

    /// Counts a completion the tasklet will never see (it was cancelled).
    func account(lost completion: Completion?, _ sizes: [Int]) {
        switch completion {
        case .sent(let i)?:
            ledger.sent += 1
            ledger.sentBytes += sizes[i]
        case .received(_, let m)?:
            ledger.received += 1
            ledger.receivedBytes += m.payload.count
        default:
            break
        }
    }

    func checkInvariants() {
        var buffered = 0, bufferedBytes = 0, queued = 0
        let channels = engine.channels().first
        check(channels.count <= maxChannels, "\(channels.count) channels")
        for ch in channels {
            check(ch.count <= ch.capacity || ch.capacity == 0 && ch.count == 0, "\(ch.name): \(ch.count) buffered, cap \(ch.capacity)")
            check(ch.count == 0 || ch.waitingReceivers == 0, "\(ch.name): values buffered while receivers wait")
            check(ch.count >= ch.capacity || ch.waitingSenders == 0, "\(ch.name): buffer has room while senders wait")
            if ch.state == .closed {
                check(ch.count == 0 && ch.waitingSenders == 0, "\(ch.name): closed but not drained")
            }
            var owners: [ObjectIdentifier] = []
            ch.sendq.forEach { op in
                check(op.tasklet.state == .blocked && op.channel?.takeUnretainedValue() === ch, "\(ch.name): stale chanop in sendq")
                owners.append(ObjectIdentifier(op.tasklet))
            }
            var receivers: [ObjectIdentifier] = []
            ch.recvq.forEach { op in
                check(op.tasklet.state == .blocked && op.channel?.takeUnretainedValue() === ch, "\(ch.name): stale chanop in recvq")
                receivers.append(ObjectIdentifier(op.tasklet))
            }
            if !owners.isEmpty && !receivers.isEmpty {
                check(Set(owners + receivers).count == 1, "\(ch.name): a sender and a receiver of different tasklets both wait")
            }
            check(ch.sendq.count == owners.count && ch.recvq.count == receivers.count, "\(ch.name): queue counts")
            queued += owners.count + receivers.count
            buffered += ch.count
            bufferedBytes += ch.bufferedMessages.reduce(0) { $0 + $1.payload.count }
        }
        var blocked = 0, chanops = 0
        for conn in connections {
            let t = conn.tasklet
            switch t.state {
            case .blocked:
                blocked += 1
                check(t.opCount > 0 && t.waitingOn.count == t.opCount, "blocked tasklet with unqueued chanops")
                chanops += t.opCount
            case .running, .runnable:
                check(t.opCount == 0, "a \(t.state) tasklet holds chanops")
            case .dead:
                break
            }
        }
        check(engine.blockedCount == blocked, "blockedCount \(engine.blockedCount), blocked tasklets \(blocked)")
        check(queued == chanops, "\(queued) chanops in channels, \(chanops) held by blocked tasklets")
        check(ledger.sent == ledger.received + buffered,
              "sent \(ledger.sent) != received \(ledger.received) + buffered \(buffered)")
        check(ledger.sentBytes == ledger.receivedBytes + bufferedBytes,
              "sent \(ledger.sentBytes) bytes != received \(ledger.receivedBytes) + buffered \(bufferedBytes)")
    }

    /// Every connection goes away: nothing may stay queued anywhere.
    func finish() {
        for i in connections.indices { connections[i].disconnect() }
        drain()
        checkInvariants()
        for ch in engine.channels().first {
            check(ch.waitingSenders == 0 && ch.waitingReceivers == 0, "\(ch.name) keeps waiters of dead tasklets")
        }
        check(engine.blockedCount == 0 && engine.nextDeadline == nil, "blocked or deadlines left")
        engine.sweepIdleChannels()
        for ch in engine.channels().first {
            check(ch.isPersistent || ch.state != .open || ch.count > 0, "\(ch.name) idle after the sweep")
        }
    }
}

/// One simulated client, mirroring ChanServer's Connection and CommandExecution.
final class Connection {
    unowned let sim: Simulation
    let tasklet: Tasklet
    var parser = CommandParser(limits: limits)
    var waiting: [Channel]?
    var isSelect = false
    /// Payload size of each case of the waiting command (0 for RECV).
    var caseSizes: [Int] = []
    var output: [UInt8] = []
    var inputEnded = false
    var done = false

    init(_ sim: Simulation) {
        self.sim = sim
        tasklet = sim.engine.makeTasklet()
        tasklet.context = self
    }

    var engine: Engine { sim.engine }

    func read(_ bytes: ArraySlice<UInt8>) {
        guard !done else { return }
        parser.append(contentsOf: bytes)
        if tasklet.state == .running { runCommands() } else { afterCommands() }
    }

    func endInput() {
        inputEnded = true
        if tasklet.state == .running { runCommands() } else { afterCommands() }
    }

    func runCommands() {
        while tasklet.state == .running && !done, let command = parser.next() {
            execute(command)
            if output.count > 4096 { output.removeAll(keepingCapacity: true) }
        }
        if tasklet.state == .running && !done { checkParserBounds(parser) }
        afterCommands()
    }

    func afterCommands() {
        guard inputEnded && !done else { return }
        switch tasklet.state {
        case .blocked:
            disconnect()
        case .running:
            done = true
        default:
            break
        }
    }

    func resume(_ completion: Completion) {
        if let waiting {
            self.waiting = nil
            reply(completion, waiting)
        }
        runCommands()
    }

    func disconnect() {
        sim.account(lost: engine.cancel(tasklet), caseSizes)
        done = true
    }

    func channel(_ name: String) -> Channel? {
        if let ch = engine.channel(named: name) { return ch }
        ReplyEncoder.error(.limit, "too many channels", into: &output)
        return nil
    }

    func deadline(_ wait: WaitLimit) -> Wait {
        switch wait {
        case .forever: return .forever
        case .nowait: return .nowait
        case .milliseconds(let ms): return .deadline(sim.now + UInt64(ms))
        }
    }

    func execute(_ command: Command) {
        switch command {
        case .ping:
            ReplyEncoder.pong(into: &output)
        case .quit:
            ReplyEncoder.bye(into: &output)
            done = true
        case .hello, .info:
            ReplyEncoder.line("INFO channels=\(engine.channelCount) blocked=\(engine.blockedCount)", into: &output)
        case .channels(let prefix, let top):
            let listed = top.map { engine.busiestChannels(withPrefix: prefix ?? "", limit: $0) }
                ?? engine.channels(withPrefix: prefix ?? "", limit: ProtocolLimits.maxListedChannels)
            check(listed.first.count <= min(listed.matching, top ?? .max), "CHANNELS listed more than it matched")
            for ch in listed.first { stat(ch) }
        case .stat(let name):
            if let ch = engine.existingChannel(named: name) { stat(ch) }
        case .make(let name, let capacity, let preference):
            let wanted = ChanCore.Preference(rawValue: (preference ?? .receiver).rawValue)!
            switch engine.make(name, capacity: capacity ?? 0, preference: wanted) {
            case .made: ReplyEncoder.ok(into: &output)
            case .exists: ReplyEncoder.error(.exists, "exists", into: &output)
            case .limitReached: ReplyEncoder.error(.limit, "too many channels", into: &output)
            }
        case .close(let name):
            guard let ch = channel(name) else { return }
            engine.close(ch)
            ReplyEncoder.ok(into: &output)
        case .send(let name, let payload, let isException):
            guard let ch = channel(name) else { return }
            caseSizes = [payload.count]
            handle(engine.send(tasklet, ch, Message(payload, isException: isException)), [ch], select: false)
        case .receive(let name, let wait):
            guard let ch = channel(name) else { return }
            caseSizes = [0]
            handle(engine.receive(tasklet, ch, wait: deadline(wait)), [ch], select: false)
        case .select(let requests, let wait):
            let names = requests.map { request in
                switch request {
                case .send(let name, _, _), .receive(let name): name
                }
            }
            guard let channels = engine.channels(named: names) else {
                return ReplyEncoder.error(.limit, "too many channels", into: &output)
            }
            var cases: [SelectCase] = []
            var sizes: [Int] = []
            for (request, ch) in zip(requests, channels) {
                switch request {
                case .send(_, let payload, let isException):
                    cases.append(.send(ch, Message(payload, isException: isException)))
                    sizes.append(payload.count)
                case .receive:
                    cases.append(.receive(ch))
                    sizes.append(0)
                }
            }
            caseSizes = sizes
            handle(engine.select(tasklet, cases, wait: deadline(wait)), cases.map(\.channel), select: true)
        case .invalid(let code, let text, let closeAfter):
            ReplyEncoder.error(code, text, into: &output)
            if closeAfter { done = true }
        }
    }

    func stat(_ ch: Channel) {
        ReplyEncoder.stat(channel: ch.name, fields: [("len", "\(ch.count)"), ("balance", "\(ch.balance)")], into: &output)
    }

    func handle(_ outcome: Outcome, _ channels: [Channel], select: Bool) {
        isSelect = select
        switch outcome {
        case .completed(let completion):
            reply(completion, channels)
        case .yielded, .blocked:
            waiting = channels
        }
    }

    func reply(_ completion: Completion, _ channels: [Channel]) {
        if isSelect, completion != .timedOut {
            check(completion.caseIndex < channels.count, "case index out of range")
            ReplyEncoder.selected(completion.caseIndex, into: &output)
        }
        switch completion {
        case .sent(let i):
            sim.ledger.sent += 1
            sim.ledger.sentBytes += caseSizes[i]
            ReplyEncoder.ok(into: &output)
        case .received(let i, let m):
            sim.ledger.received += 1
            sim.ledger.receivedBytes += m.payload.count
            check(caseSizes[i] == 0, "a SEND case completed as received")
            ReplyEncoder.message(channel: channels[i].name, payload: m.payload, isException: m.isException, into: &output)
        case .sendFailedClosed(let i):
            check(channels[i].state != .open, "send failed on an open channel")
            ReplyEncoder.error(.closed, "closed", into: &output)
        case .receivedClosed(let i):
            check(channels[i].state == .closed, "CLOSED from a channel that is \(channels[i].state)")
            ReplyEncoder.closed(channel: channels[i].name, into: &output)
        case .timedOut:
            ReplyEncoder.timeout(into: &output)
        }
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

// MARK: Entry point

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let settings = input[0]
    let stream = input[1...]

    // The parser alone: whole and in chunks, the same commands.
    let whole = parseAll(stream, chunk: max(stream.count, 1))
    checkCommands(whole)
    let chunked = parseAll(stream, chunk: Int(settings & 0x0F) + 1)
    check(chunked == whole, "chunked parse differs from whole parse")

    // The engine, driven by several connections.
    let sim = Simulation(count: Int((settings >> 4) & 3) + 1)
    var current = 0
    var pending: ArraySlice<UInt8> = []
    var i = stream.startIndex
    var pendingStart = i

    func handOver(upTo end: Int) {
        pending = stream[pendingStart..<end]
        if !pending.isEmpty {
            if sim.connections[current].done { sim.replace(current) }
            sim.connections[current].read(pending)
            sim.drain()
            sim.checkInvariants()
        }
    }

    while i < stream.endIndex {
        let byte = stream[i]
        guard byte >= 0xFC else {
            i += 1
            continue
        }
        handOver(upTo: i)
        let argument = i + 1 < stream.endIndex ? Int(stream[i + 1]) : 0
        switch byte {
        case 0xFF:
            current = argument % sim.connections.count
            i += 2
        case 0xFE:
            sim.now += UInt64(argument) * 8
            sim.engine.expireDeadlines(now: sim.now)
            if argument & 1 == 1 {  // as the server's 1 s timer
                sim.engine.sweepIdleChannels(sparingActive: true)
                sim.engine.startActivityInterval()
            }
            i += 2
        case 0xFD:
            sim.replace(current)
            i += 1
        default:
            sim.connections[current].endInput()
            sim.drain()
            if sim.connections[current].done { sim.replace(current) }
            sim.engine.sweepIdleChannels()
            i += 1
        }
        sim.drain()
        sim.checkInvariants()
        pendingStart = min(i, stream.endIndex)
    }
    handOver(upTo: stream.endIndex)
    sim.finish()
    return 0
}
