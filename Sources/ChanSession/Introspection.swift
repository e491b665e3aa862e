import ChanCore
import ChanProtocol

/// HELLO, INFO, CHANNELS and STAT replies.
extension ServerState {
    public static let protocolVersion = 1
    public static let version = "0.1.0"
    func helloLine() -> String {
        let l = config.limits
        return "HELLO proto=\(ServerState.protocolVersion) server=chand/\(ServerState.version) max_line=\(l.maxLine)"
            + " max_payload=\(l.maxPayload) max_select_cases=\(l.maxSelectCases) max_capacity=\(l.maxCapacity)"
            + " max_channels=\(config.maxChannels) max_connections=\(config.maxConnections)"
    }

    func infoLine() -> String {
        let c = engine.counters
        var fields: [(String, Int)] = [
            ("connections", stats.connectionsOpen),
            ("connections_total", stats.connectionsTotal),
            ("connections_refused", stats.connectionsRefused),
            ("tasklets_blocked", engine.blockedCount),
            ("tasklets_runnable", engine.runnableCount),
            ("channels", engine.channelCount),
            ("commands", stats.commands),
            ("sends", c.sends), ("throws", c.throws_), ("receives", c.receives), ("selects", c.selects),
            ("rendezvous", c.rendezvous), ("buffered", c.buffered), ("timeouts", c.timeouts), ("closes", c.closes),
            ("values_lost", stats.valuesLost),
        ]
        for code in ServerStats.errorCodes {
            fields.append(("errors_" + code.rawValue.lowercased(), stats.errors[code, default: 0]))
        }
        fields.append(("uptime_ms", Int(clock.milliseconds - startedAt)))
        return "INFO " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    /// `STAT <chan> cap= len= balance= state= preference= senders= receivers= persistent=`.
    /// An unknown name describes an empty, open, unbuffered channel.
    func stat(_ name: String, into out: inout [UInt8]) {
        ReplyEncoder.stat(channel: name, fields: statFields(engine.existingChannel(named: name)), into: &out)
    }

    private func statFields(_ ch: Channel?) -> [(key: String, value: String)] {
        [
            ("cap", "\(ch?.capacity ?? 0)"),
            ("len", "\(ch?.count ?? 0)"),
            ("balance", "\(ch?.balance ?? 0)"),
            ("state", ch?.state.rawValue ?? "open"),
            ("preference", "\(ch?.preference.rawValue ?? ChanCore.Preference.receiver.rawValue)"),
            ("senders", "\(ch?.waitingSenders ?? 0)"),
            ("receivers", "\(ch?.waitingReceivers ?? 0)"),
            ("persistent", ch?.isPersistent == true ? "1" : "0"),
            ("sent", "\(ch?.sent ?? 0)"),
            ("received", "\(ch?.received ?? 0)"),
            ("rate", "\(ch.map(engine.recentlyMoved) ?? 0)"),
        ]
    }

    /// `CHANNELS <n> total=<m>`, then n lines `CHANNEL <name> <the STAT fields>`:
    /// sorted by name, or with `top` the busiest first (at most 1000 either way).
    func listChannels(prefix: String, top: Int?, into out: inout [UInt8]) {
        let (listed, matching) = if let top {
            engine.busiestChannels(withPrefix: prefix, limit: top)
        } else {
            engine.channels(withPrefix: prefix, limit: ProtocolLimits.maxListedChannels)
        }
        ReplyEncoder.line("CHANNELS \(listed.count) total=\(matching)", into: &out)
        for ch in listed {
            let fields = statFields(ch).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            ReplyEncoder.line("CHANNEL \(ch.name) \(fields)", into: &out)
        }
    }
}

extension ServerState {
    /// Every INFO figure, plus the blocked-time histogram, as Prometheus text.
    public func metricsText() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP chand_\(name) \(help)\n# TYPE chand_\(name) \(type)\n"
            for s in samples { out += "chand_\(name)\(s.labels) \(s.value)\n" }
        }
        let c = engine.counters
        metric("connections", "gauge", "Open client connections.", [("", "\(stats.connectionsOpen)")])
        metric("connections_accepted_total", "counter", "Client connections accepted.", [("", "\(stats.connectionsTotal)")])
        metric("connections_refused_total", "counter", "Connections refused at max-connections.", [("", "\(stats.connectionsRefused)")])
        metric("tasklets", "gauge", "Connections blocked in SEND/RECV/SELECT, and woken but not yet resumed.",
               [("{state=\"blocked\"}", "\(engine.blockedCount)"), ("{state=\"runnable\"}", "\(engine.runnableCount)")])
        metric("channels", "gauge", "Channels that exist.", [("", "\(engine.channelCount)")])
        metric("commands_total", "counter", "Requests run.", [("", "\(stats.commands)")])
        metric("operations_total", "counter", "Channel operations by kind.", [
            ("{kind=\"send\"}", "\(c.sends)"), ("{kind=\"throw\"}", "\(c.throws_)"), ("{kind=\"receive\"}", "\(c.receives)"),
            ("{kind=\"select\"}", "\(c.selects)"), ("{kind=\"close\"}", "\(c.closes)"), ("{kind=\"timeout\"}", "\(c.timeouts)"),
            ("{kind=\"rendezvous\"}", "\(c.rendezvous)"), ("{kind=\"buffered\"}", "\(c.buffered)"),
        ])
        metric("errors_total", "counter", "ERR replies by code.",
               ServerStats.errorCodes.map { ("{code=\"\($0.rawValue)\"}", "\(stats.errors[$0, default: 0])") })
        metric("values_lost_total", "counter", "Values matched to a receiver whose connection died before they were written.",
               [("", "\(stats.valuesLost)")])
        metric("metrics_refused_total", "counter", "Metrics connections closed unanswered (over the limit, or a request too slow).",
               [("", "\(stats.metricsRefused)")])
        let h = blockedSeconds
        var buckets = zip(h.bounds.map { "\($0)" } + ["+Inf"], h.cumulative).map { ("_bucket{le=\"\($0.0)\"}", "\($0.1)") }
        buckets += [("_sum", "\(h.sum)"), ("_count", "\(h.count)")]
        out += "# HELP chand_blocked_seconds Time SEND/RECV/SELECT waited before a partner completed it.\n"
        out += "# TYPE chand_blocked_seconds histogram\n"
        for (suffix, value) in buckets { out += "chand_blocked_seconds\(suffix) \(value)\n" }
        return out
    }
}
