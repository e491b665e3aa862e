import ChanSession
import Testing

/// One connection's logic without sockets, as wire transcripts: what the
/// client sends, what the server answers, and when it stops and starts
/// reading.
@Suite struct SessionTests {
    @Test func pipelinedRequestsAnsweredInOrder() {
        let loop = Loop()
        let a = loop.connect(), b = loop.connect()
        a.send("PING\r\nSEND q one\r\nPING\r\nSEND q two\r\nPING\r\n")
        #expect(a.read() == "PONG\r\n", "a SEND without a receiver holds back the requests behind it")
        b.send("RECV q\r\n")
        #expect(b.read() == "MSG q 3\r\none\r\n")
        #expect(a.read() == "OK\r\nPONG\r\n")
        b.send("RECV q\r\n")
        #expect(b.read() == "MSG q 3\r\ntwo\r\n")
        #expect(a.read() == "OK\r\nPONG\r\n")
    }

    /// The same transcript handed over in reads of every size gives the same replies.
    @Test func everySplitOfATranscript() {
        let requests = "PING\r\nMAKE b CAP 2\r\nSEND b {3}\r\na\r\n\r\nTHROW b two\r\nRECV b\r\n"
            + "SELECT 2 NOWAIT\r\nRECV b\r\nSEND c x\r\nRECV b TIMEOUT 0\r\nbogus\r\nSTAT b\r\nQUIT\r\nPING\r\n"
        let expected = "PONG\r\nOK\r\nOK\r\nOK\r\nMSG b 3\r\na\r\n\r\nSELECTED 0 EXC b 3\r\ntwo\r\nTIMEOUT\r\n"
            + "ERR UNKNOWN unknown command bogus\r\n"
            + "STAT b cap=2 len=0 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=2 received=2 rate=0 held=0 exists=1 durable=0\r\n"
            + "BYE\r\n"
        #expect(Loop.transcript(requests) == expected)
        for chunk in 1..<requests.utf8.count {
            #expect(Loop.transcript(requests, chunk: chunk) == expected, "in reads of \(chunk) bytes")
        }
    }

    /// A woken request is answered the same however its partner's requests arrive.
    @Test func everySplitWithAWaitingPartner() {
        let requests = "PING\r\nRECV q\r\nPING\r\nSEND q {5}\r\nhello\r\nPING\r\n"
        for chunk in 1...requests.utf8.count {
            let loop = Loop()
            let partner = loop.connect(), client = loop.connect()
            partner.send("SEND q first\r\nRECV q\r\n")
            client.chunk = chunk
            client.send(requests)
            #expect(client.read() == "PONG\r\nMSG q 5\r\nfirst\r\nPONG\r\nOK\r\nPONG\r\n", "in reads of \(chunk) bytes")
            #expect(partner.read() == "OK\r\nMSG q 5\r\nhello\r\n", "in reads of \(chunk) bytes")
        }
    }

    /// Replies past the output mark stop both running requests and reading;
    /// as the client reads, both resume, and nothing is lost or reordered.
    @Test func outputMarkPausesRequestsAndReading() {
        let loop = Loop { $0.outputHighWater = 20 }
        let c = loop.connect()
        c.socketRoom = 0  // the client reads nothing for now
        c.send(String(repeating: "PING\r\n", count: 20))
        #expect(!c.isRead, "reading stops at the mark")
        #expect(c.session.state == .paused)
        c.socketRoom = .max
        var replies = ""
        for _ in 0..<20 where replies.count < 120 { replies += c.read() }
        #expect(replies == String(repeating: "PONG\r\n", count: 20))
        #expect(c.isRead, "reading resumes once the replies drained")
    }

    /// A blocked request: later requests wait in the parser until the input
    /// mark, then the socket is no longer read; the partner resumes both.
    @Test func inputMarkPausesReadingOfABlockedClient() {
        let loop = Loop { $0.inputHighWater = 32 }
        let c = loop.connect(), partner = loop.connect()
        c.chunk = 8
        c.send("RECV q\r\n" + String(repeating: "PING\r\n", count: 10))
        #expect(c.read() == "")
        #expect(!c.isRead, "a blocked client is read only up to the input mark")
        partner.send("SEND q v\r\n")
        #expect(partner.read() == "OK\r\n")
        #expect(c.read() == "MSG q 1\r\nv\r\n" + String(repeating: "PONG\r\n", count: 10))
        #expect(c.isRead)
    }

    /// Rule 20: at end of input the requests already sent run until one
    /// would block; that one is withdrawn, and the connection closes after
    /// its replies.
    @Test func endOfInputWithdrawsTheBlockedRequest() {
        let loop = Loop()
        let c = loop.connect(), other = loop.connect()
        c.send("PING\r\nRECV x\r\nPING\r\n")
        #expect(c.read() == "PONG\r\n")
        c.endInput()
        #expect(c.read() == "")
        #expect(c.isClosed)
        other.send("SELECT 1 NOWAIT\r\nSEND x v\r\n")
        #expect(other.read() == "TIMEOUT\r\n", "no receiver is left on x")
    }

    @Test func endOfInputAnswersEverythingThatCompletes() {
        let loop = Loop()
        let c = loop.connect()
        c.send("MAKE b CAP 2\r\nSEND b 1\r\nSEND b 2\r\nRECV b\r\n")
        c.endInput()
        #expect(c.read() == "OK\r\nOK\r\nOK\r\nMSG b 1\r\n1\r\n")
        #expect(c.isClosed)
    }

    /// End of input waits for the replies: with the output mark reached, the
    /// rest of the requests still run as the client reads, then it closes.
    @Test func endOfInputAfterTheOutputMark() {
        let loop = Loop { $0.outputHighWater = 20 }
        let c = loop.connect()
        c.socketRoom = 0
        c.send(String(repeating: "PING\r\n", count: 10))
        c.endInput()
        #expect(!c.isClosed)
        c.socketRoom = .max
        var replies = ""
        for _ in 0..<10 where !c.isClosed { replies += c.read() }
        #expect(replies == String(repeating: "PONG\r\n", count: 10))
        #expect(c.isClosed)
    }

    /// A peer that vanishes while its socket is not read (blocked, input
    /// mark reached): its blocked request is withdrawn and takes no value.
    @Test func vanishedPeerOfAPausedConnection() {
        let loop = Loop { $0.inputHighWater = 32 }
        let c = loop.connect(), producer = loop.connect()
        c.send(String(repeating: "RECV g\r\n", count: 100))
        #expect(!c.isRead)
        c.vanish()
        #expect(c.isClosed)
        producer.send("SELECT 1 NOWAIT\r\nSEND g v\r\nINFO\r\n")
        let reply = producer.read()
        #expect(reply.hasPrefix("TIMEOUT\r\nINFO "), "no receiver is left on g")
        #expect(reply.contains(" values_lost=0 "))
    }

    /// A client that half-closes while its replies wait to be read (paused
    /// for output, requests still unread in its socket) has not vanished:
    /// the look at paused sockets sees the half-close, yet every request is
    /// read and answered as the client reads, end of input after them (rule 20).
    @Test func halfClosedPeerOfAConnectionPausedForOutput() {
        let loop = Loop { $0.outputHighWater = 20 }
        let c = loop.connect()
        c.chunk = 12
        c.socketRoom = 0
        c.send(String(repeating: "PING\r\n", count: 50))
        #expect(!c.isRead)
        c.endInput()
        c.vanish()  // what the server's poll reports for the half-close
        #expect(!c.isClosed)
        c.socketRoom = .max
        var replies = ""
        for _ in 0..<200 where !c.isClosed { replies += c.read() }
        #expect(replies == String(repeating: "PONG\r\n", count: 50))
        #expect(c.isClosed)
    }

    /// QUIT: nothing after it runs, and the connection closes after BYE.
    @Test func quitClosesAfterItsReply() {
        let loop = Loop()
        let c = loop.connect()
        c.send("PING\r\nQUIT\r\nSEND q never\r\n")
        #expect(c.read() == "PONG\r\nBYE\r\n")
        #expect(c.isClosed)
        #expect(!c.isRead)
    }

    /// Fair turns: a client's pipelined requests run a bounded number per
    /// loop iteration, so another client's request is answered before the
    /// pipeline is through, and the pipeline still completes in order.
    @Test func pipelinedRequestsTakeTurnsWithOtherClients() {
        let loop = Loop { $0.commandsPerTurn = 4 }
        let hog = loop.connect(), other = loop.connect()
        hog.arrive(String(repeating: "PING\r\n", count: 100))
        other.arrive("PING\r\n")
        loop.settle()
        let writes = loop.writes
        let hogWrites = writes.indices.filter { writes[$0] == ObjectIdentifier(hog) }
        let otherWrite = writes.firstIndex(of: ObjectIdentifier(other))
        #expect(otherWrite != nil && otherWrite! < hogWrites.last!, "the other client waited for the whole pipeline")
        #expect(hogWrites.count > 20, "about one write per turn of 4")
        #expect(hog.read() == String(repeating: "PONG\r\n", count: 100))
        #expect(other.read() == "PONG\r\n")
    }

    /// A listing walks the whole channel table: it takes a turn of its own.
    @Test func eachListingTakesATurn() {
        let loop = Loop()
        let hog = loop.connect(), other = loop.connect()
        hog.arrive("CHANNELS\r\nCHANNELS\r\nCHANNELS\r\n")
        other.arrive("PING\r\n")
        loop.settle()
        let writes = loop.writes
        let hogWrites = writes.indices.filter { writes[$0] == ObjectIdentifier(hog) }
        #expect(hogWrites.count == 3)
        #expect(writes.firstIndex(of: ObjectIdentifier(other))! < hogWrites.last!)
        #expect(hog.read() == String(repeating: "CHANNELS 0 total=0\r\n", count: 3))
    }

    /// A yielded turn is not the end of the requests: end of input waits for them.
    @Test func endOfInputWaitsForTheRequestsOfLaterTurns() {
        let loop = Loop { $0.commandsPerTurn = 2 }
        let c = loop.connect()
        c.arrive(String(repeating: "PING\r\n", count: 9))
        c.endInput()
        #expect(c.read() == String(repeating: "PONG\r\n", count: 9))
        #expect(c.isClosed)
    }
}
