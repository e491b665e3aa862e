import XCTest

/// semantics.md rules as seen over the wire (the engine's own suite covers
/// each rule in depth; these show the server keeps them across processes).
final class SemanticsTests: DaemonTestCase {
    /// Rule 17, observed through a buffered log channel: after a rendezvous,
    /// whichever side runs first appends to the log first.
    private func logOrder(prefer: String, receiverFirst: Bool) throws -> [String] {
        let setup = try daemon.connect()
        setup.say("MAKE x PREFER \(prefer)", "MAKE log CAP 10")
        XCTAssertEqual(setup.reply(), "OK")
        XCTAssertEqual(setup.reply(), "OK")
        let receiver = try daemon.connect(), sender = try daemon.connect()
        // The side that arrives first blocks, its log entry held behind it.
        let (first, second) = receiverFirst ? (receiver, sender) : (sender, receiver)
        let firstScript = receiverFirst ? "RECV x\r\nSEND log receiver\r\n" : "SEND x v\r\nSEND log sender\r\n"
        let secondScript = receiverFirst ? "SEND x v\r\nSEND log sender\r\n" : "RECV x\r\nSEND log receiver\r\n"
        first.send(firstScript)
        waitForStat("x", receiverFirst ? "receivers=1" : "senders=1")
        second.send(secondScript)
        _ = first.reply(); _ = first.reply(); _ = second.reply(); _ = second.reply()
        setup.say("RECV log", "RECV log")
        return [setup.reply()!, setup.reply()!].map { String($0.split(separator: "|").last!) }
    }

    func testRule17PreferReceiverRunsTheWokenReceiverFirst() throws {
        XCTAssertEqual(try logOrder(prefer: "RECEIVER", receiverFirst: true), ["receiver", "sender"])
    }

    func testRule17NoPreferenceLetsTheArrivingSenderCarryOn() throws {
        XCTAssertEqual(try logOrder(prefer: "NONE", receiverFirst: true), ["sender", "receiver"])
    }

    func testRule17PreferSenderRunsTheWokenSenderFirst() throws {
        XCTAssertEqual(try logOrder(prefer: "SENDER", receiverFirst: false), ["sender", "receiver"])
    }

    func testRule17PreferReceiverLetsTheArrivingReceiverCarryOn() throws {
        XCTAssertEqual(try logOrder(prefer: "RECEIVER", receiverFirst: false), ["receiver", "sender"])
    }

    /// Rules 6-7: buffered order 1..N+1 with a full buffer and a blocked sender.
    func testRule7BufferedOrderWithABlockedSender() throws {
        let s = try daemon.connect(), late = try daemon.connect(), r = try daemon.connect()
        s.say("MAKE b CAP 3", "SEND b 1", "SEND b 2", "SEND b 3")
        for _ in 0..<4 { XCTAssertEqual(s.reply(), "OK") }
        late.say("SEND b 4")
        waitForStat("b", "senders=1")
        r.say("RECV b", "STAT b", "RECV b", "RECV b", "RECV b", "RECV b NOWAIT")
        XCTAssertEqual(r.reply(), "MSG b 1|1")
        XCTAssertEqual(anyRate(r.reply()), "STAT b cap=3 len=3 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=4 received=1 rate=* held=0 exists=1 durable=0")
        XCTAssertEqual(r.reply(), "MSG b 1|2")
        XCTAssertEqual(r.reply(), "MSG b 1|3")
        XCTAssertEqual(r.reply(), "MSG b 1|4")
        XCTAssertEqual(r.reply(), "TIMEOUT")
        XCTAssertEqual(late.reply(), "OK")
    }

    /// Rule 21: a select waiting to send and to receive on one channel.
    func testRule21SendersAndReceiversApart() throws {
        let a = try daemon.connect(), b = try daemon.connect()
        a.say("SELECT 2", "SEND both v", "RECV both")
        waitForStat("both", "receivers=1")
        b.say("STAT both")
        XCTAssertEqual(b.reply(), "STAT both cap=0 len=0 balance=0 state=open preference=-1 senders=1 receivers=1 persistent=0 sent=0 received=0 rate=0 held=0 exists=1 durable=0")
    }

    /// Rule 10 over the wire: with --seed the choice is reproducible, and
    /// among always-ready cases every one gets chosen.
    func testSelectChoosesAmongReadyCases() throws {
        let c = try daemon.connect()
        c.say("CLOSE r0", "CLOSE r1", "CLOSE r2")
        for _ in 0..<3 { XCTAssertEqual(c.reply(), "OK") }
        var counts = [0, 0, 0, 0]
        let n = 600
        c.send(String(repeating: "SELECT 4\r\nRECV never\r\nRECV r0\r\nRECV r1\r\nRECV r2\r\n", count: n))
        for _ in 0..<n {
            let reply = c.reply()!
            counts[Int(reply.split(separator: " ")[1])!] += 1
        }
        XCTAssertEqual(counts[0], 0)
        for k in 1...3 { XCTAssertGreaterThan(counts[k], n / 3 - 5 * 12, "\(counts)") }
    }
}
