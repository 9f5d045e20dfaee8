package io.nexusstore

import java.util.concurrent.atomic.AtomicLong

/**
 * A governor's configuration (NexusGovernorConfig); the defaults are the C library's, except the
 * budget, which has none.
 */
data class GovernorConfig(
    /** The budget the members share, in charged bytes; >= 1 and at least the members' floors. */
    val budgetBytes: Long,
    /**
     * A MODERATE signal to the governor sheds the members' total to this fraction of itself and
     * holds the budget at this fraction until NONE.
     */
    val signalModerateKeep: Double = 0.75,
    /** The same for CRITICAL; 0 < critical keep <= moderate keep <= 1. EMERGENCY takes every member to its floor. */
    val signalCriticalKeep: Double = 0.5,
    /** Events kept for [Governor.pollEvent] (the oldest dropped beyond); >= 1. */
    val eventQueueCapacity: Long = 1024,
)

/** Why a governor took memory from a store (NEXUS_SHED_CAUSE_*). */
enum class ShedCause {
    /** The members' total was above the budget. */
    OVER_BUDGET,

    /** A pressure signal to the governor (or the lower budget it holds while the signal lasts). */
    PRESSURE,

    /** The store was above its own ceiling. */
    CEILING,

    /** A cause this wrapper does not know (a newer library). Keep it last: [fromCode] maps by ordinal. */
    UNKNOWN;

    internal companion object {
        fun fromCode(code: Int): ShedCause = if (code in 0 until UNKNOWN.ordinal) entries[code] else UNKNOWN
    }
}

/** The kind of a [GovernorEvent] (NEXUS_GOVERNOR_EVENT_KIND_*). */
enum class GovernorEventKind {
    /** The governor took [GovernorEvent.bytes] ([GovernorEvent.count] entries) from a store. */
    SHED,

    /**
     * The total stayed [GovernorEvent.bytes] above the target after the governor took all it could
     * (floors, pinned and in-use entries hold the rest); reported once until it is met again.
     */
    UNMET,

    /** A store joined. */
    JOINED,

    /** A store left ([Governor.leave], or the store was closed). */
    LEFT,

    /** The governor's signalled level changed from [GovernorEvent.previousLevel] to [GovernorEvent.level]. */
    LEVEL_CHANGED,

    /** A kind this wrapper does not know (a newer library). Keep it last. */
    UNKNOWN;

    internal companion object {
        fun fromCode(code: Int): GovernorEventKind = if (code in 0 until UNKNOWN.ordinal) entries[code] else UNKNOWN
    }
}

/** One governor event (NexusGovernorEvent); fields that do not apply to its kind are 0. */
data class GovernorEvent(
    val kind: GovernorEventKind,
    /** Per governor, from 1. */
    val sequence: Long,
    /** The store concerned ([NexusStore.id]); 0 for UNMET and LEVEL_CHANGED. */
    val storeId: Long,
    /** SHED, UNMET: why. */
    val cause: ShedCause,
    /** SHED: charged bytes taken; UNMET: bytes still above the target. */
    val bytes: Long,
    /** SHED: entries taken. */
    val count: Long,
    /** SHED, JOINED: the store's usage after the event. */
    val storeUsage: Long,
    /** The members' total usage as the last pass read it: a JOINED or LEFT event does not re-read it. */
    val totalUsage: Long,
    /** The budget in force after the event. */
    val budgetInForce: Long,
    /** The governor's signalled level. */
    val level: MemoryPressureLevel,
    /** LEVEL_CHANGED: the level before; otherwise equal to [level]. */
    val previousLevel: MemoryPressureLevel,
    /** The governor clock's time, in nanoseconds. */
    val timestampNs: Long,
) {
    internal companion object {
        /** From the shim's array, in NexusGovernorEvent field order. */
        fun fromNative(f: LongArray) = GovernorEvent(
            kind = GovernorEventKind.fromCode(f[0].toInt()), sequence = f[1], storeId = f[2],
            cause = ShedCause.fromCode(f[3].toInt()), bytes = f[4], count = f[5], storeUsage = f[6],
            totalUsage = f[7], budgetInForce = f[8], level = MemoryPressureLevel.fromCode(f[9].toInt()),
            previousLevel = MemoryPressureLevel.fromCode(f[10].toInt()), timestampNs = f[11],
        )
    }
}

/** A governor's figures (NexusGovernorMetrics). Sizes are charged bytes. */
data class GovernorMetrics(
    /** The configured budget. */
    val budgetBytes: Long,
    /** The budget in force (lower while a signal lasts). */
    val budgetInForce: Long,
    /** The signalled level. */
    val level: MemoryPressureLevel,
    /** The members' total usage, each read in turn. */
    val totalUsage: Long,
    /** Charged bytes taken from members since creation. */
    val shedBytes: Long,
    /** Entries taken from members since creation. */
    val shedEntries: Long,
    /** Bytes the total stayed above the target after the last check. */
    val unmetBytes: Long,
    /** Members now. */
    val memberCount: Long,
) {
    internal companion object {
        fun fromNative(f: LongArray) = GovernorMetrics(
            budgetBytes = f[0], budgetInForce = f[1], level = MemoryPressureLevel.fromCode(f[2].toInt()),
            totalUsage = f[3], shedBytes = f[4], shedEntries = f[5], unmetBytes = f[6], memberCount = f[7],
        )
    }
}

/** One member's figures (NexusGovernorMemberMetrics): its terms, usage, and what was taken from it since it joined. */
data class GovernorMemberMetrics(
    /** The store ([NexusStore.id]). */
    val storeId: Long,
    val priority: Int,
    val floorBytes: Long,
    /** 0 = no ceiling. */
    val ceilingBytes: Long,
    val usageBytes: Long,
    val entryCount: Long,
    /** Charged bytes taken from it, cause OVER_BUDGET. */
    val shedBytesOverBudget: Long,
    /** The same, cause PRESSURE. */
    val shedBytesPressure: Long,
    /** The same, cause CEILING. */
    val shedBytesCeiling: Long,
    /** Entries taken from it. */
    val shedEntries: Long,
) {
    internal companion object {
        fun fromNative(f: LongArray) = GovernorMemberMetrics(
            storeId = f[0], priority = f[1].toInt(), floorBytes = f[2], ceilingBytes = f[3], usageBytes = f[4],
            entryCount = f[5], shedBytesOverBudget = f[6], shedBytesPressure = f[7], shedBytesCeiling = f[8],
            shedEntries = f[9],
        )
    }
}

/**
 * A budget governor (nexus_governor_*): one budget shared by several stores, each with a
 * priority (higher is kept longer), a floor the governor never takes it below and an optional
 * ceiling it is always shed down to. When the members' total goes over the budget (checked after
 * each put into a member, and on [join], [setMember], [setBudget], [signalPressure], [enforce]),
 * the excess is taken from the lowest priority first; entries leave with
 * [EvictionReason.GOVERNOR].
 *
 * The governor never keeps a store alive: a member that is closed leaves (a LEFT event), and a
 * closed governor's members go on as plain stores. A store is in at most one governor.
 *
 * Every method may be called from any thread. After [close] (any number of times, from any
 * thread) every call throws [IllegalStateException]; a governor never closed is freed after it
 * becomes unreachable. Failures throw [NexusException] with the library's status and message
 * (INVALID_ARGUMENT for bad terms or a bad config, BUSY for a store in a governor already).
 */
class Governor(val config: GovernorConfig) : AutoCloseable {
    private val handle = AtomicLong(0)
    private val reclaimable: Reclaimable

    /** A governor of [budgetBytes] with the other settings at their defaults. */
    constructor(budgetBytes: Long) : this(GovernorConfig(budgetBytes))

    init {
        val h = NativeBridge.governorNew(
            config.budgetBytes, config.signalModerateKeep, config.signalCriticalKeep, config.eventQueueCapacity,
        )
        handle.set(h)
        reclaimable = Reclaimer.default.register(this, h, NativeKind.GOVERNOR)
    }

    /** Runs [block] with the live handle; closed -> IllegalStateException. */
    private inline fun <T> call(block: (Long) -> T): T = callLive(this, handle, CLOSED, block)

    /** True once [close] ran. */
    val isClosed: Boolean get() = handle.get() == 0L

    /**
     * Frees the governor (nexus_governor_free_deferred: never blocks; calls in flight on other
     * threads finish first). Its members stay open, in no governor. A second close does nothing.
     */
    override fun close() {
        if (handle.getAndSet(0L) != 0L) reclaimable.reclaim()
    }

    /**
     * Adds [store] with these terms, then enforces the budget at once. [ceilingBytes] 0 = no
     * ceiling, else at least [floorBytes]; the members' floors may not exceed the budget
     * (INVALID_ARGUMENT). A store already in a governor (this one or another): BUSY. A closed
     * store: IllegalStateException.
     */
    @JvmOverloads
    fun join(store: NexusStore, priority: Int = 0, floorBytes: Long = 0, ceilingBytes: Long = 0) = call { g ->
        store.withHandle { s -> NativeBridge.governorJoin(g, s, priority, floorBytes, ceilingBytes) }
    }

    /** Changes a member's terms (rules as for [join]), then enforces the budget; not a member: NOT_FOUND. */
    @JvmOverloads
    fun setMember(store: NexusStore, priority: Int, floorBytes: Long = 0, ceilingBytes: Long = 0) = call { g ->
        store.withHandle { s -> NativeBridge.governorSetMember(g, s, priority, floorBytes, ceilingBytes) }
    }

    /** Removes [store] from the governor: it is governed no more. False if it was not a member. */
    fun leave(store: NexusStore): Boolean = call { g -> store.withHandle { s -> NativeBridge.governorLeave(g, s) } }

    /** Changes the budget (>= 1, at least the members' floors), then enforces it at once. */
    fun setBudget(budgetBytes: Long) = call { NativeBridge.governorSetBudget(it, budgetBytes) }

    /**
     * A pressure signal to the governor: a level at or above the one in force sheds the members'
     * total to its keep fraction (MODERATE, CRITICAL) or every member to its floor (EMERGENCY),
     * lowest priority first, and holds the budget at that fraction (0 under EMERGENCY) until NONE.
     * The members' own levels do not change.
     */
    fun signalPressure(level: MemoryPressureLevel) = call { NativeBridge.governorSignalPressure(it, level.code) }

    /**
     * Checks the budget and the ceilings now. A member changed by other means (its own
     * maxCacheBytes, an unpin) is otherwise seen at its next put.
     */
    fun enforce() = call { NativeBridge.governorEnforce(it) }

    /** The governor's figures. */
    val metrics: GovernorMetrics get() = call { GovernorMetrics.fromNative(NativeBridge.governorMetrics(it)) }

    /** [store]'s figures as a member, or null if it is not a member of this governor. */
    fun memberMetrics(store: NexusStore): GovernorMemberMetrics? = call { g ->
        store.withHandle { s -> NativeBridge.governorMemberMetrics(g, s)?.let(GovernorMemberMetrics::fromNative) }
    }

    /** The oldest queued event, or null if none (the queue keeps the newest [GovernorConfig.eventQueueCapacity]). */
    fun pollEvent(): GovernorEvent? = call { NativeBridge.governorPollEvent(it)?.let(GovernorEvent::fromNative) }

    /** Every queued event, oldest first, emptying the queue. */
    fun drainEvents(): List<GovernorEvent> = generateSequence { pollEvent() }.toList()

    private companion object {
        const val CLOSED = "the governor is closed"
    }
}
