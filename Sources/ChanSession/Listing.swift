import ChanCore
import ChanProtocol

/// A CHANNELS request under way. The table is walked `listingStep`
/// positions per turn of its connection (Redis's SCAN, done by the server),
/// so a listing of a million channels never holds the loop for long; the
/// reply, the same as a single pass would give, is written when the walk ends.
struct Listing {
    let prefix: String
    /// `TOP <n>`: the n busiest; nil: the first `maxListedChannels` by name.
    let top: Int?
    var cursor = 0
    /// The best candidates so far (at most twice the limit between trims).
    var candidates: [Channel] = []
    var matching = 0

    init(prefix: String, top: Int?) {
        self.prefix = prefix
        self.top = top
    }

    var limit: Int { top ?? ProtocolLimits.maxListedChannels }
}

extension Session {
    /// One step of the listing under way; true once its reply is written.
    func continueListing(_ current: Listing) -> Bool {
        var l = current
        let step = engine.scan(cursor: l.cursor, prefix: l.prefix, count: server.config.listingStep)
        l.cursor = step.next
        l.matching += step.channels.count
        l.candidates += step.channels
        if l.candidates.count > 2 * max(l.limit, 1) { trim(&l) }
        guard l.cursor == 0 else {
            listing = l
            return false
        }
        trim(&l)
        listing = nil
        // A channel forgotten while the walk went on is not listed.
        let listed = l.candidates.filter { engine.existingChannel(named: $0.name) === $0 }
        ReplyEncoder.line("CHANNELS \(listed.count) total=\(l.matching)", into: &output)
        for ch in listed { server.channelLine(ch, into: &output) }
        return true
    }

    private func trim(_ l: inout Listing) {
        if l.top != nil {
            let moved = Dictionary(uniqueKeysWithValues: l.candidates.map { (ObjectIdentifier($0), engine.recentlyMoved($0)) })
            l.candidates.sort { a, b in
                let ma = moved[ObjectIdentifier(a)]!, mb = moved[ObjectIdentifier(b)]!
                if ma != mb { return ma > mb }
                let la = a.count + a.waitingSenders + a.waitingReceivers, lb = b.count + b.waitingSenders + b.waitingReceivers
                if la != lb { return la > lb }
                return a.name < b.name
            }
        } else {
            l.candidates.sort { $0.name < $1.name }
        }
        if l.candidates.count > l.limit { l.candidates.removeLast(l.candidates.count - l.limit) }
    }
}
