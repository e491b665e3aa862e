// ChanCore micro-benchmark: the engine alone, no I/O. Tasklets are driven the
// way the server drives connections: run one until it blocks or yields, then
// resume runnable tasklets in order. Prints operations per second.
//
//   swift run -c release ChanBench [messages]
import ChanCore

#if canImport(Glibc)
import Glibc
#endif

func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A tasklet's program: called with the completion it was resumed with (nil
/// at start); issues its next operation and returns the engine's outcome, or
/// nil when the program has ended.
final class Program {
    let step: (Completion?) -> Outcome?
    init(_ step: @escaping (Completion?) -> Outcome?) { self.step = step }
}

/// Runs a program until it blocks, yields or ends.
func run(_ t: Tasklet, _ c: Completion?) {
    let program = unsafeDowncast(t.context.unsafelyUnwrapped, to: Program.self)
    var completion = c
    while let outcome = program.step(completion) {
        guard case .completed(let next) = outcome else { return }
        completion = next
    }
}

func drive(_ engine: Engine, _ tasklets: [Tasklet]) {
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
let payload = Message(Array("0123456789abcdef".utf8))

// Unbuffered ping-pong: A sends on `a`, B echoes it back on `b`. Two handoffs
// per round trip, as in gochan's loop.
do {
    let engine = Engine(random: Xoshiro256(seed: 1))
    let a = engine.channel(named: "a")!, b = engine.channel(named: "b")!
    let ping = engine.makeTasklet(), pong = engine.makeTasklet()
    var sent = 0
    var pingAwaitsEcho = false
    ping.context = Program { _ in
        if pingAwaitsEcho {
            pingAwaitsEcho = false
            return engine.receive(ping, b)
        }
        guard sent < n else { return nil }
        sent += 1
        pingAwaitsEcho = true
        return engine.send(ping, a, payload)
    }
    var echo: Message?
    pong.context = Program { c in
        if case .received(_, let m)? = c {
            echo = m
            return engine.send(pong, b, m)
        }
        if echo != nil || c == nil {
            echo = nil
            return engine.receive(pong, a)
        }
        return nil
    }
    report("unbuffered pingpong handoffs", ops: 2 * n) { drive(engine, [pong, ping]) }
    precondition(sent == n)
}

// Select fan-in: four producers each send n/4 values on their own unbuffered
// channel; one consumer selects over the four.
do {
    let engine = Engine(random: Xoshiro256(seed: 2))
    let channels = (0..<4).map { engine.channel(named: "in\($0)")! }
    let cases = channels.map { SelectCase.receive($0) }
    var received = 0
    let consumer = engine.makeTasklet()
    consumer.context = Program { c in
        if case .received? = c { received += 1 }
        return received < n ? engine.select(consumer, cases, wait: .forever) : nil
    }
    var producers = [consumer]
    for ch in channels {
        let p = engine.makeTasklet()
        var left = n / 4
        p.context = Program { _ in
            guard left > 0 else { return nil }
            left -= 1
            return engine.send(p, ch, payload)
        }
        producers.append(p)
    }
    report("select fan-in 4 receives", ops: n) { drive(engine, producers) }
    precondition(received == n)
}

// Buffered throughput: one producer, one consumer, capacity 128.
do {
    let engine = Engine(random: Xoshiro256(seed: 3))
    guard case .made = engine.make("buf", capacity: 128, preference: .receiver) else { fatalError() }
    let ch = engine.channel(named: "buf")!
    let producer = engine.makeTasklet(), consumer = engine.makeTasklet()
    var left = n, received = 0
    producer.context = Program { _ in
        guard left > 0 else { return nil }
        left -= 1
        return engine.send(producer, ch, payload)
    }
    consumer.context = Program { c in
        if case .received? = c { received += 1 }
        return received < n ? engine.receive(consumer, ch) : nil
    }
    report("buffered cap 128 values", ops: n) { drive(engine, [producer, consumer]) }
    precondition(received == n)
}
