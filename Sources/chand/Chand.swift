import ChanAuth
import ChanProtocol
import ChanServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's command line: the settings table (Settings.swift) read from the flags, then the environment.
/// A bad setting is one line on stderr and exit 64; a failure to start is one line and exit 1.
@main
enum Chand {
    static func main() {
        let request: CommandLineRequest
        do {
            request = try Setting.parse(Array(CommandLine.arguments.dropFirst())) { getenv($0).map { String(cString: $0) } }
        } catch {
            fail(error.message, status: 64)
        }
        switch request {
        case .help: print(Setting.helpText, terminator: "")
        case .version: print("chand \(ChandVersion.current)")
        case .run(let settings):
            do {
                try run(settings)
            } catch let error as UsersFileError {
                fail("--users: \(error)", status: 64)
            } catch {
                fail("\(error)", status: 1)
            }
        }
    }

    static func run(_ settings: DaemonSettings) throws {
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let server = try Server(config: settings.config, storage: settings.storage)
        let bound = try server.start()
        print("chand listening on \(ListenAddress.display(settings.config.host, bound))")
        if let metrics = server.metricsPort {
            print("chand metrics on http://\(ListenAddress.display(settings.config.metricsHost, metrics))/metrics")
        }
        fflush(nil)  // the lines above must reach a pipe at once
        try server.run()
    }

    static func fail(_ message: String, status: Int32) -> Never {
        let line = "chand: \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        exit(status)
    }
}
