import ArgumentParser
import ChanClient
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure handoffs through the server with this client: rendezvous pairs, select fan-in, ping-pong.",
        discussion: """
            Every worker is a thread with its own connection. Channels are rendezvous \
            channels named bench.<pid>.<n>, so each send returns once a receiver took its value.

              --pairs K    K producer/consumer pairs, one channel each
              --fanin K    K producers, one consumer SELECTing over their K channels
              --pingpong   (the default) send on ping, receive on pong; the other side echoes

            Each producer sends --messages values of --size bytes.

            Prints handoffs/s (values handed from a sender to a receiver, per second of wall time) \
            and the p50/p99 latency: a send to its reply at each producer for pairs and fan-in, one round \
            trip (two handoffs) for ping-pong. Runs longer than a few seconds show progress on stderr.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions

    @Option(help: ArgumentHelp("Producer/consumer pairs.", valueName: "k"))
    var pairs: Int?

    @Option(help: ArgumentHelp("Producers selected over by one consumer.", valueName: "k"))
    var fanin: Int?

    @Flag(help: "One value bounced between two clients.")
    var pingpong = false

    @Option(help: ArgumentHelp("Values per producer (round trips for ping-pong).", valueName: "n"))
    var messages = 10_000

    @Option(help: ArgumentHelp("Bytes per value.", valueName: "bytes"))
    var size = 16

    enum Mode {
        case pairs(Int), fanin(Int), pingpong
    }

    var mode: Mode {
        if let pairs { return .pairs(pairs) }
        if let fanin { return .fanin(fanin) }
        return .pingpong
    }

    func validate() throws {
        guard [pairs != nil, fanin != nil, pingpong].filter({ $0 }).count <= 1 else {
            throw ValidationError("choose one of --pairs, --fanin, --pingpong")
        }
        if let k = pairs ?? fanin, !(1...1000).contains(k) { throw ValidationError("--pairs/--fanin take 1-1000") }
        guard (1...1_000_000_000).contains(messages) else { throw ValidationError("--messages takes 1-1000000000") }
        guard (0...(1 << 30)).contains(size) else { throw ValidationError("--size takes 0-1073741824 bytes") }
    }

    func run() throws {
        let (host, port) = try server.address()
        let run = BenchRun(host: host, port: port, options: try server.clientOptions(), payload: [UInt8](repeating: UInt8(ascii: "x"), count: size))
        let prefix = "bench.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let handoffs: Int
        let latencyLabel: String
        switch mode {
        case .pairs(let k):
            handoffs = k * messages
            latencyLabel = "send to its reply"
            for i in 0..<k {
                run.spawn { client, run in try run.produce(client, "\(prefix).\(i)", messages) }
                run.spawn { client, run in try run.consume(client, ["\(prefix).\(i)"], messages, select: false) }
            }
        case .fanin(let k):
            handoffs = k * messages
            latencyLabel = "send to its reply"
            let names = (0..<k).map { "\(prefix).\($0)" }
            for name in names {
                run.spawn { client, run in try run.produce(client, name, messages) }
            }
            run.spawn { client, run in try run.consume(client, names, k * messages, select: true) }
        case .pingpong:
            handoffs = 2 * messages
            latencyLabel = "round trip"
            let ping = "\(prefix).ping", pong = "\(prefix).pong"
            run.spawn { client, run in try run.serve(client, ping, pong, messages) }
            run.spawn { client, run in try run.bounce(client, ping, pong, messages) }
        }
        let outcome = run.start(handoffs: handoffs)
        try reporting {
            if let error = outcome.error { throw error }
        }
        let latencies = outcome.latencies.sorted()
        func percentile(_ p: Double) -> String {
            guard !latencies.isEmpty else { return "-" }
            let i = min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)
            return String(format: "%.3f ms", Double(latencies[max(0, i)]) / 1e6)
        }
        let what: String
        switch mode {
        case .pairs(let k): what = "\(k) producer/consumer pairs, \(messages) values each"
        case .fanin(let k): what = "\(k) producers, one consumer selecting over \(k) channels, \(messages) values each"
        case .pingpong: what = "ping-pong, \(messages) round trips"
        }
        Output.standardOutput("""
            chan bench: \(what), \(size)-byte values, server \(host):\(port)
            handoffs:    \(handoffs) in \(String(format: "%.3f", outcome.seconds)) s
            handoffs/s:  \(Int(Double(handoffs) / outcome.seconds))
            latency p50: \(percentile(0.50)) (\(latencyLabel))
            latency p99: \(percentile(0.99)) (\(latencyLabel))

            """)
    }
}

/// The workers of one benchmark run: threads that connect, wait at a gate
/// until all are connected, run, and report their latencies or an error.
final class BenchRun: @unchecked Sendable {
    // Safe to share: `host`, `port`, `options` and `payload` are immutable; everything
    // mutable is behind `lock`.
    let host: String
    let port: Int
    let options: ChanClient.Options
    let payload: [UInt8]

    private let lock = NSCondition()
    /// What each worker runs once connected. The threads, not this list,
    /// hold the run while they work: no cycle keeps it alive after them.
    private var workers: [@Sendable (ChanClient, BenchRun) throws -> [UInt64]] = []
    private var connected = 0
    private var finished = 0
    private var open = false
    private var failure: ChanError?
    private var latencies: [UInt64] = []
    private var done = 0

    init(host: String, port: Int, options: ChanClient.Options, payload: [UInt8]) {
        self.options = options
        self.host = host
        self.port = port
        self.payload = payload
    }

    /// Adds a worker: it connects, waits at the gate, runs `body`.
    func spawn(_ body: @escaping @Sendable (ChanClient, BenchRun) throws -> [UInt64]) {
        workers.append(body)
    }

    private func work(_ body: @Sendable (ChanClient, BenchRun) throws -> [UInt64]) {
        do {
            let client = try ChanClient(host: host, port: port, options: options)
            lock.lock()
            connected += 1
            lock.broadcast()
            while !open && failure == nil { lock.wait() }
            lock.unlock()
            let mine = try body(client, self)
            try? client.quit()
            lock.lock()
            latencies += mine
            finished += 1
            lock.broadcast()
            lock.unlock()
        } catch {
            lock.lock()
            if failure == nil { failure = error as? ChanError ?? .connectionLost("\(error)") }
            lock.broadcast()
            lock.unlock()
        }
    }

    /// Counts handoffs for the progress line (in batches, to keep the lock cold).
    func progress(_ count: Int) {
        lock.lock()
        done += count
        lock.unlock()
    }

    struct Outcome {
        var seconds: Double
        var latencies: [UInt64]
        var error: ChanError?
    }

    /// Starts every worker, opens the gate once all are connected, and waits
    /// for all to finish (or the first failure: the others may be blocked on
    /// it for good, and end with the process).
    func start(handoffs: Int) -> Outcome {
        for body in workers {
            let thread = Thread { [self] in work(body) }
            thread.stackSize = 1 << 20
            thread.start()
        }
        lock.lock()
        while connected < workers.count && failure == nil { lock.wait() }
        let begin = DispatchTime.now().uptimeNanoseconds
        open = true
        lock.broadcast()
        var lastReport = begin
        var reported = false
        while finished < workers.count && failure == nil {
            _ = lock.wait(until: Date(timeIntervalSinceNow: 0.5))
            let now = DispatchTime.now().uptimeNanoseconds
            if now - begin >= 3_000_000_000 && now - lastReport >= 1_000_000_000 {
                lastReport = now
                reported = true
                let rate = Double(done) / (Double(now - begin) / 1e9)
                Output.standardError("\rchan bench: \(done)/\(handoffs) handoffs, \(Int(rate))/s ")
            }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let outcome = Outcome(seconds: Double(end - begin) / 1e9, latencies: latencies, error: failure)
        lock.unlock()
        if reported { Output.standardError("\n") }
        return outcome
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Sends `count` values on `channel`; returns each SEND's time to OK.
    func produce(_ client: ChanClient, _ channel: String, _ count: Int) throws(ChanError) -> [UInt64] {
        var latencies: [UInt64] = []
        latencies.reserveCapacity(count)
        for _ in 0..<count {
            let t0 = BenchRun.now()
            try client.send(channel, payload)
            latencies.append(BenchRun.now() - t0)
        }
        return latencies
    }

    /// Receives `count` values with RECV on one channel, or with a SELECT over all of them.
    func consume(_ client: ChanClient, _ channels: [String], _ count: Int, select: Bool) throws(ChanError) -> [UInt64] {
        let cases = channels.map(SelectCase.receive)
        for i in 1...count {
            if select {
                _ = try client.select(cases)
            } else {
                _ = try client.recv(channels[0])
            }
            if i % 256 == 0 || i == count { progress(i % 256 == 0 ? 256 : i % 256) }
        }
        return []
    }

    /// Ping-pong's echo side: RECV ping, SEND it back on pong.
    func serve(_ client: ChanClient, _ ping: String, _ pong: String, _ count: Int) throws(ChanError) -> [UInt64] {
        for _ in 0..<count {
            let m = try client.recv(ping)
            try client.send(pong, m.payload)
        }
        return []
    }

    /// Ping-pong's measuring side: SEND ping, RECV pong; returns each round trip.
    func bounce(_ client: ChanClient, _ ping: String, _ pong: String, _ count: Int) throws(ChanError) -> [UInt64] {
        var latencies: [UInt64] = []
        latencies.reserveCapacity(count)
        for i in 1...count {
            let t0 = BenchRun.now()
            try client.send(ping, payload)
            _ = try client.recv(pong)
            latencies.append(BenchRun.now() - t0)
            if i % 128 == 0 || i == count { progress(2 * (i % 128 == 0 ? 128 : i % 128)) }
        }
        return latencies
    }
}
