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
    /// The best candidates so far (at most twice the limit between trims),
    /// best first after a trim.
    var candidates: [Candidate] = []
    /// Once `limit` candidates are kept, the last of them: a channel that
    /// does not rank before it cannot be listed, and is not kept.
    var worst: Candidate?
    var matching = 0

    init(prefix: String, top: Int?) {
        self.prefix = prefix
        self.top = top
    }

    var limit: Int { top ?? ProtocolLimits.maxListedChannels }
}

/// A channel met by a listing's walk, with what TOP ranks it by as the walk
/// found it (both 0 in a listing by name).
struct Candidate {
    let channel: Channel
    /// Values moved in the last interval.
    let moved: Int
    /// Values held plus tasklets waiting.
    let load: Int

    /// Busiest first, then by name.
    func ranks(before other: Candidate) -> Bool {
        if moved != other.moved { return moved > other.moved }
        if load != other.load { return load > other.load }
        return channel.name < other.channel.name
    }
}

extension Session {
    /// One step of the listing under way; true once its reply is written.
    func continueListing(_ current: Listing) -> Bool {
        var l = current
        let step = engine.scan(cursor: l.cursor, prefix: l.prefix, count: server.config.listingStep)
        l.cursor = step.next
        l.matching += step.channels.count
        if l.limit > 0 {
            for ch in step.channels {
                let c = l.top == nil
                    ? Candidate(channel: ch, moved: 0, load: 0)
                    : Candidate(channel: ch, moved: engine.recentlyMoved(ch), load: ch.count + ch.waitingSenders + ch.waitingReceivers)
                if let worst = l.worst, !c.ranks(before: worst) { continue }
                l.candidates.append(c)
                if l.candidates.count > 2 * l.limit { trim(&l) }
            }
        }
        guard l.cursor == 0 else {
            listing = l
            return false
        }
        trim(&l)
        listing = nil
        // A channel forgotten while the walk went on is not listed.
        let listed = l.candidates.map(\.channel).filter { engine.existingChannel(named: $0.name) === $0 }
        ReplyEncoder.line("CHANNELS \(listed.count) total=\(l.matching)", into: &output)
        for ch in listed { server.channelLine(ch, into: &output) }
        return true
    }

    private func trim(_ l: inout Listing) {
        l.candidates.sort { $0.ranks(before: $1) }
        if l.candidates.count > l.limit { l.candidates.removeLast(l.candidates.count - l.limit) }
        if l.candidates.count == l.limit { l.worst = l.candidates.last }
    }
}
