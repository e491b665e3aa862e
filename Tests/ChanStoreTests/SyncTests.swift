@testable import ChanStore
import Foundation
import XCTest

/// The fsync policies, as seen by a caller: when tickets complete, when the
/// writer syncs, and that a completed ticket's records are in the file.
final class SyncTests: XCTestCase {
    /// Value records in the newest segment file.
    func valuesOnDisk(_ dir: TempDir) throws -> Int {
        let name = dir.storeFiles.last!
        var state = ReplayState()
        state.channels[1] = ReplayState.Channel(name: "q", capacity: 0, preference: 0)
        _ = try FileScanner.scan(dir.read(name), path: name, isLast: true, into: &state)
        return state.channels.values.reduce(0) { $0 + $1.liveValues.count }
    }

    /// 50 commits of 4 values without waiting, then the tickets as they
    /// complete: in order, each only once its values are in the file.
    func checkTicketsCompleteInOrderAfterTheirRecordsAreWritten(_ policy: FsyncPolicy) throws -> ChanStore {
        let dir = TempDir()
        let signals = DispatchSemaphore(value: 0)
        let hooks = LogLines()
        let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(fsync: policy),
                                  onDurable: { hooks.sink("durable"); signals.signal() })
        let q = store.makeDurable("q", capacity: 1000, preference: 0)
        var tickets: [CommitTicket] = []
        var valuesUpTo: [CommitTicket: Int] = [:]
        for i in 1...200 {
            _ = store.append(q, payload: value(i), isException: false)
            if i % 4 == 0 {
                let t = store.commit()
                tickets.append(t)
                valuesUpTo[t] = i
            }
        }
        XCTAssertEqual(tickets, Array(1...50), "one ticket per commit that had records, in order")
        XCTAssertEqual(store.commit(), 50, "a commit with nothing recorded hands over nothing")
        var seen: [CommitTicket] = []
        for _ in 0..<200 where store.durableTicket < 50 {
            _ = signals.wait(timeout: .now() + 0.1)
            XCTAssertEqual(store.commit(), 50, "nothing new recorded")
            let durable = store.durableTicket
            seen.append(durable)
            if durable > 0 {
                XCTAssertGreaterThanOrEqual(try valuesOnDisk(dir), valuesUpTo[durable]!, "ticket \(durable) completed before its values were in the file")
            }
        }
        XCTAssertEqual(store.durableTicket, 50)
        XCTAssertEqual(seen, seen.sorted(), "tickets complete in order")
        XCTAssertLessThanOrEqual(hooks.all.count, 50, "at most one signal per commit")
        XCTAssertNil(store.failure)
        return store
    }

    func testAlwaysCompletesTicketsInOrderAfterWriteAndFsyncGroupingCommits() throws {
        let store = try checkTicketsCompleteInOrderAfterTheirRecordsAreWritten(.always)
        let fsyncs = store.stats.fsyncs
        XCTAssertGreaterThanOrEqual(fsyncs, 1)
        XCTAssertLessThanOrEqual(fsyncs, 50, "at most one fsync per commit")
        print("always: 50 commits, \(fsyncs) fsyncs")
    }

    func testEverysecCompletesTicketsOnceWrittenAndSyncsWithinAboutASecond() throws {
        let store = try checkTicketsCompleteInOrderAfterTheirRecordsAreWritten(.everysec)
        for _ in 0..<500 where store.stats.fsyncs == 0 { usleep(10_000) }
        XCTAssertEqual(store.stats.fsyncs, 1, "one background fsync for the second's writes")
    }

    /// Under `everysec` and `no` the commit itself writes (write(2) on the
    /// caller's thread, as Redis writes its AOF before answering): when it
    /// returns, its ticket is complete and its records are in the file.
    func testEverysecAndNoWriteInTheCommitItself() throws {
        for policy in [FsyncPolicy.everysec, .no] {
            let dir = TempDir()
            let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(fsync: policy))
            let q = store.makeDurable("q", capacity: 10, preference: 0)
            store.commit()
            for i in 1...3 {
                _ = store.append(q, payload: value(i), isException: false)
                XCTAssertEqual(store.loggedTicket, store.durableTicket + 1, "\(policy): recorded, not yet written")
                let ticket = store.commit()
                XCTAssertEqual(store.durableTicket, ticket, "\(policy)")
                XCTAssertEqual(try valuesOnDisk(dir), i, "\(policy)")
            }
            store.shutdown()
        }
    }

    /// While a full segment is sealed (synced, its successor created) on the
    /// sync thread, commits keep their records and their tickets wait; the
    /// first commit after the seal writes them. No segment is written before
    /// its predecessor is whole, so the store reopens without a torn record.
    func testCommitsDuringASealWaitForItAndAreWrittenAfterIt() throws {
        let dir = TempDir()
        let signals = DispatchSemaphore(value: 0)
        var last: CommitTicket = 0
        var count = 0
        do {
            let store = try ChanStore(directory: dir.path,
                                      options: ChanStoreOptions(fsync: .everysec, segmentBytes: 1000, compactionMinDeadBytes: 1 << 30),
                                      onDurable: { signals.signal() })
            let q = store.makeDurable("q", capacity: 1000_000, preference: 0)
            var waited = 0
            // Until a few commits fell into a seal (the segment is first synced ahead, meanwhile written on).
            while waited < 5 && count < 200_000 {
                count += 1
                _ = store.append(q, payload: value(count, size: 50), isException: false)
                last = store.commit()
                if store.durableTicket < last { waited += 1 }
            }
            XCTAssertEqual(waited, 5, "commits fell into a seal")
            for _ in 0..<500 where store.durableTicket < last {
                _ = signals.wait(timeout: .now() + 0.01)
                store.commit()
            }
            XCTAssertEqual(store.durableTicket, last)
            XCTAssertGreaterThan(store.stats.segments, 1)
            XCTAssertNil(store.failure)
        }
        let log = LogLines()
        let store = try ChanStore(directory: dir.path, log: log.sink)
        XCTAssertEqual(shapes(store), [Shape("q", capacity: 1000_000, values: (1...count).map { value($0, size: 50) })])
        XCTAssertEqual(log.all, [])
    }

    func testNoCompletesTicketsOnceWrittenAndSyncsOnlyAtShutdown() throws {
        let store = try checkTicketsCompleteInOrderAfterTheirRecordsAreWritten(.no)
        usleep(1_500_000)
        XCTAssertEqual(store.stats.fsyncs, 0, "left to the kernel")
        store.shutdown()
        XCTAssertEqual(store.stats.fsyncs, 1, "synced at shutdown")
    }
}
