//! Which entries go first when the store must give memory back.

use crate::error::Error;

/// The order in which evictable entries are chosen as victims.
///
/// The order is exact and deterministic: tests may assert it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum EvictionStrategy {
    /// Least recently used first. O(1) per access.
    #[default]
    Lru = 0,
    /// Fewest accesses first, ties by least recently used. Counts start at 1
    /// on insert; each access and each replace adds 1; no decay. O(1) per
    /// access.
    Lfu = 1,
    /// Largest charged size first, ties by least recently used. O(log n) per
    /// access (an ordered index).
    Size = 2,
}

impl EvictionStrategy {
    /// Every strategy, in C enum order.
    pub const ALL: [EvictionStrategy; 3] = [
        EvictionStrategy::Lru,
        EvictionStrategy::Lfu,
        EvictionStrategy::Size,
    ];
}

impl TryFrom<u32> for EvictionStrategy {
    type Error = Error;

    fn try_from(value: u32) -> Result<Self, Error> {
        Self::ALL.get(value as usize).copied().ok_or_else(|| {
            Error::invalid(format!("eviction strategy {value} is out of range 0..=2"))
        })
    }
}
