import ArgumentParser
import ChanClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A channel argument, refused (usage error, exit 64) before anything is
/// connected or read when the server would refuse it.
func channelName(_ text: String) throws -> String {
    guard ChannelName.isValid(text) else {
        throw ValidationError("bad channel name \"\(text)\": a name is 1-255 printable ASCII characters, no spaces")
    }
    return text
}

/// A channel's fields as `chan stat` and `chan channels` print them: the wire's, with the preference by name.
func describe(_ stat: ChannelStat) -> String {
    stat.fields.pairs.compactMap { field in
        switch field.key {
        case ChannelStat.Key.exists: return nil
        case ChannelStat.Key.preference: return "\(field.key)=\(stat.preference.name)"
        default: return "\(field.key)=\(field.value)"
        }
    }.joined(separator: " ")
}

/// `--timeout MS` as the client's Wait: absent waits for ever, 0 is NOWAIT.
func wait(_ milliseconds: Int?) -> WaitLimit {
    milliseconds.map { $0 == 0 ? .nowait : .milliseconds($0) } ?? .forever
}

func validateTimeout(_ milliseconds: Int?) throws {
    if let ms = milliseconds, !(0...WaitLimit.maxMilliseconds).contains(ms) {
        throw ValidationError("--timeout is 0-\(WaitLimit.maxMilliseconds) ms")
    }
}

/// What `chan send` and `chan throw` share.
struct SendOptions: ParsableArguments {
    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    @Argument(help: "The value. When absent, standard input: one message per line, or all of it with --binary.")
    var value: String?

    @Flag(help: "Send the whole of standard input as one message, byte for byte.")
    var binary = false

    @Option(help: ArgumentHelp("Give up (exit 2) when a value finds no receiver or buffer room within this many milliseconds.", valueName: "ms"))
    var timeout: Int?

    func validate() throws {
        try validateTimeout(timeout)
        if binary && value != nil { throw ValidationError("--binary reads standard input; give no value") }
    }

    func run(_ server: ServerOptions, operation: SelectCase.Operation) throws {
        try reporting(waited: "no receiver or buffer room on \(channel) \(within(timeout))") {
            let client = try server.connect()
            func put(_ payload: [UInt8]) throws {
                if operation == .throw {
                    try client.throw(channel, payload, timeout: wait(timeout))
                } else {
                    try client.send(channel, payload, timeout: wait(timeout))
                }
            }
            if let value {
                try put(Array(value.utf8))
            } else {
                if isatty(0) == 1 {
                    complain(binary ? "reading one value from standard input, up to its end (Ctrl-D)"
                                    : "reading values from standard input, one per line; Ctrl-D ends")
                }
                var input = StandardInput(limit: try client.hello().maxPayload)
                if binary {
                    try put(input.readAll())
                } else {
                    while let line = try input.nextLine() { try put(line) }
                }
            }
            try? client.quit()
        }
    }
}

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a value on a channel; returns once a receiver took it (or it was buffered).",
        discussion: """
            Without a value, each line of standard input (without its line end, empty \
            lines included) is one message, sent as it arrives; --binary sends the whole \
            input as one message. Every value goes in the binary-safe counted form. A value \
            from standard input longer than the server's max_payload (asked first) \
            stops the command with a usage error (64) before the rest of it is read; the \
            lines before it were sent. On a terminal it says that it is reading standard input.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.timeout, ExitStatus.closed, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var options: SendOptions

    func run() throws { try options.run(server, operation: .send) }
}

struct Throw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a value as an exception: the receiver gets it as one (chan recv exits 6).",
        discussion: exitCodesHelp([ExitStatus.success, ExitStatus.timeout, ExitStatus.closed, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions
    @OptionGroup var options: SendOptions

    func run() throws { try options.run(server, operation: .throw) }
}

struct Recv: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive values from a channel, one per line.",
        discussion: """
            Receives one value (or --count N, or with --follow every value until the channel \
            is closed, then exits 0) and writes each followed by a newline, or with --raw \
            exactly its bytes. A value holding a newline spans lines: use --raw for such \
            values. An exception (a value sent with chan throw) stops it, like a raise in the \
            receiver: shown on stderr, exit 6, later values left in the channel.

            With --ack each value is acknowledged only once it has been written to standard \
            output: its sender gets its OK then, and a value that cannot be written (a full \
            disk: exit 7), or whose chan dies first (a closed pipe, a kill), goes back to the \
            front of the channel for the next receiver.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.timeout, ExitStatus.closed, ExitStatus.connection, ExitStatus.server, ExitStatus.exception, ExitStatus.output, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    @Flag(help: "Acknowledge each value once written; give it back if it cannot be written.")
    var ack = false

    @Option(help: ArgumentHelp("Give up (exit 2) when no value comes within this many milliseconds (per value); 0 takes only a value that is there now.", valueName: "ms"))
    var timeout: Int?

    @Option(help: ArgumentHelp("Receive this many values.", valueName: "n"))
    var count = 1

    @Flag(help: "Keep receiving until the channel is closed.")
    var follow = false

    @Flag(help: "Write the values' bytes only, with no newline after each.")
    var raw = false

    func validate() throws {
        try validateTimeout(timeout)
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        if follow && count != 1 { throw ValidationError("--follow and --count do not go together") }
    }

    func run() throws {
        try reporting(waited: "no value on \(channel) \(within(timeout))") {
            let client = try server.connect()
            var received = 0
            while follow || received < count {
                let message: Message
                do {
                    message = try client.recv(channel, timeout: wait(timeout), ack: ack)
                } catch ChanError.closed where follow {
                    break
                }
                if message.isException {
                    // Raised here, so delivered: its sender learns it arrived.
                    if let tag = message.tag { try client.acknowledge(tag) }
                    throw ReceivedException(message: message)
                }
                if let error = Output.attemptStandardOutput(raw ? message.payload : message.payload + [10]) {
                    if let tag = message.tag {
                        // Back to the front of the channel before chan exits (QUIT waits for the server to act).
                        try? client.giveBack(tag)
                        try? client.quit()
                    }
                    Output.standardOutputFailed(errno: error)
                }
                if let tag = message.tag { try client.acknowledge(tag) }
                received += 1
            }
            try? client.quit()
        }
    }
}

struct SelectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Wait on several channels at once; perform the first case that can go.",
        discussion: """
            Cases are recv:<chan>, send:<chan>=<value> or throw:<chan>=<value>. Prints the \
            case that fired as "<index> <recv|send|throw> <chan>" (cases count from 0), and for \
            a received value the value on the next line. A case on a closed channel fires too: \
            its line is printed, then chan exits 3.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.timeout, ExitStatus.closed, ExitStatus.connection, ExitStatus.server, ExitStatus.exception, ExitStatus.output, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions

    @Argument(help: "The cases: recv:<chan>, send:<chan>=<value>, throw:<chan>=<value>.")
    var cases: [String]

    @Option(help: ArgumentHelp("Give up (exit 2) when no case fires within this many milliseconds; 0 takes only a case that is ready now.", valueName: "ms"))
    var timeout: Int?

    @Flag(help: "Write a received value's bytes only, with no newline.")
    var raw = false

    static func parse(_ text: String) throws -> SelectCase {
        guard let colon = text.firstIndex(of: ":") else {
            throw ValidationError("a case is recv:<chan>, send:<chan>=<value> or throw:<chan>=<value>, not \"\(text)\"")
        }
        let op = text[..<colon].lowercased(), rest = text[text.index(after: colon)...]
        switch op {
        case "recv", "receive":
            return .receive(try channelName(String(rest)))
        case "send", "throw":
            // The first "=" ends the name: a send case cannot name a channel with "=" in it.
            guard let eq = rest.firstIndex(of: "=") else { throw ValidationError("a \(op) case is \(op):<chan>=<value>, not \"\(text)\"") }
            let channel = try channelName(String(rest[..<eq])), value = Array(rest[rest.index(after: eq)...].utf8)
            return op == "send" ? .send(channel, value) : .throw(channel, value)
        default:
            throw ValidationError("a case is recv:<chan>, send:<chan>=<value> or throw:<chan>=<value>, not \"\(text)\"")
        }
    }

    func validate() throws {
        try validateTimeout(timeout)
        guard !cases.isEmpty else { throw ValidationError("give at least one case") }
        for c in cases { _ = try SelectCommand.parse(c) }
    }

    func run() throws {
        let parsed = try cases.map(SelectCommand.parse)
        let channels = parsed.map(\.channel).joined(separator: ", ")
        try reporting(waited: "no case on \(channels) fired \(within(timeout))") {
            let client = try server.connect()
            let fired = try client.select(parsed, timeout: wait(timeout))
            let op = fired.operation == .receive ? "recv" : fired.operation.rawValue
            Output.standardOutput("\(fired.index) \(op) \(fired.channel)\n")
            switch fired.outcome {
            case .sent: break
            case .closed: throw ChanError.closed(channel: fired.channel)
            case .received(let message):
                if message.isException { throw ReceivedException(message: message) }
                Output.standardOutput(raw ? message.payload : message.payload + [10])
            }
            try? client.quit()
        }
    }
}

struct Make: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a persistent channel (buffered with --cap).",
        discussion: "Making it again with the same settings succeeds; other settings are a server error (exit 5).\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))

    enum PreferArgument: String, ExpressibleByArgument, CaseIterable {
        case receiver, sender, none

        var preference: Preference {
            switch self {
            case .receiver: return .receiver
            case .sender: return .sender
            case .none: return .none
            }
        }
    }

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    @Option(help: ArgumentHelp("Buffer capacity; 0 is a rendezvous channel.", valueName: "n"))
    var cap = 0

    @Option(help: "Who runs first after a rendezvous: receiver, sender or none.")
    var prefer: PreferArgument = .receiver

    @Flag(help: "Keep its buffered values across restarts (the server needs --data-dir; --cap 1 or more).")
    var durable = false

    func validate() throws {
        guard cap >= 0 else { throw ValidationError("--cap must be at least 0") }
        guard !durable || cap >= 1 else { throw ValidationError("--durable needs --cap 1 or more") }
    }

    func run() throws {
        try reporting {
            let client = try server.connect()
            try client.make(channel, capacity: cap, preference: prefer.preference, durable: durable)
            try? client.quit()
        }
    }
}

struct Close: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close a channel: no new sends; receivers drain what is there, then see it closed.",
        discussion: exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    func run() throws {
        try onChannel(server) { try $0.close(channel) }
    }
}

/// Connects, runs one request that answers OK, and says goodbye (close, open, delete).
private func onChannel(_ server: ServerOptions, _ request: (ChanClient) throws -> Void) throws {
    try reporting {
        let client = try server.connect()
        try request(client)
        try? client.quit()
    }
}

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reopen a closing or closed channel, keeping its buffer and settings (Stackless's channel.open()).",
        discussion: "A channel that is open already, or a name nobody uses, is left as it is.\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    func run() throws {
        try onChannel(server) { try $0.open(channel) }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a channel at once: waiting receivers see it closed, waiting senders fail, buffered values are dropped.",
        discussion: "A later use of the name makes a new channel. Deleting a name nobody uses is not an error.\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    func run() throws {
        try onChannel(server) { try $0.delete(channel) }
    }
}

struct Stat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a channel's state: capacity, values buffered, waiting senders and receivers.",
        discussion: "Prints \"<chan> cap=.. len=.. balance=.. state=.. preference=<receiver|sender|none> senders=.. receivers=.. persistent=.. sent=.. received=.. rate=.. held=.. durable=..\" (each field: protocol.md). "
            + "A channel that does not exist is reported on stderr, exit 8 (when the server says so: exists=0).\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.missing, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "The channel.", transform: channelName)
    var channel: String

    func run() throws {
        try reporting {
            let client = try server.connect()
            let stat = try client.stat(channel)
            try? client.quit()
            guard stat.exists != false else { throw ChannelMissing(name: stat.name) }
            Output.standardOutput("\(stat.name) \(describe(stat))\n")
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the server's counters, one key=value per line.",
        discussion: "With keys, prints only their values, one per line (an unknown key is a usage error).\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "Only these keys.")
    var keys: [String] = []

    func run() throws {
        var missing: String?
        try reporting {
            let client = try server.connect()
            let info = try client.info()
            try? client.quit()
            if keys.isEmpty {
                Output.standardOutput(info.pairs.map { "\($0.key)=\($0.value)\n" }.joined())
                return
            }
            var lines = ""
            for key in keys {
                guard let value = info[key] else {
                    missing = key
                    return
                }
                lines += value + "\n"
            }
            Output.standardOutput(lines)
        }
        if let missing {
            complain("the server reports no counter \"\(missing)\"")
            throw ExitCode(ExitStatus.usage)
        }
    }
}

struct Channels: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the channels (whose name starts with a prefix), with their state.",
        discussion: "One line per channel, as chan stat prints it. The server lists at most 1000; when more match, a note on stderr says how many.\n\n"
            + exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.usage]))

    @OptionGroup var server: ServerOptions

    @Argument(help: "Only channels whose name starts with this.", transform: channelName)
    var prefix: String?

    func run() throws {
        try reporting {
            let client = try server.connect()
            let list = try client.channels(prefix: prefix ?? "")
            try? client.quit()
            Output.standardOutput(list.channels.map { "\($0.name) \(describe($0))\n" }.joined())
            if list.total > list.channels.count {
                Output.standardError("chan: listed \(list.channels.count) of \(list.total) channels\n")
            }
        }
    }
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a chand server answers; prints the round trip time.",
        discussion: """
            Asks for the server's greeting first: a port where something other than chand answers fails at once \
            with "not a chand server" (exit 5). Connecting and each answer wait at most --timeout.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions

    @Option(help: ArgumentHelp("Give up (exit 4) when connecting or an answer takes longer than this many milliseconds.",
                               valueName: "ms"))
    var timeout = 5000

    func validate() throws {
        guard (1...3_600_000).contains(timeout) else { throw ValidationError("--timeout is 1-3600000 ms") }
    }

    func run() throws {
        try reporting {
            var options = ChanClient.Options()
            options.connectTimeout = .milliseconds(timeout)
            options.ioTimeout = .milliseconds(timeout)
            let client = try server.connect(options)
            let place = ServerAddress.display(host: client.host, port: client.port)
            do {
                let hello = try client.hello(probing: true)
                guard hello.server.hasPrefix(ServerHello.serverPrefix) else {
                    throw ChanError.malformedReply("it calls itself \(hello.server)")
                }
            } catch ChanError.malformedReply(let why) {
                complain("\(place) is not a chand server: \(why)")
                throw ExitCode(ExitStatus.server)
            }
            let start = ContinuousClock.now
            try client.ping()
            let elapsed = ContinuousClock.now - start
            try? client.quit()
            Output.standardOutput("\(Reply.pong.summary) from \(place) in \(formatMilliseconds(elapsed)) ms\n")
        }
    }
}

func formatMilliseconds(_ d: Duration) -> String {
    let (s, atto) = d.components
    let micros = Int(s) * 1_000_000 + Int(atto / 1_000_000_000_000)
    let ms = micros / 1000, frac = micros % 1000
    return "\(ms)." + String(repeating: "0", count: 3 - String(frac).count) + String(frac)
}
