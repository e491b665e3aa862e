import Foundation
import XCTest

/// Flags, environment variables, and the Prometheus endpoint.
final class ConfigAndMetricsTests: XCTestCase {
    /// Runs chand to completion; (exit status, stdout, stderr).
    private func runChand(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = Daemon.binary
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus,
                String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    func testHelpNamesEveryVariableAndDefault() throws {
        let (status, out, _) = try runChand(["--help"])
        XCTAssertEqual(status, 0)
        let flat = out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for (variable, fallback) in [("CHAND_HOST", "127.0.0.1"), ("CHAND_PORT", "7400"), ("CHAND_MAX_PAYLOAD", "1048576"),
                                     ("CHAND_MAX_LINE", "65536"), ("CHAND_MAX_CONNECTIONS", "10000"),
                                     ("CHAND_MAX_SELECT_CASES", "256"), ("CHAND_MAX_CHANNELS", "1000000"),
                                     ("CHAND_MAX_CAPACITY", "1000000"), ("CHAND_SEED", "from the system"),
                                     ("CHAND_METRICS_PORT", "off"), ("CHAND_LOG_LEVEL", "info")] {
            XCTAssertTrue(flat.contains("[env \(variable); default \(fallback)]"), variable)
        }
    }

    func testInvalidValuesExitWithOneLineNamingTheSetting() throws {
        for (args, env, needle) in [([], ["CHAND_PORT": "seventy"], "CHAND_PORT"),
                                    (["--port", "70000"], [:], "--port"),
                                    ([], ["CHAND_MAX_SELECT_CASES": "0"], "CHAND_MAX_SELECT_CASES"),
                                    ([], ["CHAND_LOG_LEVEL": "loud"], "CHAND_LOG_LEVEL"),
                                    (["--max-line", "x"], [:], "--max-line")] {
            let (status, out, err) = try runChand(args, environment: env)
            XCTAssertNotEqual(status, 0, needle)
            XCTAssertEqual(out, "", needle)
            let lines = err.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, err)
            XCTAssertTrue(err.contains(needle), err)
        }
    }

    func testABusyMetricsPortIsNamedAsTheMetricsListener() throws {
        let busy = try Daemon(["--metrics-port", "0"])
        let (status, _, err) = try runChand(["--port", "0", "--metrics-port", "\(busy.metricsPort!)"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("metrics listener (--metrics-port)") && err.contains("address already in use"), err)
    }

    func testFlagsWinOverTheEnvironment() throws {
        let fromEnv = try Daemon([], environment: ["CHAND_MAX_SELECT_CASES": "2", "CHAND_MAX_PAYLOAD": "10"])
        let c = try fromEnv.connect()
        c.say("HELLO")
        let hello = fields(c.reply()!, "HELLO")
        XCTAssertEqual(hello["max_select_cases"], "2")
        XCTAssertEqual(hello["max_payload"], "10")
        XCTAssertEqual(fromEnv.stop().status, 0)

        let flagged = try Daemon(["--max-select-cases", "3"], environment: ["CHAND_MAX_SELECT_CASES": "2"])
        let d = try flagged.connect()
        d.say("HELLO")
        XCTAssertEqual(fields(d.reply()!, "HELLO")["max_select_cases"], "3")
        XCTAssertEqual(flagged.stop().status, 0)
    }

    /// GET over a raw socket; returns (status line, body).
    private func httpGet(_ port: Int, _ path: String) throws -> (String, String) {
        let w = try Wire(port: port)
        w.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let status = w.line() ?? ""
        var length = 0
        while let header = w.line(), !header.isEmpty {
            if header.lowercased().hasPrefix("content-length:") { length = Int(header.split(separator: " ").last!) ?? 0 }
        }
        return (status, String(decoding: w.bytes(length) ?? [], as: UTF8.self))
    }

    /// Samples of a Prometheus text body: "name{labels}" -> value.
    private func samples(_ body: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, String(line))
            out[String(parts[0])] = Double(parts[1])
        }
        return out
    }

    func testMetricsEndpointServesPrometheusText() throws {
        let daemon = try Daemon(["--metrics-port", "0"])
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let metricsPort = try XCTUnwrap(daemon.metricsPort)
        let r = try daemon.connect(), s = try daemon.connect()
        r.say("RECV m")
        let probe = try daemon.connect()
        for _ in 0..<500 {
            probe.say("STAT m")
            if probe.reply()?.contains("receivers=1") == true { break }
            usleep(10_000)
        }
        // Blocked for at least 0.1 s from here (the RECV may reach the daemon later than it was written).
        XCTAssertTrue(r.silent(for: 0.1))
        var m = samples(try httpGet(metricsPort, "/metrics").1)
        XCTAssertEqual(m["chand_connections"], 3)  // receiver, sender, probe
        XCTAssertEqual(m["chand_tasklets{state=\"blocked\"}"], 1)
        XCTAssertEqual(m["chand_blocked_seconds_count"], 0)
        s.say("SEND m v", "NOPE", "SEND m")
        XCTAssertEqual(s.reply(), "OK")
        XCTAssertEqual(r.reply(), "MSG m 1|v")
        XCTAssertEqual(s.reply()?.hasPrefix("ERR UNKNOWN"), true)
        XCTAssertEqual(s.reply()?.hasPrefix("ERR SYNTAX"), true)
        let (status, body) = try httpGet(metricsPort, "/metrics")
        XCTAssertEqual(status, "HTTP/1.1 200 OK")
        XCTAssertTrue(body.contains("# TYPE chand_blocked_seconds histogram"))
        m = samples(body)
        XCTAssertEqual(m["chand_tasklets{state=\"blocked\"}"], 0)
        XCTAssertEqual(m["chand_operations_total{kind=\"send\"}"], 1)
        XCTAssertEqual(m["chand_operations_total{kind=\"receive\"}"], 1)
        XCTAssertEqual(m["chand_outcomes_total{kind=\"rendezvous\"}"], 1)
        XCTAssertEqual(m["chand_outcomes_total{kind=\"buffered\"}"], 0)
        XCTAssertEqual(m.filter { $0.key.hasPrefix("chand_build_info{version=") && $0.key.hasSuffix(",protocol=\"1\"}") }.values.first, 1)
        XCTAssertEqual(m["chand_limit{setting=\"max_held\"}"], 1024)
        XCTAssertEqual(m["chand_channels_closed"], 0)
        XCTAssertGreaterThan(m["process_resident_memory_bytes"] ?? 0, 1_000_000)
        XCTAssertGreaterThanOrEqual(m["process_open_fds"] ?? 0, 5)  // listeners, loop, three clients
        XCTAssertGreaterThan(m["process_start_time_seconds"] ?? 0, 1_700_000_000)
        XCTAssertEqual(m["chand_errors_total{code=\"UNKNOWN\"}"], 1)
        XCTAssertEqual(m["chand_errors_total{code=\"SYNTAX\"}"], 1)
        XCTAssertEqual(m["chand_values_lost_total"], 0)
        // The receiver waited at least 0.1 s: one observation, above the 0.01 bucket.
        XCTAssertEqual(m["chand_blocked_seconds_count"], 1)
        XCTAssertEqual(m["chand_blocked_seconds_bucket{le=\"0.01\"}"], 0)
        XCTAssertEqual(m["chand_blocked_seconds_bucket{le=\"+Inf\"}"], 1)
        XCTAssertGreaterThanOrEqual(m["chand_blocked_seconds_sum"] ?? 0, 0.1)
        XCTAssertEqual(try httpGet(metricsPort, "/other").0, "HTTP/1.1 404 Not Found")
    }

    /// A request whose lines end with a bare LF is answered like one with CRLFs.
    func testMetricsRequestWithBareLineFeeds() throws {
        let daemon = try Daemon(["--metrics-port", "0"])
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let w = try Wire(port: try XCTUnwrap(daemon.metricsPort))
        w.send("GET /metrics HTTP/1.1\nHost: 127.0.0.1\n\n")
        XCTAssertEqual(w.line(), "HTTP/1.1 200 OK")
    }

    /// Dozens of idle and half-sent connections do not lock a scraper out:
    /// the oldest make room, each counted as refused, and one that sends
    /// nothing is closed after the request timeout.
    func testMetricsScrapeAnsweredPastIdleConnections() throws {
        let daemon = try Daemon(["--metrics-port", "0"])
        defer { XCTAssertEqual(daemon.stop().status, 0) }
        let metricsPort = try XCTUnwrap(daemon.metricsPort)
        var idle: [Wire] = []
        for i in 0..<40 {
            let w = try Wire(port: metricsPort)
            if i % 2 == 1 { w.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n") }  // half-sent
            idle.append(w)
        }
        let (status, body) = try httpGet(metricsPort, "/metrics")
        XCTAssertEqual(status, "HTTP/1.1 200 OK")
        // 41 connections, 16 at a time: at least 25 closed to make room.
        XCTAssertGreaterThanOrEqual(samples(body)["chand_metrics_refused_total"] ?? 0, 25)
        // The last idle one is closed by the request timeout.
        XCTAssertTrue(idle.last!.closedByServer())
    }
}
