@testable import ChanStore
import Foundation
import XCTest

/// A fresh directory under the system's temporary directory, removed at the end.
final class TempDir {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/chanstore-XXXXXX").utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Names of the store's files (without the lock), sorted.
    var storeFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0 != "lock" }.sorted()
    }

    var storeBytes: Int {
        storeFiles.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: file($1))[.size] as? Int) ?? 0) }
    }

    func read(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: file(name)) ?? Data()) }

    func write(_ name: String, _ bytes: [UInt8]) {
        XCTAssertTrue(FileManager.default.createFile(atPath: file(name), contents: Data(bytes)))
    }
}

/// Log lines from the store's threads.
final class LogLines: @unchecked Sendable {
    // @unchecked Sendable: `lines` only under `lock`.
    private let lock = NSLock()
    private var lines: [String] = []

    var sink: @Sendable (String) -> Void { { line in self.lock.withLock { self.lines.append(line) } } }
    var all: [String] { lock.withLock { lines } }
}

func value(_ n: Int, size: Int = 16) -> [UInt8] {
    let text = "value-\(n)-"
    return Array((text + String(repeating: "x", count: max(0, size - text.count))).utf8)
}

/// A recovered channel as compared in tests: settings, state and payloads.
struct Shape: Equatable, CustomStringConvertible {
    var name: String
    var capacity: Int
    var preference: Int
    var closed: Bool
    var values: [[UInt8]]
    var exceptions: [Bool]

    init(_ name: String, capacity: Int, preference: Int = 0, closed: Bool = false, values: [[UInt8]], exceptions: [Bool]? = nil) {
        self.name = name
        self.capacity = capacity
        self.preference = preference
        self.closed = closed
        self.values = values
        self.exceptions = exceptions ?? values.map { _ in false }
    }

    init(_ ch: RecoveredChannel) {
        self.init(ch.name, capacity: ch.capacity, preference: ch.preference, closed: ch.closed,
                  values: ch.values.map(\.payload), exceptions: ch.values.map(\.isException))
    }

    var description: String {
        "\(name) cap=\(capacity) pref=\(preference) closed=\(closed) values=\(values.map { String(decoding: $0, as: UTF8.self) })"
    }
}

func shapes(_ store: ChanStore) -> [Shape] { store.takeRecovered().map(Shape.init) }

/// Waits (at most 20 s) until no compaction is under way, committing as
/// the daemon's loop does when the store's threads signal.
func waitForCompaction(_ store: ChanStore, file: StaticString = #filePath, line: UInt = #line) {
    for _ in 0..<2000 where store.stats.compacting {
        usleep(10_000)
        store.commit()
    }
    XCTAssertFalse(store.stats.compacting, "compaction still running after 20 s", file: file, line: line)
}

/// Commits and waits (at most 20 s) until the commit is written: while a
/// segment is being sealed, a commit's records wait in memory.
func commitWritten(_ store: ChanStore, file: StaticString = #filePath, line: UInt = #line) {
    let ticket = store.commit()
    for _ in 0..<20_000 where store.durableTicket < ticket {
        usleep(1000)
        store.commit()
    }
    XCTAssertGreaterThanOrEqual(store.durableTicket, ticket, "not written after 20 s", file: file, line: line)
}

/// Commits until the store has at least `count` segments and what it holds
/// is written (at most 20 s): a full segment is sealed once the sync thread
/// has synced it ahead (under `everysec` and `no`).
func commitUntil(_ store: ChanStore, segments count: Int, file: StaticString = #filePath, line: UInt = #line) {
    for _ in 0..<20_000 where store.stats.segments < count {
        store.commit()
        usleep(1000)
    }
    XCTAssertGreaterThanOrEqual(store.stats.segments, count, "not sealed after 20 s", file: file, line: line)
    commitWritten(store, file: file, line: line)
}
