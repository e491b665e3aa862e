@testable import ChanCore
import XCTest

/// A deliberately plain reference model of semantics.md: arrays, linear
/// searches, no pools. The engine must agree with it step by step, given the
/// same generator seed (both choose with reservoir sampling in case order).
private struct Model {
    struct Op { var tasklet: Int; var caseIndex: Int; var isSend: Bool; var message: Message }
    final class Chan {
        var capacity: Int, preference: Preference, state = Channel.State.open
        var buffer: [Message] = [], sendq: [Op] = [], recvq: [Op] = []
        init(capacity: Int, preference: Preference) { self.capacity = capacity; self.preference = preference }
    }
    final class Task {
        var state = Tasklet.State.running
        var cases: [(channel: String, isSend: Bool, message: Message)] = []
        var deadline: UInt64?
        var completion: Completion?
    }

    var random: Xoshiro256
    var channels: [String: Chan] = [:]
    var tasks: [Int: Task] = [:]
    var runnable: [Int] = []

    func ready(_ c: (channel: String, isSend: Bool, message: Message)) -> Bool {
        let ch = channels[c.channel]!
        if c.isSend { return ch.state != .open || !ch.recvq.isEmpty || ch.buffer.count < ch.capacity }
        return !ch.buffer.isEmpty || !ch.sendq.isEmpty || ch.state == .closed
    }

    mutating func select(_ id: Int, _ cases: [(channel: String, isSend: Bool, message: Message)], wait: Wait) -> Outcome {
        let t = tasks[id]!
        var chosen: Int?
        var count = 0
        for (i, c) in cases.enumerated() where ready(c) {
            count += 1
            if count == 1 || random.next(upperBound: UInt(count)) == 0 { chosen = i }
        }
        if let i = chosen { return fire(id, i, cases[i]) }
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
            let op = Op(tasklet: id, caseIndex: i, isSend: c.isSend, message: c.message)
            if c.isSend { channels[c.channel]!.sendq.append(op) } else { channels[c.channel]!.recvq.append(op) }
        }
        t.state = .blocked
        return .blocked
    }

    mutating func fire(_ id: Int, _ i: Int, _ c: (channel: String, isSend: Bool, message: Message)) -> Outcome {
        let ch = channels[c.channel]!
        if c.isSend {
            if ch.state != .open { return .completed(.sendFailedClosed(case: i)) }
            if !ch.recvq.isEmpty {
                let p = ch.recvq.removeFirst()
                let first = ch.preference == .receiver
                finish(p.tasklet, .received(case: p.caseIndex, c.message), first: first)
                return resume(id, .sent(case: i), yield: first)
            }
            ch.buffer.append(c.message)
            return .completed(.sent(case: i))
        }
        let m: Message
        var yield = false
        if !ch.buffer.isEmpty {
            m = ch.buffer.removeFirst()
            if !ch.sendq.isEmpty {
                let p = ch.sendq.removeFirst()
                ch.buffer.append(p.message)
                yield = ch.preference == .sender
                finish(p.tasklet, .sent(case: p.caseIndex), first: yield)
            }
        } else if !ch.sendq.isEmpty {
            let p = ch.sendq.removeFirst()
            m = p.message
            yield = ch.preference == .sender
            finish(p.tasklet, .sent(case: p.caseIndex), first: yield)
        } else {
            return .completed(.receivedClosed(case: i))
        }
        settle(ch)
        return resume(id, .received(case: i, m), yield: yield)
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

    mutating func withdraw(_ id: Int) {
        let t = tasks[id]!
        for ch in channels.values {
            ch.sendq.removeAll { $0.tasklet == id }
            ch.recvq.removeAll { $0.tasklet == id }
        }
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

        let engine = Engine(random: Xoshiro256(seed: seed))
        var model = Model(random: Xoshiro256(seed: seed))
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
        var checks = 0

        func observe(_ id: Int, _ c: Completion?, lostToCancel: Bool = false) {
            switch c {
            case .sent(let i)?:
                completedSends.insert(pendingSends[id]![i])
            case .received(_, let m)?:
                XCTAssertFalse(received.contains(m) || lost.contains(m), "value delivered twice")
                // Rule 12: never a value of the receiver's own select (a value
                // it buffered earlier is fine).
                XCTAssertFalse(pendingSends[id, default: []].contains(m), "a tasklet paired with itself")
                if lostToCancel { lost.insert(m) } else { received.insert(m) }
            default: break
            }
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
                let expected = model.select(id, cases, wait: wait)
                let actual = engine.select(tasklets[id]!, cases.map {
                    SelectCase(engine.channel(named: $0.channel)!, $0.isSend ? .send($0.message) : .receive)
                }, wait: wait)
                XCTAssertEqual(actual, expected, "seed \(seed)")
                if case .completed(let c) = actual { observe(id, c) }
            case 9:
                if roll(4) == 0 {
                    let name = names[roll(names.count)]
                    model.close(name)
                    engine.close(engine.channel(named: name)!)
                }
            case 10..<12:
                now += UInt64(roll(15)) * 1_000_000
                XCTAssertEqual(engine.expireDeadlines(now: now), model.expire(now: now), "seed \(seed)")
            case 12:
                let live = tasklets.values.filter { $0.state == .blocked || $0.state == .runnable }.map(\.id).sorted()
                if let id = live.isEmpty ? nil : live[roll(live.count)] {
                    let expected = model.cancel(id)
                    let actual = engine.cancel(tasklets[id]!)
                    XCTAssertEqual(actual, expected, "seed \(seed)")
                    observe(id, actual, lostToCancel: true)
                    spawn()
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
        // Every completed send was received once, is still buffered, or was
        // matched to a receiver that died before it could be told.
        var buffered = Set<Message>()
        for name in names { buffered.formUnion(engine.channel(named: name)!.bufferedMessages) }
        XCTAssertEqual(completedSends, received.union(lost).union(buffered), "seed \(seed)")
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
            XCTAssertEqual(ch.sendWaiters.map { [$0.0, $0.1] }, m.sendq.map { [$0.tasklet, $0.caseIndex] }, "seed \(seed)")
            XCTAssertEqual(ch.recvWaiters.map { [$0.0, $0.1] }, m.recvq.map { [$0.tasklet, $0.caseIndex] }, "seed \(seed)")
            // Rule 2 and rule 7.
            XCTAssertEqual(ch.balance, ch.sendWaiters.count - ch.recvWaiters.count)
            let selfSelect = Set(ch.sendWaiters.map(\.0)).intersection(ch.recvWaiters.map(\.0))
            if selfSelect.isEmpty {
                XCTAssertTrue(ch.count == 0 || ch.recvWaiters.isEmpty, "seed \(seed): rule 7")
                XCTAssertTrue(ch.count == ch.capacity || ch.sendWaiters.isEmpty, "seed \(seed): rule 7")
            }
            for (id, _) in ch.sendWaiters + ch.recvWaiters { queued[id, default: 0] += 1 }
            checks += 6
        }
        XCTAssertEqual(engine.runnable.map(\.id), model.runnable, "seed \(seed)")
        for (id, t) in tasklets {
            XCTAssertEqual(t.state, model.tasks[id]!.state, "seed \(seed) tasklet \(id)")
            // No chanop left behind: only a blocked tasklet has chanops queued, all of its cases.
            XCTAssertEqual(queued[id, default: 0], t.state == .blocked ? model.tasks[id]!.cases.count : 0, "seed \(seed)")
            checks += 2
        }
        XCTAssertEqual(engine.blockedCount, tasklets.values.filter { $0.state == .blocked }.count)
        return checks + 2
    }
}
