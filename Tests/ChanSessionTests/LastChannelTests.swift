import ChanSession
import Testing

/// A connection repeating its channel is answered from the channel it last
/// resolved; once that channel is deleted, swept or made anew, its name
/// means the channel the server holds now.
@Suite struct LastChannelTests {
    @Test func aDeletedChannelIsNotReused() {
        let loop = Loop()
        let c = loop.connect()
        c.send("MAKE q CAP 2\r\nSEND q one\r\nSEND q two\r\nDELETE q\r\nMAKE q CAP 1\r\nSEND q three\r\nSTAT q\r\n")
        #expect(c.read().hasPrefix("OK\r\nOK\r\nOK\r\nOK\r\nOK\r\nOK\r\nSTAT q cap=1 len=1"))
        c.send("RECV q NOWAIT\r\nRECV q NOWAIT\r\n")
        #expect(c.read() == "MSG q 5\r\nthree\r\nTIMEOUT\r\n")
    }

    @Test func anotherConnectionsChannelOfTheSameName() {
        let loop = Loop()
        let a = loop.connect(), b = loop.connect()
        a.send("MAKE q CAP 1\r\nSEND q one\r\n")
        #expect(a.read() == "OK\r\nOK\r\n")
        b.send("RECV q\r\nDELETE q\r\nMAKE q CAP 3\r\n")
        #expect(b.read() == "MSG q 3\r\none\r\nOK\r\nOK\r\n")
        a.send("SEND q two\r\nSEND q three\r\n")
        #expect(a.read() == "OK\r\nOK\r\n", "the new q buffers both")
        b.send("RECV q\r\nRECV q\r\n")
        #expect(b.read() == "MSG q 3\r\ntwo\r\nMSG q 5\r\nthree\r\n")
    }
}
