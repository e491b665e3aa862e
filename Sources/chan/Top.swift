import ArgumentParser
import ChanClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the busiest channels and the server's totals.",
        discussion: """
            Every interval it asks the server for its counters and its busiest channels over one \
            connection, and shows the server's totals and each channel's values sent into it (IN/S) \
            and received from it (OUT/S) per second over that interval, its balance (waiting senders minus \
            waiting receivers), values buffered, capacity, senders and receivers waiting \
            (SENDQ, RECVQ), state and preference (PREF: who runs first after a handoff: \
            receiver, sender or none). The busiest \
            channels come first: the server orders them by values moved in its last whole \
            second, then by values held and tasklets waiting; the screen shows them open ones \
            first (then those closed but draining, then the closed ones), each group by the \
            rates it shows, ties in the server's order. A channel not seen at the \
            previous refresh (or made anew since) shows "-" for its rates. Names too long \
            for the terminal are cut in the middle ("~"), keeping their ends.

            The first screen comes a fifth of a second after starting (sooner with a \
            shorter --interval), with rates over that time; later ones every interval. On \
            a terminal the screen is redrawn in place until q is pressed or chan is \
            interrupted (or --iterations runs out), and --top defaults to what fits; \
            elsewhere each refresh is printed after the one before. --once prints a single \
            refresh.

            \(exitCodesHelp([ExitStatus.success, ExitStatus.connection, ExitStatus.server, ExitStatus.output, ExitStatus.usage]))
            """)

    @OptionGroup var server: ServerOptions

    @Option(help: ArgumentHelp("Seconds between refreshes.", valueName: "seconds"))
    var interval: Double = 1

    @Option(help: ArgumentHelp("How many channels to show, 0-1000 (default: what fits the terminal, else 20).", valueName: "n"))
    var top: Int?

    @Option(help: "Only channels whose name starts with this.", transform: channelName)
    var prefix: String?

    @Option(help: ArgumentHelp("Stop after this many refreshes.", valueName: "n"))
    var iterations: Int?

    @Flag(help: "Print one refresh and exit (the same as --iterations 1).")
    var once = false

    func validate() throws {
        guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval is 0.05-3600 seconds") }
        if let top, !(0...1000).contains(top) { throw ValidationError("--top is 0-1000") }
        if let iterations, iterations < 1 { throw ValidationError("--iterations is at least 1") }
        if once && iterations != nil { throw ValidationError("--once and --iterations exclude each other") }
    }

    func run() throws {
        try reporting {
            let client = try server.connect()
            let (host, port) = try server.address()
            let hello = try client.hello()
            let terminal = !once && isatty(1) == 1
            let keys = terminal ? Keyboard() : nil
            defer { keys?.restore() }
            let view = TopView(title: "\(hello.server) at \(ServerAddress.display(host: host, port: port))",
                               prefix: prefix ?? "")
            var previous = try TopSample.take(client, prefix: prefix ?? "", top: rows(terminal))
            var left = once ? 1 : iterations
            var wait = min(interval, TopView.firstInterval)
            while left.map({ $0 > 0 }) ?? true {
                if keys?.quitPressed(within: wait) ?? { sleep(seconds: wait); return false }() { break }
                wait = interval
                let sample = try TopSample.take(client, prefix: prefix ?? "", top: rows(terminal))
                let frame = view.render(sample, since: previous, width: terminal ? terminalSize()?.columns : nil)
                // On a terminal the last line ends the screen (a line end would scroll it).
                Output.standardOutput(terminal ? "\u{1B}[H\u{1B}[2J" + frame : frame + (left == 1 ? "\n" : "\n\n"))
                previous = sample
                left = left.map { $0 - 1 }
            }
            if terminal { Output.standardOutput("\n") }
            try? client.quit()
        }
    }

    /// --top, else the terminal's height less the header lines, else 20.
    private func rows(_ terminal: Bool) -> Int {
        if let top { return top }
        guard terminal, let lines = terminalSize()?.lines else { return 20 }
        return max(1, min(1000, lines - TopView.headerLines - 1))
    }
}

/// What one refresh asks the server: INFO and the busiest channels.
struct TopSample {
    let time: ContinuousClock.Instant
    let info: ReplyFields
    let channels: ChannelList

    static func take(_ client: ChanClient, prefix: String, top: Int) throws(ChanError) -> TopSample {
        let info = try client.info()
        let channels = try client.channels(prefix: prefix, top: top)
        return TopSample(time: .now, info: info, channels: channels)
    }
}

/// Turns two samples into one screen of text.
struct TopView {
    let title: String
    let prefix: String
    /// Lines above the channel rows: four of totals, a blank line, the column heads.
    static let headerLines = 6
    /// The INFO counters shown per second, with their labels, in two lines
    /// (each fits 80 columns up to six-digit rates).
    static let rates: [[Counter]] = {
        let counted = Counters.all.filter { $0.kind == .counter && $0.display != nil }
        let half = (counted.count + 1) / 2
        return [Array(counted[..<half]), Array(counted[half...])]
    }()
    /// The gauges on the line under the title.
    static let gauges = Counters.all.filter { $0.kind == .gauge && $0.display != nil }
    /// The first screen comes after this many seconds (or --interval, if shorter).
    static let firstInterval = 0.2

    func render(_ now: TopSample, since before: TopSample, width: Int?) -> String {
        let seconds = max(0.001, Double((now.time - before.time).components.attoseconds) / 1e18
                          + Double((now.time - before.time).components.seconds))
        // Counters come from the server: a wild one must not crash the view.
        func perSecond(_ delta: Int) -> String {
            let rate = (Double(delta) / seconds).rounded()
            return abs(rate) < 1e18 ? String(Int(rate)) : "?"
        }
        let info = now.info
        func value(_ key: String) -> String { info[key] ?? "?" }
        func delta(_ key: String) -> Int {
            guard let a = now.info.integer(key), let b = before.info.integer(key) else { return 0 }
            return a &- b
        }
        let errors = Counters.errors.map { delta($0.key) }.reduce(0, &+)

        var out = "\(title)  up \(uptime(info.integer(Counters.uptime.key) ?? 0))  every \(formatSeconds(seconds)) s\n"
        out += Self.gauges.map { "\($0.display!) \(value($0.key))" }.joined(separator: "  ") + "\n"
        func line(_ rates: [Counter]) -> String {
            rates.map { "\($0.display!) \(perSecond(delta($0.key)))" }.joined(separator: "  ")
        }
        out += "per second: " + line(Self.rates[0]) + "\n"
        out += "            " + line(Self.rates[1]) + "  errors \(perSecond(errors))\n\n"

        // SENDQ and RECVQ: senders and receivers waiting; PREF: who runs first after a handoff.
        var table = [["NAME", "IN/S", "OUT/S", "BALANCE", "LEN", "CAPACITY", "SENDQ", "RECVQ", "STATE", "PREF"]]
        let previous = Dictionary(before.channels.channels.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [(rank: Int, moved: Double, row: [String])] = []
        for ch in now.channels.channels {
            let last = previous[ch.name]
            // Counters that went back belong to a channel dropped and made again.
            let known = last.map { ch.sent >= $0.sent && ch.received >= $0.received } ?? false
            let moved = known ? Double(ch.sent &- last!.sent) + Double(ch.received &- last!.received) : 0
            rows.append((Self.stateRank[ch.state]!, moved, [
                ch.name,
                known ? perSecond(ch.sent &- last!.sent) : "-",
                known ? perSecond(ch.received &- last!.received) : "-",
                String(ch.balance), String(ch.count), String(ch.capacity), String(ch.senders), String(ch.receivers),
                ch.state.rawValue, ch.preference.name,
            ]))
        }
        // Ordered by what the screen shows: open channels first, then by the rates shown; ties keep the
        // server's order (its last whole second, then values held and tasklets waiting).
        let ordered = rows.indices.sorted { a, b in
            (rows[a].rank, -rows[a].moved, a) < (rows[b].rank, -rows[b].moved, b)
        }
        table += ordered.map { rows[$0].row }
        // Names get what the other columns leave of the terminal's width.
        if let width {
            let others = table[0].indices.dropFirst().map { i in table.map { $0[i].count }.max()! + 2 }.reduce(0, +)
            let nameWidth = max(table[0][0].count, width - others)
            for r in table.indices.dropFirst() { table[r][0] = Self.cut(table[r][0], to: nameWidth) }
        }
        out += Self.columns(table)
        let scope = prefix.isEmpty ? "" : " starting with \(prefix)"
        out += "\(now.channels.channels.count) of \(now.channels.total) channels\(scope) shown"
        return out
    }

    /// Open channels come first, then those closed but draining, then the closed ones.
    static let stateRank: [ChannelStat.State: Int] = [.open: 0, .closing: 1, .closed: 2]

    /// `name` in at most `width` characters: cut in the middle ("~"), keeping more of its end, where
    /// generated names differ (`bench.12829.3969` in 12 is `benc~29.3969`).
    static func cut(_ name: String, to width: Int) -> String {
        guard name.count > width else { return name }
        let kept = max(width - 1, 1)
        let head = kept * 2 / 5
        return String(name.prefix(head)) + "~" + String(name.suffix(kept - head))
    }

    /// Left-aligned first column, the others right-aligned, two spaces apart.
    static func columns(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { i in rows.map { $0[i].count }.max()! }
        return rows.map { row in
            row.indices.map { i in
                let pad = String(repeating: " ", count: widths[i] - row[i].count)
                return i == 0 ? row[i] + pad : pad + row[i]
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}

func uptime(_ milliseconds: Int) -> String {
    let s = milliseconds / 1000
    let (d, h, m) = (s / 86400, s / 3600 % 24, s / 60 % 60)
    let clock = "\(h):" + two(m) + ":" + two(s % 60)
    return d > 0 ? "\(d)d \(clock)" : clock
}

private func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

private func formatSeconds(_ s: Double) -> String {
    let tenths = Int((s * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

private func sleep(seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Standard input as a terminal in non-canonical mode, to see q at once; put back by `restore()` (or on
/// SIGINT/SIGTERM, by the handler).
final class Keyboard {
    init?() {
        guard isatty(0) == 1, tcgetattr(0, savedTerminal) == 0 else { return nil }
        let raw = termiosBuffer()
        defer { raw.deallocate() }
        tcgetattr(0, raw)
        raw.pointee.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, raw)
        signal(SIGINT, restoreAndExit)
        signal(SIGTERM, restoreAndExit)
    }

    func restore() {
        tcsetattr(0, TCSANOW, savedTerminal)
    }

    /// Waits up to `seconds`; true as soon as q (or Q) is typed.
    func quitPressed(within seconds: Double) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(Int64(Int32.max), left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
            let ready = poll(&pfd, 1, ms)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return false }
            var byte: UInt8 = 0
            guard read(0, &byte, 1) == 1 else {
                sleep(seconds: max(0, Double(left.components.seconds)))  // input ended: no more keys
                return false
            }
            if byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") { return true }
        }
    }
}

/// The terminal's settings before `chan top` changed them (one `Keyboard` at a time). On the heap: the C
/// library writes a whole `struct termios`, which can be longer than Swift's size of the imported struct
/// (AddressSanitizer caught tcgetattr writing past a global one).
nonisolated(unsafe) private let savedTerminal = termiosBuffer()

/// Room for the C library's `struct termios`, whatever Swift takes its size to be.
private func termiosBuffer() -> UnsafeMutablePointer<termios> {
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 16)
    buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
    return buffer.bindMemory(to: termios.self, capacity: 1)
}

private func restoreAndExit(_ signal: Int32) {
    tcsetattr(0, TCSANOW, savedTerminal)
    _exit(128 + signal)
}

/// The terminal's size when standard output is one.
private func terminalSize() -> (lines: Int, columns: Int)? {
    var size = winsize()
    guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
    return (Int(size.ws_row), Int(size.ws_col))
}
