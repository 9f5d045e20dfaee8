package io.nexusstore

/** The eviction order (NEXUS_EVICTION_STRATEGY_*). */
enum class EvictionStrategy {
    /** Least recently used first. */
    LRU,

    /** Fewest accesses first, ties by least recently used. */
    LFU,

    /** Largest charged size first, ties by least recently used. */
    SIZE;

    internal val code: Int get() = ordinal
}
