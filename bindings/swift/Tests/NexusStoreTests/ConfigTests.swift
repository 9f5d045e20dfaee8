import CNexusStore
import Foundation
import XCTest
@testable import NexusStore

final class ConfigTests: XCTestCase {
    func testDefaultsAreTheLibrarys() {
        let config = MemoryConfig()
        XCTAssertEqual(config.maxCacheBytes, 0)
        XCTAssertEqual(config.moderateThreshold, 0.7)
        XCTAssertEqual(config.criticalThreshold, 0.9)
        XCTAssertEqual(config.evictionBatchSize, 10)
        XCTAssertEqual(config.strategy, .lru)
        XCTAssertEqual(config.eventQueueCapacity, 1024)
        XCTAssertEqual(config.signalModerateKeep, 0.75)
        XCTAssertEqual(config.signalCriticalKeep, 0.5)
        XCTAssertEqual(config.signalDecayMilliseconds, 0)
        XCTAssertEqual(config.shards, 1)
        XCTAssertFalse(config.lfuHistory)
        XCTAssertNil(config.sizeEstimator)
        XCTAssertNoThrow(try config.validate())
    }

    func testValidateAndInitReportTheBrokenRule() throws {
        var inverted = MemoryConfig()
        inverted.moderateThreshold = 0.95
        XCTAssertThrowsNexus(.invalidArgument, try inverted.validate())
        XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: inverted))

        var nan = MemoryConfig()
        nan.criticalThreshold = .nan
        XCTAssertThrowsNexus(.invalidArgument, try nan.validate())

        var shards = MemoryConfig()
        shards.shards = MemoryConfig.maxShards + 1
        XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: shards))

        var negative = MemoryConfig()
        negative.evictionBatchSize = -1
        XCTAssertThrowsNexus(.invalidArgument, try negative.validate())

        var zeroBatch = MemoryConfig()
        zeroBatch.evictionBatchSize = 0
        XCTAssertThrowsError(try zeroBatch.validate()) { error in
            XCTAssertTrue((error as? NexusError)?.message.contains("evictionBatchSize must be at least 1 (got 0)") ?? false, "\(error)")
        }
    }

    func testEverySettingReachesTheStore() throws {
        var config = MemoryConfig(maxCacheBytes: 123_456)
        config.strategy = .lfu
        config.lfuHistory = true
        config.shards = 4
        config.signalDecayMilliseconds = 60_000
        let store = try NexusStore(config: config)
        XCTAssertEqual(try store.maxCacheBytes, 123_456)
        try store.signalPressure(.moderate)
        // 0.75 of the working size (0.7 x budget) held under MODERATE (each
        // of the 4 shards rounds its share down).
        let expected = Double(123_456) * 0.7 * 0.75
        XCTAssertEqual(Double(try store.memoryMetrics.effectiveBudget), expected, accuracy: 4)
    }

    /// A negative size from an estimator is the default charge, never 0
    /// (an entry charged nothing would escape the budget).
    func testANegativeEstimateIsTheDefaultCharge() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.sizeEstimator = { _, _ in -5 }
        let store = try NexusStore(config: config)
        try store.put(Data(count: 5), forKey: "k")
        XCTAssertEqual(try store.memoryMetrics.currentUsage, defaultCharge(key: 1, value: 5))
    }

    /// Each negative field is named in the message.
    func testANegativeCountFieldIsNamed() throws {
        for (field, set) in [("evictionBatchSize", { (c: inout MemoryConfig) in c.evictionBatchSize = -1 }),
                             ("eventQueueCapacity", { (c: inout MemoryConfig) in c.eventQueueCapacity = -1 }),
                             ("shards", { (c: inout MemoryConfig) in c.shards = -1 })] {
            var config = MemoryConfig(maxCacheBytes: 1000)
            set(&config)
            XCTAssertThrowsError(try NexusStore(config: config)) { error in
                XCTAssertTrue((error as? NexusError)?.message.contains("\(field) must not be negative (got -1)") ?? false,
                              "\(field): \(error)")
            }
        }
    }

    func testSizeEstimatorChargesAndNilMeansTheDefault() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        let seen = Recorder<(String, Int)>()
        config.sizeEstimator = { key, value in
            let name = String(decoding: key, as: UTF8.self)
            seen.append((name, value.count))
            return name == "default" ? nil : 1000 + value.count
        }
        let store = try NexusStore(config: config)
        try store.put(Data(count: 5), forKey: "custom")
        XCTAssertEqual(try store.memoryMetrics.currentUsage, 1005)
        try store.put(Data(count: 5), forKey: "default")
        XCTAssertEqual(try store.memoryMetrics.currentUsage, 1005 + defaultCharge(key: 7, value: 5))
        XCTAssertEqual(seen.all.map { $0.0 }, ["custom", "default"])
        XCTAssertEqual(seen.all.map { $0.1 }, [5, 5])
    }

    func testSizeEstimatorContextIsReleasedOnceWhenTheStoreGoes() throws {
        let deinits = Counter()
        do {
            var config = MemoryConfig()
            let probe = CaptureProbe(deinits)
            config.sizeEstimator = { _, _ in probe.touch(); return nil }
            let store = try NexusStore(config: config)
            try store.put(bytes("v"), forKey: "k")
            XCTAssertEqual(deinits.value, 0)
        }
        XCTAssertEqual(deinits.value, 1)
    }

    func testSizeEstimatorOfARefusedConfigIsNotLeaked() {
        let deinits = Counter()
        do {
            var config = MemoryConfig()
            config.criticalThreshold = 2
            let probe = CaptureProbe(deinits)
            config.sizeEstimator = { _, _ in probe.touch(); return nil }
            XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: config))
        }
        XCTAssertEqual(deinits.value, 1)
    }

    func testEnumsMatchTheCConstants() {
        XCTAssertEqual(MemoryPressureLevel.allCases.map(\.rawValue), [0, 1, 2, 3])
        XCTAssertTrue(MemoryPressureLevel.none < .moderate && .moderate < .critical && .critical < .emergency)
        XCTAssertEqual(EvictionStrategy.allCases.map(\.rawValue), [0, 1, 2, 3])
        XCTAssertEqual(EvictionStrategy.tinyLfu.rawValue, UInt32(NEXUS_EVICTION_STRATEGY_TINY_LFU))
        XCTAssertEqual(EvictionReason.allCases.map(\.rawValue), [0, 1, 2, 3, 4, 5, 6])
        XCTAssertEqual(EvictionReason.governor.rawValue, UInt32(NEXUS_EVICTION_REASON_GOVERNOR))
        XCTAssertEqual(EvictionReason.expired.rawValue, UInt32(NEXUS_EVICTION_REASON_EXPIRED))
        XCTAssertEqual(EvictionReason(c: NexusEvictionReason(NEXUS_EVICTION_REASON_EXPIRED)), .expired)
        XCTAssertEqual(EvictionReason(c: 99), .manual)  // a newer library's reason
    }
}

final class EstimatorReentryTests: XCTestCase {
    func testASizeEstimatorMayCallIntoItsStore() throws {
        final class StoreRef: @unchecked Sendable { weak var store: NexusStore? }
        let ref = StoreRef()
        let entriesSeen = Recorder<UInt64>()
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.sizeEstimator = { _, value in
            // Re-entry from the estimator (called outside every lock).
            entriesSeen.append((try? ref.store?.memoryMetrics.entryCount) ?? 999)
            return value.count
        }
        let store = try NexusStore(config: config)
        ref.store = store
        try store.put(Data(count: 10), forKey: "a")
        try store.put(Data(count: 20), forKey: "b")
        XCTAssertEqual(entriesSeen.all, [0, 1])
        XCTAssertEqual(try store.memoryMetrics.currentUsage, 30)
    }
}
