//! Where a memory manager stands in its store: which shard it is, its share
//! of the budget, and what the shards of one store share (the store's
//! reported level, and its total usage for events).
//!
//! A store with one shard (the default) shares nothing: its memory manager
//! is the whole store and behaves exactly as specified. With more, each
//! shard has an equal share of the budget and its own eviction order, and
//! the store's reported level is the highest of its shards' levels.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::pressure::memory_pressure_level::MemoryPressureLevel;

/// One shard's place in its store.
pub(crate) struct ShardPlace {
    index: u32,
    count: u32,
    /// What the shards share; `None` for a store of one shard.
    across: Option<Arc<AcrossShards>>,
}

impl ShardPlace {
    /// Shard `index` of `across.count()` shards (with one, it shares
    /// nothing: the store is that shard).
    pub fn part(index: u32, across: &Arc<AcrossShards>) -> Self {
        let count = across.count();
        debug_assert!(index < count && count <= 64);
        ShardPlace {
            index,
            count,
            across: (count > 1).then(|| Arc::clone(across)),
        }
    }

    /// This shard's bit in the store's per-shard flag words.
    pub fn bit(&self) -> u64 {
        1u64 << self.index
    }

    /// This shard's share of a store budget of `max` bytes: an equal part,
    /// the remainder going one byte each to the first shards, so the shares
    /// add up to `max` exactly. 0 (unbounded) stays 0.
    pub fn share(&self, max: u64) -> u64 {
        let n = u64::from(self.count);
        max / n + u64::from(u64::from(self.index) < max % n)
    }

    pub fn across(&self) -> Option<&AcrossShards> {
        self.across.as_deref()
    }

    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// What the shards of one store share.
pub(crate) struct AcrossShards {
    levels: Mutex<Levels>,
    /// The store's reported level (a copy of `levels.reported` for readers).
    reported: AtomicU8,
    /// The sum of the usage each shard last published.
    usage: AtomicU64,
}

struct Levels {
    shards: Vec<MemoryPressureLevel>,
    reported: MemoryPressureLevel,
    /// How many times `reported` changed: each change's number, in the
    /// order the changes happened (see `EventQueue::follow_level`).
    changes: u64,
}

impl AcrossShards {
    pub fn new(count: u32, level: MemoryPressureLevel) -> Arc<Self> {
        Arc::new(AcrossShards {
            levels: Mutex::new(Levels {
                shards: vec![level; count as usize],
                reported: level,
                changes: 0,
            }),
            reported: AtomicU8::new(level as u8),
            usage: AtomicU64::new(0),
        })
    }

    fn count(&self) -> u32 {
        self.levels.lock().shards.len() as u32
    }

    /// Records shard `index`'s level; if the store's level (the highest of
    /// its shards') changed, returns its previous level and the change's
    /// number (from 1, in the order of the store's changes). Called under
    /// the shard's lock (the lock order is shard, then this).
    pub fn update(
        &self,
        index: usize,
        level: MemoryPressureLevel,
    ) -> Option<(MemoryPressureLevel, u64)> {
        let mut l = self.levels.lock();
        l.shards[index] = level;
        let now = l.shards.iter().copied().max().unwrap_or_default();
        if now == l.reported {
            return None;
        }
        let previous = std::mem::replace(&mut l.reported, now);
        l.changes += 1;
        self.reported.store(now as u8, Ordering::Release);
        Some((previous, l.changes))
    }

    /// The store's reported level.
    pub fn level(&self) -> MemoryPressureLevel {
        let v = self.reported.load(Ordering::Acquire);
        MemoryPressureLevel::ALL[usize::from(v)]
    }

    /// Adds a shard's change of usage since its last publication.
    pub fn add_usage(&self, delta: u64) {
        self.usage.fetch_add(delta, Ordering::Relaxed);
    }

    /// Adds a shard's growth to the total before the shard grows (a store
    /// with no budget, where only this keeps the sum from overflowing), or
    /// gives the total back if the sum would overflow.
    pub fn reserve_usage(&self, growth: u64) -> Result<(), u64> {
        self.usage
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_add(growth)
            })
            .map(|_| ())
    }

    /// The sum of the usage the shards last published.
    pub fn usage(&self) -> u64 {
        self.usage.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_budget() {
        for (max, n) in [(0u64, 4u32), (10, 4), (1000, 7), (u64::MAX, 64), (3, 64)] {
            let across = AcrossShards::new(n, MemoryPressureLevel::None);
            let shares: Vec<u64> = (0..n)
                .map(|i| ShardPlace::part(i, &across).share(max))
                .collect();
            assert_eq!(
                shares.iter().map(|&s| u128::from(s)).sum::<u128>(),
                u128::from(max)
            );
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(hi - lo <= 1, "{shares:?}");
        }
        let one = AcrossShards::new(1, MemoryPressureLevel::None);
        let whole = ShardPlace::part(0, &one);
        assert_eq!(whole.share(12345), 12345);
        assert!(whole.across().is_none());
    }

    #[test]
    fn the_store_level_is_the_highest_shard_level() {
        use MemoryPressureLevel::*;
        let a = AcrossShards::new(3, None);
        assert_eq!(a.update(0, Moderate), Some((None, 1)));
        assert_eq!(a.update(1, Moderate), Option::None);
        assert_eq!(a.update(0, None), Option::None);
        assert_eq!(a.level(), Moderate);
        // Only the store's changes are numbered, in order.
        assert_eq!(a.update(2, Critical), Some((Moderate, 2)));
        assert_eq!(a.update(2, None), Some((Critical, 3)));
        assert_eq!(a.update(1, None), Some((Moderate, 4)));
        assert_eq!(a.level(), None);
    }
}
