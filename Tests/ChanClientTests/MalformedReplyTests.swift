import ChanClient
import XCTest

/// Requests as they go on the wire, and replies chand never sends, from a fake server.
final class ChanClientWireTests: XCTestCase {
    /// Small bounds; a short I/O timeout only where a test waits for it to
    /// run out (a reply that stops halfway), so that a slow machine cannot
    /// turn a good exchange into a timeout.
    static func options(ioTimeout: Duration) -> ChanClient.Options {
        var o = ChanClient.Options()
        o.ioTimeout = ioTimeout
        o.maxLineLength = 1024
        o.maxPayload = 4096
        return o
    }

    /// Runs `call` against a fake server answering `reply`; returns what it
    /// threw (nil if nothing), the request bytes, and the client.
    func exchange(_ reply: String, requestBytes: Int? = nil, hold: Bool = false,
                  _ call: (ChanClient) throws -> Void) throws -> (error: ChanError?, request: String, client: ChanClient) {
        try exchange(Array(reply.utf8), requestBytes: requestBytes, hold: hold, call)
    }

    func exchange(_ reply: [UInt8], requestBytes: Int? = nil, hold: Bool = false,
                  _ call: (ChanClient) throws -> Void) throws -> (error: ChanError?, request: String, client: ChanClient) {
        let fake = try FakeServer(reply: reply, requestBytes: requestBytes, hold: hold)
        defer { fake.stop() }
        let client = try ChanClient(port: fake.port, options: Self.options(ioTimeout: hold ? .milliseconds(300) : .seconds(30)))
        var caught: ChanError?
        do {
            try call(client)
        } catch let error as ChanError {
            caught = error
        }
        return (caught, String(decoding: fake.request, as: UTF8.self), client)
    }

    // MARK: What goes on the wire

    func testSendAndThrowUseTheCountedForm() throws {
        var r = try exchange("OK\r\n", requestBytes: 22) { try $0.send("jobs", "hello") }
        XCTAssertNil(r.error)
        XCTAssertEqual(r.request, "SEND jobs {5}\r\nhello\r\n")
        r = try exchange("OK\r\n", requestBytes: 18) { try $0.throw("e", [0, 13, 10]) }
        XCTAssertEqual(r.request, "THROW e {3}\r\n\0\r\n\r\n")
        r = try exchange("OK\r\n", requestBytes: 17) { try $0.send("jobs", "") }
        XCTAssertEqual(r.request, "SEND jobs {0}\r\n\r\n")
    }

    func testSelectRequestAndReply() throws {
        var fired: Selected?
        let r = try exchange("SELECTED 1 MSG b 2\r\nhi\r\n", requestBytes: 47) {
            fired = try $0.select([.send("a", "x y"), .receive("b")], timeout: .milliseconds(250))
        }
        XCTAssertNil(r.error)
        XCTAssertEqual(r.request, "SELECT 2 TIMEOUT 250\r\nSEND a {3}\r\nx y\r\nRECV b\r\n")
        XCTAssertEqual(fired?.index, 1)
        XCTAssertEqual(fired?.message, Message(channel: "b", payload: bytes("hi")))
    }

    func testTimedSendIsAOneCaseSelect() throws {
        let r = try exchange("TIMEOUT\r\n", requestBytes: 32) { try $0.send("q", "v", timeout: .nowait) }
        XCTAssertEqual(r.error, .timeout)
        XCTAssertEqual(r.request, "SELECT 1 NOWAIT\r\nSEND q {1}\r\nv\r\n")
    }

    func testOtherRequestLines() throws {
        let cases: [(String, (ChanClient) throws -> Void, String)] = [
            ("RECV jobs\r\n", { _ = try $0.recv("jobs") }, "MSG jobs 0\r\n\r\n"),
            ("RECV jobs NOWAIT\r\n", { _ = try $0.recv("jobs", timeout: .nowait) }, "MSG jobs 0\r\n\r\n"),
            ("RECV jobs TIMEOUT 7\r\n", { _ = try $0.recv("jobs", timeout: .milliseconds(7)) }, "MSG jobs 0\r\n\r\n"),
            ("MAKE m CAP 5 PREFER SENDER\r\n", { try $0.make("m", capacity: 5, preference: .sender) }, "OK\r\n"),
            ("CLOSE m\r\n", { try $0.close("m") }, "OK\r\n"),
            ("PING\r\n", { try $0.ping() }, "PONG\r\n"),
            ("CHANNELS p.\r\n", { _ = try $0.channels(prefix: "p.") }, "CHANNELS 0 total=0\r\n"),
            ("QUIT\r\n", { try $0.quit() }, "BYE\r\n"),
        ]
        for (expected, call, reply) in cases {
            let r = try exchange(reply, call)
            XCTAssertNil(r.error, expected)
            XCTAssertEqual(r.request, expected)
        }
    }

    func testAProbingHelloEndsWithAnEmptyLine() throws {
        let hello = "HELLO proto=1 server=chand/0.1.0 max_line=1 max_payload=2 max_select_cases=3 max_capacity=4 max_channels=5 max_connections=6\r\n"
        var answer: ServerHello?
        let r = try exchange(hello, requestBytes: 9) { answer = try $0.hello(probing: true) }
        XCTAssertNil(r.error)
        XCTAssertEqual(r.request, "HELLO\r\n\r\n")
        XCTAssertEqual(answer?.maxConnections, 6)
        let http = try exchange("HTTP/1.1 400 Bad Request\r\n\r\n", requestBytes: 9) { _ = try $0.hello(probing: true) }
        XCTAssertEqual(http.error, .malformedReply("unknown reply \"HTTP/1.1 400 Bad Request\""))
    }

    // MARK: Replies that are fine

    func testStatWithoutTheActivityFieldsReadsThemAsZero() throws {
        var stat: ChannelStat?
        let r = try exchange("STAT jobs cap=0 len=0 balance=1 state=open preference=-1 senders=1 receivers=0 persistent=0\r\n") {
            stat = try $0.stat("jobs")
        }
        XCTAssertNil(r.error)
        XCTAssertEqual(stat?.balance, 1)
        XCTAssertEqual([stat?.sent, stat?.received, stat?.rate], [0, 0, 0])
    }

    func testStatIgnoresUnknownKeys() throws {
        var stat: ChannelStat?
        let r = try exchange("STAT jobs cap=2 len=1 balance=-1 state=closing preference=0 senders=0 receivers=1 persistent=1 sent=5 received=4 rate=3 future=x\r\n") {
            stat = try $0.stat("jobs")
        }
        XCTAssertNil(r.error)
        XCTAssertEqual(stat, ChannelStat(name: "jobs", capacity: 2, count: 1, balance: -1, state: .closing, preference: .none,
                                         senders: 0, receivers: 1, isPersistent: true, sent: 5, received: 4, rate: 3))
    }

    func testErrorRepliesAreServerErrors() throws {
        let r = try exchange("ERR LIMIT too many connections (max 1)\r\n") { try $0.ping() }
        XCTAssertEqual(r.error, .server(code: .limit, text: "too many connections (max 1)"))
        let odd = try exchange("ERR NEWCODE\r\n") { try $0.make("x") }
        XCTAssertEqual(odd.error, .server(code: ErrorCode(rawValue: "NEWCODE"), text: ""))
    }

    // MARK: Replies that break the protocol

    func assertMalformed(_ reply: String, _ call: (ChanClient) throws -> Void,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try exchange(reply, call)
        guard case .malformedReply? = r.error else {
            return XCTFail("\(reply.debugDescription): expected malformedReply, got \(String(describing: r.error))", file: file, line: line)
        }
        XCTAssertFalse(r.client.isConnected, file: file, line: line)
        XCTAssertThrowsError(try r.client.ping(), file: file, line: line) {
            guard case .connectionLost? = $0 as? ChanError else { return XCTFail("\($0)", file: file, line: line) }
        }
    }

    func testMalformedReplies() throws {
        let recv: (ChanClient) throws -> Void = { _ = try $0.recv("jobs") }
        let select: (ChanClient) throws -> Void = { _ = try $0.select([.send("a", "v"), .receive("b")]) }
        try assertMalformed("PANG\r\n") { try $0.ping() }
        try assertMalformed("OK\r\n") { try $0.ping() }
        try assertMalformed("\r\n") { try $0.ping() }
        try assertMalformed("PONG extra\r\n") { try $0.ping() }
        try assertMalformed("MSG jobs x\r\n", recv)
        try assertMalformed("MSG jobs -1\r\n", recv)
        try assertMalformed("MSG jobs +1\r\nx\r\n", recv)
        try assertMalformed("MSG jobs 99999999999999999999999\r\n", recv)
        try assertMalformed("MSG jobs 4097\r\n", recv)  // above the client's payload limit: not read at all
        try assertMalformed("MSG jobs\r\n", recv)
        try assertMalformed("MSG jobs 3\r\nabcdef\r\n", recv)  // the count does not match the bytes
        try assertMalformed("MSG other 2\r\nhi\r\n", recv)  // another channel
        try assertMalformed("CLOSED other\r\n", recv)
        try assertMalformed("SELECTED 0 MSG jobs 2\r\nhi\r\n", recv)
        try assertMalformed("OK\r\n", recv)
        try assertMalformed("SELECTED 2 OK\r\n", select)  // no case 2
        try assertMalformed("SELECTED 0 MSG a 1\r\nx\r\n", select)  // case 0 sends
        try assertMalformed("SELECTED 1 OK\r\n", select)  // case 1 receives
        try assertMalformed("SELECTED 1 MSG c 1\r\nx\r\n", select)
        try assertMalformed("SELECTED 0 TIMEOUT\r\n", select)
        try assertMalformed("SELECTED x OK\r\n", select)
        try assertMalformed("SELECTED 0 SELECTED 0 OK\r\n", select)
        try assertMalformed("STAT jobs cap=1\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("STAT jobs cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=fast\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("STAT jobs cap=0 len=0 balance=0 state=weird preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("STAT jobs cap=0 len=0 balance=0 state=open preference=7 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("STAT other cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("STAT jobs cap\r\n") { _ = try $0.stat("jobs") }
        try assertMalformed("HELLO proto=1\r\n") { _ = try $0.hello() }
        try assertMalformed("INFO novalue\r\n") { _ = try $0.info() }
        try assertMalformed("HELLO proto=1\r\n") { _ = try $0.info() }
        try assertMalformed("CHANNELS 1 total=1\r\nSTAT a cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n") { _ = try $0.channels() }
        try assertMalformed("CHANNELS 2 total=1\r\n") { _ = try $0.channels() }
        try assertMalformed("CHANNELS 1\r\n") { _ = try $0.channels() }
        try assertMalformed("CHANNELS 1 total=1\r\nCHANNEL zzz cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n") {
            _ = try $0.channels(prefix: "a")
        }
        try assertMalformed("PONG\r\n") { try $0.quit() }
    }

    func testOverlongLineIsRefusedWithoutReadingItAll() throws {
        // 100 KB with no line end, against a 1 KiB line limit.
        let r = try exchange([UInt8](repeating: UInt8(ascii: "A"), count: 100_000)) { try $0.ping() }
        guard case .malformedReply? = r.error else { return XCTFail("\(String(describing: r.error))") }
        // Also for the header of a message, and for CHANNEL lines.
        let long = String(repeating: "n", count: 2000)
        let r2 = try exchange("MSG \(long) 1\r\nx\r\n") { _ = try $0.recv("jobs") }
        guard case .malformedReply? = r2.error else { return XCTFail("\(String(describing: r2.error))") }
    }

    func testTruncatedRepliesAreLostConnections() throws {
        func assertLost(_ reply: String, hold: Bool, _ call: (ChanClient) throws -> Void,
                        file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try exchange(reply, hold: hold, call)
            guard case .connectionLost? = r.error else {
                return XCTFail("\(reply.debugDescription) hold=\(hold): got \(String(describing: r.error))", file: file, line: line)
            }
            XCTAssertFalse(r.client.isConnected, file: file, line: line)
        }
        let recv: (ChanClient) throws -> Void = { _ = try $0.recv("jobs") }
        for hold in [false, true] {
            // Closed (or stalled) in the middle of a payload, of its CRLF, of a header line.
            try assertLost("MSG jobs 10\r\nabc", hold: hold, recv)
            try assertLost("MSG jobs 3\r\nabc", hold: hold, recv)
            try assertLost("MSG jobs 3\r\nabc\r", hold: hold, recv)
            try assertLost("MSG jo", hold: hold, recv)
            try assertLost("SELECTED 0 MSG jobs 5\r\nab", hold: hold) { _ = try $0.select([.receive("jobs")]) }
            try assertLost("CHANNELS 2 total=2\r\nCHANNEL a cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0\r\n",
                           hold: hold) { _ = try $0.channels() }
            // A prompt command that gets no reply at all.
            try assertLost("", hold: hold) { try $0.ping() }
            try assertLost("", hold: hold) { _ = try $0.stat("jobs") }
        }
        // A RECV with a timeout waits that long plus the I/O timeout, then gives up.
        try assertLost("", hold: true) { _ = try $0.recv("jobs", timeout: .milliseconds(100)) }
        // A blocking RECV waits for ever for its reply, but not for the server to go.
        try assertLost("", hold: false, recv)
    }
}
