package io.nexusstore

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.StateFlow
import java.util.concurrent.atomic.AtomicLong

/**
 * A memory-pressure-aware cache in native memory: byte values and JVM objects under a byte
 * budget, shed in steps when pressure is signalled, pinned entries never evicted.
 *
 * Every method may be called from any thread. After [close] (which may be called any number of
 * times, from any thread, even inside the store's own callbacks) every call throws
 * [IllegalStateException]. A store that is never closed is freed after it becomes unreachable;
 * an eviction listener, or a coroutine collecting [events] or [pressureLevels], that captures the
 * store keeps it reachable (the native store holds them through JNI global references): close
 * such a store.
 * Failures throw [NexusException] with the library's status and message.
 */
class NexusStore @JvmOverloads constructor(val config: MemoryConfig = MemoryConfig()) : AutoCloseable {
    private val handle = AtomicLong(0)
    private val callbacks: StoreCallbacks

    /** Makes [setEventKinds]' two steps one. */
    private val eventKindsLock = Any()
    private val reclaimable: Reclaimable

    init {
        val h = config.createStore()
        try {
            callbacks = StoreCallbacks(MemoryPressureLevel.fromCode(NativeBridge.pressureLevel(h)))
            callbacks.handle = h
            NativeBridge.setEventCallback(h, callbacks)
            NativeBridge.setLoader(h, callbacks)
            // A change between the first read and the registration came with no event.
            callbacks.startLevel(MemoryPressureLevel.fromCode(NativeBridge.pressureLevel(h)))
        } catch (t: Throwable) {
            NativeBridge.storeFreeDeferred(h)
            throw t
        }
        handle.set(h)
        // A store reclaimed unclosed ends its flows too (the action holds the callbacks, never this).
        val endFlows = callbacks
        reclaimable = Reclaimer.default.register(this, h, then = Runnable { endFlows.close() })
    }

    /** Runs [block] with the live handle; closed -> IllegalStateException. */
    private inline fun <T> call(block: (Long) -> T): T = callLive(this, handle, CLOSED, block)

    /** Runs [block] with the live handle (for [Governor]); closed -> IllegalStateException. */
    internal fun <T> withHandle(block: (Long) -> T): T = call(block)

    /**
     * The store's id, unique in the process (nexus_store_id): the [GovernorEvent.storeId] and
     * [GovernorMemberMetrics.storeId] that name this store.
     */
    val id: Long get() = call { NativeBridge.storeId(it) }

    /** True once [close] ran. */
    val isClosed: Boolean get() = handle.get() == 0L

    /**
     * Frees the store (nexus_store_free_deferred: never blocks; calls in flight on other threads
     * finish first). Remaining objects are released. [events] collectors complete and
     * [pressureLevels] collectors throw IllegalStateException. A second close does nothing.
     */
    override fun close() {
        if (handle.getAndSet(0L) != 0L) reclaimable.reclaim() // then ends the flows
    }

    // ---- bytes ---------------------------------------------------------------------------

    /** Inserts or replaces [key] with a copy of [value]. */
    fun put(key: ByteArray, value: ByteArray) = call { NativeBridge.put(it, key, value) }
    fun put(key: String, value: ByteArray) = put(key.encodeToByteArray(), value)

    /**
     * Inserts or replaces [key] with a copy of [value] that expires [ttlMs] milliseconds from now
     * (instead of after the config's [MemoryConfig.ttlMs]). Turns expiry on for the store if its
     * config had none; a later put of the key without a TTL gives it the store's own again.
     * [ttlMs] must be > 0 (else INVALID_ARGUMENT, nothing changed).
     */
    fun put(key: ByteArray, value: ByteArray, ttlMs: Long) = call { NativeBridge.putTtl(it, key, value, ttlMs) }
    fun put(key: String, value: ByteArray, ttlMs: Long) = put(key.encodeToByteArray(), value, ttlMs)

    /**
     * Removes every expired entry now (eviction reason EXPIRED); how many. Reads never return an
     * expired entry whether or not a sweep ran; the sweep gives their memory back.
     */
    fun sweepExpired(): Long = call { NativeBridge.sweepExpired(it) }

    /**
     * A copy of the value, or null if absent. A hit is an access. An object entry (put with
     * [putObject]) throws [NexusException] (INVALID_ARGUMENT): read it with [getObject].
     */
    operator fun get(key: ByteArray): ByteArray? = call { NativeBridge.get(it, key) }
    operator fun get(key: String): ByteArray? = get(key.encodeToByteArray())

    /** Whether [key] is present (not an access). */
    operator fun contains(key: ByteArray): Boolean = call { NativeBridge.contains(it, key) }
    operator fun contains(key: String): Boolean = contains(key.encodeToByteArray())

    /**
     * The value of [key], or what [loader] returns for it, cached (null: absent, nothing
     * cached). Single flight: callers missing the same key at once share one loader call (the
     * first caller's). If the loader throws, every waiting caller gets a [NexusException]
     * (status CALLBACK) with the loader's message; the caller whose loader threw also gets it
     * as the cause. Except a cancellation: a loader that throws a `CancellationException`
     * (kotlinx's, e.g. from `ensureActive()`) or an [InterruptedException] abandons the load
     * (`nexus_load_sink_abandon`): its own caller gets that exception rethrown as is, and the
     * callers waiting for the load look the key up again (one of them runs its own loader).
     * A loader may call into the store (not getOrLoad of its own key: BUSY).
     *
     * This call blocks its thread: a caller waiting for another thread's load waits until that
     * loader returns, and neither [Thread.interrupt] nor a coroutine's cancellation (`withTimeout`,
     * `runInterruptible`) ends the wait; there is no timeout. Give a loader that does I/O its own
     * timeout. Two loaders on two threads that each getOrLoad the other's key wait for each other
     * for ever.
     */
    fun getOrLoad(key: ByteArray, loader: (ByteArray) -> ByteArray?): ByteArray? =
        load(loader, objects = false) { NativeBridge.getOrLoad(it, key) }

    fun getOrLoad(key: String, loader: (String) -> ByteArray?): ByteArray? {
        // Read as Any?: a loader cast unchecked to this type that returns another type fails
        // the load as INVALID_ARGUMENT in the native check, as with a ByteArray key, rather
        // than as a ClassCastException thrown by this wrapper (CALLBACK).
        val untyped: (String) -> Any? = loader
        val bytes = key.encodeToByteArray()
        return load({ untyped(it.decodeToString()) }, objects = false) { NativeBridge.getOrLoad(it, bytes) }
    }

    /**
     * The object stored under [key], or the one [loader] gives (with its cost), cached as by
     * [putObject]: single flight and failures as for [getOrLoad]. Null: absent, nothing cached.
     */
    fun getOrLoadObject(key: ByteArray, loader: (ByteArray) -> CostedObject?): Any? =
        load(loader, objects = true) { NativeBridge.getOrLoadObject(it, key) }

    fun getOrLoadObject(key: String, loader: (String) -> CostedObject?): Any? {
        val untyped: (String) -> Any? = loader // read as Any?: see getOrLoad(String)
        val bytes = key.encodeToByteArray()
        return load({ untyped(it.decodeToString()) }, objects = true) { NativeBridge.getOrLoadObject(it, bytes) }
    }

    /** Runs a get_or_load with [loader] as this thread's loader; its exception becomes the cause. */
    private inline fun <T> load(noinline loader: (ByteArray) -> Any?, objects: Boolean, getOrLoad: (Long) -> T): T = call { h ->
        val frame = callbacks.enterLoad(loader, objects)
        try {
            getOrLoad(h)
        } catch (e: NexusException) {
            val thrown = frame.failure
            // This caller's own cancellation (its loader threw it; the load was abandoned, and
            // the callers that joined it load again): rethrown as is, as coroutines expect.
            // The same two classes the shim's loader() abandons on (jni_callbacks.c).
            if (thrown is java.util.concurrent.CancellationException || thrown is InterruptedException) throw thrown
            thrown?.let { if (e.cause == null) e.initCause(it) }
            throw e
        } finally {
            callbacks.exitLoad(frame)
        }
    }

    /** Removes [key] (pinned or not); false if it was absent. */
    fun remove(key: ByteArray): Boolean = call { NativeBridge.remove(it, key) }
    fun remove(key: String): Boolean = remove(key.encodeToByteArray())

    /** Removes every entry, pinned ones too (pins stay); how many (expired ones leave first, as EXPIRED, uncounted). */
    fun clear(): Long = call { NativeBridge.clear(it) }

    // ---- objects -------------------------------------------------------------------------

    /**
     * Stores a JVM object charged [cost] bytes. The store holds it (a JNI global reference)
     * until the entry is gone and unread, then lets it go exactly once. [cost] must be > 0 (a
     * Kotlin store has no size estimator to ask): 0 or negative is INVALID_ARGUMENT.
     */
    fun putObject(key: ByteArray, value: Any, cost: Long) = call { NativeBridge.putObject(it, key, value, cost) }
    fun putObject(key: String, value: Any, cost: Long) = putObject(key.encodeToByteArray(), value, cost)

    /**
     * The object stored under [key], or null if absent. A hit is an access. A bytes entry
     * throws [NexusException] (INVALID_ARGUMENT): read it with [get].
     */
    fun getObject(key: ByteArray): Any? = call { NativeBridge.getObject(it, key) }
    fun getObject(key: String): Any? = getObject(key.encodeToByteArray())

    // ---- pins ----------------------------------------------------------------------------

    /** Pins [key], present or not: never evicted, still counted. */
    fun pin(key: ByteArray) = call { NativeBridge.pin(it, key) }
    fun pin(key: String) = pin(key.encodeToByteArray())

    /** Ends the pin; false if [key] was not pinned. */
    fun unpin(key: ByteArray): Boolean = call { NativeBridge.unpin(it, key) }
    fun unpin(key: String): Boolean = unpin(key.encodeToByteArray())

    fun isPinned(key: ByteArray): Boolean = call { NativeBridge.isPinned(it, key) }
    fun isPinned(key: String): Boolean = isPinned(key.encodeToByteArray())

    /** Every pinned key, present or not, in pin order. */
    val pinnedKeyBytes: List<ByteArray> get() = call { NativeBridge.pinnedKeys(it).toList() }

    /** [pinnedKeyBytes] decoded as UTF-8. */
    val pinnedKeys: List<String> get() = pinnedKeyBytes.map { it.decodeToString() }

    // ---- eviction and pressure -----------------------------------------------------------

    /** Evicts up to [count] evictable entries, least recently used first; how many. */
    fun evictLeastRecentlyUsed(count: Long): Long = call { NativeBridge.evictLru(it, count) }

    /** Evicts up to [count] evictable entries in the strategy's order; how many. */
    fun evict(count: Long): Long = call { NativeBridge.evict(it, count) }

    /** Evicts every entry that is neither pinned nor being read; how many (expired ones leave first, as EXPIRED, uncounted). */
    fun clearUnpinnedCache(): Long = call { NativeBridge.clearUnpinned(it) }

    /** Signals a level to this store (what an OS hook does); NONE ends the signal. */
    fun signalPressure(level: MemoryPressureLevel) = call { NativeBridge.signalPressure(it, level.code) }

    /** The reported level: the higher of the usage level and the signalled one. */
    val pressureLevel: MemoryPressureLevel get() = call { MemoryPressureLevel.fromCode(NativeBridge.pressureLevel(it)) }

    /** The signalled level alone (NONE once the signal ended or decayed), without the usage level. */
    val signalledLevel: MemoryPressureLevel get() = call { MemoryPressureLevel.fromCode(NativeBridge.signalledLevel(it)) }

    /**
     * The configured budget (0 = unbounded); setting it evicts down to the new budget. Setting
     * throws [NexusException]: OVER_BUDGET, with nothing changed, when pinned and in-use entries
     * alone exceed it; INVALID_ARGUMENT for a negative one, or a bounded one below the store's
     * shards.
     */
    var maxCacheBytes: Long
        get() = memoryMetrics.maxCacheBytes
        set(value) = call { NativeBridge.setMaxBytes(it, value) }

    val memoryMetrics: MemoryMetrics get() = call { MemoryMetrics.fromNative(NativeBridge.metrics(it)) }

    /** The metrics as one JSON object (NexusMemoryMetrics field names). */
    val metricsJson: String get() = call { NativeBridge.metricsJson(it) }

    /** Zeroes the counters and sets the peak to the current usage. */
    fun resetMetrics() = call { NativeBridge.resetMetrics(it) }

    // ---- what the store reports ----------------------------------------------------------

    /**
     * The reported level as it changes (a StateFlow: the current level first, then at each
     * PRESSURE_CHANGED the store's level read then; once the calls that changed it have returned,
     * from however many threads, its value is [pressureLevel]). When the store closes (or is
     * reclaimed) its collectors throw [IllegalStateException] (a StateFlow never completes), and
     * so does its [StateFlow.value] (and its [StateFlow.replayCache]) from then on, as every call
     * after [close].
     */
    val pressureLevels: StateFlow<MemoryPressureLevel> get() = call { callbacks.levels }

    /**
     * Pressure changes, eviction runs and drop markers, as they happen (hot; oldest dropped past
     * 1024 buffered). Its collectors complete when the store closes (or is reclaimed); one that
     * starts after that completes at once.
     */
    val events: Flow<NexusEvent> get() = call { callbacks.events }

    /**
     * The kinds [events] carries; by default PRESSURE_CHANGED, EVICTION and DROPPED (DROPPED
     * always comes). SIGNAL_CHANGED is opt-in. [pressureLevels] follows the level whatever is
     * chosen here (the library keeps delivering PRESSURE_CHANGED to the wrapper for it).
     */
    fun setEventKinds(kinds: Set<NexusEventKind>) = call { h ->
        val bits = kinds.fold(1 shl NexusEventKind.DROPPED.ordinal) { m, k -> m or (1 shl k.ordinal) }
        // Two calls at once set the native mask and the filter as one (the event callback never
        // takes this lock; a monitor is reentrant for a listener that calls here again).
        synchronized(eventKindsLock) {
            NativeBridge.setEventMask(h, (bits or (1 shl NexusEventKind.PRESSURE_CHANGED.ordinal)) and (1 shl NexusEventKind.DROPPED.ordinal).inv())
            callbacks.kinds = bits
        }
    }

    /**
     * Called for every entry a call of the store removes (evicted, expired, removed, replaced),
     * on the thread whose call removed it (after the store's locks are released); null
     * unregisters. Not called for the entries still present when the store is closed (or
     * reclaimed): those are released without it. It may call into the store. An exception it
     * throws is caught and dropped (the store goes on).
     */
    fun setEvictionListener(listener: EvictionListener?) = call { h ->
        callbacks.evictionListener = listener
        // The registration follows the field, not this call's argument: another thread's
        // setEvictionListener may write the field after this one and register before it. So each
        // call registers what the field says, again until the field still says so afterwards;
        // the last registration is then always of the listener set last. (No lock: a registration
        // waits for the old listener's calls on other threads, which may call here.)
        while (true) {
            val registered = callbacks.evictionListener != null
            beforeListenerRegistration?.invoke()
            NativeBridge.setEvictionListener(h, if (registered) callbacks else null)
            if ((callbacks.evictionListener != null) == registered) break
        }
    }

    /** Testing aid: runs between [setEvictionListener]'s write of the listener and its registration. */
    @Volatile
    internal var beforeListenerRegistration: (() -> Unit)? = null

    internal fun handleForTesting(): Long = handle.get()

    companion object {
        private const val CLOSED = STORE_CLOSED

        /** The native library's version ("MAJOR.MINOR.PATCH"). */
        @JvmStatic
        val version: String get() = NativeBridge.version()

        /**
         * What the default size estimator charges per entry beyond key and value bytes
         * (`NEXUS_ENTRY_OVERHEAD_BYTES`): an entry is charged key + value + this.
         */
        @JvmStatic
        val entryOverheadBytes: Long get() = NativeBridge.entryOverheadBytes()

        /** Signals a level to every live store, and to stores created later. */
        @JvmStatic
        fun signalPressureAll(level: MemoryPressureLevel) = NativeBridge.signalPressureAll(level.code)
    }
}
