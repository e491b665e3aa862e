// libFuzzer entry point for chand's request handling: the protocol parser
// (ChanProtocol) alone, and the daemon's own sessions (ChanSession, over
// ChanCore) driven the way its event loop drives them, without sockets.
// Built by Tests/Fuzz/build.sh with `swiftc -sanitize=fuzzer,address`; see
// README, "Reliability".
//
// An input is one byte of settings, then a byte stream. Bytes below 0xFC are
// request bytes for the current simulated connection; the others are events:
//
//   0xFF x   switch to connection x % connections (the bytes so far are
//            handed to the current one first, as one read)
//   0xFE x   the clock moves x * 8 ms on; due select deadlines expire; writes
//            waiting on a slow socket complete; an odd x runs the server's
//            one-second timer (sweep, activity interval, vanished peers)
//   0xFD     the current connection resets (its session closes, as a
//            dropped socket) and a fresh one takes its place
//   0xFC     end of input on the current connection (rule 20: seen at once
//            when its socket is read; when paused, at the next one-second
//            timer if a request is blocked, else once reading resumes),
//            then a fresh connection; idle implicit channels are swept
//
// Settings byte: low 4 bits + 1 = chunk size for the split check, next 2 bits
// + 1 = number of connections, bit 6 = slow sockets (a flush writes at most 7
// bytes; the rest waits for the next clock event).
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
// - every request gets one reply of its kind, in order (read back from the
//   bytes the session wrote);
// - values are conserved: every value a sender was told was sent (or would
//   have been, for a cancelled one) is received (or lost with a cancelled
//   receiver) or still buffered, in count and in bytes;
// - once every connection is gone, no channel keeps a waiter and the sweep
//   leaves only made, closed or non-empty channels.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
@testable import ChanCore
@testable import ChanProtocol
@testable import ChanSession

let limits = ProtocolLimits(maxLine: 64, maxPayload: 32, maxSelectCases: 6, maxCapacity: 4)
let maxChannels = 12

/// FUZZ_TRACE=1 prints every request with its reply (for replaying a crash).
let traceReplies = getenv("FUZZ_TRACE") != nil

func trace(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

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
        case .close(let name), .stat(let name), .open(let name), .delete(let name):
            check(isName(name), "bad name in \(command)")
        case .acknowledge(let tag), .giveBack(let tag):
            check(tag > 0, "bad tag in \(command)")
        case .auth(let user, let secret):
            check(isName(user) && !secret.bytes.isEmpty, "bad \(command)")
        case .send(let channel, let payload, _):
            check(isName(channel) && payload.count <= max(limits.maxPayload, limits.maxLine), "bad \(command)")
        case .receive(let channel, let wait, _):
            check(isName(channel) && isWait(wait), "bad \(command)")
        case .make(let channel, let capacity, _, let durable):
            check(isName(channel) && (capacity ?? 0) <= limits.maxCapacity && (!durable || (capacity ?? 0) > 0), "bad \(command)")
        case .select(let cases, let wait, _):
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
    let select = parser.select
    if select.isOpen {
        check(select.cases.count <= limits.maxSelectCases, "open SELECT holds \(select.cases.count) cases")
        var total = 0
        for case .send(_, let payload, _) in select.cases { total += payload.count }
        check(total <= limits.maxPayload, "open SELECT holds \(total) payload bytes")
    } else {
        check(select.cases.isEmpty && select.error == nil, "a finished SELECT left its cases or error behind")
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
        while let command = parser.next() {
            commands.append(command)
            if case .select(let cases, _, _) = command { parser.recycle(cases) }  // as the server does
        }
        checkParserBounds(parser)
    }
    return commands
}

// MARK: The sessions, driven as the server's loop drives them

/// Values told sent and values received, in count and bytes.
struct Ledger {
    var sent = 0, sentBytes = 0, received = 0, receivedBytes = 0
}

final class FuzzClock: SessionClock {
    var milliseconds: UInt64 = 1000
    func currentMilliseconds() -> UInt64 { milliseconds }
    func nanoseconds() -> UInt64 { milliseconds * 1_000_000 }
}

final class Simulation {
    let clock = FuzzClock()
    let state: ServerState
    var engine: Engine { state.engine }
    let slowSockets: Bool
    var ledger = Ledger()
    var connections: [Client] = []
    /// Replaced connections that have not closed yet (ended input, replies to write).
    var retired: [Client] = []
    var needFlush: [Client] = []
    var waitingForTurn: [Client] = []

    init(count: Int, slowSockets: Bool) {
        var config = ServerConfig()
        config.limits = limits
        config.maxChannels = maxChannels
        config.seed = 1
        // Small marks, so that fuzzed inputs reach them.
        config.outputHighWater = 256
        config.inputHighWater = 96
        config.commandsPerTurn = 3
        state = ServerState(config: config, clock: clock)
        self.slowSockets = slowSockets
        connections = (0..<count).map { _ in Client(self) }
    }

    var everyClient: [Client] { connections + retired }

    /// The server's loop until it would sleep; each iteration: woken
    /// tasklets and replies, one more turn for sessions that yielded (and
    /// their replies), one read of each socket that is read and has bytes.
    func drain() {
        for _ in 0..<100_000 {
            resumeAndFlush()
            let turns = waitingForTurn
            waitingForTurn.removeAll()
            for client in turns { client.perform(client.session.nextTurn()) }
            resumeAndFlush()
            var busy = !waitingForTurn.isEmpty
            for client in everyClient where client.readOnce() { busy = true }
            if !busy && needFlush.isEmpty {
                retired.removeAll { $0.session.isClosed }
                return
            }
        }
        check(false, "the loop never settles")
    }

    private func resumeAndFlush() {
        repeat {
            while let t = engine.nextRunnable() {
                let client = t.context as! Client
                client.perform(client.session.resume(t.takeCompletion()!))
            }
            let batch = needFlush
            needFlush.removeAll()
            for client in batch { client.flush() }
        } while !needFlush.isEmpty || engine.runnableCount > 0
    }

    func replace(_ index: Int) {
        let old = connections[index]
        if !old.session.isClosed { retired.append(old) }
        connections[index] = Client(self)
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
        for client in everyClient {
            let t = client.session.tasklet
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
        var ledger = ledger
        for client in everyClient where !client.session.isClosed {
            let unread = client.unreadReplies()
            ledger.sent += unread.sent
            ledger.sentBytes += unread.sentBytes
            ledger.received += unread.received
            ledger.receivedBytes += unread.receivedBytes
        }
        check(ledger.sent == ledger.received + buffered,
              "sent \(ledger.sent) != received \(ledger.received) + buffered \(buffered)")
        check(ledger.sentBytes == ledger.receivedBytes + bufferedBytes,
              "sent \(ledger.sentBytes) bytes != received \(ledger.receivedBytes) + buffered \(bufferedBytes)")
    }

    /// Every connection goes away: nothing may stay queued anywhere.
    func finish() {
        for client in everyClient { client.disconnect() }
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

/// One simulated client socket around a real `Session`. A shadow parser
/// fed the same bytes knows the requests, so each reply read back from the
/// session's output is checked against its request and booked in the ledger.
final class Client {
    unowned let sim: Simulation
    let session: Session
    private var unread: [UInt8] = []
    private(set) var endOfInput = false
    private var isRead = false
    /// Written by the session and not yet read back, and a write waiting on a slow socket.
    private var written: [UInt8] = []
    private var inFlight: [UInt8] = []
    private var requests = CommandParser(limits: limits)
    private var answered: [Command] = []
    private var pending: [Command] = []

    init(_ sim: Simulation) {
        self.sim = sim
        session = Session(server: sim.state, context: nil)
        session.tasklet.context = self
        perform(session.start())
    }

    func send(_ bytes: ArraySlice<UInt8>) {
        guard !endOfInput else { return }
        unread += bytes
        requests.append(contentsOf: bytes)
        while let command = requests.next() { pending.append(command) }
    }

    func endInput() {
        endOfInput = true
    }

    /// The server's one-second timer: a peer gone from a socket nobody reads.
    func checkVanished() {
        if endOfInput { perform(session.peerClosedWhilePaused()) }
    }

    /// The slow socket took the waiting write.
    func completeWrite() {
        guard !inFlight.isEmpty, !session.isClosed else { return }
        written += inFlight
        inFlight = []
        readBack()
        perform(session.writeCompleted())
    }

    func readOnce() -> Bool {
        guard isRead && !session.isClosed else { return false }
        if !unread.isEmpty {
            let n = min(unread.count, 64 << 10)
            let actions = unread.withUnsafeBytes { session.received(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            unread.removeFirst(n)
            perform(actions)
            if isRead && !session.isClosed && session.tasklet.state == .running && !session.turnYielded {
                checkParserBounds(session.parser)
            }
            return true
        }
        if endOfInput {
            isRead = false
            perform(session.inputEnded())
            return true
        }
        return false
    }

    func perform(_ actions: Session.Actions) {
        if actions.contains(.close) {
            readBack()
            return
        }
        if actions.contains(.stopReading) { isRead = false }
        if actions.contains(.startReading) { isRead = true }
        if actions.contains(.flush) { sim.needFlush.append(self) }
        if actions.contains(.continueNextTurn) { sim.waitingForTurn.append(self) }
    }

    func flush() {
        guard !session.isClosed else { return }
        guard session.canWrite else { return perform(session.flushSkipped()) }
        let n = sim.slowSockets ? min(7, session.output.count) : session.output.count
        written += session.output[..<n]
        inFlight = Array(session.output[n...])
        readBack()
        perform(session.wrote(n))
    }

    /// A dropped socket: what the session wrote counts as read back (those
    /// values left their channels), and a completion the tasklet was woken
    /// with but never saw is booked for its request.
    func disconnect() {
        guard !session.isClosed else { return }
        written += inFlight + session.output
        inFlight = []
        readBack()
        if session.tasklet.state == .runnable, let completion = session.tasklet.takeCompletion(), let request = pending.first {
            switch completion {
            case .sent(let i):
                sim.ledger.sent += 1
                sim.ledger.sentBytes += payloadSize(request, i)
            case .received(_, let m):
                sim.ledger.received += 1
                sim.ledger.receivedBytes += m.payload.count
            default:
                break
            }
        }
        session.close()
        endOfInput = true
    }

    // MARK: Replies read back

    /// Reads every whole reply in `written` and checks it against its request.
    private func readBack() {
        var reader = ReplyReader(bytes: written)
        while let reply = reader.next() {
            check(!pending.isEmpty, "a reply with no request: \(reply.words)")
            book(reply, for: pending.removeFirst(), into: &sim.ledger)
        }
        written.removeFirst(reader.position)
    }

    /// What the replies not yet read back (still in the socket or the
    /// session's output) add to the ledger: their values left their channels.
    func unreadReplies() -> Ledger {
        var ledger = Ledger()
        var reader = ReplyReader(bytes: written + inFlight + session.output)
        var requests = pending[...]
        while let reply = reader.next(), let request = requests.popFirst() {
            book(reply, for: request, into: &ledger)
        }
        return ledger
    }

    private func book(_ reply: Reply, for request: Command, into ledger: inout Ledger) {
        if traceReplies { trace("connection \(session.id): \(request) -> \(reply.words.joined(separator: " "))") }
        var words = reply.words[...]
        var selected: Int?
        if case .select = request, words.first == "SELECTED" {
            selected = Int(words.dropFirst().first ?? "")
            check(selected != nil, "bad SELECTED reply \(reply.words)")
            words = words.dropFirst(2)
        }
        let kind = words.first ?? ""
        switch (request, kind) {
        case (.ping, "PONG"), (.quit, "BYE"), (.hello, "HELLO"), (.info, "INFO"), (.stat, "STAT"), (.channels, "CHANNELS"),
             (.make, "OK"), (.close, "OK"), (_, "ERR"):
            break
        case (.send(_, let payload, _), "OK"):
            ledger.sent += 1
            ledger.sentBytes += payload.count
        case (.select(let cases, _, _), "OK") where selected != nil:
            ledger.sent += 1
            ledger.sentBytes += payloadSize(request, selected!)
            check(selected! < cases.count, "case index out of range")
        case (.receive, "MSG"), (.receive, "EXC"), (.select, "MSG"), (.select, "EXC"):
            if case .select = request { check(selected != nil, "a SELECT's value without SELECTED") }
            ledger.received += 1
            ledger.receivedBytes += reply.payload
            if let i = selected, case .select(let cases, _, _) = request {
                check(i < cases.count && payloadSize(request, i) == 0 && isReceive(cases[i]), "a SEND case answered with a value")
            }
        case (.receive, "CLOSED"), (.receive, "TIMEOUT"), (.select, "TIMEOUT"), (.select, "CLOSED"):
            if case .select = request { check((selected == nil) == (kind == "TIMEOUT"), "SELECTED on \(reply.words)") }
        default:
            check(false, "reply \(reply.words) to \(request)")
        }
        if case .invalid = request { check(kind == "ERR", "an invalid request answered \(reply.words)") }
    }

    private func isReceive(_ request: CaseRequest) -> Bool {
        if case .receive = request { return true }
        return false
    }

    private func payloadSize(_ request: Command, _ i: Int) -> Int {
        switch request {
        case .send(_, let payload, _): return payload.count
        case .select(let cases, _, _):
            if case .send(_, let payload, _) = cases[i] { return payload.count }
            return 0
        default: return 0
        }
    }
}

/// One reply: its first line's words, and the size of the value after a MSG/EXC header.
struct Reply {
    var words: [String]
    var payload = 0
}

/// Splits replies off the bytes a session wrote.
struct ReplyReader {
    let bytes: [UInt8]
    private(set) var position = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func line(from start: Int) -> (words: [String], end: Int)? {
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 {
                let words = bytes[start..<i].split(separator: 32).map { String(decoding: $0, as: UTF8.self) }
                return (words, i + 2)
            }
            i += 1
        }
        return nil
    }

    /// The next whole reply, or nil if what is left is not one yet.
    mutating func next() -> Reply? {
        guard let (words, end) = line(from: position) else { return nil }
        var reply = Reply(words: words)
        var next = end
        let header = words.first == "SELECTED" ? Array(words.dropFirst(2)) : words
        if header.first == "MSG" || header.first == "EXC" {
            check(header.count == 3, "bad value header \(words)")
            reply.payload = Int(header[2]) ?? -1
            check(reply.payload >= 0, "bad value size \(words)")
            next += reply.payload + 2
            guard next <= bytes.count else { return nil }
            check(bytes[next - 2] == 13 && bytes[next - 1] == 10, "value not followed by CRLF")
        } else if header.first == "CHANNELS" {
            let listed = Int(header.dropFirst().first ?? "") ?? -1
            check(listed >= 0, "bad CHANNELS reply \(words)")
            for _ in 0..<listed {
                guard let (entry, after) = line(from: next) else { return nil }
                check(entry.first == "CHANNEL", "CHANNELS followed by \(entry)")
                next = after
            }
        }
        position = next
        return reply
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

    // Sessions, driven by several connections.
    let sim = Simulation(count: Int((settings >> 4) & 3) + 1, slowSockets: settings & 0x40 != 0)
    var current = 0
    var pending: ArraySlice<UInt8> = []
    var i = stream.startIndex
    var pendingStart = i

    func handOver(upTo end: Int) {
        pending = stream[pendingStart..<end]
        if !pending.isEmpty {
            if sim.connections[current].endOfInput || sim.connections[current].session.isClosed { sim.replace(current) }
            sim.connections[current].send(pending)
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
            sim.clock.milliseconds += UInt64(argument) * 8
            sim.engine.expireDeadlines(now: sim.clock.milliseconds)
            for client in sim.everyClient { client.completeWrite() }
            if argument & 1 == 1 {  // as the server's 1 s timer
                sim.engine.sweepIdleChannels(sparingActive: true)
                sim.engine.startActivityInterval()
                for client in sim.everyClient { client.checkVanished() }
            }
            i += 2
        case 0xFD:
            sim.connections[current].disconnect()
            sim.replace(current)
            i += 1
        default:
            sim.connections[current].endInput()
            sim.drain()
            sim.replace(current)
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
