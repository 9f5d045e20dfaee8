import Foundation
import XCTest
@testable import NexusStore

final class ConcurrencyTests: XCTestCase {
    func testManyTasksMixingCallsOnOneStoreKeepItConsistent() async throws {
        var config = MemoryConfig(maxCacheBytes: 40_000)
        config.shards = 2
        let store = try NexusStore(config: config)
        let tasks = 8
        let pinnedKeys = (0..<tasks).map { "pinned\($0)" }
        for key in pinnedKeys {
            try store.pin(key)
            try store.put(Data(count: 200), forKey: key)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    for i in 0..<400 {
                        let key = "t\(t)-\(i % 50)"
                        switch i % 10 {
                        case 0: try store.signalPressure(i % 20 == 0 ? .moderate : .none)
                        case 1: _ = try store.evictLeastRecentlyUsed(2)
                        case 2: try store.pin(key); try store.unpin(key)
                        case 3: _ = try store.memoryMetrics
                        case 4: _ = try store.value(forKey: key) { _ in Data(count: 100) }
                        case 5: try store.removeValue(forKey: key)
                        default:
                            do { try store.put(Data(count: 100 + i % 7), forKey: key) } catch let e as NexusError where e.code == .overBudget {
                                // a MODERATE hold with pins may refuse a put: fine
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try store.signalPressure(.none)
        // Pinned entries were never evicted.
        for key in pinnedKeys { XCTAssertTrue(try store.contains(key), key) }
        // Usage is the sum of the present entries' charges.
        var sum: UInt64 = 0
        var count: UInt64 = 0
        for key in pinnedKeys { sum += defaultCharge(key: key.utf8.count, value: 200); count += 1 }
        for t in 0..<tasks {
            for k in 0..<50 {
                let key = "t\(t)-\(k)"
                if let handle = try store.valueHandle(forKey: key) {
                    sum += defaultCharge(key: key.utf8.count, value: handle.count)
                    count += 1
                }
            }
        }
        let m = try store.memoryMetrics
        XCTAssertEqual(m.entryCount, count)
        XCTAssertEqual(m.currentUsage, sum)
        XCTAssertLessThanOrEqual(m.currentUsage, 40_000)
    }

    func testObjectsPutFromManyThreadsAreEachReleasedOnce() throws {
        let deinits = Counter()
        let created = Counter()
        weak var weakCache: NexusObjectCache<Int, Tracked>?
        do {
            let shared = try NexusObjectCache<Int, Tracked>(totalCostLimit: 20_000)
            weakCache = shared
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for i in 0..<300 {
                    let key = t * 1000 + i % 40
                    created.increment()
                    try? shared.setObject(Tracked("\(key)", deinits: deinits), forKey: key, cost: 300)
                    _ = try? shared.object(forKey: t * 1000 + (i * 7) % 40)
                    if i % 9 == 0 { _ = try? shared.removeObject(forKey: key) }
                    if i % 50 == 0 { try? shared.store.signalPressure(i % 100 == 0 ? .critical : .none) }
                }
            }
        }
        XCTAssertNil(weakCache)
        XCTAssertEqual(created.value, 8 * 300)
        XCTAssertEqual(deinits.value, created.value)
    }

    func testConcurrentLoadersOfManyKeysLoadEachKeyOnce() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let loads = Counter()
        let results = try await withThrowingTaskGroup(of: Data?.self) { group in
            for t in 0..<16 {
                group.addTask {
                    try store.value(forKey: "key\(t % 4)") { key in
                        loads.increment()
                        return key
                    }
                }
            }
            var all: [Data?] = []
            for try await value in group { all.append(value) }
            return all
        }
        XCTAssertEqual(results.count, 16)
        XCTAssertEqual(Set(results.compactMap { $0 }), Set((0..<4).map { bytes("key\($0)") }))
        XCTAssertEqual(loads.value, 4)
    }
}
