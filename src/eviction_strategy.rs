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
    }
}
