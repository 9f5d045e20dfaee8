import CNexusStore
import Foundation

/// Computes an entry's charge in bytes from its key and value bytes (an
/// object entry's value is empty). Return `nil` for the library's default
/// charge (key + value length + `MemoryConfig.entryOverheadBytes`); a
/// negative size is taken as `nil`. Called
/// once per insertion, on the inserting thread, outside every lock.
public typealias SizeEstimator = @Sendable (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Int?

/// A store's configuration, with the library's defaults.
public struct MemoryConfig: Sendable {
    /// What the default estimator adds to key and value length per entry.
    public static let entryOverheadBytes = Int(NEXUS_ENTRY_OVERHEAD_BYTES)
    /// The most shards a store may have.
    public static let maxShards = Int(NEXUS_MAX_SHARDS)

    /// The budget in charged bytes; 0 = unbounded.
    public var maxCacheBytes: UInt64
    /// MODERATE at or above this fraction of the budget. Default 0.7.
    public var moderateThreshold: Double
    /// CRITICAL at or above this fraction. Default 0.9. `0 < moderate < critical <= 1`.
    public var criticalThreshold: Double
    /// Most entries a put evicts when it leaves usage at MODERATE. Default 10.
    public var evictionBatchSize: Int
    /// The eviction order. Default LRU.
    public var strategy: EvictionStrategy
    /// `nil` = the default estimator.
    public var sizeEstimator: SizeEstimator?
    /// Events queued while nobody listens. Default 1024.
    public var eventQueueCapacity: Int
    /// MODERATE signal: shed to this fraction of the usage at the signal,
    /// and hold the budget at this fraction of the working size
    /// (`moderateThreshold` x the budget) until it ends. Default 0.75.
    public var signalModerateKeep: Double
    /// The same for CRITICAL. Default 0.5. `0 < critical <= moderate <= 1`.
    public var signalCriticalKeep: Double
    /// A signal not repeated within this many ms falls back to NONE; 0 = it lasts. Default 0.
    public var signalDecayMilliseconds: UInt64
    /// Independent parts, each with its own lock. 1...`maxShards`. Default 1.
    public var shards: Int
    /// LFU only (the other strategies ignore it): a recently evicted key
    /// comes back with its remembered count. Default false.
    public var lfuHistory: Bool
    /// The most entries the store holds, beside the byte budget (like
    /// NSCache's `countLimit`); 0 = no limit (the default). Pinned and
    /// in-use entries count and are never evicted for it; a put of a new key
    /// into a full store evicts in strategy order (reason `.capacity`), or
    /// throws `.overBudget` when pinned and in-use entries alone fill it.
    /// With shards: 0 or at least `shards`.
    public var maxEntries: UInt64
    /// Time to live of every entry, in seconds from its put; 0 = none (the
    /// default). `put(_:forKey:ttl:)` sets an entry's own. Rounded up to
    /// whole milliseconds; negative, NaN or too large throws `.invalidArgument`.
    public var ttl: TimeInterval
    /// Time to idle, in seconds: an entry not read for this long expires
    /// (each hit starts it again; a TTL still caps it); 0 = none (the default).
    /// Rounded and checked as `ttl`.
    public var tti: TimeInterval

    /// The library's defaults, with the budget `maxCacheBytes` (0 = unbounded).
    public init(maxCacheBytes: UInt64 = 0) {
        var c = NexusMemoryConfig()
        nexus_memory_config_init(&c)
        self.maxCacheBytes = maxCacheBytes
        moderateThreshold = c.moderate_threshold
        criticalThreshold = c.critical_threshold
        evictionBatchSize = Int(c.eviction_batch_size)
        strategy = EvictionStrategy(rawValue: c.strategy) ?? .lru
        sizeEstimator = nil
        eventQueueCapacity = Int(c.event_queue_capacity)
        signalModerateKeep = c.signal_moderate_keep
        signalCriticalKeep = c.signal_critical_keep
        signalDecayMilliseconds = c.signal_decay_ms
        shards = Int(c.shards)
        lfuHistory = c.lfu_history
        maxEntries = c.max_entries
        ttl = TimeInterval(c.ttl_ms) / 1000
        tti = TimeInterval(c.tti_ms) / 1000
    }

    /// Checks every rule `NexusStore(config:)` checks, without making a store.
    public func validate() throws {
        var c = try cConfig()
        try NexusError.check(nexus_memory_config_validate(&c))
    }

    /// The C struct, without the estimator (see `withCConfig`).
    func cConfig() throws -> NexusMemoryConfig {
        try requireAtLeastOne(evictionBatchSize, "evictionBatchSize")
        try requireAtLeastOne(eventQueueCapacity, "eventQueueCapacity")
        try requireNonNegative(shards, "shards")
        guard let shardCount = UInt32(exactly: shards) else {
            throw NexusError(.invalidArgument, message: "shards must be at most \(NEXUS_MAX_SHARDS) (got \(shards))")
        }
        var c = NexusMemoryConfig()
        nexus_memory_config_init(&c)
        c.max_cache_bytes = maxCacheBytes
        c.moderate_threshold = moderateThreshold
        c.critical_threshold = criticalThreshold
        c.eviction_batch_size = evictionBatchSize
        c.strategy = strategy.rawValue
        c.event_queue_capacity = eventQueueCapacity
        c.signal_moderate_keep = signalModerateKeep
        c.signal_critical_keep = signalCriticalKeep
        c.signal_decay_ms = signalDecayMilliseconds
        c.shards = shardCount
        c.lfu_history = lfuHistory
        c.max_entries = maxEntries
        c.ttl_ms = try milliseconds(ttl, "ttl")
        c.tti_ms = try milliseconds(tti, "tti")
        return c
    }

    /// The C struct with the estimator's context retained; the store's
    /// `size_estimator_destroy` releases it (also when creating fails).
    func cConfigWithEstimator() throws -> NexusMemoryConfig {
        var c = try cConfig()
        if let estimator = sizeEstimator {
            c.size_estimator = sizeEstimatorTrampoline
            c.size_estimator_ctx = Unmanaged.passRetained(CallbackBox(estimator)).toOpaque()
            c.size_estimator_destroy = releaseCallbackBox
        }
        return c
    }
}

/// Whole milliseconds (rounded up, so that a positive duration never becomes
/// 0, which means "none") of `seconds`; `.invalidArgument` for a negative,
/// NaN or infinite duration or one beyond `UInt64.max` ms.
func milliseconds(_ seconds: TimeInterval, _ what: String) throws -> UInt64 {
    let ms = (seconds * 1000).rounded(.up)
    // 2^64 is exactly representable; UInt64.max is not (it rounds up to 2^64).
    guard seconds >= 0, ms < 18_446_744_073_709_551_616.0, let whole = UInt64(exactly: ms) else {
        throw NexusError(.invalidArgument, message: "\(what) must be a finite number of seconds >= 0 and at most UInt64.max ms (got \(seconds))")
    }
    return whole
}

private let sizeEstimatorTrampoline: NexusSizeEstimatorFn = { ctx, key, keyLen, value, valueLen in
    let estimator = CallbackBox<SizeEstimator>.from(ctx).body
    let keyBytes = UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLen)
    // An object entry's value is the object pointer with length 0: empty.
    let valueBytes = UnsafeRawBufferPointer(start: valueLen == 0 ? nil : value, count: valueLen)
    // size_t is Int in Swift: NEXUS_CHARGE_DEFAULT (SIZE_MAX) is the bit pattern of UInt.max.
    // nil, or a negative size (a bug in the estimator), is the default
    // charge: an entry is never charged less than nothing.
    guard let charge = estimator(keyBytes, valueBytes), charge >= 0 else { return Int(bitPattern: UInt.max) }
    return charge
}
