import ChanProtocol
import Testing

/// Feeds the chunks to a fresh reply parser, draining `next()` after every append; a malformed reply ends the
/// list as `.failure`.
private func parseReplies<S: Sequence>(_ chunks: S, maxLine: Int, maxPayload: Int) -> [Result<Reply, MalformedReply>]
where S.Element == ArraySlice<UInt8> {
    var parser = ReplyParser(maxLineLength: maxLine, maxPayload: maxPayload)
    var replies: [Result<Reply, MalformedReply>] = []
    for chunk in chunks {
        parser.append(contentsOf: chunk)
        do {
            while let reply = try parser.next() { replies.append(.success(reply)) }
        } catch {
            replies.append(.failure(error))
            return replies
        }
    }
    return replies
}

/// Replays a reply transcript whole, in chunks of every size and split in two at every point (as `replay` does
/// for commands); every way must give the same replies. Returns them.
private func replayReplies(
    _ text: String, maxLine: Int = 1024, maxPayload: Int = 64, sourceLocation: SourceLocation = #_sourceLocation
) -> [Result<Reply, MalformedReply>] {
    let input = bytes(text)
    let whole = parseReplies([input[...]], maxLine: maxLine, maxPayload: maxPayload)
    for size in 1...max(input.count, 1) {
        let chunks = stride(from: 0, to: input.count, by: size).lazy.map { input[$0..<min($0 + size, input.count)] }
        let replies = parseReplies(chunks, maxLine: maxLine, maxPayload: maxPayload)
        guard replies == whole else {
            Issue.record("chunks of \(size) bytes gave \(replies), whole input \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    for split in 0...input.count {
        let replies = parseReplies([input[..<split], input[split...]], maxLine: maxLine, maxPayload: maxPayload)
        guard replies == whole else {
            Issue.record("split at \(split) gave \(replies), whole input \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    return whole
}

private func expectReplies(_ text: String, _ expected: [Reply], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(replayReplies(text, sourceLocation: sourceLocation) == expected.map { .success($0) }, sourceLocation: sourceLocation)
}

/// Expects the replies before the malformed one, then the malformed one as an error.
private func expectMalformed(
    _ text: String, after good: [Reply] = [], maxLine: Int = 1024, maxPayload: Int = 64,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let replies = replayReplies(text, maxLine: maxLine, maxPayload: maxPayload, sourceLocation: sourceLocation)
    #expect(Array(replies.dropLast()) == good.map { .success($0) }, "\(text.debugDescription)", sourceLocation: sourceLocation)
    guard case .failure? = replies.last else {
        Issue.record("\(text.debugDescription) gave \(replies), expected a malformed reply", sourceLocation: sourceLocation)
        return
    }
}

private func fields(_ text: String) -> ReplyFields {
    ReplyFields(pairs: text.split(separator: " ").map { word in
        let eq = word.firstIndex(of: "=")!
        return (String(word[..<eq]), String(word[word.index(after: eq)...]))
    })
}

@Suite struct ReplyParserTests {
    @Test func everyReplyKind() {
        expectReplies(
            "OK\r\nPONG\r\nBYE\r\nTIMEOUT\r\nCLOSED jobs\r\nERR CLOSED channel jobs is closed\r\nERR NEWCODE\r\n",
            [.ok, .pong, .bye, .timeout, .closed(channel: "jobs"),
             .error(code: .closed, text: "channel jobs is closed"), .error(code: ErrorCode(rawValue: "NEWCODE"), text: "")])
        expectReplies(
            "MSG jobs 5\r\nhello\r\nEXC jobs 3\r\nbad\r\nMSG e 0\r\n\r\n",
            [.message(channel: "jobs", payload: bytes("hello"), isException: false),
             .message(channel: "jobs", payload: bytes("bad"), isException: true),
             .message(channel: "e", payload: [], isException: false)])
        expectReplies(
            "INFO connections=1 commands=7\r\nHELLO proto=1 server=chand/0.1.0\r\n",
            [.info(fields("connections=1 commands=7")), .hello(fields("proto=1 server=chand/0.1.0"))])
    }

    @Test func payloadsAreBinaryAndMayHoldLineEnds() {
        expectReplies("MSG b 7\r\n\r\n\0MSG\n\r\nPONG\r\n",
                      [.message(channel: "b", payload: [13, 10, 0, 77, 83, 71, 10], isException: false), .pong])
        // A bare LF ends a header line too.
        expectReplies("MSG b 2\nhi\r\nOK\n", [.message(channel: "b", payload: bytes("hi"), isException: false), .ok])
    }

    @Test func selectedWrapsTheCaseReply() {
        expectReplies(
            "SELECTED 1 MSG b 2\r\nhi\r\nSELECTED 0 OK\r\nSELECTED 3 CLOSED q\r\nSELECTED 0 ERR CLOSED channel a is closed\r\nSELECTED 2 EXC c 1\r\n!\r\n",
            [.selected(index: 1, reply: .message(channel: "b", payload: bytes("hi"), isException: false)),
             .selected(index: 0, reply: .ok),
             .selected(index: 3, reply: .closed(channel: "q")),
             .selected(index: 0, reply: .error(code: .closed, text: "channel a is closed")),
             .selected(index: 2, reply: .message(channel: "c", payload: bytes("!"), isException: true))])
    }

    /// A value received with ACK: its delivery tag after the size, also after SELECTED.
    @Test func heldMessagesCarryTheirTag() {
        expectReplies(
            "MSG jobs 5 1\r\nhello\r\nEXC jobs 3 42\r\nbad\r\nSELECTED 1 MSG b 2 7\r\nhi\r\nSELECTED 0 EXC c 0 999999\r\n\r\nMSG d 1\r\nx\r\n",
            [.message(channel: "jobs", payload: bytes("hello"), isException: false, tag: 1),
             .message(channel: "jobs", payload: bytes("bad"), isException: true, tag: 42),
             .selected(index: 1, reply: .message(channel: "b", payload: bytes("hi"), isException: false, tag: 7)),
             .selected(index: 0, reply: .message(channel: "c", payload: [], isException: true, tag: 999999)),
             .message(channel: "d", payload: bytes("x"), isException: false)])
        #expect(Reply.message(channel: "jobs", payload: bytes("hello"), isException: false, tag: 3).summary == "MSG jobs 5 3")
        for bad in ["MSG jobs 2 0\r\nhi\r\n", "MSG jobs 2 -1\r\nhi\r\n", "MSG jobs 2 x\r\nhi\r\n", "MSG jobs 2 1 2\r\nhi\r\n",
                    "MSG jobs 2 \r\nhi\r\n", "EXC jobs 2 99999999999999999999999\r\nhi\r\n", "SELECTED 0 MSG b 2 +1\r\nhi\r\n"] {
            expectMalformed(bad + "PONG\r\n")
        }
    }

    @Test func statAndChannelsListing() {
        let line = "cap=2 len=1 balance=-1 state=closing preference=0 senders=0 receivers=1 persistent=1 sent=5 received=4 rate=3"
        expectReplies(
            "STAT jobs \(line)\r\nCHANNELS 2 total=7\r\nCHANNEL a \(line)\r\nCHANNEL b \(line) future=x\r\nCHANNELS 0 total=0\r\nPONG\r\n",
            [.stat(channel: "jobs", fields: fields(line)), .channels(listed: 2, total: 7),
             .channel(channel: "a", fields: fields(line)), .channel(channel: "b", fields: fields(line + " future=x")),
             .channels(listed: 0, total: 0), .pong])
    }

    @Test func statFieldsDecode() throws {
        let stat = try ChannelStat(name: "jobs", fields: fields(
            "cap=2 len=1 balance=-1 state=closing preference=0 senders=0 receivers=1 persistent=1 sent=5 received=4 rate=3 future=x"))
        #expect(stat == ChannelStat(name: "jobs", capacity: 2, count: 1, balance: -1, state: .closing, preference: .none,
                                    senders: 0, receivers: 1, isPersistent: true, sent: 5, received: 4, rate: 3))
        #expect(stat.exists == nil)
        let fresh = try ChannelStat(name: "typo", fields: fields(
            "cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 sent=0 received=0 rate=0 exists=0"))
        #expect(fresh.exists == false)
        #expect(try ChannelStat(name: "typo", fields: fresh.fields) == fresh)
        // The older form, without the activity fields.
        let old = try ChannelStat(name: "o", fields: fields("cap=0 len=0 balance=1 state=open preference=1 senders=1 receivers=0 persistent=0"))
        #expect([old.sent, old.received, old.rate] == [0, 0, 0])
        for bad in ["cap=1", "cap=0 len=0 balance=0 state=weird preference=-1 senders=0 receivers=0 persistent=0",
                    "cap=0 len=0 balance=0 state=open preference=7 senders=0 receivers=0 persistent=0",
                    "cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=2",
                    "cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 rate=fast",
                    "cap=0 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=0 exists=yes"] {
            #expect(throws: MalformedReply.self, "\(bad)") { try ChannelStat(name: "x", fields: fields(bad)) }
        }
    }

    @Test func helloDecodes() throws {
        let hello = try ServerHello(fields: fields(
            "proto=1 server=chand/0.1.0 max_line=65536 max_payload=1048576 max_select_cases=256 max_capacity=1000000 max_channels=1000000 max_connections=10000 later=1"))
        #expect(hello.protocolVersion == 1 && hello.server == "chand/0.1.0" && hello.maxPayload == 1_048_576)
        #expect(hello.fields["later"] == "1")
        #expect(hello.maxHeld == nil, "a server without acknowledged delivery")
        let holding = try ServerHello(fields: fields(
            "proto=1 server=chand/0.1.0 max_line=65536 max_payload=1048576 max_select_cases=256 max_capacity=1000000 max_channels=1000000 max_connections=10000 max_held=1024"))
        #expect(holding.maxHeld == 1024)
        #expect(throws: MalformedReply.self) { try ServerHello(fields: fields("proto=1")) }
        #expect(throws: MalformedReply.self) {
            try ServerHello(fields: fields(
                "proto=1 server=chand/0.1.0 max_line=65536 max_payload=1048576 max_select_cases=256 max_capacity=1000000 max_channels=1000000 max_connections=10000 max_held=many"))
        }
    }

    @Test func malformedReplies() {
        for bad in ["PANG\r\n", "\r\n", "PONG extra\r\n", "OK now\r\n", "MSG jobs x\r\n", "MSG jobs -1\r\n", "MSG jobs +1\r\nx\r\n",
                    "MSG jobs 99999999999999999999999\r\n", "MSG jobs\r\n", "MSG  2\r\nhi\r\n", "MSG jobs 3\r\nabcdef\r\n",
                    "CLOSED\r\n", "CLOSED a b\r\n", "ERR\r\n", "ERR  text\r\n",
                    "SELECTED 0 TIMEOUT\r\n", "SELECTED x OK\r\n", "SELECTED 0 SELECTED 0 OK\r\n", "SELECTED 0\r\n",
                    "SELECTED 0 PONG\r\n", "SELECTED -1 OK\r\n",
                    "STAT\r\n", "STAT jobs cap\r\n", "STAT jobs =1\r\n", "INFO novalue\r\n", "HELLO =x\r\n",
                    "CHANNELS 1\r\n", "CHANNELS 2 total=1\r\n", "CHANNELS x total=1\r\n", "CHANNELS 1 total=1 more\r\n",
                    "CHANNEL a cap=0\r\n", "CHANNELS 1 total=1\r\nSTAT a cap=0\r\n", "CHANNELS 1 total=1\r\nPONG\r\n"] {
            expectMalformed(bad + "PONG\r\n", after: bad.hasPrefix("CHANNELS 1 total=1\r\n") ? [.channels(listed: 1, total: 1)] : [])
        }
        expectMalformed("MSG jobs 65\r\n", maxPayload: 64)  // above the client's limit: refused on its header
        expectMalformed("PONG\r\nMSG jobs 2\r\nhi\r\nOK\r\n", after: [.pong], maxPayload: 1)
    }

    @Test func overlongLinesAreRefusedBeforeTheyAreWhole() {
        expectMalformed("PONG\r\n" + String(repeating: "A", count: 40), after: [.pong], maxLine: 16)
        expectMalformed("MSG " + String(repeating: "n", count: 20) + " 1\r\nx\r\n", maxLine: 16)
        // Exactly the limit, with or without its CR, is fine.
        let name = String(repeating: "n", count: 7)
        expectReplies("CLOSED \(name)\r\nCLOSED \(name)\n", [.closed(channel: name), .closed(channel: name)])
        #expect(replayReplies("CLOSED \(name)\r\n", maxLine: 14) == [.success(.closed(channel: name))])
    }

    @Test func afterAMalformedReplyNothingMoreIsRead() throws {
        var parser = ReplyParser()
        parser.append(contentsOf: bytes("PANG\r\nPONG\r\n"))
        #expect(throws: MalformedReply.self) { try parser.next() }
        parser.append(contentsOf: bytes("PONG\r\n"))
        #expect(throws: MalformedReply.self) { try parser.next() }
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func insideAReply() throws {
        var parser = ReplyParser()
        #expect(!parser.isInsideReply)
        parser.append(contentsOf: bytes("CHANNELS 1 total=1\r\nCHAN"))
        #expect(try parser.next() == .channels(listed: 1, total: 1))
        #expect(parser.isInsideReply)
        #expect(try parser.next() == nil)
        parser.append(contentsOf: bytes("NEL a cap=0\r\n"))
        #expect(try parser.next() == .channel(channel: "a", fields: fields("cap=0")))
        #expect(!parser.isInsideReply)
    }

    /// Random bytes never crash the parser: each run ends in replies or a malformed reply.
    @Test func arbitraryBytes() {
        var generator = SeededGenerator(state: 12)
        let alphabet = bytes("OK PONG MSG EXC SELECTED CHANNELS CHANNEL STAT ERR 0123 = \r\n{}")
        for _ in 0..<2000 {
            let length = Int.random(in: 0...60, using: &generator)
            let input = (0..<length).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            _ = parseReplies([input[...]], maxLine: 32, maxPayload: 8)
        }
    }
}
