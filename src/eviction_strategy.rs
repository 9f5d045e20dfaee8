//! Which entries go first when the store must give memory back.

use crate::c_enum::c_enum;

c_enum! {
    /// The order in which evictable entries are chosen as victims.
    ///
    /// The order is exact and deterministic: tests may assert it.
    #[derive(Default, PartialOrd, Ord)]
    pub enum EvictionStrategy ("eviction strategy") {
        /// Least recently used first. O(1) per access.
        #[default]
        Lru = 0 => "LRU",
        /// Fewest accesses first, ties by least recently used. Counts start
        /// at 1 on insert; each access and each replace adds 1; no decay.
        /// O(1) per access.
        Lfu = 1 => "LFU",
        /// Largest charged size first, ties by least recently used. O(log n)
        /// per access (an ordered index).
        Size = 2 => "SIZE",
        /// W-TinyLFU (as in Caffeine): new entries enter a small LRU window
        /// (0.1-25% of the entries, adapted to the traffic); leaving it, an
        /// entry is admitted to the main
        /// region (segmented LRU: probation, protected) only if a frequency
        /// sketch has seen its key more often than the main region's victim,
        /// so scans and one-hit keys do not push out frequent ones, and an
        /// evicted key that returns keeps its history. Deterministic (the
        /// sketch's hash is seeded with constants). O(1) per access; about
        /// 12 bytes per entry more than LRU.
        TinyLfu = 3 => "TINY_LFU",
    }
}
