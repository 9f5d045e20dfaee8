package io.nexusstore

/** A snapshot of a store's metrics (NexusMemoryMetrics). Sizes are charged bytes. */
data class MemoryMetrics(
    val currentUsage: Long,
    val maxUsage: Long,
    /** Evictions: not removals, replacements or expirations (EXPIRED events are counted apart). */
    val evictionCount: Long,
    val pressureLevel: MemoryPressureLevel,
    val entryCount: Long,
    val pinnedCount: Long,
    val pinnedBytes: Long,
    val inUseBytes: Long,
    val hitCount: Long,
    val missCount: Long,
    val insertCount: Long,
    val evictedBytes: Long,
    val loadCount: Long,
    /** Loads that gave no value: the loader threw, or returned null (absent), as Caffeine counts them. */
    val loadFailureCount: Long,
    /** The configured budget (0 = unbounded). */
    val maxCacheBytes: Long,
    /** The budget in force (lower under a signal; 0 = unbounded). */
    val effectiveBudget: Long,
) {
    internal companion object {
        /** From the shim's array, in NexusMemoryMetrics field order. */
        fun fromNative(f: LongArray) = MemoryMetrics(
            currentUsage = f[0], maxUsage = f[1], evictionCount = f[2],
            pressureLevel = MemoryPressureLevel.fromCode(f[3].toInt()), entryCount = f[4],
            pinnedCount = f[5], pinnedBytes = f[6], inUseBytes = f[7], hitCount = f[8],
            missCount = f[9], insertCount = f[10], evictedBytes = f[11], loadCount = f[12],
            loadFailureCount = f[13], maxCacheBytes = f[14], effectiveBudget = f[15],
        )
    }
}
