package io.nexusstore

/** The kinds of [NexusEvent] (NEXUS_EVENT_KIND_*), for [NexusStore.setEventKinds]. */
enum class NexusEventKind { PRESSURE_CHANGED, EVICTION, DROPPED, SIGNAL_CHANGED }

/** What a store reports ([NexusStore.events]); [sequence] counts per store from 1. */
sealed class NexusEvent {
    abstract val sequence: Long

    /** Charged bytes in the store after the event. */
    abstract val usageBytes: Long

    /** Monotonic nanoseconds. */
    abstract val timestampNs: Long

    /** The reported level changed from [previous] to [level]. */
    data class PressureChanged(
        override val sequence: Long, val level: MemoryPressureLevel, val previous: MemoryPressureLevel,
        override val usageBytes: Long, override val timestampNs: Long,
    ) : NexusEvent()

    /** One eviction run: [count] entries, [bytes] charged bytes, for [reason]. */
    data class Eviction(
        override val sequence: Long, val reason: EvictionReason, val count: Long, val bytes: Long,
        override val usageBytes: Long, override val timestampNs: Long,
    ) : NexusEvent()

    /** The signalled level alone (what the OS or the app last said) changed. Opt-in. */
    data class SignalChanged(
        override val sequence: Long, val level: MemoryPressureLevel, val previous: MemoryPressureLevel,
        override val usageBytes: Long, override val timestampNs: Long,
    ) : NexusEvent()

    /** [count] events were lost. */
    data class Dropped(
        override val sequence: Long, val count: Long,
        override val usageBytes: Long, override val timestampNs: Long,
    ) : NexusEvent()
}

/**
 * Told of every entry a call of the store removes (evicted, expired, removed, replaced): its key,
 * why, and its charge. Not told of the entries still present when the store is closed.
 */
fun interface EvictionListener {
    fun onEviction(key: ByteArray, reason: EvictionReason, bytes: Long)
}

/**
 * What an object loader gives ([NexusStore.getOrLoadObject]): a JVM object charged [cost] bytes
 * (a negative [cost] is NexusException(INVALID_ARGUMENT); a [cost] of 0 fails the load with
 * INVALID_ARGUMENT, as [NexusStore.putObject] refuses it).
 */
class CostedObject(@JvmField val value: Any, @JvmField val cost: Long) {
    init {
        // A NexusException like every other bad value (the put's words: the same check).
        if (cost < 0) throw NexusException(NexusStatus.INVALID_ARGUMENT, "cost must be >= 0 (got $cost)")
    }
}
