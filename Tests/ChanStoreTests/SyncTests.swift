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

    func testAlwaysCompletesTicketsInOrderOnlyAfterTheirRecordsAreWrittenAndSynced() throws {
        let dir = TempDir()
        let signals = DispatchSemaphore(value: 0)
        let hooks = LogLines()
        let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(fsync: .always),
                                  onSynced: { hooks.sink("synced"); signals.signal() })
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
        for _ in 0..<200 where store.syncedTicket < 50 {
            _ = signals.wait(timeout: .now() + 0.1)
            let synced = store.syncedTicket
            seen.append(synced)
            if synced > 0 {
                XCTAssertGreaterThanOrEqual(try valuesOnDisk(dir), valuesUpTo[synced]!, "ticket \(synced) completed before its values were in the file")
            }
        }
        XCTAssertEqual(store.syncedTicket, 50)
        XCTAssertEqual(seen, seen.sorted(), "tickets complete in order")
        let fsyncs = store.stats.fsyncs
        XCTAssertGreaterThanOrEqual(fsyncs, 1)
        XCTAssertLessThanOrEqual(fsyncs, 50, "at most one fsync per commit")
        XCTAssertLessThanOrEqual(hooks.all.count, 50, "at most one signal per commit")
        print("always: 50 commits, \(fsyncs) fsyncs, \(hooks.all.count) signals")
        XCTAssertNil(store.failure)
    }

    func testEverysecCompletesTicketsAtOnceAndSyncsWithinAboutASecond() throws {
        let dir = TempDir()
        let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(fsync: .everysec))
        let q = store.makeDurable("q", capacity: 10, preference: 0)
        _ = store.append(q, payload: value(1), isException: false)
        let t = store.commit()
        XCTAssertEqual(store.syncedTicket, t)
        for _ in 0..<500 where store.stats.fsyncs == 0 { usleep(10_000) }
        XCTAssertEqual(store.stats.fsyncs, 1, "one background fsync for the second's writes")
        XCTAssertEqual(try valuesOnDisk(dir), 1)
    }

    func testNoWritesWithoutSyncingUntilShutdown() throws {
        let dir = TempDir()
        let store = try ChanStore(directory: dir.path, options: ChanStoreOptions(fsync: .no))
        let q = store.makeDurable("q", capacity: 10, preference: 0)
        _ = store.append(q, payload: value(1), isException: false)
        let t = store.commit()
        XCTAssertEqual(store.syncedTicket, t)
        for _ in 0..<500 where store.stats.unwrittenBytes > 0 { usleep(10_000) }
        XCTAssertEqual(try valuesOnDisk(dir), 1, "written at once")
        usleep(1_500_000)
        XCTAssertEqual(store.stats.fsyncs, 0, "and left to the kernel")
        store.shutdown()
        XCTAssertEqual(store.stats.fsyncs, 1, "synced at shutdown")
    }
}
