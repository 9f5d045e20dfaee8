import Foundation
import XCTest
@testable import NexusStore

final class CallbackTests: XCTestCase {
    func testTheEvictionListenerHearsEveryEntryThatLeaves() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let heard = Recorder<(String, EvictionReason, UInt64)>()
        try store.setEvictionListener { key, reason, bytes in
            heard.append((String(decoding: key, as: UTF8.self), reason, bytes))
        }
        try store.put(bytes("1"), forKey: "replaced")
        try store.put(bytes("22"), forKey: "replaced")
        try store.put(bytes("1"), forKey: "removed")
        try store.removeValue(forKey: "removed")
        try store.put(bytes("1"), forKey: "evicted")
        try store.evictLeastRecentlyUsed(1)  // "replaced" is the oldest
        try store.signalPressure(.emergency)  // "evicted" goes
        try store.signalPressure(.none)
        let all = heard.all
        XCTAssertEqual(all.map(\.0), ["replaced", "removed", "replaced", "evicted"])
        XCTAssertEqual(all.map(\.1), [.replaced, .removed, .manual, .pressure])
        XCTAssertEqual(all.map(\.2), [defaultCharge(key: 8, value: 1), defaultCharge(key: 7, value: 1),
                                      defaultCharge(key: 8, value: 2), defaultCharge(key: 7, value: 1)])
    }

    func testListenerContextsAreReleasedOnceWhenReplacedUnregisteredOrFreed() throws {
        let first = Counter(), second = Counter(), third = Counter()
        var store: NexusStore? = try NexusStore()
        do {
            let probe = CaptureProbe(first)
            try store!.setEvictionListener { _, _, _ in probe.touch() }
        }
        XCTAssertEqual(first.value, 0)
        do {
            let probe = CaptureProbe(second)
            try store!.setEvictionListener { _, _, _ in probe.touch() }
        }
        XCTAssertEqual(first.value, 1)  // replaced
        try store!.setEvictionListener(nil)
        XCTAssertEqual(second.value, 1)  // unregistered
        do {
            let probe = CaptureProbe(third)
            try store!.setEvictionListener { _, _, _ in probe.touch() }
        }
        store = nil
        XCTAssertEqual(third.value, 1)  // freed with the store
        XCTAssertEqual([first.value, second.value], [1, 1])
    }

    func testAListenerMayCallBackIntoTheStore() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let seenCounts = Recorder<UInt64>()
        try store.setEvictionListener { [unowned store] key, _, _ in
            // Re-entry: read metrics, write an "evicted" marker, pin.
            seenCounts.append((try? store.memoryMetrics.entryCount) ?? 999)
            try? store.put(key, forKey: "log:" + String(decoding: key, as: UTF8.self))
            try? store.pin("pinned-from-listener")
        }
        try store.put(bytes("v"), forKey: "a")
        try store.removeValue(forKey: "a")
        XCTAssertEqual(seenCounts.all, [0])
        XCTAssertEqual(try store.value(forKey: "log:a"), bytes("a"))
        XCTAssertTrue(try store.isPinned("pinned-from-listener"))
    }

    func testAStoreDroppedInsideItsOwnCallbackIsFreedAfterIt() throws {
        defer { try? NexusStore.signalPressureAll(.none) }
        final class Holder: @unchecked Sendable { var store: NexusStore? }
        let holder = Holder()
        let listenerContexts = Counter()
        let objects = Counter()
        let dropped = Counter()
        weak var weakStore: NexusStore?
        do {
            let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 100_000)
            for i in 0..<5 { try cache.setObject(Tracked("o\(i)", deinits: objects), forKey: "o\(i)", cost: 100) }
            try cache.store.put(bytes("bytes"), forKey: "b")
            let probe = CaptureProbe(listenerContexts)
            try cache.store.setEvictionListener { _, _, _ in
                probe.touch()
                // The last reference to the store goes here, inside its own
                // callback: deinit runs now and frees it deferred.
                if holder.store != nil {
                    holder.store = nil
                    dropped.increment()
                }
            }
            holder.store = cache.store
            weakStore = cache.store
        }  // the cache is gone; only the holder keeps its store
        let handle = try XCTUnwrap(weakStore).valueHandle(forKey: "b")
        XCTAssertNotNil(weakStore)
        // No caller holds the store during this call: the listener drops it.
        try NexusStore.signalPressureAll(.emergency)
        XCTAssertEqual(dropped.value, 1)
        XCTAssertNil(weakStore)
        // Freed once the callback returned: every object released once, the
        // listener's context released once; the read handle still reads.
        XCTAssertEqual(objects.value, 5)
        XCTAssertEqual(listenerContexts.value, 1)
        XCTAssertEqual(handle?.data, bytes("bytes"))
    }

    func testAStoreDroppedFromAnObjectsDeinitInsideItsReleaseCallback() throws {
        // (Dropper's deinit drops the owner's cache.)
        final class Owner: @unchecked Sendable { var cache: NexusObjectCache<String, Dropper>? }
        final class Dropper {
            let owner: Owner
            let deinits: Counter
            init(_ owner: Owner, _ deinits: Counter) { self.owner = owner; self.deinits = deinits }
            deinit { deinits.increment(); owner.cache = nil }
        }
        let owner = Owner()
        let deinits = Counter()
        weak var weakStore: NexusStore?
        do {
            let cache = try NexusObjectCache<String, Dropper>()
            try cache.setObject(Dropper(owner, deinits), forKey: "a", cost: 100)
            try cache.setObject(Dropper(owner, deinits), forKey: "b", cost: 100)
            owner.cache = cache
            weakStore = cache.store
        }
        // No caller holds the store: the pressure evicts a and b, whose
        // release callback runs a Dropper's deinit, which drops the cache and
        // so its store from inside the store's own release callback.
        defer { try? NexusStore.signalPressureAll(.none) }
        try NexusStore.signalPressureAll(.emergency)
        XCTAssertNil(weakStore)
        XCTAssertEqual(deinits.value, 2)  // a, then b when the store was freed
        XCTAssertNil(owner.cache)
    }
}
