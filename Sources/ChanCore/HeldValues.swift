/// A value received with `hold` (rules 22-25): the receiver has it, but it
/// is not gone from its channel until the receiver acknowledges it; given
/// back, it returns to the front of the channel. Once acknowledged or given
/// back it waits in the engine's pool (`Engine.spareHeld`) for the next
/// value held, so acknowledged delivery allocates nothing per value.
final class HeldValue {
    /// nil only while pooled.
    private var heldChannel: Channel?
    var channel: Channel { heldChannel.unsafelyUnwrapped }
    private(set) var message: Message
    /// Where it came from: the buffer (or a send that found room there),
    /// or a rendezvous sender, which stays blocked until the acknowledgement.
    private(set) var fromBuffer: Bool
    /// That sender, while it waits; nil once it ended (its value is then
    /// dropped if given back: it never saw its send complete).
    var sender: Unmanaged<Tasklet>?
    var senderCase = 0
    /// Its name for the holder (`Tasklet.lastHeldTag`).
    var tag = 0

    init(channel: Channel, message: Message, fromBuffer: Bool) {
        heldChannel = channel
        self.message = message
        self.fromBuffer = fromBuffer
    }

    /// Taken from the pool for another value.
    func reuse(channel: Channel, message: Message, fromBuffer: Bool) {
        heldChannel = channel
        self.message = message
        self.fromBuffer = fromBuffer
    }

    /// Into the pool: the channel and the payload are not kept alive by it.
    /// An acknowledged value's payload storage goes to `payloads`; one given
    /// back is in its channel again, so it is only dropped here.
    func clear(payloadsTo payloads: PayloadPool?) {
        heldChannel = nil
        if let payloads { payloads.giveBack(&message.payload) } else { message.payload = [] }
        sender = nil
        senderCase = 0
    }
}

/// A tasklet's held values in the order it received them, which is the
/// order of their tags: found by binary search, no hashing. Acknowledged
/// mostly in order, so removal is mostly at the front of a short array.
struct HeldList {
    private var items: [HeldValue] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    /// The tags, in increasing order.
    var keys: [Int] { items.map(\.tag) }
    var values: [HeldValue] { items }

    /// Adds a value whose tag is above every tag held.
    mutating func append(_ h: HeldValue) {
        items.append(h)
    }

    subscript(tag: Int) -> HeldValue? {
        index(of: tag).map { items[$0] }
    }

    mutating func removeValue(forKey tag: Int) -> HeldValue? {
        index(of: tag).map { items.remove(at: $0) }
    }

    private func index(of tag: Int) -> Int? {
        var low = 0, high = items.count
        while low < high {
            let mid = (low + high) / 2
            if items[mid].tag < tag { low = mid + 1 } else { high = mid }
        }
        return low < items.count && items[low].tag == tag ? low : nil
    }
}

extension Engine {
    /// At most this many released held values wait in the pool; more are freed.
    static let spareHeldLimit = 1024

    /// A held value for `message`, from the pool when it has one.
    func makeHeld(_ ch: Channel, _ message: Message, fromBuffer: Bool) -> HeldValue {
        if let h = spareHeld.popLast() {
            h.reuse(channel: ch, message: message, fromBuffer: fromBuffer)
            return h
        }
        return HeldValue(channel: ch, message: message, fromBuffer: fromBuffer)
    }

    /// `h` is neither held nor waited for any more: into the pool, unless
    /// something else still refers to it.
    private func recycle(_ h: inout HeldValue, acknowledged: Bool = false) {
        guard spareHeld.count < Engine.spareHeldLimit, isKnownUniquelyReferenced(&h) else { return }
        h.clear(payloadsTo: acknowledged ? payloads : nil)
        spareHeld.append(h)
    }

    /// ACK: the holder `t` has the value `tag` for good. A rendezvous sender
    /// waiting for it completes (`.sent` for the case that matched) and
    /// joins the runnable queue's tail. False when `t` holds no such value.
    public func acknowledge(_ t: Tasklet, tag: Int) -> Bool {
        guard var h = t.held.removeValue(forKey: tag) else { return false }
        release(h)
        h.channel.received &+= 1
        if h.fromBuffer && h.channel.isDurable { durability?.valueAcknowledged(from: h.channel, by: t, tag: tag) }
        if let s = h.sender {
            stopWaiting(s)
            finish(s.takeUnretainedValue(), .sent(case: h.senderCase), first: false)
        }
        recycle(&h, acknowledged: true)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return true
    }

    /// NACK: the holder `t` gives the value `tag` back (rule 23): to the head
    /// of its channel's buffer (even past the capacity), or, from a
    /// rendezvous sender, with that sender to the head of the senders'
    /// queue, still blocked. It is then offered at once to a waiting
    /// receiver. A closed channel is closing again until it drains (rule 24).
    /// False when `t` holds no such value.
    public func giveBack(_ t: Tasklet, tag: Int) -> Bool {
        guard var h = t.held.removeValue(forKey: tag) else { return false }
        putBack(h, by: t, tag: tag)
        recycle(&h)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return true
    }

    /// Gives back every value `t` holds, latest first, and detaches `t` as a
    /// sender from the value a receiver holds (for `cancel`).
    func releaseHolds(of t: Tasklet) {
        if let h = t.heldBy {
            h.sender = nil
            stopWaiting(Unmanaged.passUnretained(t))
        }
        for tag in t.held.keys.reversed() {
            var h = t.held.removeValue(forKey: tag)!
            putBack(h, by: t, tag: tag)
            recycle(&h)
        }
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
    }

    // MARK: Matching a holding receiver

    /// A RECV case with `hold` of the running tasklet `t`, ready: rule 6,
    /// except that the value is held, and a rendezvous sender stays blocked.
    func fireHeldReceive(_ t: Tasklet, _ ch: Channel, case index: Int) -> Outcome {
        let h: HeldValue
        var yield = false
        if let head = unbuffer(ch) {
            h = makeHeld(ch, head, fromBuffer: true)
            if let partner = refillingSender(ch) {
                buffer(partner.pointee.message.take()!, in: ch)
                yield = complete(sender: partner, on: ch)
                table.noteMoved(ch, 2, received: 0)
            } else {
                table.noteMoved(ch, 1, received: 0)
            }
        } else if let partner = ch.sendq.popFirst() {
            h = makeHeld(ch, partner.pointee.message.take()!, fromBuffer: false)
            stats.rendezvous += 1
            table.noteMoved(ch, 2, received: 0)
            keepWaiting(sender: partner, for: h)
        } else {
            return .completed(.receivedClosed(case: index))
        }
        hold(h, by: t)
        if h.fromBuffer && ch.isDurable { noteTaken(from: ch, by: t, held: true) }
        if ch.state == .closing { settleClose(ch) }
        noteIfIdle(ch)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return resumeOrYield(t, .received(case: index, h.message), yield: yield)
    }

    /// The running tasklet `t` sends to a waiting receiver that holds what it
    /// receives. Where the send would have been buffered (room, and memory)
    /// it completes as if buffered, and the value, given back, returns to
    /// the buffer; else (a rendezvous) `t` stays blocked until the
    /// acknowledgement.
    func sendToHolder(_ t: Tasklet, _ ch: Channel, _ message: Message, case index: Int,
                      receiver partner: ChanOpRef) -> Outcome {
        stats.rendezvous += 1
        table.noteMoved(ch, 2, received: 0)
        let fromBuffer = ch.buffer.count < ch.capacity && !isMemoryFull
        let h = makeHeld(ch, message, fromBuffer: fromBuffer)
        let targetFirst = ch.preference == .receiver
        partner.pointee.owner._withUnsafeGuaranteedRef { r in
            hold(h, by: r)
            if fromBuffer && ch.isDurable {
                // As if buffered, then taken at once.
                durability?.valueBuffered(message, in: ch)
                noteTaken(from: ch, by: r, held: true)
            }
            finish(r, .received(case: partner.pointee.caseIndex, message), first: targetFirst)
        }
        if fromBuffer { return resumeOrYield(t, .sent(case: index), yield: targetFirst) }
        // Blocked with no chanop queued and no deadline: only the holder's
        // acknowledgement (or give-back) moves it on.
        h.sender = Unmanaged.passUnretained(t)
        h.senderCase = index
        t.heldBy = h
        linkHeldSender(t)
        t.state = .blocked
        blockedCount += 1
        _ = Unmanaged.passRetained(t)
        return .blocked
    }

    /// A blocked sender whose chanop was just dequeued for a holding
    /// receiver: its other chanops and its deadline go (its select is
    /// committed to this case), but it stays blocked, owned by the engine.
    func keepWaiting(sender partner: ChanOpRef, for h: HeldValue) {
        let s = partner.pointee.owner
        h.sender = s
        h.senderCase = partner.pointee.caseIndex
        s._withUnsafeGuaranteedRef { t in
            t.heldBy = h
            withdraw(t)
            linkHeldSender(t)
        }
        blockedCount += 1
    }

    private func linkHeldSender(_ t: Tasklet) {
        let entry = Unmanaged.passUnretained(t)
        t.heldSenderNext = heldSenders
        heldSenders?._withUnsafeGuaranteedRef { $0.heldSenderPrev = entry }
        heldSenders = entry
    }

    /// A sender whose value was held no longer waits for the holder.
    private func stopWaiting(_ s: Unmanaged<Tasklet>) {
        s._withUnsafeGuaranteedRef { t in
            t.heldBy = nil
            let prev = t.heldSenderPrev, next = t.heldSenderNext
            if let prev {
                prev._withUnsafeGuaranteedRef { $0.heldSenderNext = next }
            } else {
                heldSenders = next
            }
            next?._withUnsafeGuaranteedRef { $0.heldSenderPrev = prev }
            t.heldSenderPrev = nil
            t.heldSenderNext = nil
        }
    }

    /// Records `h` as held by `r`, under the tag `r.lastHeldTag`.
    func hold(_ h: HeldValue, by r: Tasklet) {
        r.lastHeldTag += 1
        h.tag = r.lastHeldTag
        r.held.append(h)
        h.channel.held += 1
        stats.held += 1
        memoryUsed += h.message.payload.count
    }

    /// The value is no longer held: its channel may have turned idle (an
    /// acknowledgement, or a value dropped with its gone sender, moves
    /// nothing else that would put it on the sweep's list).
    private func release(_ h: HeldValue) {
        h.channel.held -= 1
        stats.held -= 1
        memoryUsed -= h.message.payload.count
        noteIfIdle(h.channel)
    }

    // MARK: Giving back

    private func putBack(_ h: HeldValue, by holder: Tasklet, tag: Int) {
        release(h)
        let ch = h.channel
        if tearingDown { return }
        if ch.slot < 0 {
            // Its channel was deleted: dropped, and its sender fails.
            if let s = h.sender {
                stopWaiting(s)
                finish(s.takeUnretainedValue(), .sendFailedClosed(case: h.senderCase), first: false)
            }
            return
        }
        if h.fromBuffer {
            if ch.isDurable { durability?.valueReturned(to: ch, by: holder, tag: tag) }
            ch.buffer.prepend(h.message)
            memoryUsed += h.message.payload.count
        } else if let s = h.sender {
            stopWaiting(s)
            s._withUnsafeGuaranteedRef { t in
                t.setOp(0, channel: Unmanaged.passUnretained(ch), sending: h.message)
                t.ops[0].pointee.caseIndex = h.senderCase
                t.opCount = 1
                ch.sendq.prepend(t.ops[0])
            }
        } else {
            return  // its sender has gone: dropped (rule 23)
        }
        stats.redelivered += 1
        if ch.state == .closed { ch.state = .closing }
        offer(ch)
    }

    /// Pairs waiting receivers with values that came back to `ch` (its
    /// buffer's head, or senders that rejoined its queue), in queue order,
    /// lets senders into the buffer where it has room, then settles a close. The woken join the runnable queue's tail: no
    /// running tasklet is the source here.
    private func offer(_ ch: Channel) {
        while let r = ch.recvq.head {
            if let m = unbuffer(ch) {
                ch.recvq.remove(r)
                deliver(m, to: r, on: ch, fromBuffer: true, sender: nil)
                // Rule 6's refill, unless the buffer is still past its capacity.
                if let partner = refillingSender(ch) {
                    buffer(partner.pointee.message.take()!, in: ch)
                    table.noteMoved(ch, 1, received: 0)
                    partner.pointee.owner._withUnsafeGuaranteedRef {
                        finish($0, .sent(case: partner.pointee.caseIndex), first: false)
                    }
                }
            } else if let s = ch.sendq.first(notOf: r.pointee.owner) {
                // (A select waiting on both sides of `ch` never pairs with itself.)
                ch.recvq.remove(r)
                ch.sendq.remove(s)
                stats.rendezvous += 1
                deliver(s.pointee.message.take()!, to: r, on: ch, fromBuffer: false, sender: s)
            } else {
                break
            }
        }
        // A sender that came back to a buffer with room is let in (rule 6).
        while let partner = refillingSender(ch) {
            buffer(partner.pointee.message.take()!, in: ch)
            table.noteMoved(ch, 1, received: 0)
            partner.pointee.owner._withUnsafeGuaranteedRef {
                finish($0, .sent(case: partner.pointee.caseIndex), first: false)
            }
        }
        if ch.state == .closing { settleClose(ch) }
        noteIfIdle(ch)
    }

    /// Completes dequeued receiver `r` with `m`, and the dequeued rendezvous
    /// sender `s` that gave it: at once, or, for a holding receiver, at the
    /// acknowledgement.
    private func deliver(_ m: Message, to r: ChanOpRef, on ch: Channel, fromBuffer: Bool, sender s: ChanOpRef?) {
        let receiver = r.pointee.owner.takeUnretainedValue(), caseIndex = r.pointee.caseIndex
        let durable = fromBuffer && ch.isDurable
        // Two blocked tasklets complete here: both leave every queue before
        // either is finished, so that a close settled by one's withdrawal
        // cannot wake the other as well.
        unqueue(receiver)
        if let s { s.pointee.owner._withUnsafeGuaranteedRef { unqueue($0) } }
        if r.pointee.hold {
            table.noteMoved(ch, s == nil ? 1 : 2, received: 0)
            let h = makeHeld(ch, m, fromBuffer: fromBuffer)
            hold(h, by: receiver)
            if durable { noteTaken(from: ch, by: receiver, held: true) }
            finish(receiver, .received(case: caseIndex, m), first: false)
            if let s { keepWaiting(sender: s, for: h) }
        } else {
            table.noteMoved(ch, s == nil ? 1 : 2, received: 1)
            if durable { noteTaken(from: ch, by: receiver, held: false) }
            finish(receiver, .received(case: caseIndex, m), first: false)
            if let s {
                s.pointee.owner._withUnsafeGuaranteedRef { finish($0, .sent(case: s.pointee.caseIndex), first: false) }
            }
        }
    }

    /// Takes every queued chanop of blocked tasklet `t` out of its queue.
    private func unqueue(_ t: Tasklet) {
        for i in 0..<t.opCount {
            let op = t.ops[i]
            guard op.pointee.isQueued else { continue }
            op.pointee.channel!._withUnsafeGuaranteedRef { ch in
                if op.pointee.isSend { ch.sendq.remove(op) } else { ch.recvq.remove(op) }
            }
        }
    }
}
