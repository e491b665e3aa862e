@testable import ChanCore
import XCTest

/// A SELECT's channels looked up into an array the caller reuses: all or
/// none, in case order, created as by `channel(named:)`.
final class ChannelLookupTests: XCTestCase {
    func testChannelsAppendedIntoAReusedArrayInCaseOrder() {
        let w = World()
        let a = w.ch("a"), b = w.ch("b")
        var found: [Channel] = []
        XCTAssertTrue(w.engine.table.channels(count: 3, named: { ["b", "a", "b"][$0] }, into: &found))
        XCTAssertTrue(found.count == 3 && found[0] === b && found[1] === a && found[2] === b)
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["a", "new"][$0] }, into: &found))
        XCTAssertEqual(found.map(\.name), ["a", "new"], "the earlier lookup is replaced; a missing channel is made")
        XCTAssertTrue(found[1] === w.engine.existingChannel(named: "new"))
    }

    /// At the limit, a lookup that would make too many channels makes none
    /// and leaves the array empty.
    func testAllOrNoneAtTheChannelLimit() {
        let w = World(maxChannels: 3)
        _ = w.engine.make("kept", capacity: 0, preference: .receiver)
        _ = w.engine.make("also", capacity: 0, preference: .receiver)  // made: not swept to make room
        var found = [w.ch("also")]
        XCTAssertFalse(w.engine.table.channels(count: 3, named: { ["kept", "y", "z"][$0] }, into: &found))
        XCTAssertTrue(found.isEmpty)
        XCTAssertNil(w.engine.existingChannel(named: "y"))
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["kept", "y"][$0] }, into: &found))
        XCTAssertEqual(found.map(\.name), ["kept", "y"], "one more fits")
    }

    /// The caller's last lookup is the answer while its channels are in the
    /// table under those names; a channel deleted meanwhile is looked up again.
    func testTheLastLookupIsKeptWhileItsChannelsLast() {
        let w = World()
        var found: [Channel] = []
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["a", "b"][$0] }, into: &found))
        let (a, b) = (found[0], found[1])
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["a", "b"][$0] }, into: &found))
        XCTAssertTrue(found[0] === a && found[1] === b)
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["b", "a"][$0] }, into: &found))
        XCTAssertTrue(found[0] === b && found[1] === a, "other names, or in another order: looked up")
        _ = w.engine.delete(named: "a")
        XCTAssertTrue(w.engine.table.channels(count: 2, named: { ["b", "a"][$0] }, into: &found))
        XCTAssertTrue(found[0] === b && found[1] !== a && found[1] === w.engine.existingChannel(named: "a"))
    }

    /// A single SEND's or RECV's lookup with the caller's last answer: kept
    /// while that channel is in the table under this name; a deleted one, or
    /// one swept as idle, is looked up (and made) again.
    func testTheLastSingleLookupIsKeptWhileItsChannelLasts() {
        let w = World()
        var last: Channel?
        let a = w.engine.table.channel(named: "a", last: &last)!
        XCTAssertTrue(last === a && a === w.engine.existingChannel(named: "a"))
        XCTAssertTrue(w.engine.table.channel(named: "a", last: &last) === a)
        let b = w.engine.table.channel(named: "b", last: &last)!
        XCTAssertTrue(b !== a && last === b, "another name: looked up, and kept instead")
        _ = w.engine.delete(named: "b")
        let b2 = w.engine.table.channel(named: "b", last: &last)!
        XCTAssertTrue(b2 !== b && b2 === w.engine.existingChannel(named: "b"), "deleted: made again")
        w.engine.table.sweepIdleChannels()
        XCTAssertNil(w.engine.existingChannel(named: "b"))
        let b3 = w.engine.table.channel(named: "b", last: &last)!
        XCTAssertTrue(b3 !== b2 && b3 === w.engine.existingChannel(named: "b"), "swept: made again")
    }
}
