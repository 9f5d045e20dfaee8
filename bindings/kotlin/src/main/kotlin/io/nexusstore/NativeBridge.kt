package io.nexusstore

/**
 * The JNI shim's natives (src/main/c): one function per C call, a store as its handle (a Long).
 * Failures throw [NexusException] with the C library's status and message.
 */
internal object NativeBridge {
    init {
        // The JVM build loads the shim by path (Maven passes it); Android by name from the APK.
        val path = System.getProperty("nexus.jni.library")
        if (path != null) System.load(path) else System.loadLibrary("nexus_store_jni")
    }

    @JvmStatic external fun version(): String

    @JvmStatic external fun entryOverheadBytes(): Long

    @JvmStatic external fun validateConfig(
        maxBytes: Long, moderate: Double, critical: Double, batch: Long, strategy: Int,
        queueCapacity: Long, moderateKeep: Double, criticalKeep: Double, decayMs: Long,
        shards: Int, lfuHistory: Boolean, maxEntries: Long, ttlMs: Long, ttiMs: Long,
    )

    @JvmStatic external fun storeNew(
        maxBytes: Long, moderate: Double, critical: Double, batch: Long, strategy: Int,
        queueCapacity: Long, moderateKeep: Double, criticalKeep: Double, decayMs: Long,
        shards: Int, lfuHistory: Boolean, maxEntries: Long, ttlMs: Long, ttiMs: Long,
    ): Long

    /** nexus_store_free_deferred: never blocks, never throws; returns the status. */
    @JvmStatic external fun storeFreeDeferred(store: Long): Int

    @JvmStatic external fun put(store: Long, key: ByteArray, value: ByteArray)
    @JvmStatic external fun putTtl(store: Long, key: ByteArray, value: ByteArray, ttlMs: Long)
    @JvmStatic external fun sweepExpired(store: Long): Long
    @JvmStatic external fun get(store: Long, key: ByteArray): ByteArray?
    @JvmStatic external fun contains(store: Long, key: ByteArray): Boolean
    @JvmStatic external fun remove(store: Long, key: ByteArray): Boolean
    @JvmStatic external fun clear(store: Long): Long
    @JvmStatic external fun pin(store: Long, key: ByteArray)
    @JvmStatic external fun unpin(store: Long, key: ByteArray): Boolean
    @JvmStatic external fun isPinned(store: Long, key: ByteArray): Boolean
    @JvmStatic external fun pinnedKeys(store: Long): Array<ByteArray>
    @JvmStatic external fun evictLru(store: Long, count: Long): Long
    @JvmStatic external fun evict(store: Long, count: Long): Long
    @JvmStatic external fun clearUnpinned(store: Long): Long
    @JvmStatic external fun signalPressure(store: Long, level: Int)
    @JvmStatic external fun signalPressureAll(level: Int)
    @JvmStatic external fun pressureLevel(store: Long): Int
    @JvmStatic external fun signalledLevel(store: Long): Int
    @JvmStatic external fun setEventMask(store: Long, mask: Int)
    @JvmStatic external fun setMaxBytes(store: Long, maxBytes: Long)
    @JvmStatic external fun metrics(store: Long): LongArray
    @JvmStatic external fun metricsJson(store: Long): String
    @JvmStatic external fun resetMetrics(store: Long)
    @JvmStatic external fun debugPanic(store: Long)

    @JvmStatic external fun putObject(store: Long, key: ByteArray, value: Any, cost: Long)
    @JvmStatic external fun getObject(store: Long, key: ByteArray): Any?
    /** Global references the shim holds for stored objects, across every store. */
    @JvmStatic external fun liveObjectRefs(): Long

    @JvmStatic external fun setEventCallback(store: Long, callbacks: StoreCallbacks?)
    @JvmStatic external fun setEvictionListener(store: Long, callbacks: StoreCallbacks?)
    @JvmStatic external fun setLoader(store: Long, callbacks: StoreCallbacks?)
    @JvmStatic external fun getOrLoad(store: Long, key: ByteArray): ByteArray?
    @JvmStatic external fun getOrLoadObject(store: Long, key: ByteArray): Any?

    @JvmStatic external fun storeId(store: Long): Long

    // ---- the budget governor (jni_governor.c); a governor is its handle as a store is ----

    @JvmStatic external fun governorNew(budgetBytes: Long, moderateKeep: Double, criticalKeep: Double, queueCapacity: Long): Long

    /** nexus_governor_free_deferred: never blocks, never throws; returns the status. */
    @JvmStatic external fun governorFreeDeferred(governor: Long): Int

    @JvmStatic external fun governorJoin(governor: Long, store: Long, priority: Int, floorBytes: Long, ceilingBytes: Long)
    @JvmStatic external fun governorSetMember(governor: Long, store: Long, priority: Int, floorBytes: Long, ceilingBytes: Long)
    /** False when the store was not a member (NOT_FOUND). */
    @JvmStatic external fun governorLeave(governor: Long, store: Long): Boolean
    @JvmStatic external fun governorSetBudget(governor: Long, budgetBytes: Long)
    @JvmStatic external fun governorSignalPressure(governor: Long, level: Int)
    @JvmStatic external fun governorEnforce(governor: Long)
    @JvmStatic external fun governorMetrics(governor: Long): LongArray
    /** Null when the store is not a member (NOT_FOUND). */
    @JvmStatic external fun governorMemberMetrics(governor: Long, store: Long): LongArray?
    /** Null when no event is queued (EMPTY). */
    @JvmStatic external fun governorPollEvent(governor: Long): LongArray?

    /** Testing aid: signals from a new native thread (callbacks run there); the status. */
    @JvmStatic external fun signalPressureFromNativeThread(store: Long, level: Int): Int
}
