package io.nexusstore

/**
 * A store's configuration (NexusMemoryConfig); the defaults are the C library's.
 * [validate] checks it exactly as creating a store does.
 */
data class MemoryConfig(
    /** The budget in charged bytes; 0 = unbounded. */
    val maxCacheBytes: Long = 0,
    /** MODERATE at or above this fraction of the budget (the working size). */
    val moderateThreshold: Double = 0.7,
    /** CRITICAL at or above this fraction; 0 < moderate < critical <= 1. */
    val criticalThreshold: Double = 0.9,
    /** Most entries a put evicts when it leaves usage at MODERATE; >= 1. */
    val evictionBatchSize: Long = 10,
    val strategy: EvictionStrategy = EvictionStrategy.LRU,
    /** Events queued while nobody listens; >= 1. */
    val eventQueueCapacity: Long = 1024,
    /** A MODERATE signal sheds to this fraction of usage. */
    val signalModerateKeep: Double = 0.75,
    /** A CRITICAL signal sheds to this fraction; 0 < critical keep <= moderate keep <= 1. */
    val signalCriticalKeep: Double = 0.5,
    /** A signal not repeated within this many ms falls back to NONE; 0 = never. */
    val signalDecayMs: Long = 0,
    /** Independent parts with their own lock, 1..64. */
    val shards: Int = 1,
    /** LFU only: evicted keys that come back resume their access count. */
    val lfuHistory: Boolean = false,
    /**
     * The most entries the store holds, beside the byte budget; 0 = no limit. Pinned and in-use
     * entries count and are never evicted for it: a put of a new key into a full store evicts in
     * strategy order (reason CAPACITY), or is OVER_BUDGET when they alone fill it. With shards:
     * 0 or at least [shards]. >= 0.
     */
    val maxEntries: Long = 0,
    /** Time to live of every entry, in ms from its put; 0 = none. [NexusStore.put] with a ttl sets an entry's own. >= 0. */
    val ttlMs: Long = 0,
    /** Time to idle in ms: an entry not read for this long expires (a hit starts it again); 0 = none. >= 0. */
    val ttiMs: Long = 0,
) {
    /** Throws [NexusException] (INVALID_ARGUMENT, with the rule broken) if a store would refuse it. */
    fun validate() {
        NativeBridge.validateConfig(
            maxCacheBytes, moderateThreshold, criticalThreshold, evictionBatchSize, strategy.code,
            eventQueueCapacity, signalModerateKeep, signalCriticalKeep, signalDecayMs, shards, lfuHistory,
            maxEntries, ttlMs, ttiMs,
        )
    }

    internal fun createStore(): Long = NativeBridge.storeNew(
        maxCacheBytes, moderateThreshold, criticalThreshold, evictionBatchSize, strategy.code,
        eventQueueCapacity, signalModerateKeep, signalCriticalKeep, signalDecayMs, shards, lfuHistory,
        maxEntries, ttlMs, ttiMs,
    )
}
