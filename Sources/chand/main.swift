import ArgumentParser
import ChanProtocol
import ChanServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's command line. Every flag can also come from an environment
/// variable (flags win); --help shows both and the default.
@main
struct Chand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chand",
        abstract: "A network channel server: rendezvous, buffered channels and select over TCP.",
        discussion: "Every option can also be set with the environment variable named in its help; a flag wins over the environment.")

    @Option(help: .setting("Interface to listen on (0.0.0.0 or :: for all; loopback unless asked)", "CHAND_HOST", "127.0.0.1"))
    var host: String?

    @Option(help: .setting("TCP port; 0 picks a free one", "CHAND_PORT", "7400"))
    var port: Int?

    @Option(help: .setting("Largest SEND/THROW payload in bytes", "CHAND_MAX_PAYLOAD", "1048576"))
    var maxPayload: Int?

    @Option(help: .setting("Longest request line in bytes", "CHAND_MAX_LINE", "65536"))
    var maxLine: Int?

    @Option(help: .setting("Most simultaneous client connections", "CHAND_MAX_CONNECTIONS", "10000"))
    var maxConnections: Int?

    @Option(help: .setting("Most cases in one SELECT", "CHAND_MAX_SELECT_CASES", "256"))
    var maxSelectCases: Int?

    @Option(help: .setting("Most channels at once", "CHAND_MAX_CHANNELS", "1000000"))
    var maxChannels: Int?

    @Option(help: .setting("Largest buffer capacity MAKE accepts", "CHAND_MAX_CAPACITY", "1000000"))
    var maxCapacity: Int?

    @Option(help: .setting("Seed for select's random choice, for reproducible runs", "CHAND_SEED", "from the system"))
    var seed: UInt64?

    @Option(help: .setting("Serve Prometheus metrics over HTTP on this port (0: a free one)", "CHAND_METRICS_PORT", "off"))
    var metricsPort: Int?

    @Option(help: .setting("Log level", "CHAND_LOG_LEVEL", "info"))
    var logLevel: Logger.Level?

    /// Parses, then runs; any error (a bad flag, a bad environment value,
    /// a port in use) is one line on stderr and a non-zero exit.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
            } else {
                let line = "chand: \(message(for: error))\n"
                _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
            }
            Glibc.exit(code.rawValue)
        }
    }

    func run() throws {
        let settings = try resolve()
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let server = try Server(config: settings.config)
        let bound = try server.start()
        print("chand listening on \(settings.config.host):\(bound)")
        if let metrics = server.metricsPort {
            print("chand metrics on http://\(settings.config.host):\(metrics)/metrics")
        }
        fflush(nil)  // the lines above must reach a pipe at once
        try server.run()
    }

    private struct Settings {
        var config = ServerConfig()
        var logLevel = Logger.Level.info
    }

    /// Flag, else environment, else default; then range checks naming the setting.
    private func resolve() throws -> Settings {
        var s = Settings()
        var c = s.config
        c.host = try setting(host, "CHAND_HOST") { $0 } ?? c.host
        c.port = try setting(port, "CHAND_PORT", Int.init) ?? c.port
        c.limits.maxPayload = try setting(maxPayload, "CHAND_MAX_PAYLOAD", Int.init) ?? c.limits.maxPayload
        c.limits.maxLine = try setting(maxLine, "CHAND_MAX_LINE", Int.init) ?? c.limits.maxLine
        c.limits.maxSelectCases = try setting(maxSelectCases, "CHAND_MAX_SELECT_CASES", Int.init) ?? c.limits.maxSelectCases
        c.limits.maxCapacity = try setting(maxCapacity, "CHAND_MAX_CAPACITY", Int.init) ?? c.limits.maxCapacity
        c.maxConnections = try setting(maxConnections, "CHAND_MAX_CONNECTIONS", Int.init) ?? c.maxConnections
        c.maxChannels = try setting(maxChannels, "CHAND_MAX_CHANNELS", Int.init) ?? c.maxChannels
        c.seed = try setting(seed, "CHAND_SEED", UInt64.init) ?? c.seed
        c.metricsPort = try setting(metricsPort, "CHAND_METRICS_PORT", Int.init) ?? c.metricsPort
        s.logLevel = try setting(logLevel, "CHAND_LOG_LEVEL", Logger.Level.init(rawValue:)) ?? s.logLevel

        try check(c.port, in: 0...65535, "--port", "CHAND_PORT")
        try check(c.metricsPort ?? 0, in: 0...65535, "--metrics-port", "CHAND_METRICS_PORT")
        try check(c.limits.maxPayload, in: 0...(1 << 30), "--max-payload", "CHAND_MAX_PAYLOAD")
        try check(c.limits.maxLine, in: 16...(1 << 24), "--max-line", "CHAND_MAX_LINE")
        try check(c.limits.maxSelectCases, in: 1...65536, "--max-select-cases", "CHAND_MAX_SELECT_CASES")
        try check(c.limits.maxCapacity, in: 0...(1 << 30), "--max-capacity", "CHAND_MAX_CAPACITY")
        try check(c.maxConnections, in: 1...1_000_000, "--max-connections", "CHAND_MAX_CONNECTIONS")
        try check(c.maxChannels, in: 1...(1 << 30), "--max-channels", "CHAND_MAX_CHANNELS")
        s.config = c
        return s
    }

    /// The flag's value, else the environment variable's, else nil.
    private func setting<T>(_ flag: T?, _ variable: String, _ parse: (String) -> T?) throws -> T? {
        if let flag { return flag }
        guard let raw = getenv(variable).map({ String(cString: $0) }) else { return nil }
        guard let value = parse(raw) else { throw ValidationError("\(variable)=\(raw) is not a valid value") }
        return value
    }

    private func check(_ value: Int, in range: ClosedRange<Int>, _ flag: String, _ variable: String) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) (\(variable)) must be \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
    }
}

extension ArgumentHelp {
    static func setting(_ text: String, _ variable: String, _ fallback: String) -> ArgumentHelp {
        ArgumentHelp("\(text) [env \(variable); default \(fallback)]")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
