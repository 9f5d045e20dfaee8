import Foundation
import XCTest
@testable import NexusStore

/// Records what the eviction listener hears, keys as strings.
private func listen(to store: NexusStore) throws -> Recorder<(String, EvictionReason)> {
    let heard = Recorder<(String, EvictionReason)>()
    try store.setEvictionListener { key, reason, _ in heard.append((String(decoding: key, as: UTF8.self), reason)) }
    return heard
}

final class EntryLimitTests: XCTestCase {
    func testDefaultsHaveNoLimitAndNoExpiry() {
        let config = MemoryConfig()
        XCTAssertEqual(config.maxEntries, 0)
        XCTAssertEqual(config.ttl, 0)
        XCTAssertEqual(config.tti, 0)
    }

    func testTheLimitEvictsByCountInStrategyOrder() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)  // bytes never the limit here
        config.maxEntries = 3
        let store = try NexusStore(config: config)
        let heard = try listen(to: store)
        for key in ["a", "b", "c"] { try store.put(bytes("v"), forKey: key) }
        XCTAssertEqual(try store.value(forKey: "a"), bytes("v"))  // "b" is now the least recently used
        try store.put(bytes("v"), forKey: "d")
        try store.put(bytes("v"), forKey: "e")
        XCTAssertEqual(heard.all.map(\.0), ["b", "c"])
        XCTAssertEqual(heard.all.map(\.1), [.capacity, .capacity])
        XCTAssertEqual(try store.memoryMetrics.entryCount, 3)
        XCTAssertEqual(try store.memoryMetrics.evictionCount, 2)
        // Replacing a key's value never changes the count: nothing evicted.
        try store.put(bytes("vv"), forKey: "a")
        XCTAssertEqual(heard.all.map(\.1), [.capacity, .capacity, .replaced])
        XCTAssertEqual(try store.memoryMetrics.entryCount, 3)
    }

    func testPinnedEntriesAreNeverEvictedForTheLimit() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.maxEntries = 2
        let store = try NexusStore(config: config)
        let heard = try listen(to: store)
        try store.pin("pinned")
        try store.put(bytes("p"), forKey: "pinned")  // the oldest entry, and pinned
        try store.put(bytes("v"), forKey: "x")
        for i in 0..<4 { try store.put(bytes("v"), forKey: "n\(i)") }
        XCTAssertEqual(heard.all.map(\.0), ["x", "n0", "n1", "n2"])
        XCTAssertTrue(heard.all.allSatisfy { $0.1 == .capacity })
        XCTAssertEqual(try store.value(forKey: "pinned"), bytes("p"))
        XCTAssertEqual(try store.memoryMetrics.entryCount, 2)

        // Pinned entries alone fill it: a new key is .overBudget and nothing changes.
        try store.pin("n3")
        XCTAssertThrowsNexus(.overBudget, try store.put(bytes("v"), forKey: "y"))
        XCTAssertFalse(try store.contains("y"))
        XCTAssertTrue(try store.contains("pinned"))
        XCTAssertTrue(try store.contains("n3"))
        XCTAssertEqual(heard.all.count, 4)
        // A replace needs no room.
        try store.put(bytes("q"), forKey: "pinned")
        XCTAssertEqual(try store.value(forKey: "pinned"), bytes("q"))
    }

    func testWithShardsTheLimitIsZeroOrAtLeastTheShards() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.shards = 4
        config.maxEntries = 3
        XCTAssertThrowsNexus(.invalidArgument, try config.validate())
        XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: config))
        config.maxEntries = 4
        XCTAssertNoThrow(try config.validate())
    }
}

/// The C API runs expiry on the monotonic clock (no virtual clock reaches
/// it): entries meant to expire get `brief` and the test waits four times
/// that before looking; entries meant to live get an hour. Nothing here
/// asserts how fast anything ran.
final class ExpiryTests: XCTestCase {
    let brief: TimeInterval = 0.05
    let hour: TimeInterval = 3600
    func waitPastBrief() { Thread.sleep(forTimeInterval: 4 * brief) }

    func testAnEntryPutWithATTLIsGoneAfterIt() throws {
        // No expiry configured: the first put with a TTL turns it on.
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("1"), forKey: "plain")
        try store.put(bytes("2"), forKey: "long", ttl: hour)
        try store.put(bytes("3"), forKey: "brief", ttl: brief)
        try store.put(bytes("4"), forKey: "renewed", ttl: brief)
        try store.put(bytes("5"), forKey: "renewed")  // without a TTL: the store's own (none)
        try store.put(bytes("6"), forKey: Data("data key".utf8), ttl: brief)
        waitPastBrief()
        XCTAssertNil(try store.value(forKey: "brief"))
        XCTAssertFalse(try store.contains("brief"))
        XCTAssertNil(try store.value(forKey: Data("data key".utf8)))
        XCTAssertEqual(try store.value(forKey: "plain"), bytes("1"))
        XCTAssertEqual(try store.value(forKey: "long"), bytes("2"))
        XCTAssertEqual(try store.value(forKey: "renewed"), bytes("5"))
    }

    func testTheSweepCountsAndTheListenerAndEventsSayExpired() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let heard = try listen(to: store)
        var events = store.events.makeAsyncIterator()
        for i in 0..<3 { try store.put(bytes("v"), forKey: "e\(i)", ttl: brief) }
        try store.put(bytes("v"), forKey: "kept", ttl: hour)
        waitPastBrief()
        // Nothing read them: the sweep removes all three itself.
        XCTAssertEqual(try store.sweepExpired(), 3)
        XCTAssertEqual(heard.all.map(\.0).sorted(), ["e0", "e1", "e2"])
        XCTAssertEqual(heard.all.map(\.1), [.expired, .expired, .expired])
        XCTAssertEqual(try store.sweepExpired(), 0)
        XCTAssertEqual(try store.memoryMetrics.entryCount, 1)
        XCTAssertEqual(try store.memoryMetrics.currentUsage, defaultCharge(key: 4, value: 1))
        guard let event = await events.next() else { return XCTFail("stream ended early") }
        XCTAssertEqual(event.kind, .eviction(reason: .expired, count: 3, bytes: 3 * defaultCharge(key: 2, value: 1)))
    }

    func testAReadOfAnExpiredEntryIsAMissAndTheNextCallRemovesIt() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.ttl = brief
        let store = try NexusStore(config: config)
        let heard = try listen(to: store)
        try store.put(bytes("a"), forKey: "a")  // the store's TTL
        try store.put(bytes("b"), forKey: "b", ttl: hour)  // its own
        waitPastBrief()
        XCTAssertNil(try store.value(forKey: "a"))
        XCTAssertEqual(try store.value(forKey: "b"), bytes("b"))
        try store.put(bytes("c"), forKey: "c", ttl: hour)  // the next call removes what the read saw
        XCTAssertEqual(heard.all.map(\.0), ["a"])
        XCTAssertEqual(heard.all.map(\.1), [.expired])
        XCTAssertEqual(try store.sweepExpired(), 0)
        XCTAssertEqual(try store.memoryMetrics.entryCount, 2)
    }

    func testTimeToIdle() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.tti = brief
        let store = try NexusStore(config: config)
        try store.put(bytes("v"), forKey: "idle")
        try store.put(bytes("v"), forKey: "long", ttl: hour)  // a TTL caps the TTI, never extends it
        waitPastBrief()
        XCTAssertNil(try store.value(forKey: "idle"))
        XCTAssertNil(try store.value(forKey: "long"))
    }

    func testAPinnedEntryExpiresOnlyOnceUnpinned() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.ttl = brief
        let store = try NexusStore(config: config)
        let heard = try listen(to: store)
        try store.put(bytes("p"), forKey: "p")
        try store.pin("p")
        waitPastBrief()
        XCTAssertEqual(try store.value(forKey: "p"), bytes("p"))
        XCTAssertEqual(try store.sweepExpired(), 0)
        try store.unpin("p")
        XCTAssertEqual(try store.sweepExpired(), 1)
        XCTAssertNil(try store.value(forKey: "p"))
        XCTAssertEqual(heard.all.map(\.1), [.expired])
    }

    func testBadDurationsThrowInvalidArgumentAndChangeNothing() throws {
        let bad: [TimeInterval] = [-1, -0.000_1, .nan, .infinity, -.infinity, 1e300, 18_446_744_073_709_552]
        for value in bad {
            var ttl = MemoryConfig()
            ttl.ttl = value
            XCTAssertThrowsNexus(.invalidArgument, try ttl.validate())
            XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: ttl))
            var tti = MemoryConfig()
            tti.tti = value
            XCTAssertThrowsNexus(.invalidArgument, try tti.validate())
        }
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        for value in bad + [0] {
            XCTAssertThrowsNexus(.invalidArgument, try store.put(bytes("v"), forKey: "k", ttl: value))
        }
        XCTAssertFalse(try store.contains("k"))
        XCTAssertEqual(try store.memoryMetrics.entryCount, 0)
    }

    func testTheLargestAndSmallestDurations() throws {
        // About 2^63 ms: far beyond any clock, still a TTL (no overflow).
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("v"), forKey: "forever", ttl: 9.2e15)
        XCTAssertEqual(try store.value(forKey: "forever"), bytes("v"))
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.ttl = 9.2e15
        config.tti = 9.2e15
        let huge = try NexusStore(config: config)
        try huge.put(bytes("v"), forKey: "k")
        XCTAssertEqual(try huge.value(forKey: "k"), bytes("v"))
        // Below a millisecond rounds up to 1 ms, never to 0 ("none").
        var tiny = MemoryConfig(maxCacheBytes: 1 << 20)
        tiny.ttl = 0.000_1
        let short = try NexusStore(config: tiny)
        try short.put(bytes("v"), forKey: "k")
        try short.put(bytes("v"), forKey: "own", ttl: 0.000_1)
        waitPastBrief()
        XCTAssertNil(try short.value(forKey: "k"))
        XCTAssertNil(try short.value(forKey: "own"))
    }
}
