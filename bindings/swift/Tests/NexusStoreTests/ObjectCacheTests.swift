import Foundation
import XCTest
@testable import NexusStore

final class ObjectCacheTests: XCTestCase {
    func testObjectsAreKeptAndReleasedExactlyOnceOnRemoveReplaceEvictAndFree() throws {
        let deinits = Counter()
        var cache: NexusObjectCache<String, Tracked>? = try NexusObjectCache(totalCostLimit: 10_000)
        try cache!.setObject(Tracked("removed", deinits: deinits), forKey: "a", cost: 100)
        try cache!.setObject(Tracked("replaced", deinits: deinits), forKey: "b", cost: 100)
        try cache!.setObject(Tracked("evicted", deinits: deinits), forKey: "c", cost: 100)
        try cache!.setObject(Tracked("freed", deinits: deinits), forKey: "d", cost: 100)
        XCTAssertEqual(deinits.value, 0)
        XCTAssertEqual(try cache!.object(forKey: "a")?.name, "removed")

        XCTAssertTrue(try cache!.removeObject(forKey: "a"))
        XCTAssertEqual(deinits.value, 1)
        try cache!.setObject(Tracked("replacement", deinits: deinits), forKey: "b", cost: 100)
        XCTAssertEqual(deinits.value, 2)
        XCTAssertEqual(try cache!.object(forKey: "b")?.name, "replacement")
        _ = try cache!.object(forKey: "d")  // c is now the least recently used
        XCTAssertEqual(try cache!.store.evictLeastRecentlyUsed(1), 1)
        XCTAssertEqual(deinits.value, 3)
        XCTAssertNil(try cache!.object(forKey: "c"))

        cache = nil  // the store's free releases "replacement" and "freed"
        XCTAssertEqual(deinits.value, 5)
    }

    func testAnObjectReadStaysAliveAfterItsEntryAndStoreAreGone() throws {
        let deinits = Counter()
        var cache: NexusObjectCache<Int, Tracked>? = try NexusObjectCache()
        try cache!.setObject(Tracked("kept", deinits: deinits), forKey: 7, cost: 100)
        let kept = try XCTUnwrap(try cache!.object(forKey: 7))
        try cache!.removeAllObjects()
        cache = nil
        XCTAssertEqual(deinits.value, 0)  // the store released its reference; ours remains
        XCTAssertEqual(kept.name, "kept")
    }

    func testAFailedPutTakesNoOwnership() throws {
        let deinits = Counter()
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 1000)
        var object: Tracked? = Tracked("refused", deinits: deinits)
        XCTAssertThrowsNexus(.tooLarge, try cache.setObject(object!, forKey: "big", cost: 5000))
        XCTAssertNil(try cache.object(forKey: "big"))
        XCTAssertEqual(deinits.value, 0)
        object = nil
        XCTAssertEqual(deinits.value, 1)
    }

    func testReleaseRunsOnTheThreadWhoseCallEndedTheEntry() throws {
        let deinits = Counter()
        let threads = Recorder<pthread_t>()
        let cache = try NexusObjectCache<String, Tracked>()
        try cache.setObject(Tracked("x", deinits: deinits, threads: threads), forKey: "x", cost: 100)
        let remover = Recorder<pthread_t>()
        let thread = Thread {
            remover.append(pthread_self())
            _ = try? cache.removeObject(forKey: "x")
        }
        thread.start()
        waitUntil("the other thread removed x") { deinits.value == 1 }
        XCTAssertEqual(threads.all.count, 1)
        XCTAssertNotEqual(pthread_equal(threads.all[0], remover.all[0]), 0)
        XCTAssertEqual(pthread_equal(threads.all[0], pthread_self()), 0)
    }

    func testPressureReleasesUnpinnedObjectsAndKeepsPinnedOnes() throws {
        let deinits = Counter()
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 100_000)
        for i in 0..<10 { try cache.setObject(Tracked("o\(i)", deinits: deinits), forKey: "o\(i)", cost: 1000) }
        try cache.pin("o3")
        try cache.store.signalPressure(.emergency)
        XCTAssertEqual(deinits.value, 9)
        XCTAssertEqual(try cache.object(forKey: "o3")?.name, "o3")
        XCTAssertTrue(try cache.unpin("o3"))
        try cache.store.signalPressure(.none)
    }

    func testCostZeroAsksTheEstimatorAndIsRefusedWithoutOne() throws {
        let deinits = Counter()
        let plain = try NexusObjectCache<String, Tracked>(totalCostLimit: 50_000)
        XCTAssertThrowsNexus(.invalidArgument, try plain.setObject(Tracked("no cost", deinits: deinits), forKey: "k", cost: 0))
        XCTAssertEqual(deinits.value, 1)  // refused: not retained by the store
        XCTAssertNil(try plain.object(forKey: "k"))

        var config = MemoryConfig(maxCacheBytes: 50_000)
        config.sizeEstimator = { key, value in key.count * 100 + value.count }  // an object's value is empty
        let estimated = try NexusObjectCache<String, Tracked>(config: config)
        try estimated.setObject(Tracked("e", deinits: deinits), forKey: "abcd", cost: 0)
        XCTAssertEqual(try estimated.store.memoryMetrics.currentUsage, 400)
    }

    /// An object the store refuses from a loader fails the load with the
    /// library's reason (it said "the loader returned status 4").
    func testAnObjectLoadTheStoreRefusesSaysWhy() throws {
        let deinits = Counter()
        let plain = try NexusObjectCache<String, Tracked>(totalCostLimit: 50_000)
        XCTAssertThrowsError(try plain.object(forKey: "k") { key in (Tracked(key, deinits: deinits), 0) }) { error in
            guard let nexus = error as? NexusError else { return XCTFail("not a NexusError: \(error)") }
            XCTAssertEqual(nexus.code, .invalidArgument)
            XCTAssertFalse(nexus.message.contains("the loader returned status"), nexus.message)
            XCTAssertTrue(nexus.message.contains("estimator"), nexus.message)
        }
        XCTAssertEqual(deinits.value, 1)  // refused: released once
        XCTAssertNil(try plain.object(forKey: "k"))
    }

    /// A negative cost is refused with what is wrong (it was taken as 0,
    /// and the message spoke of a size estimator).
    func testANegativeCostIsRefusedAsNegative() throws {
        let deinits = Counter()
        var config = MemoryConfig(maxCacheBytes: 50_000)
        config.sizeEstimator = { _, _ in 100 }  // a cost of 0 would be accepted
        let cache = try NexusObjectCache<String, Tracked>(config: config)
        XCTAssertThrowsError(try cache.setObject(Tracked("n", deinits: deinits), forKey: "k", cost: -5)) { error in
            XCTAssertEqual((error as? NexusError)?.code, .invalidArgument)
            XCTAssertTrue((error as? NexusError)?.message.contains("must not be negative (got -5)") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try cache.object(forKey: "l") { key in (Tracked(key, deinits: deinits), -1) }) { error in
            XCTAssertTrue("\(error)".contains("must not be negative (got -1)"), "\(error)")
        }
        XCTAssertEqual(deinits.value, 2)  // neither was kept
        XCTAssertNil(try cache.object(forKey: "k"))
        XCTAssertNil(try cache.object(forKey: "l"))
        XCTAssertEqual(try cache.store.memoryMetrics.currentUsage, 0)
    }

    func testTotalCostLimitIsTheBudget() throws {
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 50_000)
        XCTAssertEqual(try cache.totalCostLimit, 50_000)
        try cache.setTotalCostLimit(60_000)
        XCTAssertEqual(try cache.totalCostLimit, 60_000)
        try cache.setObject(Tracked("big", deinits: Counter()), forKey: "big", cost: 50_000)
        try cache.setTotalCostLimit(40_000)  // evicts it
        XCTAssertNil(try cache.object(forKey: "big"))
    }

    func testCustomKeyBytesForAnyHashableKey() throws {
        struct Tile: Hashable { let x: Int, y: Int }
        let cache = try NexusObjectCache<Tile, Tracked>(keyBytes: { Data("\($0.x),\($0.y)".utf8) })
        try cache.setObject(Tracked("tile", deinits: Counter()), forKey: Tile(x: 1, y: 2), cost: 100)
        XCTAssertEqual(try cache.object(forKey: Tile(x: 1, y: 2))?.name, "tile")
        XCTAssertNil(try cache.object(forKey: Tile(x: 2, y: 1)))
        XCTAssertTrue(try cache.store.contains("1,2"))
    }

    func testObjectLoaderLoadsOnceAndReleasesLoadedObjectsOnce() throws {
        let deinits = Counter()
        let loads = Counter()
        var cache: NexusObjectCache<String, Tracked>? = try NexusObjectCache()
        for _ in 0..<3 {
            let object = try cache!.object(forKey: "lazy") { key in
                loads.increment()
                return (Tracked(key, deinits: deinits), 10)
            }
            XCTAssertEqual(object?.name, "lazy")
        }
        XCTAssertEqual(loads.value, 1)
        XCTAssertNil(try cache!.object(forKey: "absent") { _ in nil })
        cache = nil
        XCTAssertEqual(deinits.value, 1)
    }

    func testObjectLoaderSingleFlightHandsEveryWaiterTheSameInstance() throws {
        let deinits = Counter()
        let loads = Counter()
        let got = Recorder<Tracked?>()
        weak var weakCache: NexusObjectCache<String, Tracked>?
        do {
            let cache = try NexusObjectCache<String, Tracked>()
            weakCache = cache
            let waiters = 5
            let started = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            onNewThread(group) {
                got.append(try? cache.object(forKey: "shared") { key in
                    loads.increment()
                    started.signal()
                    waitUntil("\(waiters) waiters") { ((try? cache.store.memoryMetrics.missCount) ?? 0) >= UInt64(waiters + 1) }
                    return (Tracked(key, deinits: deinits), 64)
                })
            }
            started.wait()
            for _ in 0..<waiters {
                onNewThread(group) {
                    got.append(try? cache.object(forKey: "shared") { key in
                        loads.increment()
                        return (Tracked("second " + key, deinits: deinits), 64)
                    })
                }
            }
            group.wait()
            XCTAssertEqual(loads.value, 1)
            let all = got.all.compactMap { $0 }
            XCTAssertEqual(all.count, waiters + 1)
            XCTAssertTrue(all.allSatisfy { $0 === all[0] })
        }
        got.removeAll()
        // The threads' closures hold the cache until the threads are gone.
        waitUntil("the threads released the cache") { weakCache == nil }
        XCTAssertEqual(deinits.value, 1)
    }

    // MARK: - Codable

    struct Profile: Codable, Equatable {
        var name: String
        var scores: [Int]
    }

    func testCodableValuesAreChargedTheirJSONSize() throws {
        let cache = try NexusCodableCache<String, Profile>(config: MemoryConfig(maxCacheBytes: 1 << 20))
        let alice = Profile(name: "alice", scores: [1, 2, 3])
        let bob = Profile(name: "bob", scores: Array(0..<100))
        try cache.setValue(alice, forKey: "alice")
        try cache.setValue(bob, forKey: "bob")
        let json = try JSONEncoder().encode(alice).count + JSONEncoder().encode(bob).count
        XCTAssertEqual(try cache.store.memoryMetrics.currentUsage, UInt64(json))
        XCTAssertEqual(try cache.charge(of: alice), try JSONEncoder().encode(alice).count)
        XCTAssertEqual(try cache.value(forKey: "alice"), alice)
        XCTAssertEqual(try cache.value(forKey: "bob"), bob)
        XCTAssertTrue(try cache.removeValue(forKey: "alice"))
        XCTAssertNil(try cache.value(forKey: "alice"))
    }

    func testACodableValueThatCannotBeEncodedIsNotStored() throws {
        let cache = try NexusCodableCache<String, Double>()
        XCTAssertThrowsError(try cache.setValue(.nan, forKey: "nan")) { error in
            XCTAssertTrue(error is EncodingError, "\(error)")
        }
        XCTAssertNil(try cache.value(forKey: "nan"))
        try cache.setValue(1.5, forKey: "ok")
        XCTAssertEqual(try cache.value(forKey: "ok"), 1.5)
    }
}
