import ChanClient
import XCTest

/// ChanClient against the real daemon over loopback.
final class ChanClientTests: XCTestCase {
    var daemon: Daemon!
    var client: ChanClient!

    override func setUpWithError() throws {
        daemon = try Daemon()
        client = try daemon.client()
    }

    override func tearDown() {
        client = nil
        daemon?.stop()
        daemon = nil
    }

    /// Another connection, for a test's second party.
    func other() throws -> ChanClient { try daemon.client() }

    func testPingHelloAndInfo() throws {
        try client.ping()
        let hello = try client.hello()
        XCTAssertEqual(hello.protocolVersion, 1)
        XCTAssertTrue(hello.server.hasPrefix("chand/"), hello.server)
        XCTAssertEqual(hello.maxPayload, 1 << 20)
        XCTAssertEqual(hello.maxSelectCases, 256)
        XCTAssertEqual(hello.maxLine, 65536)
        XCTAssertEqual(hello.fields["proto"], "1")
        let info = try client.info()
        XCTAssertEqual(info.integer("connections"), 1)
        XCTAssertNotNil(info.integer("uptime_ms"))
        XCTAssertEqual(info.dictionary["errors_syntax"], "0")
        XCTAssertEqual(info.pairs.first?.key, "connections")
    }

    func testSendMeetsReceiverOnAnotherConnection() throws {
        let port = daemon.port
        let receiver = Background { () throws -> Message in
            let c = try ChanClient(port: port)
            return try c.recv("jobs")
        }
        try waitForReceivers(client, "jobs")
        try client.send("jobs", "hello world")
        XCTAssertEqual(try receiver.value(), Message(channel: "jobs", payload: bytes("hello world")))
        XCTAssertEqual(try client.stat("jobs").receivers, 0)
    }

    func testSendWaitsForAReceiver() throws {
        let port = daemon.port
        let sender = Background { () throws -> Bool in
            let c = try ChanClient(port: port)
            try c.send("later", "v")
            return true
        }
        // The SEND is queued on the channel until someone receives.
        try eventually("a sender waiting on later") { try client.stat("later").senders == 1 }
        XCTAssertEqual(try client.recv("later").string, "v")
        XCTAssertEqual(try sender.value(), true)
    }

    func testAnyBytesRoundTripThroughABuffer() throws {
        let values: [[UInt8]] = [
            Array(0...255),
            bytes("{5}"),
            [],
            bytes("a\r\nSEND x y\r\nPING\r\n"),
            bytes("  spaced  out  "),
            [13], [10], [0],
        ]
        try client.make("buf", capacity: values.count)
        for v in values { try client.send("buf", v) }
        XCTAssertEqual(try client.stat("buf").count, values.count)
        for v in values {
            let m = try client.recv("buf")
            XCTAssertEqual(m.payload, v)
            XCTAssertFalse(m.isException)
        }
        try client.ping()  // still in step
    }

    func testLargePayloadRoundTrip() throws {
        // The server's largest payload: its MSG reply passes the 1 MiB output
        // high-water mark, and the connection must carry on once it is written.
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try client.make("big", capacity: 1)
        try client.send("big", big)
        let back = try client.recv("big").payload
        XCTAssertEqual(back.count, big.count)
        XCTAssertTrue(back == big)
        try client.ping()
    }

    func testPayloadAtTheServerLimitAndAbove() throws {
        daemon = try Daemon(["--max-payload", "4096"])
        client = try daemon.client()
        XCTAssertEqual(try client.hello().maxPayload, 4096)
        let limit = [UInt8](repeating: 0x7B, count: 4096)
        try client.make("lim", capacity: 1)
        try client.send("lim", limit)
        XCTAssertThrowsError(try client.send("lim", limit + [1])) {
            XCTAssertEqual($0 as? ChanError, .server(code: .tooBig, text: "payload too big"))
        }
        try client.ping()  // the server skipped the payload: the connection is in step
        XCTAssertEqual(try client.recv("lim").payload, limit)
    }

    func testRecvTimeoutAndNowait() throws {
        XCTAssertThrowsError(try client.recv("empty", timeout: .nowait)) { XCTAssertEqual($0 as? ChanError, .timeout) }
        XCTAssertThrowsError(try client.recv("empty", timeout: .milliseconds(0))) { XCTAssertEqual($0 as? ChanError, .timeout) }
        XCTAssertThrowsError(try client.recv("empty", timeout: .milliseconds(20))) { XCTAssertEqual($0 as? ChanError, .timeout) }
        try client.make("one", capacity: 1)
        try client.send("one", "there")
        XCTAssertEqual(try client.recv("one", timeout: .nowait).string, "there")
        try client.send("one", "again")
        XCTAssertEqual(try client.recv("one", timeout: .milliseconds(50)).string, "again")
        XCTAssertEqual(try client.info().integer("timeouts"), 3)
    }

    func testCloseDrainsThenReportsClosed() throws {
        let ch = client.channel("drain")
        try ch.make(capacity: 2)
        try ch.send("a")
        try ch.send("b")
        try ch.close()
        XCTAssertEqual(try ch.stat().state, .closing)
        XCTAssertThrowsError(try ch.send("c")) { XCTAssertEqual($0 as? ChanError, .closed(channel: "drain")) }
        XCTAssertEqual(try ch.receive().string, "a")
        XCTAssertEqual(try ch.receive().string, "b")
        XCTAssertThrowsError(try ch.receive()) { XCTAssertEqual($0 as? ChanError, .closed(channel: "drain")) }
        XCTAssertThrowsError(try ch.receive(timeout: .nowait)) { XCTAssertEqual($0 as? ChanError, .closed(channel: "drain")) }
        XCTAssertEqual(try ch.stat().state, .closed)
        try ch.close()  // again: OK
    }

    func testCloseWakesABlockedReceiver() throws {
        let port = daemon.port
        let receiver = Background { () throws -> Message in try ChanClient(port: port).recv("wake") }
        try waitForReceivers(client, "wake")
        try client.close("wake")
        XCTAssertEqual(receiver.chanError(), .closed(channel: "wake"))
    }

    func testThrowArrivesAsAnException() throws {
        let ch = client.channel("errs")
        try ch.make(capacity: 2)
        try ch.throw("boom")
        try ch.send("fine")
        let first = try ch.receive()
        XCTAssertTrue(first.isException)
        XCTAssertEqual(first.string, "boom")
        XCTAssertFalse(try ch.receive().isException)
        XCTAssertEqual(try client.info().integer("throws"), 1)
    }

    func testMakeStatAndChannels() throws {
        try client.make("t.a", capacity: 3, preference: .sender)
        try client.make("t.a", capacity: 3, preference: .sender)  // same settings: fine
        try client.make("t.b", preference: .none)
        try client.make("u.c")
        XCTAssertEqual(try client.stat("t.a"), ChannelStat(name: "t.a", capacity: 3, count: 0, balance: 0, state: .open,
                                                            preference: .sender, senders: 0, receivers: 0, isPersistent: true, exists: true,
                                                            durable: false))
        XCTAssertThrowsError(try client.make("t.a", capacity: 4)) {
            XCTAssertEqual($0 as? ChanError, .server(code: .exists, text: "channel t.a exists with cap=3 preference=1"))
        }
        let list = try client.channels(prefix: "t.")
        XCTAssertEqual(list.total, 2)
        XCTAssertEqual(list.channels.map(\.name), ["t.a", "t.b"])
        XCTAssertEqual(list.channels.map(\.preference), [.sender, .none])
        XCTAssertEqual(try client.channels().channels.map(\.name), ["t.a", "t.b", "u.c"])
        XCTAssertEqual(try client.channels(prefix: "zzz"), ChannelList(channels: [], total: 0))
        // An unknown name reads as an empty open rendezvous channel, and is not created.
        let unknown = try client.stat("nobody")
        XCTAssertEqual(unknown.capacity, 0)
        XCTAssertEqual(unknown.state, .open)
        XCTAssertEqual(unknown.preference, .receiver)
        XCTAssertFalse(unknown.isPersistent)
        XCTAssertEqual(try client.channels().total, 3)
    }

    func testSelectReceiveCaseFires() throws {
        let port = daemon.port
        let sender = Background { () throws -> Bool in
            try ChanClient(port: port).send("b", "from b")
            return true
        }
        try eventually("a sender waiting on b") { try client.stat("b").senders == 1 }
        let a = client.channel("a"), b = client.channel("b")
        let fired = try client.select([a.receiveCase(), b.receiveCase()])
        XCTAssertEqual(fired.index, 1)
        XCTAssertEqual(fired.channel, "b")
        XCTAssertEqual(fired.operation, .receive)
        XCTAssertEqual(fired.value, bytes("from b"))
        XCTAssertEqual(fired.outcome, .received(Message(channel: "b", payload: bytes("from b"))))
        XCTAssertEqual(try sender.value(), true)
        XCTAssertEqual(try client.stat("a").receivers, 0)  // the other case was withdrawn
    }

    func testSelectWaitsThenSendCaseFires() throws {
        let port = daemon.port
        let helper = try other()
        // The select waits on both cases; a receiver arriving on c takes the send case.
        let selector = Background { () throws -> Selected in
            let c = try ChanClient(port: port)
            return try c.select([.receive("idle"), .send("c", "hi there")])
        }
        try eventually("the select waiting on idle and c") {
            try helper.stat("idle").receivers == 1 && helper.stat("c").senders == 1
        }
        XCTAssertEqual(try helper.recv("c").string, "hi there")
        let fired = try selector.value()
        XCTAssertEqual(fired.index, 1)
        XCTAssertEqual(fired.channel, "c")
        XCTAssertEqual(fired.operation, .send)
        XCTAssertEqual(fired.outcome, .sent)
        XCTAssertEqual(fired.value, bytes("hi there"))
        XCTAssertEqual(try helper.stat("idle").receivers, 0)
    }

    func testSelectOverManyChannelsReportsTheRightIndex() throws {
        try client.make("m.37", capacity: 1)
        try client.send("m.37", "x")
        let cases = (0..<50).map { SelectCase.receive("m.\($0)") }
        let fired = try client.select(cases, timeout: .nowait)
        XCTAssertEqual(fired.index, 37)
        XCTAssertEqual(fired.channel, "m.37")
        XCTAssertEqual(fired.message?.string, "x")
    }

    func testSelectTimeoutNowaitAndClosedCases() throws {
        XCTAssertThrowsError(try client.select([.receive("q1"), .send("q2", "v")], timeout: .nowait)) {
            XCTAssertEqual($0 as? ChanError, .timeout)
        }
        XCTAssertThrowsError(try client.select([.receive("q1")], timeout: .milliseconds(20))) {
            XCTAssertEqual($0 as? ChanError, .timeout)
        }
        try client.close("shut")
        let recvClosed = try client.select([.receive("q1"), .receive("shut")])
        XCTAssertEqual(recvClosed.index, 1)
        XCTAssertEqual(recvClosed.outcome, .closed)
        XCTAssertNil(recvClosed.value)
        let sendClosed = try client.select([.send("shut", "v")])
        XCTAssertEqual(sendClosed.index, 0)
        XCTAssertEqual(sendClosed.operation, .send)
        XCTAssertEqual(sendClosed.outcome, .closed)
        let throwClosed = try client.select([.throw("shut", "v")])
        XCTAssertEqual(throwClosed.operation, .throw)
        XCTAssertEqual(throwClosed.outcome, .closed)
        XCTAssertThrowsError(try client.select([])) {
            guard case .invalidArgument? = $0 as? ChanError else { return XCTFail("\($0)") }
        }
    }

    func testSelectThrowCaseDeliversAnException() throws {
        try client.make("ex", capacity: 1)
        let fired = try client.select([client.channel("ex").throwCase("bad")])
        XCTAssertEqual(fired.outcome, .sent)
        let m = try client.recv("ex")
        XCTAssertTrue(m.isException)
        XCTAssertEqual(m.string, "bad")
    }

    func testTimedSend() throws {
        XCTAssertThrowsError(try client.send("nobody", "x", timeout: .nowait)) { XCTAssertEqual($0 as? ChanError, .timeout) }
        XCTAssertThrowsError(try client.send("nobody", "x", timeout: .milliseconds(20))) { XCTAssertEqual($0 as? ChanError, .timeout) }
        XCTAssertEqual(try client.stat("nobody").senders, 0)  // withdrawn
        try client.make("room", capacity: 1)
        try client.send("room", "fits", timeout: .nowait)
        XCTAssertThrowsError(try client.send("room", "full", timeout: .nowait)) { XCTAssertEqual($0 as? ChanError, .timeout) }
        try client.close("room")
        XCTAssertThrowsError(try client.send("room", "late", timeout: .milliseconds(20))) {
            XCTAssertEqual($0 as? ChanError, .closed(channel: "room"))
        }
        XCTAssertEqual(try client.recv("room").string, "fits")
    }

    func testBadArgumentsAreRefusedBeforeTheWire() throws {
        let badNames = ["", "a b", "jobs\r\nCLOSE x", String(repeating: "n", count: 256), "caf\u{e9}", "tab\t"]
        for name in badNames {
            XCTAssertThrowsError(try client.send(name, "x"), name) {
                guard case .invalidArgument? = $0 as? ChanError else { return XCTFail("\($0)") }
            }
            XCTAssertThrowsError(try client.recv(name, timeout: .nowait), name)
            XCTAssertThrowsError(try client.select([.receive(name)]), name)
        }
        XCTAssertThrowsError(try client.recv("ok", timeout: .milliseconds(-1)))
        XCTAssertThrowsError(try client.recv("ok", timeout: .milliseconds(Int(Int32.max) + 1)))
        XCTAssertThrowsError(try client.make("ok", capacity: -1))
        XCTAssertThrowsError(try client.channels(prefix: "a b"))
        // A name of exactly 255 bytes is fine.
        try client.make(String(repeating: "n", count: 255))
        let info = try client.info()
        XCTAssertEqual(info.integer("errors_badname"), 0)
        XCTAssertEqual(info.integer("errors_syntax"), 0)
        XCTAssertEqual(info.integer("closes"), 0)
        XCTAssertEqual(info.integer("channels"), 1)
    }

    func testServerErrorLeavesTheConnectionUsable() throws {
        XCTAssertThrowsError(try client.make("huge", capacity: 2_000_000)) {
            guard case .server(let code, let text)? = $0 as? ChanError else { return XCTFail("\($0)") }
            XCTAssertEqual(code, .limit)
            XCTAssertFalse(text.isEmpty)
        }
        try client.ping()
        XCTAssertTrue(client.isConnected)
    }

    func testQuitEndsTheConnection() throws {
        try client.quit()
        XCTAssertFalse(client.isConnected)
        XCTAssertThrowsError(try client.ping()) {
            guard case .connectionLost? = $0 as? ChanError else { return XCTFail("\($0)") }
        }
    }

    func testConnectFailures() throws {
        let fake = try FakeServer(reply: [])
        let deadPort = fake.port
        fake.stop()  // nothing listens there any more
        XCTAssertThrowsError(try ChanClient(port: deadPort)) {
            guard case .connectFailed(let why)? = $0 as? ChanError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.hasPrefix("127.0.0.1:\(deadPort)"), why)
        }
        XCTAssertThrowsError(try ChanClient(port: 0)) {
            guard case .connectFailed? = $0 as? ChanError else { return XCTFail("\($0)") }
        }
        // A name that resolves (from /etc/hosts) works too.
        try ChanClient(host: "localhost", port: daemon.port).ping()
    }

    func testBlockedReceiveSeesTheServerGo() throws {
        let port = daemon.port
        let receiver = Background { () throws -> Message in try ChanClient(port: port).recv("forever") }
        try waitForReceivers(client, "forever")
        daemon.stop()
        guard case .connectionLost? = receiver.chanError() else { return XCTFail("expected connectionLost") }
        XCTAssertThrowsError(try client.ping()) {
            guard case .connectionLost? = $0 as? ChanError else { return XCTFail("\($0)") }
        }
    }
}
