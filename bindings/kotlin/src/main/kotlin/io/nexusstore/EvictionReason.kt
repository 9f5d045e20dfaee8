package io.nexusstore

/** Why entries left the store (NEXUS_EVICTION_REASON_*). */
enum class EvictionReason {
    /** The budget: a put that made room or crossed a threshold, a new maxCacheBytes. */
    CAPACITY,

    /** A pressure signal. */
    PRESSURE,

    /** evict, evictLeastRecentlyUsed, clearUnpinnedCache. */
    MANUAL,

    /** A put of the same key replaced it (eviction listener only). */
    REPLACED,

    /** remove or clear (eviction listener only). */
    REMOVED,

    /** A budget governor took memory from the store (NEXUS_EVICTION_REASON_GOVERNOR). */
    GOVERNOR,

    /** Its time to live or time to idle ran out (ttlMs/ttiMs, put with a TTL, sweepExpired). */
    EXPIRED,

    /** A reason this wrapper does not know (a newer library). Keep it last: [fromCode] maps by ordinal. */
    UNKNOWN;

    companion object {
        internal fun fromCode(code: Int): EvictionReason =
            if (code in 0 until UNKNOWN.ordinal) entries[code] else UNKNOWN
    }
}
