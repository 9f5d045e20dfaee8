package io.nexusstore

import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import java.util.concurrent.atomic.AtomicLong

/**
 * What the shim calls back into, on the thread whose call triggered it (a native thread is
 * attached first). It holds no reference to its [NexusStore], so a store nobody closed can
 * still become unreachable and be reclaimed. An exception thrown here reaches the shim, which
 * clears it (a loader's becomes the load's failure message).
 */
internal class StoreCallbacks(initialLevel: MemoryPressureLevel) {
    val levels = MutableStateFlow(initialLevel)
    val events = MutableSharedFlow<NexusEvent>(
        extraBufferCapacity = EVENT_BUFFER,
        onBufferOverflow = BufferOverflow.DROP_OLDEST,
    )

    /** The highest PRESSURE_CHANGED sequence applied to [levels] (events may arrive out of order). */
    private val levelSequence = AtomicLong(0)

    /** Sets the level read after registering, unless an event has already set one. */
    fun startLevel(level: MemoryPressureLevel) {
        if (levelSequence.get() == 0L) levels.compareAndSet(levels.value, level)
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
        if (kind == KIND_PRESSURE_CHANGED) {
            val now = MemoryPressureLevel.fromCode(level)
            if (levelSequence.getAndAccumulate(sequence, ::maxOf) < sequence) levels.value = now
        }
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
        events.tryEmit(event)
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

        /** A thrown loader exception's message in UTF-8 (what every waiter sees). */
        @JvmStatic
        fun describe(thrown: Throwable): ByteArray =
            (thrown.message ?: thrown.toString()).encodeToByteArray()
    }
}
