import CNexusStore

/// A snapshot of a store's metrics.
public struct MemoryMetrics: Equatable, Sendable {
    /// Charged bytes of the present entries.
    public var currentUsage: UInt64
    /// Highest `currentUsage` since creation or `resetMetrics()`.
    public var maxUsage: UInt64
    /// Entries evicted (not removals, replacements or expirations).
    public var evictionCount: UInt64
    /// The reported level.
    public var pressureLevel: MemoryPressureLevel
    /// Present entries.
    public var entryCount: UInt64
    /// Present pinned entries.
    public var pinnedCount: UInt64
    /// Charged bytes of present pinned entries.
    public var pinnedBytes: UInt64
    /// Charged bytes of every value a live read handle holds.
    public var inUseBytes: UInt64
    /// Reads that found the key.
    public var hitCount: UInt64
    /// Reads that did not.
    public var missCount: UInt64
    /// Successful puts (replacements included) and cached loads.
    public var insertCount: UInt64
    /// Charged bytes evicted (expirations not counted).
    public var evictedBytes: UInt64
    /// Loader calls.
    public var loadCount: UInt64
    /// Loader calls that gave no value: the loader threw, or returned nil
    /// (the key is absent), as Caffeine counts them.
    public var loadFailureCount: UInt64
    /// The configured budget (0 = unbounded).
    public var maxCacheBytes: UInt64
    /// The budget in force (lower under a signal; 0 = unbounded).
    public var effectiveBudget: UInt64

    init(_ m: NexusMemoryMetrics) {
        currentUsage = m.current_usage
        maxUsage = m.max_usage
        evictionCount = m.eviction_count
        pressureLevel = MemoryPressureLevel(c: m.pressure_level)
        entryCount = m.entry_count
        pinnedCount = m.pinned_count
        pinnedBytes = m.pinned_bytes
        inUseBytes = m.in_use_bytes
        hitCount = m.hit_count
        missCount = m.miss_count
        insertCount = m.insert_count
        evictedBytes = m.evicted_bytes
        loadCount = m.load_count
        loadFailureCount = m.load_failure_count
        maxCacheBytes = m.max_cache_bytes
        effectiveBudget = m.effective_budget
    }
}
