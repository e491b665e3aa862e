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
    /// Once `limit` candidates are kept, the rank of the last of them: a
    /// channel that does not rank before it cannot be listed, and is not kept.
    var worst: Rank?
    var matching = 0

    init(prefix: String, top: Int?) {
        self.prefix = prefix
        self.top = top
    }

    var limit: Int { top ?? ProtocolLimits.maxListedChannels }
}

/// What a listing orders channels by: busiest first (values moved in the
/// last interval, then values held plus tasklets waiting; both 0 in a
/// listing by name), then by name. Taken as the walk meets the channel.
struct Rank {
    let moved: Int
    let load: Int
    let name: String

    func isBefore(_ other: Rank) -> Bool {
        if moved != other.moved { return moved > other.moved }
        if load != other.load { return load > other.load }
        return name < other.name
    }
}

struct Candidate {
    let channel: Channel
    let rank: Rank
}

extension Session {
    /// One step of the listing under way; true once its reply is written.
    /// A step walks at most `listingStep` positions, in chunks, and ends
    /// early once it has taken `stepNanoseconds` (a TOP listing, or a busy
    /// machine, gets through fewer positions in that time).
    func continueListing(_ current: Listing) -> Bool {
        var l = current
        let started = server.clock.nanoseconds()
        var walked = 0
        repeat {
            let count = min(Self.listingChunk, server.config.listingStep - walked)
            let step = engine.scan(cursor: l.cursor, prefix: l.prefix, count: count)
            walked += count
            l.cursor = step.next
            l.matching += step.channels.count
            if l.limit > 0 { keepCandidates(step.channels, in: &l) }
        } while l.cursor != 0 && walked < server.config.listingStep
            && server.clock.nanoseconds() &- started < Self.stepNanoseconds
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

    private static let listingChunk = 2048
    private static let stepNanoseconds: UInt64 = 1_000_000

    /// Ranks every channel; keeps only one that may be listed.
    private func keepCandidates(_ channels: [Channel], in l: inout Listing) {
        var worst = l.worst
        for ch in channels {
            let rank = l.top == nil
                ? Rank(moved: 0, load: 0, name: ch.name)
                : Rank(moved: engine.recentlyMoved(ch), load: ch.count + ch.waitingSenders + ch.waitingReceivers, name: ch.name)
            if let worst, !rank.isBefore(worst) { continue }
            l.candidates.append(Candidate(channel: ch, rank: rank))
            if l.candidates.count > 2 * l.limit {
                trim(&l)
                worst = l.worst
            }
        }
    }

    private func trim(_ l: inout Listing) {
        l.candidates.sort { $0.rank.isBefore($1.rank) }
        if l.candidates.count > l.limit { l.candidates.removeLast(l.candidates.count - l.limit) }
        if l.candidates.count == l.limit { l.worst = l.candidates.last?.rank }
    }
}
