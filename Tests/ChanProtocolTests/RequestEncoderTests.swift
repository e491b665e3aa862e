import ChanProtocol
import Testing

/// What the request encoder writes, and that the server's own parser reads it back as the same command.
@Suite struct RequestEncoderTests {
    private func encoded(_ write: (inout [UInt8]) -> Void) -> String {
        var out: [UInt8] = []
        write(&out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func everyCommand() {
        #expect(encoded { RequestEncoder.ping(into: &$0) } == "PING\r\n")
        #expect(encoded { RequestEncoder.quit(into: &$0) } == "QUIT\r\n")
        #expect(encoded { RequestEncoder.info(into: &$0) } == "INFO\r\n")
        #expect(encoded { RequestEncoder.hello(into: &$0) } == "HELLO\r\n")
        #expect(encoded { RequestEncoder.send(channel: "jobs", payload: bytes("a b"), isException: false, into: &$0) }
                == "SEND jobs {3}\r\na b\r\n")
        #expect(encoded { RequestEncoder.send(channel: "e", payload: [], isException: true, into: &$0) } == "THROW e {0}\r\n\r\n")
        #expect(encoded { RequestEncoder.receive(channel: "jobs", wait: .forever, into: &$0) } == "RECV jobs\r\n")
        #expect(encoded { RequestEncoder.receive(channel: "jobs", wait: .nowait, into: &$0) } == "RECV jobs NOWAIT\r\n")
        #expect(encoded { RequestEncoder.receive(channel: "jobs", wait: .milliseconds(0), into: &$0) } == "RECV jobs NOWAIT\r\n")
        #expect(encoded { RequestEncoder.receive(channel: "jobs", wait: .milliseconds(7), into: &$0) } == "RECV jobs TIMEOUT 7\r\n")
        #expect(encoded {
            RequestEncoder.select(cases: [.send(channel: "a", payload: bytes("x y"), isException: false), .receive(channel: "b")],
                                  wait: .milliseconds(250), into: &$0)
        } == "SELECT 2 TIMEOUT 250\r\nSEND a {3}\r\nx y\r\nRECV b\r\n")
        #expect(encoded { RequestEncoder.make(channel: "m", capacity: 5, preference: .sender, into: &$0) } == "MAKE m CAP 5 PREFER SENDER\r\n")
        #expect(encoded { RequestEncoder.make(channel: "m", capacity: nil, preference: nil, into: &$0) } == "MAKE m\r\n")
        #expect(encoded { RequestEncoder.close(channel: "m", into: &$0) } == "CLOSE m\r\n")
        #expect(encoded { RequestEncoder.stat(channel: "m", into: &$0) } == "STAT m\r\n")
        #expect(encoded { RequestEncoder.channels(prefix: nil, top: nil, into: &$0) } == "CHANNELS\r\n")
        #expect(encoded { RequestEncoder.channels(prefix: "", top: 5, into: &$0) } == "CHANNELS TOP 5\r\n")
        #expect(encoded { RequestEncoder.channels(prefix: "p.", top: 5, into: &$0) } == "CHANNELS p. TOP 5\r\n")
    }

    @Test func theCommandParserReadsBackWhatTheEncoderWrote() {
        let commands: [Command] = [
            .ping, .quit, .info, .hello,
            .send(channel: "jobs", payload: [0, 13, 10, 255], isException: false),
            .send(channel: "e", payload: bytes("{3}"), isException: true),
            .receive(channel: "r", wait: .forever, hold: false), .receive(channel: "r", wait: .nowait, hold: true),
            .receive(channel: "r", wait: .milliseconds(WaitLimit.maxMilliseconds), hold: false),
            .select(cases: [.send(channel: "a", payload: [], isException: false), .receive(channel: "b"),
                            .send(channel: "c", payload: bytes("v"), isException: true)], wait: .nowait, hold: false),
            .select(cases: [.receive(channel: "b")], wait: .forever, hold: true),
            .make(channel: "m", capacity: 0, preference: Preference.none, durable: false),
            .make(channel: "m", capacity: nil, preference: .receiver, durable: false),
            .make(channel: "d", capacity: 3, preference: nil, durable: true),
            .close(channel: "c"), .open(channel: "o"), .delete(channel: "d"), .acknowledge(tag: 7), .giveBack(tag: 1),
            .auth(user: "alice", secret: Secret(bytes("pw"))), .stat(channel: "s"), .channels(prefix: "TOP", top: nil), .channels(prefix: nil, top: 1000),
        ]
        var out: [UInt8] = []
        for command in commands {
            switch command {
            case .ping: RequestEncoder.ping(into: &out)
            case .quit: RequestEncoder.quit(into: &out)
            case .info: RequestEncoder.info(into: &out)
            case .hello: RequestEncoder.hello(into: &out)
            case .send(let channel, let payload, let isException):
                RequestEncoder.send(channel: channel, payload: payload, isException: isException, into: &out)
            case .receive(let channel, let wait, let hold):
                RequestEncoder.receive(channel: channel, wait: wait, hold: hold, into: &out)
            case .select(let cases, let wait, let hold): RequestEncoder.select(cases: cases, wait: wait, hold: hold, into: &out)
            case .make(let channel, let capacity, let preference, let durable):
                RequestEncoder.make(channel: channel, capacity: capacity, preference: preference, durable: durable, into: &out)
            case .close(let channel): RequestEncoder.close(channel: channel, into: &out)
            case .open(let channel): RequestEncoder.open(channel: channel, into: &out)
            case .delete(let channel): RequestEncoder.delete(channel: channel, into: &out)
            case .acknowledge(let tag): RequestEncoder.acknowledge(tag: tag, into: &out)
            case .giveBack(let tag): RequestEncoder.giveBack(tag: tag, into: &out)
            case .auth(let user, let secret): RequestEncoder.auth(user: user, secret: secret, into: &out)
            case .stat(let channel): RequestEncoder.stat(channel: channel, into: &out)
            case .channels(let prefix, let top): RequestEncoder.channels(prefix: prefix, top: top, into: &out)
            case .invalid: Issue.record("not a request")
            }
        }
        expectTranscript(out, commands)
    }

    @Test func theNameRule() {
        #expect(ChannelName.isValid("jobs.1"))
        #expect(ChannelName.isValid(String(repeating: "x", count: 255)))
        for bad in ["", "a b", String(repeating: "x", count: 256), "é", "a\tb", "a\u{7F}"] {
            #expect(!ChannelName.isValid(bad), "\(bad.debugDescription)")
        }
    }

    @Test func everyInfoKeyIsListedOnceAndEveryErrorCodeHasOne() {
        let keys = Counters.all.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(ErrorCode.all.allSatisfy { keys.contains("errors_" + $0.rawValue.lowercased()) })
        #expect(Counters.taskletsBlocked.prometheusSample == "chand_tasklets{state=\"blocked\"}")
        #expect(Counters.uptime.prometheusSample == nil)
    }
}
