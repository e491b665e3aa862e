@testable import ChanStore
import Foundation
import XCTest

/// A child process writes under each fsync policy and is killed with
/// SIGKILL at random moments; after each kill the store must hold every
/// value whose ticket the child saw complete (synced under `always`,
/// written under `everysec`) and did not remove, in order, and nothing it
/// never wrote.
final class CrashTests: XCTestCase {
    static var writer: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ChanStoreCrashWriter")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/ChanStoreCrashWriter"
    }

    /// The writer's payload for a sequence number (Sources/ChanStoreCrashWriter/Crash.swift).
    func payload(_ seq: Int) -> [UInt8] {
        let digits = String(seq)
        return Array(("v" + String(repeating: "0", count: 15 - digits.count) + digits).utf8)
    }

    func testKillNineAtRandomMomentsLosesNoSyncedValue() throws {
        try killAtRandomMoments(.always)
    }

    func testKillNineUnderEverysecLosesNoWrittenValue() throws {
        try killAtRandomMoments(.everysec)
    }

    func killAtRandomMoments(_ policy: FsyncPolicy) throws {
        let rounds = Int(ProcessInfo.processInfo.environment["CHANSTORE_CRASH_ROUNDS"] ?? "") ?? 25
        let dir = TempDir()
        let report = dir.path + ".report"
        defer { unlink(report) }
        var synced = Set<Int>()
        var removed = Set<Int>()
        var written: [ClosedRange<Int>] = []
        var checked = 0
        var compacted = 0
        for round in 0..<rounds {
            let first = round * 10_000_000 + 1
            written.append(first...(first + 9_999_999))
            let child = Process()
            child.executableURL = URL(fileURLWithPath: Self.writer)
            child.arguments = [dir.path, report, String(first), policy.rawValue]
            try child.run()
            usleep(UInt32.random(in: 20_000...300_000))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "round \(round): the writer ended before the kill")

            let lines = String(decoding: FileManager.default.contents(atPath: report) ?? Data(), as: UTF8.self)
                .split(separator: "\n")
            for line in lines {
                let f = line.split(separator: " ")
                if f[0] == "S", f.count == 3, let a = Int(f[1]), let b = Int(f[2]) { synced.formUnion(a...b) }
                if f[0] == "R", f.count == 2, let v = Int(f[1]) { removed.insert(v) }
            }
            if dir.storeFiles.contains(where: { $0.hasPrefix("snap-") }) { compacted += 1 }
            let store = try ChanStore(directory: dir.path)
            let values = store.takeRecovered().first { $0.name == "jobs" }?.values ?? []
            store.shutdown()
            let seqs = values.map { v -> Int in
                let seq = Int(String(decoding: v.payload.dropFirst(), as: UTF8.self)) ?? -1
                XCTAssertEqual(v.payload, payload(seq), "round \(round): a value nobody wrote")
                XCTAssertTrue(written.contains { $0.contains(seq) }, "round \(round): value \(seq) was never written")
                return seq
            }
            XCTAssertEqual(seqs, seqs.sorted(), "round \(round): values out of order")
            XCTAssertEqual(Set(seqs).count, seqs.count, "round \(round): a value twice")
            let missing = synced.subtracting(removed).subtracting(seqs)
            XCTAssertEqual(missing.sorted().prefix(10), [], "round \(round): synced values lost")
            checked += synced.subtracting(removed).count
        }
        print("crash (\(policy.rawValue)): \(rounds) kills, \(synced.count) values reported synced, \(removed.count) removed, "
            + "\(checked) presence checks, a snapshot present after \(compacted) kills")
    }

    func testFailedWriteStopsTicketsAndLosesNoSyncedValue() throws {
        try failWrite(.always)
    }

    /// Under `everysec` the loop thread's own write(2) fails: the ticket of
    /// that commit never completes.
    func testFailedWriteUnderEverysecStopsTicketsAndLosesNoWrittenValue() throws {
        try failWrite(.everysec)
    }

    func failWrite(_ policy: FsyncPolicy) throws {
        let dir = TempDir()
        let report = dir.path + ".report"
        defer { unlink(report) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: Self.writer)
        child.arguments = [dir.path, report, "1", policy.rawValue, "6000"]
        try child.run()
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 3, "the writer must see the store's failure")
        let lines = String(decoding: FileManager.default.contents(atPath: report) ?? Data(), as: UTF8.self).split(separator: "\n")
        XCTAssertTrue(lines.last?.hasPrefix("F \(dir.path)/seg-") == true && lines.last?.contains("write failed: File too large") == true,
                      "\(lines.last ?? "")")
        var synced = Set<Int>(), removed = Set<Int>()
        for line in lines {
            let f = line.split(separator: " ")
            if f[0] == "S", f.count == 3, let a = Int(f[1]), let b = Int(f[2]) { synced.formUnion(a...b) }
            if f[0] == "R", f.count == 2, let v = Int(f[1]) { removed.insert(v) }
        }
        XCTAssertFalse(synced.isEmpty)
        let log = LogLines()
        let store = try ChanStore(directory: dir.path, log: log.sink)
        let seqs = (store.takeRecovered().first?.values ?? []).map { Int(String(decoding: $0.payload.dropFirst(), as: UTF8.self))! }
        XCTAssertEqual(seqs, seqs.sorted())
        XCTAssertEqual(synced.subtracting(removed).subtracting(seqs), [])
        XCTAssertTrue(log.all.allSatisfy { $0.contains(": torn tail at offset ") }, "\(log.all)")
    }
}
