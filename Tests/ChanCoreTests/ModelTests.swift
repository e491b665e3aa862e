@testable import ChanCore
import XCTest

/// A deliberately plain reference model of semantics.md: arrays, linear
/// searches, no pools. The engine must agree with it step by step, given the
/// same generator seed (both choose with reservoir sampling in case order).
private struct Model {
    typealias Case = (channel: String, isSend: Bool, message: Message)
    struct Op { var tasklet: Int; var caseIndex: Int; var isSend: Bool; var message: Message; var hold = false }
    final class Chan {
        var capacity: Int, preference: Preference, state = Channel.State.open
        var buffer: [Message] = [], sendq: [Op] = [], recvq: [Op] = []
        var held = 0, deleted = false, waitsForMemory = false
        init(capacity: Int, preference: Preference) { self.capacity = capacity; self.preference = preference }
    }
    final class Task {
        var state = Tasklet.State.running
        var cases: [Case] = []
        var deadline: UInt64?
        var completion: Completion?
        var held: [Int: Held] = [:]
        var lastTag = 0
        var heldBy: Held?
    }
    /// Rules 22-25: a held value, and the rendezvous sender waiting for it.
    final class Held {
        let chan: Chan, message: Message, fromBuffer: Bool
        var sender: Int?, senderCase = 0
        init(_ chan: Chan, _ message: Message, fromBuffer: Bool) {
            self.chan = chan; self.message = message; self.fromBuffer = fromBuffer
        }
    }

    var random: Xoshiro256
    var channels: [String: Chan] = [:]
    var tasks: [Int: Task] = [:]
    var runnable: [Int] = []
    // The memory budget: payload bytes buffered or held, and the channels
    // whose senders wait for memory, in the order they began to.
    var maxMemory = Int.max, memoryUsed = 0
    var memoryWaiters: [Chan] = []
    var memoryFull: Bool { memoryUsed >= maxMemory }

    func ready(_ c: Case) -> Bool {
        let ch = channels[c.channel]!
        if c.isSend { return ch.state != .open || !ch.recvq.isEmpty || (ch.buffer.count < ch.capacity && !memoryFull) }
        return !ch.buffer.isEmpty || !ch.sendq.isEmpty || ch.state == .closed
    }

    mutating func select(_ id: Int, _ cases: [Case], wait: Wait, hold: Bool = false) -> Outcome {
        let t = tasks[id]!
        var chosen: Int?
        var count = 0
        for (i, c) in cases.enumerated() where ready(c) {
            count += 1
            if count == 1 || random.next(upperBound: UInt(count)) == 0 { chosen = i }
        }
        if let i = chosen { return fire(id, i, cases[i], hold: hold) }
        if wait == .nowait { return .completed(.timedOut) }
        if case .deadline(let d) = wait { t.deadline = d }
        t.cases = cases
        // Rule 12: queued in a random order, drawn as the engine draws it.
        // The engine shuffles only when two cases share a queue (the order
        // shows nowhere else); the model draws likewise, to stay in step.
        var order = Array(cases.indices)
        let shared = cases.indices.contains { i in
            cases[..<i].contains { $0.channel == cases[i].channel && $0.isSend == cases[i].isSend }
        }
        if shared { random.permute(order.count) { order.swapAt($0, $1) } }
        for i in order {
            let c = cases[i]
            let op = Op(tasklet: id, caseIndex: i, isSend: c.isSend, message: c.message, hold: hold && !c.isSend)
            if c.isSend { channels[c.channel]!.sendq.append(op) } else { channels[c.channel]!.recvq.append(op) }
        }
        // Senders that wait although their buffer has room wait for memory
        // (noted in case order).
        for c in cases where c.isSend {
            let ch = channels[c.channel]!
            if ch.buffer.count < ch.capacity { waitForMemory(ch) }
        }
        t.state = .blocked
        return .blocked
    }

    mutating func fire(_ id: Int, _ i: Int, _ c: Case, hold: Bool) -> Outcome {
        let ch = channels[c.channel]!
        if c.isSend {
            if ch.state != .open { return .completed(.sendFailedClosed(case: i)) }
            if !ch.recvq.isEmpty {
                let p = ch.recvq.removeFirst()
                let first = ch.preference == .receiver
                if p.hold {
                    // Buffered as far as the sender knows where there was room;
                    // else the sender waits for the acknowledgement.
                    let h = Held(ch, c.message, fromBuffer: ch.buffer.count < ch.capacity && !memoryFull)
                    add(h, to: p.tasklet)
                    finish(p.tasklet, .received(case: p.caseIndex, c.message), first: first)
                    if h.fromBuffer { return resume(id, .sent(case: i), yield: first) }
                    h.sender = id
                    h.senderCase = i
                    tasks[id]!.heldBy = h
                    tasks[id]!.state = .blocked
                    return .blocked
                }
                finish(p.tasklet, .received(case: p.caseIndex, c.message), first: first)
                return resume(id, .sent(case: i), yield: first)
            }
            append(c.message, to: ch)
            return .completed(.sent(case: i))
        }
        let m: Message
        var yield = false
        var h: Held?
        if !ch.buffer.isEmpty {
            m = removeFirst(of: ch)
            if hold { h = Held(ch, m, fromBuffer: true) }
            if let p = refillingSender(ch) {
                append(p.message, to: ch)
                yield = ch.preference == .sender
                finish(p.tasklet, .sent(case: p.caseIndex), first: yield)
            }
        } else if !ch.sendq.isEmpty {
            let p = ch.sendq.removeFirst()
            m = p.message
            if hold {
                h = Held(ch, m, fromBuffer: false)
                keepWaiting(p, for: h!)
            } else {
                yield = ch.preference == .sender
                finish(p.tasklet, .sent(case: p.caseIndex), first: yield)
            }
        } else {
            return .completed(.receivedClosed(case: i))
        }
        if let h { add(h, to: id) }
        settle(ch)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return resume(id, .received(case: i, m), yield: yield)
    }

    mutating func append(_ m: Message, to ch: Chan) {
        memoryUsed += m.payload.count
        ch.buffer.append(m)
    }

    mutating func removeFirst(of ch: Chan) -> Message {
        let m = ch.buffer.removeFirst()
        memoryUsed -= m.payload.count
        return m
    }

    mutating func refillingSender(_ ch: Chan) -> Op? {
        guard ch.buffer.count < ch.capacity, !ch.sendq.isEmpty else { return nil }
        if memoryFull {
            waitForMemory(ch)
            return nil
        }
        return ch.sendq.removeFirst()
    }

    mutating func waitForMemory(_ ch: Chan) {
        guard !ch.waitsForMemory else { return }
        ch.waitsForMemory = true
        memoryWaiters.append(ch)
    }

    mutating func admitWaitingSenders() {
        var served = 0
        for ch in memoryWaiters {
            while !memoryFull && ch.buffer.count < ch.capacity && !ch.deleted && !ch.sendq.isEmpty {
                let op = ch.sendq.removeFirst()
                append(op.message, to: ch)
                finish(op.tasklet, .sent(case: op.caseIndex), first: false)
            }
            if memoryFull && !ch.sendq.isEmpty && ch.buffer.count < ch.capacity && !ch.deleted { break }
            ch.waitsForMemory = false
            served += 1
        }
        memoryWaiters.removeFirst(served)
    }

    mutating func add(_ h: Held, to id: Int) {
        let t = tasks[id]!
        t.lastTag += 1
        t.held[t.lastTag] = h
        h.chan.held += 1
        memoryUsed += h.message.payload.count
    }

    /// A sender matched with a holding receiver: out of every queue, no
    /// deadline, still blocked.
    mutating func keepWaiting(_ p: Op, for h: Held) {
        h.sender = p.tasklet
        h.senderCase = p.caseIndex
        tasks[p.tasklet]!.heldBy = h
        withdraw(p.tasklet)
    }

    mutating func resume(_ id: Int, _ c: Completion, yield: Bool) -> Outcome {
        guard yield else { return .completed(c) }
        tasks[id]!.completion = c
        tasks[id]!.state = .runnable
        runnable.append(id)
        return .yielded
    }

    mutating func finish(_ id: Int, _ c: Completion, first: Bool) {
        let t = tasks[id]!
        t.completion = c
        t.state = .runnable
        if first { runnable.insert(id, at: 0) } else { runnable.append(id) }
        withdraw(id)
    }

    /// Takes every chanop of `id` out of every queue, without settling.
    mutating func unqueue(_ id: Int) {
        for ch in channels.values {
            ch.sendq.removeAll { $0.tasklet == id }
            ch.recvq.removeAll { $0.tasklet == id }
        }
    }

    mutating func withdraw(_ id: Int) {
        let t = tasks[id]!
        unqueue(id)
        t.deadline = nil
        let cases = t.cases
        t.cases = []
        for c in cases { settle(channels[c.channel]!) }
    }

    mutating func settle(_ ch: Chan) {
        guard ch.state == .closing, ch.buffer.isEmpty, ch.sendq.isEmpty else { return }
        ch.state = .closed
        while !ch.recvq.isEmpty {
            let op = ch.recvq.removeFirst()
            finish(op.tasklet, .receivedClosed(case: op.caseIndex), first: false)
        }
    }

    mutating func close(_ name: String) {
        let ch = channels[name]!
        guard ch.state == .open else { return }
        ch.state = .closing
        settle(ch)
    }

    mutating func open(_ name: String) {
        channels[name]!.state = .open
    }

    /// DELETE: waiters woken, buffer dropped, the name made anew.
    mutating func delete(_ name: String) {
        let ch = channels[name]!
        ch.state = .closed
        ch.deleted = true
        while !ch.recvq.isEmpty {
            let op = ch.recvq.removeFirst()
            finish(op.tasklet, .receivedClosed(case: op.caseIndex), first: false)
        }
        while !ch.sendq.isEmpty {
            let op = ch.sendq.removeFirst()
            finish(op.tasklet, .sendFailedClosed(case: op.caseIndex), first: false)
        }
        while !ch.buffer.isEmpty { _ = removeFirst(of: ch) }
        channels[name] = Chan(capacity: 0, preference: .receiver)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
    }

    mutating func acknowledge(_ id: Int, _ tag: Int) -> Bool {
        guard let h = tasks[id]!.held.removeValue(forKey: tag) else { return false }
        h.chan.held -= 1
        memoryUsed -= h.message.payload.count
        if let s = h.sender {
            tasks[s]!.heldBy = nil
            finish(s, .sent(case: h.senderCase), first: false)
        }
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return true
    }

    mutating func giveBack(_ id: Int, _ tag: Int) -> Bool {
        guard let h = tasks[id]!.held.removeValue(forKey: tag) else { return false }
        putBack(h)
        if !memoryWaiters.isEmpty { admitWaitingSenders() }
        return true
    }

    mutating func putBack(_ h: Held) {
        let ch = h.chan
        ch.held -= 1
        memoryUsed -= h.message.payload.count
        if ch.deleted {
            if let s = h.sender {
                tasks[s]!.heldBy = nil
                finish(s, .sendFailedClosed(case: h.senderCase), first: false)
            }
            return
        }
        let name = channels.first { $0.value === ch }!.key
        if h.fromBuffer {
            ch.buffer.insert(h.message, at: 0)
            memoryUsed += h.message.payload.count
        } else if let s = h.sender {
            let t = tasks[s]!
            t.heldBy = nil
            t.cases = [(name, true, h.message)]
            ch.sendq.insert(Op(tasklet: s, caseIndex: h.senderCase, isSend: true, message: h.message), at: 0)
        } else {
            return
        }
        if ch.state == .closed { ch.state = .closing }
        // Offered at once to waiting receivers, in order.
        while let r = ch.recvq.first {
            if !ch.buffer.isEmpty {
                ch.recvq.removeFirst()
                deliver(removeFirst(of: ch), to: r, on: ch, fromBuffer: true, sender: nil)
                if let p = refillingSender(ch) {
                    append(p.message, to: ch)
                    finish(p.tasklet, .sent(case: p.caseIndex), first: false)
                }
            } else if let j = ch.sendq.firstIndex(where: { $0.tasklet != r.tasklet }) {
                ch.recvq.removeFirst()
                let s = ch.sendq.remove(at: j)
                deliver(s.message, to: r, on: ch, fromBuffer: false, sender: s)
            } else {
                break
            }
        }
        while let p = refillingSender(ch) {
            append(p.message, to: ch)
            finish(p.tasklet, .sent(case: p.caseIndex), first: false)
        }
        settle(ch)
    }

    mutating func deliver(_ m: Message, to r: Op, on ch: Chan, fromBuffer: Bool, sender s: Op?) {
        unqueue(r.tasklet)
        if let s { unqueue(s.tasklet) }
        if r.hold {
            let h = Held(ch, m, fromBuffer: fromBuffer)
            add(h, to: r.tasklet)
            finish(r.tasklet, .received(case: r.caseIndex, m), first: false)
            if let s { keepWaiting(s, for: h) }
        } else {
            finish(r.tasklet, .received(case: r.caseIndex, m), first: false)
            if let s { finish(s.tasklet, .sent(case: s.caseIndex), first: false) }
        }
    }

    mutating func expire(now: UInt64) -> Int {
        var n = 0
        while let (id, _) = tasks.filter({ $0.value.state == .blocked && $0.value.deadline.map { $0 <= now } == true })
            .min(by: { $0.value.deadline! < $1.value.deadline! }).map({ ($0.key, $0.value) }) {
            finish(id, .timedOut, first: false)
            n += 1
        }
        return n
    }

    mutating func cancel(_ id: Int) -> Completion? {
        let t = tasks[id]!
        var lost: Completion?
        if t.state == .blocked { withdraw(id) }
        if t.state == .runnable { lost = t.completion; t.completion = nil }
        t.state = .dead
        if t.heldBy != nil || !t.held.isEmpty {
            if let h = t.heldBy {
                h.sender = nil
                t.heldBy = nil
            }
            for tag in t.held.keys.sorted(by: >) { putBack(t.held.removeValue(forKey: tag)!) }
            if !memoryWaiters.isEmpty { admitWaitingSenders() }
        }
        return lost
    }

    mutating func nextRunnable() -> (Int, Completion)? {
        while !runnable.isEmpty {
            let id = runnable.removeFirst()
            let t = tasks[id]!
            if t.state == .runnable {
                t.state = .running
                defer { t.completion = nil }
                return (id, t.completion!)
            }
        }
        return nil
    }
}

final class ModelTests: XCTestCase {
    func testThousandsOfRandomSequencesAgreeWithTheModel() {
        var checked = 0
        for seed in 1...2000 {
            checked += runSequence(seed: UInt64(seed), steps: 120)
        }
        XCTAssertGreaterThan(checked, 200_000)
    }

    /// Runs one random sequence; returns how many checks passed.
    private func runSequence(seed: UInt64, steps: Int) -> Int {
        var pick = Xoshiro256(seed: seed &* 7919)
        func roll(_ n: Int) -> Int { Int(pick.next(upperBound: UInt(n))) }

        // A memory budget of a few values in a quarter of the runs.
        let maxMemory = [Int.max, .max, .max, 4 + roll(20)][roll(4)]
        let engine = Engine(random: Xoshiro256(seed: seed), maxMemory: maxMemory)
        var model = Model(random: Xoshiro256(seed: seed))
        model.maxMemory = maxMemory
        let names = ["a", "b", "c", "d"]
        for name in names {
            let cap = [0, 0, 1, 3][roll(4)]
            let pref = [Preference.receiver, .none, .sender][roll(3)]
            XCTAssertEqual(engine.make(name, capacity: cap, preference: pref), .made)
            model.channels[name] = Model.Chan(capacity: cap, preference: pref)
        }
        var tasklets: [Int: Tasklet] = [:]
        func spawn() {
            let t = engine.makeTasklet()
            tasklets[t.id] = t
            model.tasks[t.id] = Model.Task()
        }
        for _ in 0..<5 { spawn() }

        var now: UInt64 = 0, serial: UInt64 = 0
        var pendingSends: [Int: [Message]] = [:]  // tasklet -> values of its current cases
        var completedSends = Set<Message>(), received = Set<Message>(), lost = Set<Message>()
        // Rules 22-25: values held now, and values whose sender ended while
        // they were held (never completed, acknowledged or dropped).
        var heldNow = Set<Message>(), orphans = Set<Message>()
        var deleted = Set<Message>()  // dropped with a deleted channel
        var holding: [Int: Bool] = [:]  // tasklet -> its current select holds
        var checks = 0

        func observe(_ id: Int, _ c: Completion?, lostToCancel: Bool = false) {
            switch c {
            case .sent(let i)?:
                completedSends.insert(pendingSends[id]![i])
            case .received(_, let m)?:
                // Delivered again only after a give-back (rule 25).
                XCTAssertFalse(received.contains(m) || lost.contains(m) || heldNow.contains(m), "value delivered twice")
                // Rule 12: never a value of the receiver's own select (a value
                // it buffered earlier is fine).
                XCTAssertFalse(pendingSends[id, default: []].contains(m), "a tasklet paired with itself")
                if holding[id] == true {
                    if !lostToCancel { heldNow.insert(m) }  // else given back by the cancel
                } else if lostToCancel {
                    lost.insert(m)
                } else {
                    received.insert(m)
                }
            default: break
            }
        }

        /// A held value whose channel was deleted is dropped when given back.
        func noteDropped(_ h: HeldValue) {
            if h.channel.slot < 0 && h.fromBuffer { deleted.insert(h.message) }
        }

        func settleHold(_ id: Int, _ tag: Int, acknowledge: Bool) {
            let m = tasklets[id]!.held[tag]!.message
            if !acknowledge { noteDropped(tasklets[id]!.held[tag]!) }
            let expected = acknowledge ? model.acknowledge(id, tag) : model.giveBack(id, tag)
            let actual = acknowledge ? engine.acknowledge(tasklets[id]!, tag: tag) : engine.giveBack(tasklets[id]!, tag: tag)
            XCTAssertEqual(actual, expected, "seed \(seed)")
            heldNow.remove(m)
            if acknowledge { received.insert(m) }
        }

        for _ in 0..<steps {
            let running = tasklets.values.filter { $0.state == .running }.map(\.id).sorted()
            switch roll(20) {
            case 0..<9 where !running.isEmpty:
                let id = running[roll(running.count)]
                var cases: [(channel: String, isSend: Bool, message: Message)] = []
                for _ in 0..<(roll(3) == 0 ? 1 + roll(4) : 1) {
                    serial += 1
                    let isSend = roll(2) == 0
                    let value = Message(Array("\(id):\(serial)".utf8), isException: roll(5) == 0)
                    cases.append((names[roll(names.count)], isSend, isSend ? value : .empty))
                }
                pendingSends[id] = cases.map(\.message)
                let wait: Wait = [.forever, .nowait, .deadline(now + UInt64(1 + roll(40)) * 1_000_000 + serial)][roll(3)]
                let hold = roll(3) == 0
                holding[id] = hold
                let expected = model.select(id, cases, wait: wait, hold: hold)
                let actual = engine.select(tasklets[id]!, cases.map {
                    SelectCase(engine.channel(named: $0.channel)!, $0.isSend ? .send($0.message) : .receive)
                }, wait: wait, hold: hold)
                XCTAssertEqual(actual, expected, "seed \(seed)")
                if case .completed(let c) = actual { observe(id, c) }
            case 9:
                let name = names[roll(names.count)]
                switch roll(12) {
                case 0..<3:
                    model.close(name)
                    engine.close(engine.channel(named: name)!)
                case 3:
                    model.open(name)
                    engine.open(engine.channel(named: name)!)
                case 4:
                    deleted.formUnion(engine.channel(named: name)!.bufferedMessages)
                    model.delete(name)
                    engine.delete(named: name)
                default: break
                }
            case 10..<12:
                now += UInt64(roll(15)) * 1_000_000
                XCTAssertEqual(engine.expireDeadlines(now: now), model.expire(now: now), "seed \(seed)")
            case 12:
                let live = tasklets.values.filter { $0.state == .blocked || $0.state == .runnable }.map(\.id).sorted()
                if let id = live.isEmpty ? nil : live[roll(live.count)] {
                    let t = tasklets[id]!
                    heldNow.subtract(t.held.values.map(\.message))
                    t.held.values.forEach(noteDropped)
                    if let h = t.heldBy { orphans.insert(h.message) }
                    let expected = model.cancel(id)
                    let actual = engine.cancel(tasklets[id]!)
                    XCTAssertEqual(actual, expected, "seed \(seed)")
                    observe(id, actual, lostToCancel: true)
                    spawn()
                }
            case 13..<15:
                // Acknowledge or give back a value a running tasklet holds.
                let holders = tasklets.values.filter { $0.state == .running && !$0.held.isEmpty }.map(\.id).sorted()
                if let id = holders.isEmpty ? nil : holders[roll(holders.count)] {
                    let tags = tasklets[id]!.held.keys.sorted()
                    settleHold(id, tags[roll(tags.count)], acknowledge: roll(2) == 0)
                }
            default:
                let expected = model.nextRunnable()
                let t = engine.nextRunnable()
                let actual = t.map { ($0.id, $0.takeCompletion()!) }
                XCTAssertEqual(actual?.0, expected?.0, "seed \(seed)")
                XCTAssertEqual(actual?.1, expected?.1, "seed \(seed)")
                if let (id, c) = actual { observe(id, c) }
            }
            checks += check(engine, model, tasklets, seed: seed)
        }
        while let (id, c) = model.nextRunnable() {
            let t = engine.nextRunnable()
            XCTAssertEqual(t?.id, id, "seed \(seed)")
            XCTAssertEqual(t?.takeCompletion(), c, "seed \(seed)")
            observe(id, c)
        }
        XCTAssertNil(engine.nextRunnable())
        // Every value still held is acknowledged; its sender completes.
        for id in tasklets.keys.sorted() where tasklets[id]!.state != .dead {
            for tag in tasklets[id]!.held.keys.sorted() { settleHold(id, tag, acknowledge: true) }
        }
        while let (id, c) = model.nextRunnable() {
            let t = engine.nextRunnable()
            XCTAssertEqual(t?.id, id, "seed \(seed)")
            XCTAssertEqual(t?.takeCompletion(), c, "seed \(seed)")
            observe(id, c)
        }
        checks += check(engine, model, tasklets, seed: seed)
        // Every completed send was received once, is still buffered, or was
        // matched to a receiver that died before it could be told (rule 25);
        // values whose sender ended while they were held never completed.
        var buffered = Set<Message>()
        for name in names { buffered.formUnion(engine.channel(named: name)!.bufferedMessages) }
        let accounted = received.union(lost).union(buffered).union(deleted).subtracting(orphans)
        XCTAssertEqual(completedSends, accounted, "seed \(seed): completed, not accounted for: \(completedSends.subtracting(accounted).map(text)); accounted, not completed: \(accounted.subtracting(completedSends).map(text))")
        XCTAssertTrue(completedSends.isDisjoint(with: orphans), "seed \(seed)")
        return checks
    }

    /// Compares engine and model state and checks the invariants.
    private func check(_ engine: Engine, _ model: Model, _ tasklets: [Int: Tasklet], seed: UInt64) -> Int {
        var checks = 0
        var queued: [Int: Int] = [:]
        for (name, m) in model.channels {
            let ch = engine.channel(named: name)!
            XCTAssertEqual(ch.state, m.state, "seed \(seed) \(name)")
            XCTAssertEqual(ch.bufferedMessages, m.buffer, "seed \(seed) \(name)")
            XCTAssertEqual(ch.held, m.held, "seed \(seed) \(name)")
            XCTAssertEqual(ch.sendWaiters.map { [$0.0, $0.1] }, m.sendq.map { [$0.tasklet, $0.caseIndex] }, "seed \(seed)")
            XCTAssertEqual(ch.recvWaiters.map { [$0.0, $0.1] }, m.recvq.map { [$0.tasklet, $0.caseIndex] }, "seed \(seed)")
            // Rule 2 and rule 7.
            XCTAssertEqual(ch.balance, ch.sendWaiters.count - ch.recvWaiters.count)
            let selfSelect = Set(ch.sendWaiters.map(\.0)).intersection(ch.recvWaiters.map(\.0))
            if selfSelect.isEmpty {
                XCTAssertTrue(ch.count == 0 || ch.recvWaiters.isEmpty, "seed \(seed): rule 7")
                // Values given back may fill a buffer past its capacity;
                // senders wait with room in the buffer only for memory.
                XCTAssertTrue(ch.count >= ch.capacity || ch.sendWaiters.isEmpty || engine.memoryUsed >= engine.maxMemory,
                              "seed \(seed): rule 7")
            }
            for (id, _) in ch.sendWaiters + ch.recvWaiters { queued[id, default: 0] += 1 }
            checks += 6
        }
        XCTAssertEqual(engine.runnable.map(\.id), model.runnable, "seed \(seed)")
        XCTAssertEqual(engine.memoryUsed, model.memoryUsed, "seed \(seed)")
        for (id, t) in tasklets {
            XCTAssertEqual(t.state, model.tasks[id]!.state, "seed \(seed) tasklet \(id)")
            XCTAssertEqual(t.held.keys.sorted(), model.tasks[id]!.held.keys.sorted(), "seed \(seed) tasklet \(id)")
            XCTAssertEqual(t.held.keys.sorted().map { t.held[$0]!.message },
                           model.tasks[id]!.held.keys.sorted().map { model.tasks[id]!.held[$0]!.message }, "seed \(seed)")
            // No chanop left behind: only a blocked tasklet has chanops queued, all of its cases.
            XCTAssertEqual(queued[id, default: 0], t.state == .blocked ? model.tasks[id]!.cases.count : 0, "seed \(seed)")
            checks += 2
        }
        XCTAssertEqual(engine.blockedCount, tasklets.values.filter { $0.state == .blocked }.count)
        return checks + 2
    }
}
