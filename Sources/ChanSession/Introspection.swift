import ChanCore
import ChanProtocol

/// HELLO, INFO, CHANNELS and STAT replies.
extension ServerState {
    public static let protocolVersion = 1
    public static let version = ChandVersion.current
    func helloLine() -> String {
        let l = config.limits
        return "HELLO proto=\(ServerState.protocolVersion) server=chand/\(ServerState.version) max_line=\(l.maxLine)"
            + " max_payload=\(l.maxPayload) max_select_cases=\(l.maxSelectCases) max_capacity=\(l.maxCapacity)"
            + " max_channels=\(config.maxChannels) max_connections=\(config.maxConnections) max_held=\(config.maxHeld)"
    }

    /// The value of every INFO figure (`Counters.all`), by key.
    func counterValues() -> [String: Int] {
        let c = engine.counters
        var values: [String: Int] = [
            Counters.connections.key: stats.connectionsOpen,
            Counters.connectionsTotal.key: stats.connectionsTotal,
            Counters.connectionsRefused.key: stats.connectionsRefused,
            Counters.taskletsBlocked.key: engine.blockedCount,
            Counters.taskletsRunnable.key: engine.runnableCount,
            Counters.channels.key: engine.channelCount,
            Counters.channelsClosed.key: engine.table.closedCount,
            Counters.commands.key: stats.commands,
            Counters.sends.key: c.sends, Counters.throws_.key: c.throws_, Counters.receives.key: c.receives,
            Counters.selects.key: c.selects, Counters.rendezvous.key: c.rendezvous, Counters.buffered.key: c.buffered,
            Counters.timeouts.key: c.timeouts, Counters.closes.key: c.closes,
            Counters.opens.key: c.opens, Counters.deletes.key: c.deletes,
            Counters.held.key: c.held, Counters.redelivered.key: c.redelivered, Counters.valuesDropped.key: c.valuesDropped,
            Counters.memoryUsed.key: engine.memoryUsed, Counters.memoryMax.key: engine.maxMemory,
            Counters.valuesLost.key: stats.valuesLost,
            Counters.uptime.key: Int(clock.milliseconds - startedAt),
        ]
        for (code, counter) in zip(ErrorCode.all, Counters.errors) { values[counter.key] = stats.errors[code, default: 0] }
        let store = durable?.figures ?? StoreFigures()
        let storeValues: [(Counter, Int)] = [
            (Counters.storeEnabled, durable == nil ? 0 : 1), (Counters.storeChannels, store.channels),
            (Counters.storeValues, store.values), (Counters.storeDiskBytes, store.diskBytes),
            (Counters.storeLiveBytes, store.liveBytes), (Counters.storeSegments, store.segments),
            (Counters.storeFsyncs, store.fsyncs), (Counters.storeFsyncLast, store.lastFsyncMicros),
            (Counters.storeFsyncMax, store.longestFsyncMicros), (Counters.storeCompactions, store.compactions),
            (Counters.storeCompactionMax, store.longestCompactionMicros), (Counters.storeFailed, store.failed ? 1 : 0),
        ]
        for (counter, value) in storeValues { values[counter.key] = value }
        return values
    }

    func infoLine() -> String {
        let values = counterValues()
        return "INFO " + Counters.all.map { "\($0.key)=\(values[$0.key]!)" }.joined(separator: " ")
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
            ("held", "\(ch?.held ?? 0)"),
            ("exists", ch == nil ? "0" : "1"),
            ("durable", ch?.isDurable == true ? "1" : "0"),
        ]
    }

    /// `CHANNEL <name> <the STAT fields>`, one line of a CHANNELS reply.
    func channelLine(_ ch: Channel, into out: inout [UInt8]) {
        let fields = statFields(ch).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        ReplyEncoder.line("CHANNEL \(ch.name) \(fields)", into: &out)
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
        let values = counterValues()
        // Counters that share a metric (told apart by a label) are listed together under one HELP/TYPE.
        var order: [String] = []
        var samples: [String: [(labels: String, value: String)]] = [:]
        var kinds: [String: Counter] = [:]
        for counter in Counters.all {
            guard let name = counter.metric else { continue }
            if samples[name] == nil { order.append(name); kinds[name] = counter }
            let labels = counter.label.map { "{\($0.name)=\"\($0.value)\"}" } ?? ""
            samples[name, default: []].append((labels, "\(values[counter.key]!)"))
        }
        for name in order {
            let counter = kinds[name]!
            metric(name, counter.kind.rawValue, counter.help, samples[name]!)
        }
        metric("build_info", "gauge", "Always 1; the labels name the build.",
               [("{version=\"\(ServerState.version)\",protocol=\"\(ServerState.protocolVersion)\"}", "1")])
        let l = config.limits
        let limits: [(String, Int)] = [
            ("max_line", l.maxLine), ("max_payload", l.maxPayload), ("max_select_cases", l.maxSelectCases),
            ("max_capacity", l.maxCapacity), ("max_channels", config.maxChannels),
            ("max_connections", config.maxConnections), ("max_held", config.maxHeld), ("max_memory", config.maxMemory),
            ("closed_ttl_seconds", config.closedTTLSeconds),
        ]
        metric("limit", "gauge", "The limits this server was started with (chand --help), by setting.",
               limits.map { ("{setting=\"\($0.0)\"}", "\($0.1)") })
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
