//! The eviction order of the unpinned entries, per strategy. Pinned entries
//! are kept out of the order (so millions of pins cost eviction nothing);
//! an unpinned entry re-enters as the most recently used of its peers.
//! Entries held by read handles stay in the order and are skipped.

mod lfu;
mod linked_slots;
mod lru;
mod ordered_groups;
mod size;
mod tiny_lfu;

use std::hash::{BuildHasher, Hash};

use crate::eviction_strategy::EvictionStrategy;

/// The key hash an order that remembers keys uses (W-TinyLFU's sketch): a
/// fixed seed, so the same calls give the same order in every process.
pub(crate) fn order_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6e65_7875_735f_7331).hash_one(key)
}

use lfu::{LfuOrder, SortedGroups};
use lru::LruOrder;
use size::SizeOrder;
use tiny_lfu::TinyLfuOrder;

/// Where an entry stands: what the SIZE index keys on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub charge: u64,
    pub tick: u64,
}

/// `repr(u8)`: an explicit tag byte, so the strategy test on every access
/// is one compare (with the compiler's niche it took four).
#[repr(u8)]
pub(crate) enum EvictionOrder {
    Lru(LruOrder),
    Lfu(LfuOrder),
    /// LFU with `lfu_history`: the same order, with its groups also in a
    /// sorted set so that an insert with a remembered count is O(log groups).
    LfuHistory(LfuOrder<SortedGroups>),
    Size(SizeOrder),
    /// W-TinyLFU: window, admission by a frequency sketch, segmented main.
    TinyLfu(Box<TinyLfuOrder>),
}

impl EvictionOrder {
    /// `lfu_history` matters for LFU only.
    pub fn new(strategy: EvictionStrategy, lfu_history: bool) -> Self {
        match strategy {
            EvictionStrategy::Lru => EvictionOrder::Lru(LruOrder::new()),
            EvictionStrategy::Lfu if lfu_history => EvictionOrder::LfuHistory(LfuOrder::new()),
            EvictionStrategy::Lfu => EvictionOrder::Lfu(LfuOrder::new()),
            EvictionStrategy::Size => EvictionOrder::Size(SizeOrder::new()),
            EvictionStrategy::TinyLfu => EvictionOrder::TinyLfu(Box::new(TinyLfuOrder::new())),
        }
    }

    /// Makes room for linking slot `i`, before an insert or an unpin
    /// commits.
    pub fn reserve(&mut self, i: u32) {
        match self {
            EvictionOrder::Lru(o) => o.reserve(i),
            EvictionOrder::Lfu(o) => o.reserve(i),
            EvictionOrder::LfuHistory(o) => o.reserve(i),
            EvictionOrder::Size(o) => o.reserve(i),
            EvictionOrder::TinyLfu(o) => o.reserve(i),
        }
    }

    /// Makes room for what evicting allocates (TINY_LFU's ghosts), before
    /// the first victim leaves.
    pub fn reserve_evictions(&mut self) {
        if let EvictionOrder::TinyLfu(o) = self {
            o.reserve_evictions();
        }
    }

    /// `reserve_evictions` that fails instead: false if an allocation
    /// failed (nothing changed).
    pub fn try_reserve_evictions(&mut self) -> bool {
        match self {
            EvictionOrder::TinyLfu(o) => o.try_reserve_evictions(),
            _ => true,
        }
    }

    /// Whether `insert` needs the key's hash (`key_hash`); the others take 0.
    pub fn hashes_keys(&self) -> bool {
        matches!(self, EvictionOrder::TinyLfu(_))
    }

    /// A new entry; `linked` is false for a pinned one. `key_hash` is a
    /// fixed-seed hash of the key when `hashes_keys()`, else ignored.
    pub fn insert(&mut self, i: u32, at: Position, linked: bool, key_hash: u64) {
        match self {
            EvictionOrder::TinyLfu(o) => o.insert(i, key_hash, linked),
            EvictionOrder::Lru(o) if linked => o.link(i),
            EvictionOrder::Lfu(o) => o.insert(i, linked),
            EvictionOrder::LfuHistory(o) => o.insert(i, linked),
            EvictionOrder::Size(o) if linked => o.link(i, at.charge, at.tick),
            _ => {}
        }
    }

    /// A new entry whose LFU count starts at `count` (>= 1) instead of 1
    /// (`lfu_history`); for the other orders, the same as `insert`.
    pub fn insert_with_count(
        &mut self,
        i: u32,
        at: Position,
        linked: bool,
        count: u32,
        key_hash: u64,
    ) {
        match self {
            EvictionOrder::LfuHistory(o) => o.insert_with_count(i, count, linked),
            EvictionOrder::Lfu(o) => o.insert_with_count(i, count, linked),
            _ => self.insert(i, at, linked, key_hash),
        }
    }

    /// An access or replace moved the entry from `old` to `new`; `linked`
    /// is false for a pinned entry. The hot path of every cache hit.
    #[inline(always)]
    pub fn touch(&mut self, i: u32, old: Position, new: Position, linked: bool) {
        match self {
            // Every unpinned entry is linked in the LRU list.
            EvictionOrder::Lru(o) => {
                if linked {
                    o.move_to_back(i);
                }
            }
            EvictionOrder::Lfu(o) => o.touch(i),
            EvictionOrder::LfuHistory(o) => o.touch(i),
            EvictionOrder::Size(o) => {
                if linked {
                    o.touch(i, old.charge, new.charge, new.tick);
                }
            }
            EvictionOrder::TinyLfu(o) => o.touch(i),
        }
    }

    /// Takes a linked entry out of the order (pin).
    pub fn unlink(&mut self, i: u32, at: Position) {
        match self {
            EvictionOrder::Lru(o) => o.unlink(i),
            EvictionOrder::Lfu(o) => o.unlink(i),
            EvictionOrder::LfuHistory(o) => o.unlink(i),
            EvictionOrder::Size(o) => o.unlink(i, at.charge, at.tick),
            EvictionOrder::TinyLfu(o) => o.unlink(i),
        }
    }

    /// Puts an unlinked entry back as the most recent of its peers (unpin);
    /// `at.tick` is fresh.
    pub fn relink(&mut self, i: u32, at: Position) {
        match self {
            EvictionOrder::Lru(o) => o.link(i),
            EvictionOrder::Lfu(o) => o.link_at_group_end(i),
            EvictionOrder::LfuHistory(o) => o.link_at_group_end(i),
            EvictionOrder::Size(o) => o.link(i, at.charge, at.tick),
            EvictionOrder::TinyLfu(o) => o.relink(i),
        }
    }

    /// The entry leaves the store.
    pub fn remove(&mut self, i: u32, at: Position) {
        self.unlink(i, at);
    }

    /// The entry leaves the store as a victim of `walk`, in the walk's order
    /// (orders that decide as they walk, W-TinyLFU, learn the outcome).
    pub fn evict(&mut self, i: u32, at: Position) {
        match self {
            EvictionOrder::TinyLfu(o) => o.evict(i),
            _ => self.unlink(i, at),
        }
    }

    /// The LFU access count of an entry (1 for other strategies).
    pub fn access_count(&self, i: u32) -> u64 {
        match self {
            EvictionOrder::Lfu(o) => o.count(i),
            EvictionOrder::LfuHistory(o) => o.count(i),
            _ => 1,
        }
    }

    /// Walks the linked entries in eviction order while `f` says go on.
    pub fn walk(&self, f: impl FnMut(u32) -> bool) {
        match self {
            EvictionOrder::Lru(o) => o.walk(f),
            EvictionOrder::Lfu(o) => o.walk(f),
            EvictionOrder::LfuHistory(o) => o.walk(f),
            EvictionOrder::Size(o) => o.walk(f),
            EvictionOrder::TinyLfu(o) => o.walk(f),
        }
    }

    pub fn clear(&mut self) {
        match self {
            EvictionOrder::Lru(o) => o.clear(),
            EvictionOrder::Lfu(o) => o.clear(),
            EvictionOrder::LfuHistory(o) => o.clear(),
            EvictionOrder::Size(o) => o.clear(),
            EvictionOrder::TinyLfu(o) => o.clear(),
        }
    }
}
