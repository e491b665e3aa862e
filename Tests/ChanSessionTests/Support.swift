import ChanCore
import ChanSession

/// Time stands still unless a test moves it.
final class ManualClock: SessionClock {
    var milliseconds: UInt64 = 1_000
    func currentMilliseconds() -> UInt64 { milliseconds }
    func nanoseconds() -> UInt64 { milliseconds * 1_000_000 }
}

/// Sessions driven the way the server's loop drives them, each behind a
/// socket made of byte arrays: what the client sent and the server has not
/// read, what the server wrote that the client has not read.
final class Loop {
    let clock = ManualClock()
    let state: ServerState
    private(set) var clients: [Client] = []
    var needFlush: [Client] = []
    var waitingForTurn: [Client] = []
    /// Which client each write went to, in order.
    private(set) var writes: [ObjectIdentifier] = []

    init(_ configure: (inout ServerConfig) -> Void = { _ in }) {
        var config = ServerConfig()
        config.seed = 1
        configure(&config)
        state = ServerState(config: config, clock: clock)
    }

    /// Each tasklet points back at its client (its context) until its
    /// session closes: close what a test left open, so nothing leaks.
    deinit {
        for client in clients { client.session.close() }
    }

    func connect() -> Client {
        let client = Client(loop: self)
        clients.append(client)
        client.perform(client.session.start())
        settle()
        return client
    }

    /// The server's loop until it would sleep; each iteration: the turns
    /// of sessions that yielded, then woken tasklets and replies until none
    /// are left, then one read of every socket that is read and has bytes.
    func settle() {
        for _ in 0..<1_000_000 {
            var busy = !waitingForTurn.isEmpty
            let turns = waitingForTurn
            waitingForTurn.removeAll()
            for client in turns { client.perform(client.session.nextTurn()) }
            repeat {
                while let t = state.engine.nextRunnable() {
                    let client = t.context as! Client
                    client.perform(client.session.resume(t.takeCompletion()!))
                }
                let batch = needFlush
                needFlush.removeAll()
                for client in batch { client.flush() }
            } while !needFlush.isEmpty || state.engine.runnableCount > 0
            for client in clients where client.readOnce() { busy = true }
            if !busy && needFlush.isEmpty && waitingForTurn.isEmpty { return }
        }
        fatalError("the loop never settled")
    }

    func noteWrite(to client: Client) {
        writes.append(ObjectIdentifier(client))
    }

    /// A one-client transcript: what the server answers to `requests`,
    /// handed over `chunk` bytes per read.
    static func transcript(_ requests: String, chunk: Int = .max, _ configure: (inout ServerConfig) -> Void = { _ in }) -> String {
        let loop = Loop(configure)
        let client = loop.connect()
        client.chunk = chunk
        client.send(requests)
        return client.read()
    }
}

/// One client and its socket, as the transport sees them.
final class Client {
    unowned let loop: Loop
    let session: Session
    /// Bytes per read event.
    var chunk = Int.max
    /// Sent by the client, not yet read by the server.
    private(set) var unread: [UInt8] = []
    private var endOfInput = false
    /// Whether the server reads this socket.
    private(set) var isRead = false
    private(set) var isClosed = false
    /// Bytes the socket takes at once before writes have to wait for the client to read.
    var socketRoom = Int.max
    /// Replies in the socket for the client to read, and the write waiting behind them.
    private var delivered: [UInt8] = []
    private var inFlight: [UInt8] = []

    init(loop: Loop) {
        self.loop = loop
        session = Session(server: loop.state, context: nil)
        session.tasklet.context = self
    }

    func send(_ text: String) {
        arrive(text)
        loop.settle()
    }

    /// Bytes reach the server's socket; nothing runs until the loop does.
    func arrive(_ text: String) {
        unread += Array(text.utf8)
    }

    /// The client closes (or half-closes) its side.
    func endInput() {
        endOfInput = true
        loop.settle()
    }

    /// The peer is gone while the socket is not read (the server polls for it).
    func vanish() {
        perform(session.inputEnded())
        loop.settle()
    }

    /// Everything the server wrote so far; the client reads its socket, so a waiting write completes.
    func read() -> String {
        if !inFlight.isEmpty {
            delivered += inFlight
            inFlight = []
            perform(session.writeCompleted())
            loop.settle()
        }
        defer { delivered = [] }
        return String(decoding: delivered, as: UTF8.self)
    }

    /// Reads once if the socket is read and has something; false otherwise.
    func readOnce() -> Bool {
        guard isRead && !isClosed else { return false }
        if !unread.isEmpty {
            let n = min(chunk, unread.count)
            let actions = unread.withUnsafeBytes { session.received(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            unread.removeFirst(n)
            perform(actions)
            return true
        }
        if endOfInput {
            isRead = false  // libuv stops reading at end of stream
            perform(session.inputEnded())
            return true
        }
        return false
    }

    func perform(_ actions: Session.Actions) {
        if actions.contains(.close) {
            isClosed = true
            return
        }
        if actions.contains(.stopReading) { isRead = false }
        if actions.contains(.startReading) { isRead = true }
        if actions.contains(.flush) { loop.needFlush.append(self) }
        if actions.contains(.continueNextTurn) { loop.waitingForTurn.append(self) }
    }

    func flush() {
        guard !session.isClosed else { return }
        guard session.canWrite else { return perform(session.flushSkipped()) }
        let n = min(socketRoom, session.output.count)
        delivered += session.output[..<n]
        if n > 0 { loop.noteWrite(to: self) }
        socketRoom -= n
        inFlight = Array(session.output[n...])
        perform(session.wrote(n))
    }
}
