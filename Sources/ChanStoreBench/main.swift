import ChanStore
import Glibc

// ChanStoreBench [--values N] [--seconds S] [--dir DIR]
//
// One durable channel, 16-byte values, as the daemon would drive the store:
// each loop iteration appends one value per client whose previous send was
// answered, removes the values delivered, and commits. A client's send is
// answered when its ticket is durable: written, and under `always` also
// fsynced (group commit). A run stops appending after S seconds or N
// values. Prints appends/s, the durability latency (commit to ticket durable)
// and the longest pause (the store's calls in one loop iteration); then,
// per policy, the pauses split by whether the thread was preempted or
// blocked (should never be: the store takes no lock and makes no I/O on
// the caller); then a run with small segments that keeps the compactor
// busy. Speed is printed, never asserted.

func nanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback }
    return args[i + 1]
}

let totalValues = max(1, min(Int(option("--values", "200000")) ?? 200_000, 100_000_000))
let parent = option("--dir", "/tmp")
let runSeconds = UInt64(max(1, min(Int(option("--seconds", "8")) ?? 8, 3600)))

func freshDirectory() -> String {
    var template = Array((parent + "/chanstore-bench-XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

func removeDirectory(_ path: String) {
    guard let d = opendir(path) else { return }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { unlink(path + "/" + name) }
    }
    closedir(d)
    rmdir(path)
}

/// The writer thread's signal that tickets completed, as the daemon's uv_async_send would carry it.
final class SyncSignal: @unchecked Sendable {
    // @unchecked Sendable: the pipe's descriptors are fixed at init; read and write are thread-safe.
    let readEnd: Int32, writeEnd: Int32
    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        readEnd = fds[0]
        writeEnd = fds[1]
    }
    func post() {
        var one: UInt8 = 1
        _ = write(writeEnd, &one, 1)
    }
    func wait() {
        var b: UInt8 = 0
        _ = read(readEnd, &b, 1)
    }
}

struct Result {
    var appendsPerSecond: Double
    var durableLatencies: [UInt64]
    var longestCall: UInt64
    var longestUnpreempted: UInt64
    var blockedCalls: Int
    var stats: ChanStoreStats
    var largestFiles: Int
}

func run(_ policy: FsyncPolicy, clients: Int, options base: ChanStoreOptions = ChanStoreOptions(),
         watchSwitches: Bool = false) throws -> Result {
    let dir = freshDirectory()
    defer { removeDirectory(dir) }
    var options = base
    options.fsync = policy
    let signal = SyncSignal()
    let store = try ChanStore(directory: dir, options: options, onDurable: { signal.post() })
    let ch = store.makeDurable("bench", capacity: 1000, preference: 0)
    store.commit()
    let payload = [UInt8](repeating: 0x61, count: 16)
    // The store's time in each loop iteration (its calls only): the loop's
    // pause. With `watchSwitches`, also whether the thread was switched out
    // meanwhile: involuntarily (preempted: the machine's doing, not the
    // store's) or voluntarily (it blocked on a lock, I/O or a page fault:
    // what the store must never do to the loop). Two getrusage calls per
    // iteration, so that run's rate is not the store's.
    var longestCall: UInt64 = 0
    var longestUnpreempted: UInt64 = 0
    var blockedCalls = 0
    var before = rusage(), after = rusage()
    var storeTime: UInt64 = 0
    func timed<T>(_ body: () -> T) -> T {
        let t0 = nanos()
        let r = body()
        storeTime += nanos() - t0
        return r
    }
    var queued: [StoreValueID] = []          // in the channel, waiting for the consumer
    var inFlight: [(ticket: CommitTicket, clients: Int, since: UInt64)] = []
    var idle = clients
    var appended = 0
    var latencies: [UInt64] = []
    var largestFiles = 0
    let start = nanos()
    let stopAppending = start + runSeconds * 1_000_000_000
    var target = totalValues
    while appended < target || !inFlight.isEmpty {
        storeTime = 0
        if watchSwitches { getrusage(1, &before) }  // 1: RUSAGE_THREAD
        // The consumer takes what the previous iterations stored.
        for id in queued { _ = timed { store.remove(ch, value: id) } }
        queued.removeAll(keepingCapacity: true)
        if appended < target && nanos() > stopAppending { target = appended }
        let sending = min(idle, target - appended)
        for _ in 0..<sending { queued.append(timed { store.append(ch, payload: payload, isException: false) }) }
        appended += sending
        idle -= sending
        let committed = nanos()
        let ticket = timed { store.commit() }
        longestCall = max(longestCall, storeTime)
        if watchSwitches {
            getrusage(1, &after)
            if after.ru_nivcsw == before.ru_nivcsw { longestUnpreempted = max(longestUnpreempted, storeTime) }
            if after.ru_nvcsw != before.ru_nvcsw { blockedCalls += 1 }
        }
        if sending > 0 { inFlight.append((ticket, sending, committed)) }
        var durable = store.durableTicket
        if idle == 0 && inFlight.first.map({ $0.ticket > durable }) == true {
            signal.wait()
            store.commit()  // takes in the sync thread's progress (and writes what waited for a seal)
            durable = store.durableTicket
        }
        while let f = inFlight.first, f.ticket <= durable {
            latencies.append(nanos() - f.since)
            idle += f.clients
            inFlight.removeFirst()
        }
        if appended % 4096 < sending { largestFiles = max(largestFiles, store.stats.diskBytes) }
    }
    let elapsed = Double(nanos() - start) / 1e9
    store.shutdown()
    return Result(appendsPerSecond: Double(appended) / elapsed, durableLatencies: latencies.sorted(),
                  longestCall: longestCall, longestUnpreempted: longestUnpreempted, blockedCalls: blockedCalls, stats: store.stats, largestFiles: largestFiles)
}

func us(_ ns: UInt64) -> String { String(Int((Double(ns) / 1000).rounded())) }

func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

print("ChanStoreBench: \(totalValues) values of 16 bytes per run, files in \(parent)")
print(["policy", "clients", "appends/s", "durable p50 us", "p99 us", "max us", "fsyncs", "pause max us"]
    .enumerated().map { pad($1, $0 == 0 ? 8 : 15) }.joined())
for (policy, clients) in [(FsyncPolicy.no, 1), (.no, 64), (.everysec, 1), (.everysec, 64), (.always, 1), (.always, 16), (.always, 64)] {
    let r = try run(policy, clients: clients)
    print([policy.rawValue, String(clients), String(Int(r.appendsPerSecond)),
           us(percentile(r.durableLatencies, 0.5)), us(percentile(r.durableLatencies, 0.99)), us(r.durableLatencies.last ?? 0), String(r.stats.fsyncs), us(r.longestCall)]
        .enumerated().map { pad($1, $0 == 0 ? 8 : 15) }.joined())
}
let small = ChanStoreOptions(segmentBytes: 1 << 20, compactionMinDeadBytes: 2 << 20, compactionRatio: 2)
for policy in FsyncPolicy.allCases {
    let r = try run(policy, clients: 64, watchSwitches: true)
    print("pauses (\(policy.rawValue), 64 clients): longest \(us(r.longestCall)) us, \(us(r.longestUnpreempted)) us when not preempted, "
        + "\(r.blockedCalls) iterations blocked")
}
let r = try run(.everysec, clients: 64, options: small, watchSwitches: true)
print("compaction (everysec, 64 clients, 1 MiB segments, 2 MiB dead bytes start one): \(r.stats.compactions) compactions, "
    + "longest \(us(r.stats.longestCompactionNanos)) us on the compactor thread; longest pause \(us(r.longestCall)) us, "
    + "\(us(r.longestUnpreempted)) us when not preempted, \(r.blockedCalls) iterations blocked; files at most \(r.largestFiles >> 10) KiB")
