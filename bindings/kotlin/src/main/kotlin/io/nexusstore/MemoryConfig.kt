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
) {
    /** Throws [NexusException] (INVALID_ARGUMENT, with the rule broken) if a store would refuse it. */
    fun validate() {
        NativeBridge.validateConfig(
            maxCacheBytes, moderateThreshold, criticalThreshold, evictionBatchSize, strategy.code,
            eventQueueCapacity, signalModerateKeep, signalCriticalKeep, signalDecayMs, shards, lfuHistory,
        )
    }

    internal fun createStore(): Long = NativeBridge.storeNew(
        maxCacheBytes, moderateThreshold, criticalThreshold, evictionBatchSize, strategy.code,
        eventQueueCapacity, signalModerateKeep, signalCriticalKeep, signalDecayMs, shards, lfuHistory,
    )
}
