package io.nexusstore

/** The eviction order (NEXUS_EVICTION_STRATEGY_*). */
enum class EvictionStrategy {
    /** Least recently used first. */
    LRU,

    /** Fewest accesses first, ties by least recently used. */
    LFU,

    /** Largest charged size first, ties by least recently used. */
    SIZE,

    /** W-TinyLFU: a small LRU window, then admission by a frequency sketch into a segmented main region: scan resistant. */
    TINY_LFU;

    internal val code: Int get() = ordinal
}
