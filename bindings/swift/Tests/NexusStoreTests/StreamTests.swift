import Foundation
import XCTest
@testable import NexusStore

final class StreamTests: XCTestCase {
    func testEventsStreamDeliversEvictionsAndPressureChangesInOrder() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var iterator = store.events.makeAsyncIterator()
        for i in 0..<4 { try store.put(Data(count: 100), forKey: "k\(i)") }
        try store.evictLeastRecentlyUsed(2)
        try store.signalPressure(.critical)
        try store.signalPressure(.none)
        var kinds: [NexusEvent.Kind] = []
        var sequences: [UInt64] = []
        for _ in 0..<4 {
            guard let event = await iterator.next() else { return XCTFail("stream ended early") }
            kinds.append(event.kind)
            sequences.append(event.sequence)
        }
        let charge = defaultCharge(key: 2, value: 100)
        XCTAssertEqual(kinds, [
            .eviction(reason: .manual, count: 2, bytes: 2 * charge),
            .pressureChanged(from: .none, to: .critical),
            .eviction(reason: .pressure, count: 1, bytes: charge),
            .pressureChanged(from: .critical, to: .none),
        ])
        XCTAssertEqual(sequences, sequences.sorted())
    }

    func testPressureLevelsStartWithTheCurrentLevelThenFollowChanges() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        try store.signalPressure(.moderate)
        var iterator = store.pressureLevels.makeAsyncIterator()
        try store.signalPressure(.critical)
        try store.signalPressure(.none)
        var levels: [MemoryPressureLevel] = []
        for _ in 0..<3 { levels.append(await iterator.next() ?? .emergency) }
        XCTAssertEqual(levels, [.moderate, .critical, .none])
    }

    func testEveryStreamGetsEveryEvent() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var first = store.pressureLevels.makeAsyncIterator()
        var second = store.pressureLevels.makeAsyncIterator()
        try store.signalPressure(.emergency)
        let a = [await first.next(), await first.next()]
        let b = [await second.next(), await second.next()]
        XCTAssertEqual(a, [MemoryPressureLevel.none, .emergency])
        XCTAssertEqual(b, [MemoryPressureLevel.none, .emergency])
    }

    func testStreamsEndWhenTheStoreIsFreed() async throws {
        var store: NexusStore? = try NexusStore(maxCacheBytes: 100_000)
        let events = store!.events
        let levels = store!.pressureLevels
        let reader = Task { () -> (Int, [MemoryPressureLevel]) in
            var count = 0
            for await _ in events { count += 1 }
            var seen: [MemoryPressureLevel] = []
            for await level in levels { seen.append(level) }
            return (count, seen)
        }
        try store!.signalPressure(.critical)
        store = nil  // the event callback's destroy finishes both streams
        let (count, seen) = await reader.value
        XCTAssertEqual(count, 1)
        XCTAssertEqual(seen, [.none, .critical])
    }

    func testAStreamMadeAfterTheStoreIsGoneIsFinished() async throws {
        var store: NexusStore? = try NexusStore()
        let broadcaster = store!.broadcaster
        store = nil
        let sink = EventBroadcaster.Sink(receive: { _ in XCTFail("no events after the store") }, finish: {})
        XCTAssertNil(broadcaster.add(sink))
    }

    func testACancelledReaderStopsReceivingAndOthersGoOn() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        let cancelled = Task {
            var received = 0
            for await _ in store.events { received += 1 }
            return received
        }
        cancelled.cancel()
        _ = await cancelled.value
        var iterator = store.events.makeAsyncIterator()
        try store.signalPressure(.moderate)
        let event = await iterator.next()
        XCTAssertEqual(event?.kind, .pressureChanged(from: .none, to: .moderate))
    }
}

final class DecayStreamTests: XCTestCase {
    /// Reading the level may apply a decayed signal and report it through
    /// the event callback on the reading thread: making a stream (which
    /// reads the current level) must not wait for itself.
    func testAStreamMadeWhenASignalHasDecayedStartsAtNone() async throws {
        var config = MemoryConfig(maxCacheBytes: 100_000)
        config.signalDecayMilliseconds = 1
        let store = try NexusStore(config: config)
        var events = store.events.makeAsyncIterator()
        try store.signalPressure(.moderate)
        usleep(20_000)  // the 1 ms signal is over (not a timing assertion)
        var levels = store.pressureLevels.makeAsyncIterator()
        let first = await levels.next()
        XCTAssertEqual(first, MemoryPressureLevel.none)
        let changes = [await events.next()?.kind, await events.next()?.kind]
        XCTAssertEqual(changes, [.pressureChanged(from: .none, to: .moderate), .pressureChanged(from: .moderate, to: .none)])
    }
}

final class EventKindTests: XCTestCase {
    func testSignalChangedEventsComeWhenAskedFor() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var events = store.events.makeAsyncIterator()
        try store.setDeliveredEvents([.signalChanged])
        try store.put(Data(count: 100), forKey: "k")
        try store.signalPressure(.emergency)  // evicts k: no EVICTION event now
        XCTAssertEqual(try store.signalledLevel, .emergency)
        try store.signalPressure(.none)
        XCTAssertEqual(try store.signalledLevel, .none)
        let kinds = [await events.next()?.kind, await events.next()?.kind]
        XCTAssertEqual(kinds, [.signalChanged(from: .none, to: .emergency), .signalChanged(from: .emergency, to: .none)])
    }

    /// The level streams follow the level whatever `events` is told to
    /// deliver (before, a mask without `.pressureChanged` froze them), and
    /// `events` still gets only the kinds chosen.
    func testLevelStreamsFollowTheLevelWhateverEventsDeliver() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var events = store.events.makeAsyncIterator()
        try store.setDeliveredEvents([.signalChanged])
        var levels = store.pressureLevels.makeAsyncIterator()
        let first = await levels.next()
        XCTAssertEqual(first, MemoryPressureLevel.none)
        try store.signalPressure(.critical)
        let second = await levels.next()
        XCTAssertEqual(second, .critical)
        try store.signalPressure(.none)
        let third = await levels.next()
        XCTAssertEqual(third, MemoryPressureLevel.none)
        let kinds = [await events.next()?.kind, await events.next()?.kind]
        XCTAssertEqual(kinds, [.signalChanged(from: .none, to: .critical), .signalChanged(from: .critical, to: .none)])
    }

    /// Two `setDeliveredEvents` at once leave one of the two choices whole:
    /// the store's mask and the wrapper's filter are set together (audit 11:
    /// the store could deliver one choice while the filter kept the other,
    /// and `events` got neither).
    func testTwoSetDeliveredEventsAtOnceLeaveOneChoiceWhole() async throws {
        for _ in 0..<300 {
            let events: AsyncStream<NexusEvent>
            do {
                let s = try NexusStore(maxCacheBytes: 1_000_000)
                events = s.events
                DispatchQueue.concurrentPerform(iterations: 2) { i in
                    try? s.setDeliveredEvents(i == 0 ? [.eviction] : [.signalChanged])
                }
                try s.put(Data([1]), forKey: "a")
                _ = try s.evict(1)
                try s.signalPressure(.moderate)
            }  // the store is freed: the stream ends
            var eviction = false, signal = false
            for await e in events {
                switch e.kind {
                case .eviction: eviction = true
                case .signalChanged: signal = true
                default: break
                }
            }
            XCTAssertNotEqual(eviction, signal, "one kind, the one chosen last")
        }
    }

    func testSignalledLevelIsTheSignalAloneAndPressureLevelTheHigher() throws {
        let store = try NexusStore(maxCacheBytes: 10_000)
        try store.put(Data(count: 9_000), forKey: "big")  // usage above the critical threshold
        XCTAssertEqual(try store.pressureLevel, .critical)
        XCTAssertEqual(try store.signalledLevel, .none)
        try store.signalPressure(.moderate)
        XCTAssertEqual(try store.signalledLevel, .moderate)
    }

    func testAnUnknownEventKindBitIsRefused() throws {
        let store = try NexusStore()
        XCTAssertThrowsNexus(.invalidArgument, try store.setDeliveredEvents(NexusEventKinds(rawValue: 1 << 20)))
        XCTAssertEqual(NexusEventKinds.all, [.default, .signalChanged])
    }
}
