//! The eviction order of the unpinned entries, per strategy. Pinned entries
//! are kept out of the order (so millions of pins cost eviction nothing);
//! an unpinned entry re-enters as the most recently used of its peers.
//! Entries held by read handles stay in the order and are skipped.

mod lfu;
mod linked_slots;
mod lru;
mod size;

use crate::eviction_strategy::EvictionStrategy;

use lfu::{LfuOrder, SortedGroups};
use lru::LruOrder;
use size::SizeOrder;

/// Where an entry stands: what the SIZE index keys on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub charge: u64,
    pub tick: u64,
}

pub(crate) enum EvictionOrder {
    Lru(LruOrder),
    Lfu(LfuOrder),
    /// LFU with `lfu_history`: the same order, with its groups also in a
    /// sorted set so that an insert with a remembered count is O(log groups).
    LfuHistory(LfuOrder<SortedGroups>),
    Size(SizeOrder),
}

impl EvictionOrder {
    /// `lfu_history` matters for LFU only.
    pub fn new(strategy: EvictionStrategy, lfu_history: bool) -> Self {
        match strategy {
            EvictionStrategy::Lru => EvictionOrder::Lru(LruOrder::new()),
            EvictionStrategy::Lfu if lfu_history => EvictionOrder::LfuHistory(LfuOrder::new()),
            EvictionStrategy::Lfu => EvictionOrder::Lfu(LfuOrder::new()),
            EvictionStrategy::Size => EvictionOrder::Size(SizeOrder::new()),
        }
    }

    /// A new entry; `linked` is false for a pinned one.
    /// Makes room for slot `i`, before an insert commits (what the SIZE
    /// order's B-tree allocates cannot be reserved).
    pub fn reserve(&mut self, i: u32) {
        match self {
            EvictionOrder::Lru(o) => o.reserve(i),
            EvictionOrder::Lfu(o) => o.reserve(i),
            EvictionOrder::LfuHistory(o) => o.reserve(i),
            EvictionOrder::Size(_) => {}
        }
    }

    pub fn insert(&mut self, i: u32, at: Position, linked: bool) {
        match self {
            EvictionOrder::Lru(o) if linked => o.link(i),
            EvictionOrder::Lfu(o) => o.insert(i, linked),
            EvictionOrder::LfuHistory(o) => o.insert(i, linked),
            EvictionOrder::Size(o) if linked => o.link(i, at.charge, at.tick),
            _ => {}
        }
    }

    /// A new entry whose LFU count starts at `count` (>= 1) instead of 1
    /// (`lfu_history`); for the other orders, the same as `insert`.
    pub fn insert_with_count(&mut self, i: u32, at: Position, linked: bool, count: u32) {
        match self {
            EvictionOrder::LfuHistory(o) => o.insert_with_count(i, count, linked),
            EvictionOrder::Lfu(o) => o.insert_with_count(i, count, linked),
            _ => self.insert(i, at, linked),
        }
    }

    /// An access or replace moved the entry from `old` to `new`; `linked`
    /// is false for a pinned entry. The hot path of every cache hit.
    #[inline]
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
                    o.unlink(i, old.charge, old.tick);
                    o.link(i, new.charge, new.tick);
                }
            }
        }
    }

    /// Takes a linked entry out of the order (pin).
    pub fn unlink(&mut self, i: u32, at: Position) {
        match self {
            EvictionOrder::Lru(o) => o.unlink(i),
            EvictionOrder::Lfu(o) => o.unlink(i),
            EvictionOrder::LfuHistory(o) => o.unlink(i),
            EvictionOrder::Size(o) => o.unlink(i, at.charge, at.tick),
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
        }
    }

    /// The entry leaves the store.
    pub fn remove(&mut self, i: u32, at: Position) {
        self.unlink(i, at);
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
        }
    }

    pub fn clear(&mut self) {
        match self {
            EvictionOrder::Lru(o) => o.clear(),
            EvictionOrder::Lfu(o) => o.clear(),
            EvictionOrder::LfuHistory(o) => o.clear(),
            EvictionOrder::Size(o) => o.clear(),
        }
    }
}
