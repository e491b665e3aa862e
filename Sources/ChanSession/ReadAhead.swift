import ChanProtocol

/// Requests parsed past a blocked one (see `Session.settleAhead`), in order,
/// with the bytes they took on the wire, so that the input mark still
/// bounds what one connection keeps.
struct ReadAhead {
    /// A command popped is moved out (nil left behind), not copied: its
    /// storage (a SELECT's cases, a payload) is then neither retained for
    /// the copy nor destroyed later by the array's generic `removeAll`, and
    /// a SELECT's case array has one owner when it goes back to the parser.
    private var commands: [Command?] = []
    private var sizes: [Int] = []
    private var head = 0
    private(set) var byteCount = 0

    var isEmpty: Bool { head == commands.count }

    mutating func append(_ command: Command, bytes: Int) {
        commands.append(command)
        sizes.append(bytes)
        byteCount += bytes
    }

    mutating func popFirst() -> Command? {
        guard head < commands.count else { return nil }
        let command = commands[head].take()
        byteCount -= sizes[head]
        head += 1
        if head == commands.count {
            commands.removeAll(keepingCapacity: true)
            sizes.removeAll(keepingCapacity: true)
            head = 0
        }
        return command
    }
}
