@testable import ChanCore
import XCTest

/// A message whose bytes are the given text.
func msg(_ text: String, exception: Bool = false) -> Message {
    Message(Array(text.utf8), isException: exception)
}

func text(_ m: Message) -> String { String(decoding: m.payload, as: UTF8.self) }

/// A tiny harness in the server's shape: tasklets issue operations, woken
/// tasklets are resumed from the runnable queue in order.
final class World {
    let engine: Engine

    init(seed: UInt64 = 42, maxChannels: Int = 1_000_000, maxMemory: Int = .max) {
        engine = Engine(random: Xoshiro256(seed: seed), maxChannels: maxChannels, maxMemory: maxMemory)
    }

    func tasklet() -> Tasklet { engine.makeTasklet() }
    func ch(_ name: String) -> Channel { engine.channel(named: name)! }

    func send(_ t: Tasklet, _ name: String, _ value: String, wait: Wait = .forever) -> Outcome {
        engine.send(t, ch(name), msg(value), wait: wait)
    }

    func recv(_ t: Tasklet, _ name: String, wait: Wait = .forever) -> Outcome {
        engine.receive(t, ch(name), wait: wait)
    }

    /// Cases written like the wire's case lines: "SEND a x", "RECV b".
    func select(_ t: Tasklet, _ lines: [String], wait: Wait = .forever) -> Outcome {
        let cases = lines.map { line -> SelectCase in
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            return parts[0] == "SEND" ? .send(ch(parts[1]), msg(parts[2])) : .receive(ch(parts[1]))
        }
        return engine.select(t, cases, wait: wait)
    }

    /// Resumes every runnable tasklet, in order: (tasklet id, its completion).
    func drain() -> [(Int, Completion)] {
        var out: [(Int, Completion)] = []
        while let t = engine.nextRunnable() { out.append((t.id, t.takeCompletion()!)) }
        return out
    }
}

/// The order and completions of a drain, as comparable values.
func ids(_ drained: [(Int, Completion)]) -> [Int] { drained.map(\.0) }

func received(_ value: String, case index: Int = 0) -> Completion {
    .received(case: index, msg(value))
}

extension Channel {
    /// Waiting chanops, head first, as (tasklet id, case index).
    var sendWaiters: [(Int, Int)] {
        var out: [(Int, Int)] = []
        sendq.forEach { out.append(($0.tasklet.id, $0.caseIndex)) }
        return out
    }
    var recvWaiters: [(Int, Int)] {
        var out: [(Int, Int)] = []
        recvq.forEach { out.append(($0.tasklet.id, $0.caseIndex)) }
        return out
    }
}

func XCTAssertPairs(_ a: [(Int, Int)], _ b: [(Int, Int)], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.map { [$0.0, $0.1] }, b.map { [$0.0, $0.1] }, file: file, line: line)
}
