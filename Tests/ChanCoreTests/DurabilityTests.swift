@testable import ChanCore
import XCTest

/// A store's view of durable channels, rebuilt only from what the engine
/// reports, as `DurabilityObserver` describes: it must always agree with the
/// channels themselves.
private final class MirrorStore: DurabilityObserver {
    var buffers: [String: [Message]] = [:]
    var held: [String: [String: Message]] = [:]  // channel -> "tasklet/tag" -> value
    var handedOver: [String: [Message]] = [:]
    var events: [String] = []
    var returned = 0, acknowledged = 0

    func channelMade(_ ch: Channel) { events.append("make \(ch.name)"); buffers[ch.name] = [] }
    func channelClosed(_ ch: Channel) { events.append("close \(ch.name)") }
    func channelOpened(_ ch: Channel) { events.append("open \(ch.name)") }
    func channelDeleted(_ ch: Channel) {
        events.append("delete \(ch.name)")
        buffers[ch.name] = nil
        held[ch.name] = nil
    }
    func valueBuffered(_ m: Message, in ch: Channel) { buffers[ch.name, default: []].append(m) }
    func valueTaken(from ch: Channel, by receiver: Tasklet, tag: Int?) {
        let m = buffers[ch.name]!.removeFirst()
        if let tag {
            held[ch.name, default: [:]]["\(receiver.id)/\(tag)"] = m
        } else {
            handedOver[ch.name, default: []].append(m)
        }
    }
    func valueReturned(to ch: Channel, by receiver: Tasklet, tag: Int) {
        returned += 1
        buffers[ch.name]!.insert(held[ch.name]!.removeValue(forKey: "\(receiver.id)/\(tag)")!, at: 0)
    }
    func valueAcknowledged(from ch: Channel, by receiver: Tasklet, tag: Int) {
        XCTAssertNotNil(held[ch.name]?.removeValue(forKey: "\(receiver.id)/\(tag)"))
        acknowledged += 1
    }
}

final class DurabilityTests: XCTestCase {
    func testTheStoreMirrorsEveryDurableBufferThroughRandomTraffic() {
        let w = World(seed: 14, maxMemory: 64)
        let store = MirrorStore()
        w.engine.durability = store
        XCTAssertEqual(w.engine.make("jobs", capacity: 3, preference: .none, durable: true), .made)
        XCTAssertEqual(w.engine.make("plain", capacity: 3, preference: .none), .made)
        XCTAssertEqual(w.engine.make("jobs", capacity: 3, preference: .none), .exists(capacity: 3, preference: .none))
        var pick = Xoshiro256(seed: 140)
        let tasklets = (0..<6).map { _ in w.tasklet() }
        var serial = 0
        for step in 0..<4000 {
            let running = tasklets.filter { $0.state == .running }
            guard !running.isEmpty else {
                w.engine.expireDeadlines(now: UInt64(step + 10))
                _ = w.drain()
                continue
            }
            let t = running[Int(pick.next(upperBound: UInt(running.count)))]
            let name = pick.next(upperBound: UInt(4)) == 0 ? "plain" : "jobs"
            switch pick.next(upperBound: UInt(10)) {
            case 0..<4:
                serial += 1
                _ = w.send(t, name, "v\(serial)", wait: .deadline(UInt64(step + 5)))
            case 4..<6: _ = w.engine.receive(t, w.ch(name), wait: .deadline(UInt64(step + 5)), hold: true)
            case 6: _ = w.recv(t, name, wait: .nowait)
            case 7:
                if let tag = t.held.keys.min() {
                    _ = pick.next(upperBound: UInt(2)) == 0 ? w.engine.acknowledge(t, tag: tag) : w.engine.giveBack(t, tag: tag)
                }
            case 8:
                if w.ch(name).state == .open {
                    if pick.next(upperBound: UInt(4)) == 0 { w.engine.close(w.ch(name)) }
                } else {
                    w.engine.open(w.ch(name))
                }
            default:
                w.engine.expireDeadlines(now: UInt64(step))
            }
            _ = w.drain()
            let jobs = w.ch("jobs")
            XCTAssertEqual(store.buffers["jobs"] ?? [], jobs.bufferedMessages, "step \(step)")
            XCTAssertEqual(store.held["jobs", default: [:]].count, jobs.held - heldFromSenders(tasklets, jobs), "step \(step)")
        }
        XCTAssertNil(store.buffers["plain"], "a channel not made durable is never reported")
        XCTAssertGreaterThan(store.handedOver["jobs", default: []].count, 20)
        XCTAssertGreaterThan(store.acknowledged, 20)
        XCTAssertGreaterThan(store.returned, 10)
        XCTAssertTrue(store.events.contains("close jobs") && store.events.contains("open jobs"))
        w.engine.delete(named: "jobs")
        XCTAssertNil(store.buffers["jobs"])
        XCTAssertEqual(store.events.last, "delete jobs")
    }

    /// Held values of `ch` that a waiting rendezvous sender gave (not the
    /// store's: they never entered the buffer).
    private func heldFromSenders(_ tasklets: [Tasklet], _ ch: Channel) -> Int {
        tasklets.flatMap { $0.held.values }.filter { $0.channel === ch && !$0.fromBuffer }.count
    }

    func testRestoreBringsBackAChannelWithoutReportingIt() {
        let w = World()
        let store = MirrorStore()
        w.engine.durability = store
        let ch = w.engine.restoreDurableChannel("jobs", capacity: 2, preference: .sender, closing: true,
                                                values: [msg("1"), msg("2"), msg("3")])
        XCTAssertNotNil(ch)
        XCTAssertEqual(w.ch("jobs").bufferedMessages, ["1", "2", "3"].map { msg($0) })
        XCTAssertEqual([w.ch("jobs").capacity, w.ch("jobs").preference.rawValue], [2, 1])
        XCTAssertTrue(w.ch("jobs").isDurable && w.ch("jobs").isPersistent)
        XCTAssertEqual(w.ch("jobs").state, .closing)
        XCTAssertEqual(w.engine.memoryUsed, 3)
        XCTAssertTrue(store.events.isEmpty)
        XCTAssertNil(w.engine.restoreDurableChannel("jobs", capacity: 2, preference: .sender, closing: false, values: []))
        let empty = w.engine.restoreDurableChannel("done", capacity: 1, preference: .none, closing: true, values: [])
        XCTAssertEqual(empty?.state, .closed)
    }

    func testAForgottenClosedDurableChannelIsReportedDeleted() {
        let w = World()
        let store = MirrorStore()
        w.engine.durability = store
        _ = w.engine.make("jobs", capacity: 1, preference: .none, durable: true)
        w.engine.close(w.ch("jobs"))
        w.engine.forgetClosedChannels(now: 0, ttl: 10)
        w.engine.forgetClosedChannels(now: 10, ttl: 10)
        XCTAssertEqual(store.events, ["make jobs", "close jobs", "delete jobs"])
    }
}
