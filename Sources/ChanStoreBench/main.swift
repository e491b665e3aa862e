import ChanStore
import Glibc

// ChanStoreBench [--values N] [--seconds S] [--dir DIR]
//
// One durable channel, 16-byte values, as the daemon would drive the store:
// each loop iteration appends one value per client whose previous send was
// answered, removes the values delivered, and commits. Under `always` a
// client's send is answered when its ticket is synced (group commit);
// under `everysec` and `no` at once. Prints appends/s, the sync latency
// (commit to ticket synced), and the longest single call on the calling
// thread (the loop's pause), also among the calls during which the thread
// was not preempted, and the number of calls that blocked (a voluntary
// context switch: a lock, I/O, a page fault), which should be 0. A run stops appending after S seconds. A last run with small segments keeps the
// compactor busy and prints its longest compaction, the longest call
// meanwhile, and the largest the files grew. Speed is printed, never asserted.

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

/// The writer thread's sync signal, as the daemon's uv_async_send would carry it.
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
    var syncLatencies: [UInt64]
    var longestCall: UInt64
    var longestUnpreempted: UInt64
    var blockedCalls: Int
    var stats: ChanStoreStats
    var largestFiles: Int
}

func run(_ policy: FsyncPolicy, clients: Int, options base: ChanStoreOptions = ChanStoreOptions()) throws -> Result {
    let dir = freshDirectory()
    defer { removeDirectory(dir) }
    var options = base
    options.fsync = policy
    let signal = SyncSignal()
    let store = try ChanStore(directory: dir, options: options, onSynced: { signal.post() })
    let ch = store.makeDurable("bench", capacity: 1000, preference: 0)
    store.commit()
    let payload = [UInt8](repeating: 0x61, count: 16)
    // Each call's wall time, and whether the thread was switched out meanwhile:
    // involuntarily (preempted: the machine's doing, not the store's) or
    // voluntarily (it blocked: on a lock, I/O or a page fault; the store's
    // doing, and what it must never do to the loop).
    var longestCall: UInt64 = 0
    var longestUnpreempted: UInt64 = 0
    var blockedCalls = 0
    func timed<T>(_ body: () -> T) -> T {
        var before = rusage(), after = rusage()  // who 1: RUSAGE_THREAD
        getrusage(1, &before)
        let t0 = nanos()
        let r = body()
        let t = nanos() - t0
        getrusage(1, &after)
        longestCall = max(longestCall, t)
        if after.ru_nivcsw == before.ru_nivcsw { longestUnpreempted = max(longestUnpreempted, t) }
        if after.ru_nvcsw != before.ru_nvcsw { blockedCalls += 1 }
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
        // The consumer takes what the previous iterations stored.
        for id in queued { _ = timed { store.remove(ch, value: id) } }
        queued.removeAll(keepingCapacity: true)
        if appended < target && nanos() > stopAppending { target = appended }
        let sending = min(idle, target - appended)
        for _ in 0..<sending { queued.append(timed { store.append(ch, payload: payload, isException: false) }) }
        appended += sending
        idle -= sending
        let ticket = timed { store.commit() }
        if sending > 0 { inFlight.append((ticket, sending, nanos())) }
        var synced = store.syncedTicket
        if idle == 0 && inFlight.first.map({ $0.ticket > synced }) == true {
            signal.wait()
            synced = store.syncedTicket
        }
        while let f = inFlight.first, f.ticket <= synced {
            latencies.append(nanos() - f.since)
            idle += f.clients
            inFlight.removeFirst()
        }
        if appended % 4096 < sending { largestFiles = max(largestFiles, store.stats.diskBytes) }
    }
    let elapsed = Double(nanos() - start) / 1e9
    store.shutdown()
    return Result(appendsPerSecond: Double(appended) / elapsed, syncLatencies: latencies.sorted(),
                  longestCall: longestCall, longestUnpreempted: longestUnpreempted, blockedCalls: blockedCalls, stats: store.stats, largestFiles: largestFiles)
}

func us(_ ns: UInt64) -> String { String(Int((Double(ns) / 1000).rounded())) }

func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

print("ChanStoreBench: \(totalValues) values of 16 bytes per run, files in \(parent)")
print(["policy", "clients", "appends/s", "sync p50 us", "p99 us", "max us", "fsyncs", "call max us", "unpreempted", "blocked"]
    .enumerated().map { pad($1, $0 == 0 ? 8 : 13) }.joined())
for (policy, clients) in [(FsyncPolicy.no, 1), (.no, 64), (.everysec, 1), (.everysec, 64), (.always, 1), (.always, 16), (.always, 64)] {
    let r = try run(policy, clients: clients)
    let synced = policy == .always
    print([policy.rawValue, String(clients), String(Int(r.appendsPerSecond)),
           synced ? us(percentile(r.syncLatencies, 0.5)) : "-", synced ? us(percentile(r.syncLatencies, 0.99)) : "-",
           synced ? us(r.syncLatencies.last ?? 0) : "-", String(r.stats.fsyncs), us(r.longestCall), us(r.longestUnpreempted), String(r.blockedCalls)]
        .enumerated().map { pad($1, $0 == 0 ? 8 : 13) }.joined())
}
let small = ChanStoreOptions(segmentBytes: 1 << 20, compactionMinDeadBytes: 2 << 20, compactionRatio: 2)
let r = try run(.everysec, clients: 64, options: small)
print("compaction (everysec, 64 clients, 1 MiB segments, 2 MiB dead bytes start one): \(r.stats.compactions) compactions, "
    + "longest \(us(r.stats.longestCompactionNanos)) us on the compactor thread; longest call on the caller \(us(r.longestCall)) us, "
    + "\(us(r.longestUnpreempted)) us when not preempted, \(r.blockedCalls) calls blocked; files at most \(r.largestFiles >> 10) KiB")
