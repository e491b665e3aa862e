import ArgumentParser
import ChanClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Chan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chan",
        abstract: "Send, receive and select on the channels of a chand server.",
        discussion: """
            The server is -s/--server <address>, or --host and --port, given before or after the \
            subcommand (chan --port 7411 ping); else CHAND_ADDR; else 127.0.0.1:7400. An address is \
            host, :port, host:port or [v6]:port (a bare IPv6 address is a host); tls://<address> or --tls \
            speaks TLS, verifying the server's certificate against --tls-ca, CHAND_TLS_CA or the system's \
            store. On a server with users, CHAND_USER and CHAND_PASSWORD are sent as AUTH.

            A value that starts with "-" goes after "--": chan send jobs -- -5.

            \(exitCodesHelp(ExitStatus.all))
            """,
        version: "chan \(ChandVersion.current)",
        subcommands: [Send.self, Throw.self, Recv.self, SelectCommand.self, Make.self, Close.self, Open.self, Delete.self, Stat.self,
                      Info.self, Channels.self, Top.self, Ping.self, Bench.self, Passwd.self])

    /// Parses (connection options may come before the subcommand), then runs. A usage error that looks like a
    /// value starting with "-" taken for an option says to put it after "--".
    static func main() {
        let arguments = ServerOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            guard exitCode(for: error) != .success, !(error is ExitCode) else { exit(withError: error) }
            var text = fullMessage(for: error)
            if let hint = dashHint(arguments) { text += "\n" + hint }
            Output.standardError(text + "\n")
            exit(withError: ExitCode(exitCode(for: error).rawValue))
        }
    }

    /// For an argument such as `-5` or `-x` before any `--`: how to pass it as a value.
    static func dashHint(_ arguments: [String]) -> String? {
        let options = Set(arguments.prefix { $0 != "--" }.filter { $0.hasPrefix("-") })
        guard let value = options.first(where: { $0.dropFirst().first?.isNumber == true }) else { return nil }
        return "Hint: \"\(value)\" was read as an option. A value that starts with \"-\" goes after \"--\" "
            + "(chan send jobs -- \(value)); numbers such as --timeout, --count or --port are never negative."
    }
}

/// What `chan` exits with. 64 (usage) is ArgumentParser's own.
enum ExitStatus {
    static let success: Int32 = 0
    static let timeout: Int32 = 2
    static let closed: Int32 = 3
    static let connection: Int32 = 4
    static let server: Int32 = 5
    static let exception: Int32 = 6
    static let output: Int32 = 7
    static let missing: Int32 = 8
    static let usage: Int32 = 64

    static let all = [success, timeout, closed, connection, server, exception, output, missing, usage]

    static let meaning: [Int32: String] = [
        success: "success",
        timeout: "timed out (--timeout ran out, or nothing was ready for --timeout 0)",
        closed: "the channel is closed (closed and drained, or a send refused)",
        connection: "connection failure: cannot connect, or the connection was lost",
        server: "server error (a refused request), or a reply that breaks the protocol",
        exception: "received an exception (a value sent with chan throw), shown on stderr",
        output: "standard output could not be written (a value received is lost)",
        missing: "the channel does not exist (chan stat)",
        usage: "usage error (ArgumentParser's message and usage lines)",
    ]
}

/// The exit code table for a command's help: only the codes it can return.
func exitCodesHelp(_ codes: [Int32]) -> String {
    "Exit codes:\n" + codes.map { code in
        let number = String(code)
        return "  " + number + String(repeating: " ", count: 4 - number.count) + ExitStatus.meaning[code]!
    }.joined(separator: "\n") + "\nOther errors are one line on stderr."
}

/// Where the server is: --host/--port, else -s/--server, else CHAND_ADDR, else 127.0.0.1:7400.
struct ServerOptions: ParsableArguments {
    @Option(name: [.customShort("s"), .long], help: ArgumentHelp(
        "Server address: host, :port, host:port or [v6]:port (default: CHAND_ADDR, else 127.0.0.1:7400).",
        valueName: "address"))
    var server: String?

    @Option(help: "Server host, a name or an address (IPv6 bracketed or not).")
    var host: String?

    @Option(help: "Server port.")
    var port: Int?

    @Flag(help: "Speak TLS (as a tls:// address does); the server's certificate is always verified.")
    var tls = false

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp(
        "PEM CA certificates to verify the server with; implies --tls (default: CHAND_TLS_CA, else the system's store).",
        valueName: "pem"))
    var tlsCA: String?

    static let defaultHost = "127.0.0.1"
    static let defaultPort = 7400

    /// The connection options, which `chan` also takes before the subcommand.
    static let names: Set<String> = ["-s", "--server", "--host", "--port", "--tls-ca"]
    /// Those of them that take no value.
    static let flagNames: Set<String> = ["--tls"]

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1-65535") }
        _ = try address()
    }

    /// `chan --port 7411 ping` as `chan ping --port 7411`: connection options before the subcommand move after it.
    static func movedAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            let name = String(first.split(separator: "=", maxSplits: 1).first ?? "")
            if flagNames.contains(first) {
                leading.append(rest.removeFirst())
                continue
            }
            guard names.contains(name) else { break }
            leading.append(rest.removeFirst())
            if !first.contains("="), let value = rest.first {
                leading.append(value)
                rest.removeFirst()
            }
        }
        guard !leading.isEmpty, let subcommand = rest.first, !subcommand.hasPrefix("-") else { return arguments }
        return [subcommand] + leading + rest.dropFirst()
    }

    func address() throws -> (host: String, port: Int) {
        do {
            let address = try resolvedAddress()
            return (address.host, address.port)
        } catch let error as ChanError {
            throw ValidationError(error.description)
        }
    }

    /// TLS and AUTH as the flags and the environment ask: `--tls`, `--tls-ca`,
    /// `tls://`, `CHAND_TLS_CA`, `CHAND_USER`, `CHAND_PASSWORD`.
    func clientOptions(_ base: ChanClient.Options = ChanClient.Options()) throws -> ChanClient.Options {
        var options = base
        let environmentCA = getenv("CHAND_TLS_CA").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        if try tls || tlsCA != nil || resolvedAddress().isTLS {
            options.tls = ChanClient.TLS(caFile: tlsCA ?? environmentCA)
        }
        let user = getenv("CHAND_USER").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        let secret = getenv("CHAND_PASSWORD").map { String(cString: $0) }
        if let user {
            guard let secret, !secret.isEmpty else { throw ChanError.invalidArgument("CHAND_USER is set but CHAND_PASSWORD is not") }
            options.credentials = ChanClient.Credentials(user: user, secret: secret)
        }
        return options
    }

    private func resolvedAddress() throws -> (host: String, port: Int, isTLS: Bool) {
        var base = ServerAddress(host: nil, port: nil)
        if let server {
            base = try ServerAddress.parse(server)
        } else if let value = getenv("CHAND_ADDR").map({ String(cString: $0) }), !value.isEmpty {
            do {
                base = try ServerAddress.parse(value)
            } catch {
                throw ChanError.invalidArgument("CHAND_ADDR: \(error)")
            }
        }
        let flagHost = try host.map { text throws -> String in
            guard let host = try ServerAddress.parse(text).host else {
                throw ChanError.invalidArgument("--host takes a host, not \"\(text)\" (a port goes to --port)")
            }
            return host
        }
        return (flagHost ?? base.host ?? Self.defaultHost, port ?? base.port ?? Self.defaultPort, base.isTLS)
    }

    func connect(_ options: ChanClient.Options = ChanClient.Options()) throws -> ChanClient {
        let (host, port) = try address()
        return try ChanClient(host: host, port: port, options: try clientOptions(options))
    }
}

/// `chan stat` of a name the server says does not exist: reported on stderr, exit 8.
struct ChannelMissing: Error {
    let name: String
}

/// A value sent as an exception arrived: reported on stderr, exit 6.
struct ReceivedException: Error {
    let message: Message
}

/// Runs a command's body; a failure becomes one line on stderr and its exit code.
/// `waited` says what timed out, for `.timeout`: "no value on jobs within 100 ms".
func reporting(waited: String? = nil, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch ChanError.timeout {
        complain("timed out: " + (waited ?? "no reply in time"))
        throw ExitCode(ExitStatus.timeout)
    } catch ChanError.server(let code, let text) where code == .exists {
        complain(ChanError.server(code: code, text: namingPreferences(text)).description)
        throw ExitCode(ExitStatus.server)
    } catch let error as ChanError {
        complain(error.description)
        throw ExitCode(status(of: error))
    } catch let error as ChannelMissing {
        complain("channel \(error.name) does not exist")
        throw ExitCode(ExitStatus.missing)
    } catch let error as ReceivedException {
        complain("exception on \(error.message.channel): \(printable(error.message.payload))")
        throw ExitCode(ExitStatus.exception)
    }
}

/// A server's text with `preference=-1|0|1` spelled as the CLI spells preferences.
func namingPreferences(_ text: String) -> String {
    text.split(separator: " ", omittingEmptySubsequences: false).map { word in
        let named = Preference.all.first { word == "preference=\($0.rawValue)" }
        return named.map { "preference=\($0.name)" } ?? String(word)
    }.joined(separator: " ")
}

/// How long a wait was, for a timeout's message: "within 100 ms", or "at once" for --timeout 0.
func within(_ milliseconds: Int?) -> String {
    guard let milliseconds else { return "in time" }
    return milliseconds == 0 ? "at once (--timeout 0)" : "within \(milliseconds) ms"
}

func status(of error: ChanError) -> Int32 {
    switch error {
    case .timeout: return ExitStatus.timeout
    case .closed: return ExitStatus.closed
    case .connectFailed, .connectionLost: return ExitStatus.connection
    case .server, .malformedReply: return ExitStatus.server
    case .invalidArgument: return ExitStatus.usage
    }
}

/// One line on stderr; control characters (from a server's error text, say) escaped.
func complain(_ text: String) {
    Output.standardError("chan: \(printable(Array(text.utf8)))\n")
}

/// A payload for a one-line message: its text, with control characters escaped.
func printable(_ bytes: [UInt8]) -> String {
    var out = ""
    for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\x" + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
