import ArgumentParser
import ChanProtocol
import ChanServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct Chand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chand",
        abstract: "A network channel server: rendezvous, buffered channels and select over TCP.")

    @Option(help: "Interface to listen on (other than loopback only when asked).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks any free port.")
    var port = 7400

    @Option(help: "Largest SEND/THROW payload, in bytes.")
    var maxPayload = 1 << 20

    @Option(help: "Longest command line, in bytes.")
    var maxLine = 65536

    @Option(help: "Most simultaneous client connections.")
    var maxConnections = 10_000

    @Option(help: "Most cases in one SELECT.")
    var maxSelectCases = 256

    @Option(help: "Most channels at once.")
    var maxChannels = 1_000_000

    @Option(help: "Largest buffer capacity MAKE accepts.")
    var maxCapacity = 1_000_000

    @Option(help: "Seed for select's random choice (reproducible runs, tests).")
    var seed: UInt64?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        for (name, value) in [("--max-payload", maxPayload), ("--max-line", maxLine), ("--max-connections", maxConnections),
                              ("--max-select-cases", maxSelectCases), ("--max-channels", maxChannels)] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        guard maxCapacity >= 0 else { throw ValidationError("--max-capacity must be at least 0") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var config = ServerConfig()
        config.host = host
        config.port = port
        config.limits = ProtocolLimits(maxLine: maxLine, maxPayload: maxPayload,
                                       maxSelectCases: maxSelectCases, maxCapacity: maxCapacity)
        config.maxConnections = maxConnections
        config.maxChannels = maxChannels
        config.seed = seed
        let server = try Server(config: config)
        let bound = try server.start()
        print("chand listening on \(host):\(bound)")
        fflush(nil)  // all streams: the line above must reach a pipe at once
        try server.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
