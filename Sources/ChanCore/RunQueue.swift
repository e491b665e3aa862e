/// The engine's runnable queue: tasklets linked through `Tasklet.runNext`,
/// with O(1) append, prepend (rule 17: the preferred partner runs first) and
/// pop. A tasklet is in it at most once: it enters when it becomes runnable
/// and leaves when `Engine.nextRunnable` pops it (a cancelled one stays, dead,
/// until then).
///
/// The queue owns one reference to each tasklet in it: callers hand one over
/// on entry, and `popFirst` hands it on to its caller. A tasklet woken from a
/// wait enters with the reference the engine took when it blocked, so waking
/// costs no retain.
struct RunQueue: Sequence {
    private var head: Unmanaged<Tasklet>?
    private var tail: Unmanaged<Tasklet>?
    private(set) var count = 0

    mutating func append(_ entry: Unmanaged<Tasklet>) {
        if let tail {
            tail._withUnsafeGuaranteedRef { $0.runNext = entry }
        } else {
            head = entry
        }
        tail = entry
        count += 1
    }

    mutating func prepend(_ entry: Unmanaged<Tasklet>) {
        entry._withUnsafeGuaranteedRef { $0.runNext = head }
        head = entry
        if tail == nil { tail = entry }
        count += 1
    }

    mutating func popFirst() -> Tasklet? {
        guard let first = head else { return nil }
        let t = first.takeRetainedValue()
        head = t.runNext
        t.runNext = nil
        if head == nil { tail = nil }
        count -= 1
        return t
    }

    /// Head first (for inspection and tests).
    struct Iterator: IteratorProtocol {
        fileprivate var entry: Unmanaged<Tasklet>?

        mutating func next() -> Tasklet? {
            guard let current = entry else { return nil }
            let t = current.takeUnretainedValue()
            entry = t.runNext
            return t
        }
    }

    func makeIterator() -> Iterator { Iterator(entry: head) }
}
