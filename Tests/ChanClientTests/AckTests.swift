import ChanClient
import Foundation
import XCTest

/// Acknowledged delivery through ChanClient (`ack: true`, `acknowledge`,
/// `giveBack`) and `chan recv --ack`, against the real daemon.
final class ChanClientAckTests: XCTestCase {
    var daemon: Daemon!
    var client: ChanClient!

    override func setUpWithError() throws {
        daemon = try Daemon(["--max-held", "2"])
        client = try daemon.client()
    }

    override func tearDown() {
        client = nil
        daemon?.stop()
        daemon = nil
    }

    /// A rendezvous send on its own connection, in the background.
    private func backgroundSend(_ channel: String, _ value: String) -> Background<Bool> {
        let port = daemon.port
        return Background { () throws -> Bool in
            let c = try ChanClient(port: port)
            try c.send(channel, value)
            return true
        }
    }

    func testTheSenderReturnsAtTheAcknowledgement() throws {
        let sender = backgroundSend("jobs", "build 42")
        try eventually("a sender waiting on jobs") { try client.stat("jobs").senders == 1 }
        let m = try client.recv("jobs", ack: true)
        XCTAssertEqual(m, Message(channel: "jobs", payload: bytes("build 42"), tag: 1))
        XCTAssertTrue(sender.isPending(), "no OK while the value is held")
        let stat = try client.stat("jobs")
        XCTAssertEqual([stat.held, stat.senders, stat.balance], [1, 0, 0])
        try client.acknowledge(m.tag!)
        XCTAssertEqual(try sender.value(), true)
        XCTAssertEqual(try client.stat("jobs").held, 0)
    }

    func testGiveBackRedeliversWithANewTag() throws {
        let sender = backgroundSend("jobs", "v")
        try eventually("a sender waiting on jobs") { try client.stat("jobs").senders == 1 }
        let first = try client.channel("jobs").receive(ack: true)
        try client.giveBack(first.tag!)
        XCTAssertEqual(try client.stat("jobs").senders, 1, "the sender waits again")
        let again = try client.recv("jobs", timeout: .nowait, ack: true)
        XCTAssertEqual(again.string, "v")
        XCTAssertEqual(again.tag, 2)
        try client.acknowledge(2)
        XCTAssertEqual(try sender.value(), true)
        XCTAssertEqual(try client.info().integer("redelivered"), 1)
    }

    func testWithoutAckThereIsNoTag() throws {
        try client.make("b", capacity: 1)
        try client.send("b", "x")
        XCTAssertNil(try client.recv("b").tag)
    }

    func testSelectWithAck() throws {
        try client.make("b", capacity: 2)
        try client.send("b", "x")
        let fired = try client.select([.receive("a"), .receive("b")], ack: true)
        XCTAssertEqual(fired.index, 1)
        XCTAssertEqual(fired.message?.tag, 1)
        XCTAssertEqual(try client.stat("b").held, 1)
        let sent = try client.select([.receive("a"), .send("b", "y")], ack: true)
        XCTAssertEqual(sent.outcome, .sent, "a send case is an ordinary send")
        try client.acknowledge(1)
        XCTAssertEqual(try client.stat("b").held, 0)
    }

    func testHoldingPastMaxHeldIsALimitError() throws {
        XCTAssertEqual(try client.hello().maxHeld, 2)
        try client.make("b", capacity: 3)
        for v in ["1", "2", "3"] { try client.send("b", v) }
        _ = try client.recv("b", ack: true)
        _ = try client.recv("b", ack: true)
        XCTAssertThrowsError(try client.recv("b", ack: true)) { error in
            guard case ChanError.server(.limit, _) = error else { return XCTFail("\(error)") }
        }
        try client.ping()
        XCTAssertThrowsError(try client.acknowledge(0)) { error in
            guard case ChanError.invalidArgument = error else { return XCTFail("\(error)") }
        }
    }

    /// An unknown tag: the server answers ERR NOTHELD and closes; the next request sees it.
    func testAnUnknownTagEndsTheConnection() throws {
        try client.acknowledge(9)
        XCTAssertThrowsError(try client.ping()) { error in
            guard case ChanError.server(.notHeld, "9") = error else { return XCTFail("\(error)") }
        }
    }

    /// A client that disconnects while holding: its value goes to the next receiver.
    func testADisconnectedHolderGivesItsValueBack() throws {
        let sender = backgroundSend("jobs", "v")
        let holder = try daemon.client()
        _ = try holder.recv("jobs", ack: true)
        holder.disconnect()
        let m = try client.recv("jobs", ack: true)
        XCTAssertEqual(m.string, "v")
        XCTAssertTrue(sender.isPending())
        try client.acknowledge(m.tag!)
        XCTAssertEqual(try sender.value(), true)
    }

    // MARK: chan recv --ack

    private var env: [String: String?] { ["CHAND_ADDR": daemon.address] }

    func testChanRecvAckAcknowledgesAfterWriting() throws {
        let sender = backgroundSend("jobs", "build 42")
        try eventually("a sender waiting on jobs") { try client.stat("jobs").senders == 1 }
        let got = chan(["recv", "jobs", "--ack"], environment: env)
        XCTAssertEqual(got.status, 0, got.stderr)
        XCTAssertEqual(got.out, "build 42\n")
        XCTAssertEqual(try sender.value(), true, "acknowledged: the sender got its OK")
        let stat = try client.stat("jobs")
        XCTAssertEqual([stat.held, stat.received], [0, 1])
    }

    func testChanRecvAckFollow() throws {
        try client.make("feed", capacity: 2)
        try client.send("feed", "a")
        try client.send("feed", "b")
        try client.close("feed")
        let got = chan(["recv", "feed", "--ack", "--follow"], environment: env)
        XCTAssertEqual(got.status, 0, got.stderr)
        XCTAssertEqual(got.out, "a\nb\n")
        XCTAssertEqual(try client.stat("feed").received, 2)
        XCTAssertEqual(try client.stat("feed").state, .closed)
    }

    /// Standard output on a full disk (/dev/full): the value is given back,
    /// the exit status is 7, and the value is there for the next receiver.
    func testChanRecvAckGivesTheValueBackWhenItCannotBeWritten() throws {
        try client.make("full", capacity: 1)
        try client.send("full", "important")
        let rendezvousSender = backgroundSend("direct", "also important")
        try eventually("a sender waiting on direct") { try client.stat("direct").senders == 1 }
        for channel in ["full", "direct"] {
            let sh = Process()
            sh.executableURL = URL(fileURLWithPath: "/bin/sh")
            sh.arguments = ["-c", "\"$0\" recv \(channel) --ack >/dev/full", builtBinary("chan").path]
            sh.environment = ["CHAND_ADDR": daemon.address]
            let errors = Pipe()
            sh.standardError = errors
            try sh.run()
            let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            sh.waitUntilExit()
            XCTAssertEqual(sh.terminationStatus, 7)
            XCTAssertTrue(complaint.hasPrefix("chan: cannot write standard output: "), complaint)
        }
        let buffered = try client.stat("full")
        XCTAssertEqual([buffered.count, buffered.held, buffered.received], [1, 0, 0], "given back: buffered again")
        let waiting = try client.stat("direct")
        XCTAssertEqual([waiting.senders, waiting.held], [1, 0], "given back: its sender waits again")
        XCTAssertTrue(rendezvousSender.isPending(), "and was never told OK")
        XCTAssertEqual(try client.recv("full").string, "important")
        XCTAssertEqual(try client.recv("direct").string, "also important")
        XCTAssertEqual(try rendezvousSender.value(), true)
        XCTAssertEqual(try client.info().integer("redelivered"), 2)
    }
}
