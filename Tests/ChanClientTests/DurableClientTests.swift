import ChanClient
import Foundation
import XCTest

/// `make(..., durable:)` and `chan make --durable`, against daemons with and without a data directory.
final class DurableClientTests: XCTestCase {
    func testDurableMakeAndItsValuesAcrossARestart() throws {
        let directory = NSTemporaryDirectory() + "chan-durable-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var daemon = try Daemon(["--data-dir", directory])
        var client = try daemon.client()
        try client.make("jobs", capacity: 10, durable: true)
        try client.send("jobs", Array("one".utf8))
        XCTAssertEqual(try client.stat("jobs").durable, true)
        let cli = chan(["make", "cli.jobs", "--cap", "2", "--durable"], environment: ["CHAND_ADDR": daemon.address])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertEqual(try client.stat("cli.jobs").durable, true)
        client = try daemon.client()  // the old connection goes with the daemon
        daemon.stop()

        daemon = try Daemon(["--data-dir", directory])
        defer { daemon.stop() }
        client = try daemon.client()
        XCTAssertEqual(try client.stat("cli.jobs").durable, true)
        XCTAssertEqual(try client.recv("jobs", timeout: .nowait).payload, Array("one".utf8))
    }

    func testWithoutDataDirectoryTheServerRefuses() throws {
        let daemon = try Daemon()
        defer { daemon.stop() }
        let client = try daemon.client()
        XCTAssertThrowsError(try client.make("jobs", capacity: 10, durable: true)) {
            XCTAssertEqual($0 as? ChanError, .server(code: .noStore, text: "MAKE jobs DURABLE needs a data directory (chand --data-dir)"))
        }
        XCTAssertThrowsError(try client.make("jobs", durable: true)) {
            XCTAssertEqual($0 as? ChanError, .invalidArgument("a durable channel needs a capacity of 1 or more"))
        }
        let cli = chan(["make", "jobs", "--cap", "2", "--durable"], environment: ["CHAND_ADDR": daemon.address])
        XCTAssertEqual(cli.status, 5)
        XCTAssertTrue(cli.stderr.contains("NOSTORE MAKE jobs DURABLE needs a data directory (chand --data-dir)"), cli.stderr)
        XCTAssertEqual(chan(["make", "jobs", "--durable"]).status, 64)
    }
}
