import CNexusStore

/// Computes an entry's charge in bytes from its key and value bytes (an
/// object entry's value is empty). Return `nil` for the library's default
/// charge (key + value length + `MemoryConfig.entryOverheadBytes`). Called
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
    /// MODERATE signal: shed to (and hold the budget at) this fraction. Default 0.75.
    public var signalModerateKeep: Double
    /// The same for CRITICAL. Default 0.5. `0 < critical <= moderate <= 1`.
    public var signalCriticalKeep: Double
    /// A signal not repeated within this many ms falls back to NONE; 0 = it lasts. Default 0.
    public var signalDecayMilliseconds: UInt64
    /// Independent parts, each with its own lock. 1...`maxShards`. Default 1.
    public var shards: Int
    /// LFU only: a recently evicted key comes back with its remembered count. Default false.
    public var lfuHistory: Bool

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
    }

    /// Checks every rule `NexusStore(config:)` checks, without making a store.
    public func validate() throws {
        var c = try cConfig()
        try NexusError.check(nexus_memory_config_validate(&c))
    }

    /// The C struct, without the estimator (see `withCConfig`).
    func cConfig() throws -> NexusMemoryConfig {
        guard evictionBatchSize >= 0, eventQueueCapacity >= 0, shards >= 0,
              let shardCount = UInt32(exactly: shards) else {
            throw NexusError(.invalidArgument, message: "evictionBatchSize, eventQueueCapacity and shards must not be negative")
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

private let sizeEstimatorTrampoline: NexusSizeEstimatorFn = { ctx, key, keyLen, value, valueLen in
    let estimator = CallbackBox<SizeEstimator>.from(ctx).body
    let keyBytes = UnsafeRawBufferPointer(start: key, count: key == nil ? 0 : keyLen)
    // An object entry's value is the object pointer with length 0: empty.
    let valueBytes = UnsafeRawBufferPointer(start: valueLen == 0 ? nil : value, count: valueLen)
    // size_t is Int in Swift: NEXUS_CHARGE_DEFAULT (SIZE_MAX) is the bit pattern of UInt.max.
    guard let charge = estimator(keyBytes, valueBytes) else { return Int(bitPattern: UInt.max) }
    return max(charge, 0)
}
