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
            The server is --host/--port, or CHAND_ADDR=host:port when a flag is not \
            given, else 127.0.0.1:7400.

            \(exitCodesHelp)
            """,
        subcommands: [Send.self, Throw.self, Recv.self, SelectCommand.self, Make.self, Close.self, Stat.self,
                      Info.self, Channels.self, Top.self, Ping.self, Bench.self])
}

/// What `chan` exits with. 64 (usage) is ArgumentParser's own.
enum ExitStatus {
    static let timeout: Int32 = 2
    static let closed: Int32 = 3
    static let connection: Int32 = 4
    static let server: Int32 = 5
    static let exception: Int32 = 6
    static let output: Int32 = 7
    static let usage: Int32 = 64
}

let exitCodesHelp = """
    Exit codes:
      0   success
      2   timed out (--timeout ran out, or nothing was ready for --timeout 0)
      3   the channel is closed (closed and drained, or a send refused)
      4   connection failure: cannot connect, or the connection was lost
      5   server error (an ERR reply), or a reply that breaks the protocol
      6   received an exception (a value sent with THROW), shown on stderr
      7   standard output could not be written (a value received is lost)
      64  usage error (ArgumentParser's message and usage lines)
    Other errors are one line on stderr.
    """

/// Where the server is: flags first, then CHAND_ADDR, then 127.0.0.1:7400.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server host (default: the host of CHAND_ADDR, else 127.0.0.1).")
    var host: String?

    @Option(help: "Server port (default: the port of CHAND_ADDR, else 7400).")
    var port: Int?

    static let defaultHost = "127.0.0.1"
    static let defaultPort = 7400

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1-65535") }
        _ = try address()
    }

    /// host:port, or [v6]:port.
    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (host, port)
    }

    func address() throws -> (host: String, port: Int) {
        var env: (host: String, port: Int)?
        if host == nil || port == nil, let value = getenv("CHAND_ADDR").map({ String(cString: $0) }), !value.isEmpty {
            guard let parsed = ServerOptions.parse(value) else {
                throw ValidationError("CHAND_ADDR must be host:port, not \"\(value)\"")
            }
            env = parsed
        }
        return (host ?? env?.host ?? ServerOptions.defaultHost, port ?? env?.port ?? ServerOptions.defaultPort)
    }

    func connect() throws -> ChanClient {
        let (host, port) = try address()
        return try ChanClient(host: host, port: port)
    }
}

/// A value sent with THROW arrived: reported on stderr, exit 6.
struct ReceivedException: Error {
    let message: Message
}

/// Runs a command's body; a failure becomes one line on stderr and its exit code.
func reporting(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ChanError {
        complain(error.description)
        throw ExitCode(status(of: error))
    } catch let error as ReceivedException {
        complain("exception on \(error.message.channel): \(printable(error.message.payload))")
        throw ExitCode(ExitStatus.exception)
    }
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
