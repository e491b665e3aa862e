// ChanCore micro-benchmark: the engine alone, no I/O. Tasklets are driven the
// way the server drives connections: run one until it blocks or yields, then
// resume runnable tasklets in order. Prints operations per second.
//
//   swift run -c release ChanBench [messages [workload...]]
//
// Workloads: pingpong, fanin, buffered (these three when none is named),
// held (acknowledged delivery: each value held, then acknowledged), and
// parse (ChanProtocol's command parser alone, on the requests of the
// daemon's hot path: a 9-line SELECT, a counted SEND, RECV, RECV ... ACK, ACK).
import ChanCore
import ChanProtocol

#if canImport(Glibc)
import Glibc
#endif

func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Drives tasklets the way the server drives connections: run each until it
/// blocks or yields, then resume runnable tasklets in order with the
/// completion they were woken with. `step` is the tasklets' programs: given a
/// tasklet and the completion it resumed with (nil at start), it issues the
/// tasklet's next operation and returns the engine's outcome, or nil when the
/// program has ended.
///
/// The programs keep their state in the caller's local variables and `step`
/// does not escape, so the driver adds no boxing or dynamic exclusivity
/// checks and little reference counting: what is measured is the engine.
@inline(__always)
func drive(_ engine: Engine, _ tasklets: [Tasklet], _ step: (Tasklet, Completion?) -> Outcome?) {
    @inline(__always)
    func run(_ t: Tasklet, _ c: consuming Completion?) {
        var completion = c
        while let outcome = step(t, completion) {
            switch outcome {
            case .completed(let next): completion = next
            case .blocked, .yielded: return
            }
        }
    }
    for t in tasklets { run(t, nil) }
    while let t = engine.nextRunnable() { run(t, t.takeCompletion()) }
}

func report(_ name: String, ops: Int, _ body: () -> Void) {
    let start = seconds()
    body()
    let elapsed = seconds() - start
    let rate = Int(Double(ops) / elapsed)
    let nanos = Int(elapsed * 1e9 / Double(ops))
    print("chancore \(name): \(rate) ops/s (\(nanos) ns each)")
}

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 2_000_000
let selected = Set(CommandLine.arguments.dropFirst(2))
func wanted(_ workload: String) -> Bool {
    selected.isEmpty ? ["pingpong", "fanin", "buffered"].contains(workload) : selected.contains(workload)
}
let payload = Message(Array("0123456789abcdef".utf8))

// Unbuffered ping-pong: A sends on `a`, B echoes it back on `b`. Two handoffs
// per round trip, as in gochan's loop.
if wanted("pingpong") {
    let engine = Engine(random: Xoshiro256(seed: 1))
    let a = engine.channel(named: "a")!, b = engine.channel(named: "b")!
    let ping = engine.makeTasklet(), pong = engine.makeTasklet()
    var sent = 0
    var pingAwaitsEcho = false
    var pongEchoed = false
    report("unbuffered pingpong handoffs", ops: 2 * n) {
        drive(engine, [pong, ping]) { t, c in
            if t === ping {
                if pingAwaitsEcho {
                    pingAwaitsEcho = false
                    return engine.receive(ping, b)
                }
                guard sent < n else { return nil }
                sent += 1
                pingAwaitsEcho = true
                return engine.send(ping, a, payload)
            }
            if case .received(_, let m)? = c {
                pongEchoed = true
                return engine.send(pong, b, m)
            }
            // Start, or the echo went out: wait for the next ping, unless
            // a completion other than the echo's says the run is over.
            guard c == nil || pongEchoed else { return nil }
            pongEchoed = false
            return engine.receive(pong, a)
        }
    }
    precondition(sent == n)
}

// Select fan-in: four producers each send n/4 values on their own unbuffered
// channel; one consumer selects over the four.
if wanted("fanin") {
    let engine = Engine(random: Xoshiro256(seed: 2))
    let channels = (0..<4).map { engine.channel(named: "in\($0)")! }
    let cases = channels.map { SelectCase.receive($0) }
    var received = 0
    let consumer = engine.makeTasklet()
    let producers = channels.map { _ in engine.makeTasklet() }
    var left = [Int](repeating: n / 4, count: 4)
    report("select fan-in 4 receives", ops: n) {
        drive(engine, [consumer] + producers) { t, c in
            if t === consumer {
                if case .received? = c { received += 1 }
                return received < n ? engine.select(consumer, cases, wait: .forever) : nil
            }
            let i = t.id - producers[0].id
            guard left[i] > 0 else { return nil }
            left[i] -= 1
            return engine.send(t, channels[i], payload)
        }
    }
    precondition(received == n)
}

// Buffered throughput: one producer, one consumer, capacity 128. The channel
// prefers the receiver (rule 17), so once the consumer has drained the
// first 128 values it runs as soon as it is handed one and then waits on the
// empty buffer again: the rest go straight from sender to waiting receiver.
if wanted("buffered") {
    let engine = Engine(random: Xoshiro256(seed: 3))
    guard case .made = engine.make("buf", capacity: 128, preference: .receiver) else { fatalError() }
    let ch = engine.channel(named: "buf")!
    let producer = engine.makeTasklet(), consumer = engine.makeTasklet()
    var left = n, received = 0
    report("buffered cap 128 values", ops: n) {
        drive(engine, [producer, consumer]) { t, c in
            if t === producer {
                guard left > 0 else { return nil }
                left -= 1
                return engine.send(producer, ch, payload)
            }
            if case .received? = c { received += 1 }
            return received < n ? engine.receive(consumer, ch) : nil
        }
    }
    precondition(received == n)
}

// Acknowledged delivery: one producer sends on an unbuffered channel; the
// consumer receives with hold and acknowledges each value, which completes
// the producer's send (rules 22-25). Values per second, for comparison with
// the pingpong handoffs.
if wanted("held") {
    let engine = Engine(random: Xoshiro256(seed: 4))
    let ch = engine.channel(named: "acked")!
    let producer = engine.makeTasklet(), consumer = engine.makeTasklet()
    var left = n, acknowledged = 0
    report("held and acknowledged values", ops: n) {
        drive(engine, [consumer, producer]) { t, c in
            if t === producer {
                guard left > 0 else { return nil }
                left -= 1
                return engine.send(producer, ch, payload)
            }
            if case .received? = c {
                guard engine.acknowledge(consumer, tag: consumer.lastHeldTag) else { fatalError("not held") }
                acknowledged += 1
            }
            return acknowledged < n ? engine.receive(consumer, ch, hold: true) : nil
        }
    }
    precondition(acknowledged == n)
}

// The command parser alone: the requests a load generator sends, appended as
// one read each (as the daemon does) and parsed to their command (a SELECT's
// case array then given back to the parser, as the daemon does). Requests
// per second; under callgrind, the difference between two message counts
// gives the instructions per request. "parse" runs them all, "parse-select"
// (and -send, -recv, -recvack, -ack) one.
func parseRepeatedly(_ request: [UInt8], times: Int, selects: Bool) -> Int {
    var parser = CommandParser()
    var commands = 0
    request.withUnsafeBytes { bytes in
        for _ in 0..<times {
            parser.append(bytes)
            guard selects else {
                while parser.next() != nil { commands += 1 }
                continue
            }
            while let command = parser.next() {
                commands += 1
                if case .select(let cases, _, _) = consume command { parser.recycle(cases) }  // as the daemon does
            }
        }
    }
    return commands
}

let requests = [
    ("select", "select of 8 receives (9 lines)", "SELECT 8\r\n" + (0..<8).map { "RECV r0fanin.\($0)\r\n" }.joined()),
    ("send", "send, counted 16 bytes", "SEND r0pairs.3 {16}\r\nxxxxxxxxxxxxxxxx\r\n"),
    ("recv", "recv", "RECV r0pairs.3\r\n"),
    ("recvack", "recv with ack", "RECV r0pairs-ack.3 ACK\r\n"),
    ("ack", "ack", "ACK 123456\r\n"),
]
for (key, name, request) in requests where wanted("parse") || wanted("parse-" + key) {
    var commands = 0
    report("parse \(name)", ops: n) { commands = parseRepeatedly(Array(request.utf8), times: n, selects: key == "select") }
    precondition(commands == n, "\(name): \(commands) commands parsed")
}
