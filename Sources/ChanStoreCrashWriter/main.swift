import ChanStore
import Glibc

// ChanStoreCrashWriter <dir> <report-file> <first-seq> <fsync policy> [<file-size-limit>]
//
// Opens the store under the policy (small segments, so that it also seals
// and compacts), then until killed (or a million values): appends 1-8
// values to channel "jobs", removes a few of the oldest as a consumer
// would, commits, waits for the ticket (the sync under `always`, the
// write under `everysec` and `no`), and only then appends
// "S <first> <last>" to the report file. A removal is reported ("R <seq>") before its commit.
// Payloads are `Crash.payload(seq)`. With a file size limit (RLIMIT_FSIZE),
// writing fails at that size: it reports "F <error>" once the store says so
// and exits 3. Exits 0 at the end, 1 on any other error.

func fail(_ text: String) -> Never {
    var bytes = Array("ChanStoreCrashWriter: \(text)\n".utf8)
    _ = write(2, &bytes, bytes.count)
    exit(1)
}

let args = CommandLine.arguments
guard args.count == 5 || args.count == 6, let firstSeq = Int(args[3]), let policy = FsyncPolicy(rawValue: args[4]) else {
    fail("usage: <dir> <report-file> <first-seq> <always|everysec|no> [<file-size-limit>]")
}
let report = open(args[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
if report < 0 { fail("cannot open \(args[2])") }
/// The sync thread's signal that tickets completed (or a seal finished): one byte each time, read by the main thread.
var syncPipe: [Int32] = [0, 0]
if pipe(&syncPipe) != 0 { fail("pipe failed") }
let syncRead = syncPipe[0], syncWrite = syncPipe[1]

func say(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    if write(report, &bytes, bytes.count) != bytes.count { fail("cannot write the report") }
}

if args.count == 6 {
    guard let limit = UInt(args[5]) else { fail("bad file size limit \(args[5])") }
    signal(SIGXFSZ, SIG_IGN)
    var rl = rlimit(rlim_cur: limit, rlim_max: limit)
    if setrlimit(Int32(RLIMIT_FSIZE.rawValue), &rl) != 0 { fail("setrlimit failed") }
}

let store: ChanStore
do {
    store = try ChanStore(directory: args[1], options: ChanStoreOptions(fsync: policy, segmentBytes: 16 << 10,
                                                                         compactionMinDeadBytes: 32 << 10),
                          onDurable: {
                              var one: UInt8 = 1
                              _ = write(syncWrite, &one, 1)
                          })
} catch {
    fail("\(error)")
}
let jobs = store.channel(named: "jobs") ?? store.makeDurable("jobs", capacity: 1000, preference: 0)
var outstanding: [(id: StoreValueID, seq: Int)] = []
for ch in store.takeRecovered() where ch.name == "jobs" {
    for v in ch.values {
        guard let seq = Crash.seq(v.payload) else { fail("value \(v.id) has a payload not written here") }
        outstanding.append((v.id, seq))
    }
}
var rng = SystemRandomNumberGenerator()
var seq = firstSeq
while seq < firstSeq + 1_000_000 {
    let first = seq
    for _ in 0..<Int.random(in: 1...8, using: &rng) {
        outstanding.append((store.append(jobs, payload: Crash.payload(seq), isException: false), seq))
        seq += 1
    }
    if outstanding.count > 50 {
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let v = outstanding.removeFirst()
            store.remove(jobs, value: v.id)
            say("R \(v.seq)")
        }
    }
    let ticket = store.commit()
    while store.durableTicket < ticket {
        if let failure = store.failure {
            say("F \(failure)")
            store.shutdown()  // joins the stopped writer and the compactor: no thread left running at exit
            exit(3)
        }
        var signal: UInt8 = 0
        _ = read(syncRead, &signal, 1)
        store.commit()  // after a seal: writes the records that waited for it
    }
    say("S \(first) \(seq - 1)")
}
store.shutdown()
