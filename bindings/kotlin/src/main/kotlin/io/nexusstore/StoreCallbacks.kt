package io.nexusstore

import kotlinx.coroutines.ExperimentalForInheritanceCoroutinesApi
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.FlowCollector
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.onSubscription
import kotlinx.coroutines.flow.transformWhile
import java.util.concurrent.atomic.AtomicReference

/**
 * What the shim calls back into, on the thread whose call triggered it (a native thread is
 * attached first). It holds no reference to its [NexusStore], so a store nobody closed can
 * still become unreachable and be reclaimed. An exception thrown here reaches the shim, which
 * clears it (a loader's becomes the load's failure message).
 */
internal class StoreCallbacks(initialLevel: MemoryPressureLevel) {
    /** The newest PRESSURE_CHANGED applied: its sequence and level (null level: the store closed). */
    private class Applied(val sequence: Long, val level: MemoryPressureLevel?)

    private val applied = AtomicReference(Applied(0, initialLevel))

    /** The level [levels] shows; null once the store closed. Only [publish] sets it. */
    private val state = MutableStateFlow<MemoryPressureLevel?>(initialLevel)

    /** [NexusStore.pressureLevels]: [state], closed -> IllegalStateException. */
    val levels: StateFlow<MemoryPressureLevel> = LevelFlow(state)

    /** Events, then [END] once the store closed. */
    private val shared = MutableSharedFlow<Any>(
        extraBufferCapacity = EVENT_BUFFER,
        onBufferOverflow = BufferOverflow.DROP_OLDEST,
    )

    @Volatile
    private var closed = false

    /**
     * [NexusStore.events]: completes when the store closes (a collector that subscribes after
     * that completes at once: [onSubscription] runs once it is subscribed, so it either sees
     * [closed] or receives [END] from [shared]).
     */
    val events: Flow<NexusEvent> = shared
        .onSubscription { if (closed) emit(END) }
        .transformWhile { if (it === END) false else { emit(it as NexusEvent); true } }

    /** Sets the level read after registering, unless an event has already set one. */
    fun startLevel(level: MemoryPressureLevel) {
        val first = applied.get()
        if (first.sequence == 0L && first.level != null && applied.compareAndSet(first, Applied(0, level))) publish()
    }

    /**
     * Ends both flows (the store closed, or was reclaimed): [events] collectors complete,
     * [levels] collectors and readers get IllegalStateException. Events still in flight on
     * other threads are emitted after [END], so no collector sees them (a collector stops at
     * [END]; one that subscribes later gets [END] first).
     */
    fun close() {
        closed = true
        apply(Long.MAX_VALUE, null)
        shared.tryEmit(END)
    }

    /**
     * The store's handle, for [levelNow] (0 until the store registered its callbacks). A handle
     * of a freed store is refused by the library (INVALID_HANDLE), never dereferenced.
     */
    @Volatile
    var handle: Long = 0

    /**
     * The store's level read now, or null if it cannot be (the store is being freed). An event's
     * own level is not enough: the library numbers events as it hands them on, after its lock,
     * so the newest-numbered event can carry an older level than another thread's (two threads'
     * signals: the store ends at one level, the last-numbered event says the other). A level
     * read after an event was numbered includes every change whose event was numbered before.
     */
    private fun levelNow(): MemoryPressureLevel? {
        val h = handle
        if (h == 0L) return null
        return try {
            MemoryPressureLevel.fromCode(NativeBridge.pressureLevel(h))
        } catch (_: NexusException) {
            null
        }
    }

    /**
     * Applies a PRESSURE_CHANGED's level if its sequence is newer than every one applied (events
     * may arrive out of order); with [levelNow] for the level, the newest-numbered event's is the
     * store's level once every call that changed it has returned.
     */
    private fun apply(sequence: Long, level: MemoryPressureLevel?) {
        while (true) {
            val current = applied.get()
            if (current.level == null || sequence <= current.sequence) break
            if (applied.compareAndSet(current, Applied(sequence, level))) break
        }
        publish()
    }

    /**
     * Sets [state] to the newest applied level, again until that is still the newest after the
     * set. Every thread that applied an event does this after applying it, so the last set is
     * always of the newest level: a thread that set an older one (overtaken between its read
     * and its set) sees [applied] changed and sets again.
     */
    private fun publish() {
        while (true) {
            val newest = applied.get()
            state.value = newest.level
            if (applied.get() === newest) return
        }
    }

    /** The kinds [events] carries, as bits `1 << kind` (PRESSURE_CHANGED always reaches [levels]). */
    @Volatile
    var kinds: Int = DEFAULT_KINDS

    @Volatile
    var evictionListener: EvictionListener? = null

    /** The loader of the getOrLoad call running on this thread (the C loader runs on it). */
    private val loads = ThreadLocal<LoadFrame?>()

    /**
     * [loader] returns a ByteArray ([objects] false: getOrLoad) or a [CostedObject] ([objects]
     * true: getOrLoadObject), or null (absent).
     */
    class LoadFrame(val loader: (ByteArray) -> Any?, val objects: Boolean, val outer: LoadFrame?) {
        var failure: Throwable? = null
    }

    fun enterLoad(loader: (ByteArray) -> Any?, objects: Boolean): LoadFrame =
        LoadFrame(loader, objects, loads.get()).also { loads.set(it) }

    fun exitLoad(frame: LoadFrame) = loads.set(frame.outer)

    // ---- called by the shim -------------------------------------------------------------

    fun onEvent(
        kind: Int, sequence: Long, level: Int, previous: Int, reason: Int, count: Long,
        bytes: Long, usage: Long, timestampNs: Long,
    ) {
        if (kind == KIND_PRESSURE_CHANGED) apply(sequence, levelNow() ?: MemoryPressureLevel.fromCode(level))
        if (kind !in 0 until NexusEventKind.entries.size || (kinds shr kind) and 1 == 0) return
        val event = when (NexusEventKind.entries[kind]) {
            NexusEventKind.PRESSURE_CHANGED -> NexusEvent.PressureChanged(
                sequence, MemoryPressureLevel.fromCode(level), MemoryPressureLevel.fromCode(previous), usage, timestampNs,
            )
            NexusEventKind.EVICTION -> NexusEvent.Eviction(sequence, EvictionReason.fromCode(reason), count, bytes, usage, timestampNs)
            NexusEventKind.DROPPED -> NexusEvent.Dropped(sequence, count, usage, timestampNs)
            NexusEventKind.SIGNAL_CHANGED -> NexusEvent.SignalChanged(
                sequence, MemoryPressureLevel.fromCode(level), MemoryPressureLevel.fromCode(previous), usage, timestampNs,
            )
        }
        shared.tryEmit(event)
    }

    fun onEviction(key: ByteArray, reason: Int, bytes: Long) {
        evictionListener?.onEviction(key, EvictionReason.fromCode(reason), bytes)
    }

    /**
     * Runs this thread's loader; null = absent. What it throws becomes every waiter's failure.
     * A result of the wrong type (erased generics: an unchecked cast, Java raw types) is
     * refused with [LoadRefused], which the shim makes INVALID_ARGUMENT for every waiter: the
     * shim reads a CostedObject's fields, so it must never be handed anything else.
     */
    fun load(key: ByteArray): Any? {
        val frame = loads.get() ?: return null
        val result = try {
            frame.loader(key)
        } catch (t: Throwable) {
            frame.failure = t
            throw t
        }
        if (result == null || (if (frame.objects) result is CostedObject else result is ByteArray)) return result
        val (call, takes) = if (frame.objects) "getOrLoadObject" to "a CostedObject" else "getOrLoad" to "a ByteArray"
        throw LoadRefused("the $call loader returned a ${result.javaClass.typeName}: it may return only $takes or null")
    }

    /** A loader's result of the wrong type (the shim looks this class up by name). */
    class LoadRefused(message: String) : RuntimeException(message)

    companion object {
        private const val KIND_PRESSURE_CHANGED = 0
        const val DEFAULT_KINDS = 0b0111 // PRESSURE_CHANGED, EVICTION, DROPPED
        private const val EVENT_BUFFER = 1024

        /** What [events] ends at. */
        private val END = Any()

        /** A thrown loader exception's message in UTF-8 (what every waiter sees). */
        @JvmStatic
        fun describe(thrown: Throwable): ByteArray =
            (thrown.message ?: thrown.toString()).encodeToByteArray()
    }
}

/** [NexusStore.pressureLevels]: the level while the store is open; closed -> IllegalStateException. */
@OptIn(ExperimentalForInheritanceCoroutinesApi::class)
private class LevelFlow(private val state: StateFlow<MemoryPressureLevel?>) : StateFlow<MemoryPressureLevel> {
    override val value: MemoryPressureLevel
        get() = state.value ?: throw IllegalStateException(STORE_CLOSED)

    /**
     * A StateFlow's replay cache is always its one [value]: closed -> IllegalStateException as
     * [value] (an empty list would tell a caller that reads `replayCache.first()` or
     * `replayCache.single()` nothing of why).
     */
    override val replayCache: List<MemoryPressureLevel>
        get() = listOf(value)

    /** Never returns (a StateFlow does not complete): throws IllegalStateException once the store closed. */
    override suspend fun collect(collector: FlowCollector<MemoryPressureLevel>): Nothing =
        state.collect { collector.emit(it ?: throw IllegalStateException(STORE_CLOSED)) }
}

/** The message of every call on a closed store. */
internal const val STORE_CLOSED = "the store is closed"
