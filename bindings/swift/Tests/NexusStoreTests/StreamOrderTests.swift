import CNexusStore
import Foundation
import XCTest
@testable import NexusStore

/// `events` and `pressureLevels` when
/// several threads' calls report events at once.
final class StreamOrderTests: XCTestCase {
    /// A PRESSURE_CHANGED event as the C callback hands it on.
    private func pressureEvent(_ sequence: UInt64, from: MemoryPressureLevel, to: MemoryPressureLevel) -> NexusEvent_C {
        var e = NexusEvent_C()
        e.kind = NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED)
        e.sequence = sequence
        e.previous_level = from.rawValue
        e.level = to.rawValue
        return e
    }

    /// Two callbacks on two threads may run in either order: the later
    /// numbered one first. The streams still see them in sequence order, and
    /// the level stream ends at the store's level.
    func testEventsDeliveredOutOfSequenceReachTheStreamsInSequence() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var events = store.events.makeAsyncIterator()
        var levels = store.pressureLevels.makeAsyncIterator()
        let first = await levels.next()
        XCTAssertEqual(first, MemoryPressureLevel.none)
        // What a store going NONE -> CRITICAL -> NONE reports, the second
        // callback running first (the store itself stays at NONE).
        store.broadcaster.deliver(pressureEvent(2, from: .critical, to: .none))
        store.broadcaster.deliver(pressureEvent(1, from: .none, to: .critical))
        let sequences = [await events.next()?.sequence, await events.next()?.sequence]
        XCTAssertEqual(sequences, [1, 2])
        let followed = [await levels.next(), await levels.next()]
        XCTAssertEqual(followed, [.critical, MemoryPressureLevel.none])
        // The real events that follow go on (3, 4, ...).
        try store.signalPressure(.moderate)
        let next = await events.next()?.kind
        XCTAssertEqual(next, .pressureChanged(from: .none, to: .moderate))
        let level = await levels.next()
        XCTAssertEqual(level, .moderate)
    }

    /// Rounds of 4 threads signalling the 4 levels at once.
    /// After each round the level stream's last value is the store's level,
    /// and the events stream has every PRESSURE_CHANGED in sequence order.
    func testPressureLevelsEndAtTheStoresLevelAfterConcurrentSignals() async throws {
        let store = try NexusStore(maxCacheBytes: 1_000_000)
        try await checkStreams(of: store, rounds: 400) { _ in
            [MemoryPressureLevel.critical, .moderate, .emergency, .none].shuffled().map { level in
                { try? store.signalPressure(level) }
            }
        }
    }

    /// The same with 4 shards, the level also moved by usage: puts that
    /// cross the thresholds (and evict), evictions, signals, removals.
    func testPressureLevelsAndEventsWithShardsPutsAndSignals() async throws {
        var config = MemoryConfig(maxCacheBytes: 200_000)
        config.shards = 4
        let store = try NexusStore(config: config)
        try await checkStreams(of: store, rounds: 150) { round in
            [{ for i in 0..<8 { try? store.put(Data(count: 9_000), forKey: "a\(round % 3)-\(i)") } },
             { try? store.signalPressure(round % 3 == 0 ? .critical : .none) },
             { try? store.evict(5 + round % 7) },
             { for i in 0..<8 { try? store.removeValue(forKey: "a\((round + 1) % 3)-\(i)") }
               try? store.signalPressure(round % 5 == 0 ? .moderate : .none) }]
        }
    }

    /// Runs `work(round)`'s 4 closures at once on 4 threads, `rounds` times
    /// (NEXUS_STREAM_ROUNDS overrides); after each round the level stream's
    /// last value must be the store's level, and in the end the events
    /// stream must be in strictly increasing sequence order.
    private func checkStreams(of store: NexusStore, rounds defaultRounds: Int,
                              _ work: (Int) -> [@Sendable () -> Void]) async throws {
        let last = Recorder<MemoryPressureLevel>()
        let sequences = Recorder<UInt64>()
        let levelStream = store.pressureLevels
        let eventStream = store.events
        let reader = Task { for await level in levelStream { last.append(level) } }
        let eventReader = Task { for await e in eventStream { sequences.append(e.sequence) } }
        let rounds = Int(ProcessInfo.processInfo.environment["NEXUS_STREAM_ROUNDS"] ?? "") ?? defaultRounds
        var stale = 0
        for round in 0..<rounds {
            let group = DispatchGroup()
            let barrier = DispatchSemaphore(value: 0)
            let bodies = work(round)
            for body in bodies {
                onNewThread(group) {
                    barrier.wait()
                    body()
                }
            }
            for _ in bodies { barrier.signal() }
            group.wait()
            let now = try store.pressureLevel
            // The reader task takes what was yielded in its own time: the
            // stream is right once its last value is `now` for 5 checks in a
            // row (a stale stream yields nothing more, and never gets there;
            // 2 s is not a timing assertion).
            var equalChecks = 0, waited = 0
            while equalChecks < 5 && waited < 2_000 {
                equalChecks = last.all.last == now ? equalChecks + 1 : 0
                try await Task.sleep(nanoseconds: 1_000_000)
                waited += 1
            }
            if equalChecks < 5 {
                stale += 1
                if stale <= 3 {
                    XCTFail("round \(round): the store is at \(now), the stream's last level is \(String(describing: last.all.last)) (last 4: \(last.all.suffix(4)))")
                }
            }
        }
        reader.cancel()
        eventReader.cancel()
        XCTAssertEqual(stale, 0, "rounds that ended with the level stream stale, of \(rounds)")
        let seq = sequences.all
        let inversions = zip(seq, seq.dropFirst()).filter { $0 >= $1 }.count
        XCTAssertEqual(inversions, 0, "events delivered after one with a later sequence, of \(seq.count)")
        XCTAssertFalse(seq.isEmpty)
        XCTAssertEqual(store.broadcaster.skippedNumbers, 0, "every number reached the callback")
        XCTAssertEqual(store.broadcaster.lateEvents, 0)
    }

    /// A number the callback never gets (an event queued while the store
    /// was being set up) holds the later events back for a moment only.
    func testAMissingSequenceNumberIsSkippedAfterAWhile() async throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        var events = store.events.makeAsyncIterator()
        store.broadcaster.deliver(pressureEvent(3, from: .none, to: .critical))
        let event = await events.next()
        XCTAssertEqual(event?.sequence, 3)
        XCTAssertEqual(store.broadcaster.skippedNumbers, 2)
    }
}
