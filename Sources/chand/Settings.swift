import ChanServer
import ChanSession
import ChanStore
import Logging

/// What the daemon runs with: the server's configuration and the log level.
struct DaemonSettings {
    var config = ServerConfig()
    var logLevel = Logger.Level.info
    /// --data-dir: durable channels allowed, kept there.
    var dataDirectory: String?
    var fsync = FsyncPolicy.everysec

    var storage: StorageSettings? { dataDirectory.map { StorageSettings(directory: $0, fsync: fsync) } }
}

/// A value that a setting refuses; `main` reports it as one line naming where it came from, exit 64.
struct BadSetting: Error {
    /// `--port 70000` or `CHAND_PORT=70000`.
    let source: String
    /// What is wrong: `must be a number 0-65535`.
    let problem: String

    var message: String { "\(source): \(problem)" }
}

/// One daemon setting: its flag, its environment variable, its help, its default (read from a fresh
/// `ServerConfig`, so never spelled twice) and how a value is read and checked. The table drives parsing,
/// `--help` and validation.
struct Setting: Sendable {
    /// The flag without its dashes: `max-payload`.
    let name: String
    let variable: String
    let help: String
    /// What --help shows for the value: `<n>`.
    let valueName: String
    /// The default as --help shows it.
    let fallback: String
    /// Reads `text` into the settings; the error says what a valid value is.
    let assign: @Sendable (String, inout DaemonSettings) -> String?

    var flag: String { "--" + name }

    static let all: [Setting] = [
        Setting(name: "host", variable: "CHAND_HOST",
                help: "Interface to listen on: an address (0.0.0.0 or :: for all; loopback unless asked) or a host name",
                valueName: "<host>", fallback: DaemonSettings().config.host) { text, settings in
            guard let address = ListenAddress.resolve(text) else { return "an IP address or a host name that resolves" }
            settings.config.host = address
            return nil
        },
        integer("port", "CHAND_PORT", "TCP port; 0 picks a free one", 0...65535, \.config.port),
        integer("max-payload", "CHAND_MAX_PAYLOAD", "Largest SEND/THROW payload in bytes", 0...(1 << 30),
                \.config.limits.maxPayload),
        integer("max-line", "CHAND_MAX_LINE", "Longest request line in bytes", 16...(1 << 24), \.config.limits.maxLine),
        integer("max-connections", "CHAND_MAX_CONNECTIONS", "Most simultaneous client connections", 1...1_000_000,
                \.config.maxConnections),
        integer("max-select-cases", "CHAND_MAX_SELECT_CASES", "Most cases in one SELECT", 1...65536,
                \.config.limits.maxSelectCases),
        integer("max-channels", "CHAND_MAX_CHANNELS", "Most channels at once", 1...(1 << 30), \.config.maxChannels),
        integer("max-capacity", "CHAND_MAX_CAPACITY", "Largest buffer capacity MAKE accepts", 0...(1 << 30),
                \.config.limits.maxCapacity),
        integer("max-held", "CHAND_MAX_HELD", "Most values one connection holds unacknowledged (RECV ... ACK)",
                1...(1 << 20), \.config.maxHeld),
        integer("max-memory", "CHAND_MAX_MEMORY",
                "Bytes of buffered and held values, all channels; past it SENDs wait as on a full buffer",
                1024...(1 << 50), \.config.maxMemory),
        integer("closed-ttl", "CHAND_CLOSED_TTL", "Seconds a closed, drained channel is remembered before its name is freed",
                0...(1 << 31), \.config.closedTTLSeconds),
        Setting(name: "data-dir", variable: "CHAND_DATA_DIR",
                help: "Directory of the durable channels' store (created if missing); without it MAKE ... DURABLE is refused",
                valueName: "<dir>", fallback: "none: every channel in memory") { text, settings in
            guard !text.isEmpty else { return "a directory path" }
            settings.dataDirectory = text
            return nil
        },
        Setting(name: "fsync", variable: "CHAND_FSYNC",
                help: "When the store syncs to disk: always (before answering), everysec (once a second), no (the kernel decides)",
                valueName: "<policy>", fallback: DaemonSettings().fsync.rawValue) { text, settings in
            guard let policy = FsyncPolicy(rawValue: text) else {
                return "one of " + FsyncPolicy.allCases.map(\.rawValue).joined(separator: ", ")
            }
            settings.fsync = policy
            return nil
        },
        Setting(name: "seed", variable: "CHAND_SEED", help: "Seed for select's random choice, for reproducible runs",
                valueName: "<n>", fallback: "from the system") { text, settings in
            guard let seed = UInt64(text) else { return "a number 0-\(UInt64.max)" }
            settings.config.seed = seed
            return nil
        },
        Setting(name: "metrics-port", variable: "CHAND_METRICS_PORT",
                help: "Serve Prometheus metrics over HTTP on this port (0: a free one)", valueName: "<port>",
                fallback: DaemonSettings().config.metricsPort.map(String.init) ?? "off") { text, settings in
            guard let port = Int(text), (0...65535).contains(port) else { return "a number 0-65535" }
            settings.config.metricsPort = port
            return nil
        },
        Setting(name: "metrics-host", variable: "CHAND_METRICS_HOST",
                help: "Interface the metrics endpoint listens on", valueName: "<host>",
                fallback: DaemonSettings().config.metricsHost) { text, settings in
            guard let address = ListenAddress.resolve(text) else { return "an IP address or a host name that resolves" }
            settings.config.metricsHost = address
            return nil
        },
        path("users", "CHAND_USERS",
             "Users file: `<name> <secret> [send:<pattern>|recv:<pattern>|admin]...` per line; clients must AUTH. SIGHUP reloads it",
             \.config.usersFile),
        Setting(name: "protected-mode", variable: "CHAND_PROTECTED_MODE",
                help: "yes: without --users, serve only loopback clients; no: serve every client without AUTH",
                valueName: "yes|no", fallback: DaemonSettings().config.protectedMode ? "yes" : "no") { text, settings in
            switch text {
            case "yes": settings.config.protectedMode = true
            case "no": settings.config.protectedMode = false
            default: return "yes or no"
            }
            return nil
        },
        path("tls-cert", "CHAND_TLS_CERT", "PEM certificate chain; with --tls-key the listener speaks TLS only (1.2, 1.3)",
             \.config.tlsCertificate),
        path("tls-key", "CHAND_TLS_KEY", "PEM private key of --tls-cert", \.config.tlsKey),
        integer("tls-handshake-timeout", "CHAND_TLS_HANDSHAKE_TIMEOUT", "Seconds a TLS handshake may take before the connection is closed",
                1...3600, \.config.tlsHandshakeSeconds),
        path("tls-ca", "CHAND_TLS_CLIENT_CA", "PEM CA file: clients must present a certificate it signed (needs --tls-cert)",
             \.config.tlsClientCA),
        Setting(name: "log-level", variable: "CHAND_LOG_LEVEL", help: "Log level", valueName: "<level>",
                fallback: DaemonSettings().logLevel.rawValue) { text, settings in
            guard let level = Logger.Level(rawValue: text) else {
                return "one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            }
            settings.logLevel = level
            return nil
        },
    ]

    /// A file path, stored at `path`; off unless given.
    private static func path(
        _ name: String, _ variable: String, _ help: String, _ path: WritableKeyPath<DaemonSettings, String?> & Sendable
    ) -> Setting {
        Setting(name: name, variable: variable, help: help, valueName: "<file>", fallback: "none") { text, settings in
            guard !text.isEmpty else { return "a file path" }
            settings[keyPath: path] = text
            return nil
        }
    }

    /// A whole number in `range`, stored at `path`; its default is what a fresh `DaemonSettings` holds there.
    private static func integer(
        _ name: String, _ variable: String, _ help: String, _ range: ClosedRange<Int>,
        _ path: WritableKeyPath<DaemonSettings, Int> & Sendable
    ) -> Setting {
        Setting(name: name, variable: variable, help: help, valueName: "<n>",
                fallback: String(DaemonSettings()[keyPath: path])) { text, settings in
            guard let value = Int(text), range.contains(value) else {
                return "a number \(range.lowerBound)-\(range.upperBound)"
            }
            settings[keyPath: path] = value
            return nil
        }
    }
}

/// The daemon's command line: `[--<setting> <value> | --<setting>=<value>]... | --help | --version`.
enum CommandLineRequest {
    case run(DaemonSettings)
    case help
    case version
}

extension Setting {
    /// Flags first, then the environment for settings no flag gave, then the defaults.
    static func parse(_ arguments: [String], environment: (String) -> String?) throws(BadSetting) -> CommandLineRequest {
        var settings = DaemonSettings()
        var given = Set<String>()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--help" || argument == "-h" { return .help }
            if argument == "--version" { return .version }
            let (flag, inline) = argument.split(separator: "=", maxSplits: 1).map(String.init).pair
            guard let setting = all.first(where: { $0.flag == flag }) else {
                throw BadSetting(source: argument, problem: "not an option of chand (chand --help lists them)")
            }
            guard !given.contains(setting.name) else { throw BadSetting(source: flag, problem: "given twice") }
            guard let value = inline ?? rest.popFirst() else { throw BadSetting(source: flag, problem: "needs a value \(setting.valueName)") }
            if let rule = setting.assign(value, &settings) { throw BadSetting(source: "\(flag) \(value)", problem: "must be " + rule) }
            given.insert(setting.name)
        }
        for setting in all where !given.contains(setting.name) {
            guard let value = environment(setting.variable) else { continue }
            if let rule = setting.assign(value, &settings) { throw BadSetting(source: "\(setting.variable)=\(value)", problem: "must be " + rule) }
        }
        try checkTogether(settings.config)
        return .run(settings)
    }

    /// Settings that only make sense with others.
    private static func checkTogether(_ config: ServerConfig) throws(BadSetting) {
        if (config.tlsCertificate == nil) != (config.tlsKey == nil) {
            throw BadSetting(source: config.tlsCertificate == nil ? "--tls-key" : "--tls-cert",
                             problem: "needs --tls-cert and --tls-key together")
        }
        if config.tlsClientCA != nil && config.tlsCertificate == nil {
            throw BadSetting(source: "--tls-ca", problem: "needs --tls-cert and --tls-key")
        }
    }

    static var helpText: String {
        var out = """
            OVERVIEW: A network channel server: rendezvous, buffered channels and select over TCP.

            USAGE: chand [--<option> <value>]...

            Every option can also be set with the environment variable named in its help; a flag wins over the \
            environment. An invalid value stops chand at start with one line naming the setting (exit 64).

            OPTIONS:

            """
        for setting in all {
            out += "  \(setting.flag) \(setting.valueName)\n"
            out += "        \(setting.help) [env \(setting.variable); default \(setting.fallback)]\n"
        }
        out += "  --version\n        Print chand's version.\n"
        out += "  -h, --help\n        Show this help.\n"
        return out
    }
}

extension Array where Element == String {
    /// `[a]` as (a, nil), `[a, b]` as (a, b).
    fileprivate var pair: (String, String?) { (self.first ?? "", count > 1 ? self[1] : nil) }
}
