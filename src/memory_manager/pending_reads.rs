//! Read hits not yet applied to the order of an LRU store of several
//! shards (DESIGN.md §5, "Reads applied in batches").
//!
//! A hit is an access: it moves the entry to the back of the LRU list.
//! Done at once, every read writes the entry's links, its neighbours' and
//! the list's ends: lines that another core reading the same popular keys
//! wrote a moment before, so two threads on one store spend their time
//! passing those lines back and forth. A read instead notes the entry's
//! slot here, in the line it writes anyway (the lock's), and the notes are
//! applied in the order the reads were made, all at once, by whichever
//! comes first of:
//! - the read that fills the buffer;
//! - any other call on the shard (`MemoryManager::begin`), before it looks
//!   at or changes anything; the short-path replace of a present key
//!   (`replace_present`) notes its own move after them.
//!
//! So every call that can see the order (a victim choice, a snapshot, a
//! pass) sees it exactly as if each read had moved its entry at once: the
//! notes are the same accesses, applied in the same sequence, before
//! anything else happens. A slot in the buffer always names the entry that
//! was read: entries leave, and pins change, only in calls that apply the
//! notes first. A store of one shard, and the other strategies, apply a
//! read at once (`PendingReads::new`).

use std::hash::Hash;

use super::MemoryManager;
use crate::eviction_order::EvictionOrder;
use crate::eviction_strategy::EvictionStrategy;

/// How many reads wait at most: the notes, their count and the switch (36
/// bytes, then `MemoryManager::time_based`) share the shard's first line
/// with its lock and the hit and insert counters
/// (`MemoryManager` is `repr(C)` with these first), so that a read hit
/// writes that one line. A power of two (see `push`).
pub(super) const PENDING_READS: usize = 8;

/// The slots of the entries read since the order was last brought up to
/// date, oldest first.
pub(super) struct PendingReads {
    len: u8,
    slots: [u32; PENDING_READS],
    /// Whether reads are noted here at all: in an LRU store of several
    /// shards (`new`).
    pub(super) batch: bool,
}

impl PendingReads {
    /// Reads are noted in an LRU store of several shards, the configuration
    /// for threads working at once. In a store of one shard (the default)
    /// its one lock lets one thread in at a time anyway, and noting would
    /// cost each hit about 14 instructions (the bookkeeping and the
    /// out-of-line apply; bench/results/issue15-c-abi.md). The other
    /// strategies' reads write the sketch or counts anyway, and applying a
    /// note would re-read the entry.
    pub(super) fn new(shards: u32, strategy: EvictionStrategy) -> Self {
        PendingReads {
            len: 0,
            slots: [0; PENDING_READS],
            batch: shards > 1 && strategy == EvictionStrategy::Lru,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Notes a read of slot `i`; true when the buffer is now full.
    #[inline(always)]
    fn push(&mut self, i: u32) -> bool {
        // `len` < PENDING_READS here (a full buffer is applied at once), so
        // the mask changes nothing; it spares the bounds check.
        let n = self.len as usize;
        self.slots[n % PENDING_READS] = i;
        self.len += 1;
        n + 1 == PENDING_READS
    }
}

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Notes a read hit of slot `i`, to be applied to the order later (all
    /// notes are, before anything else looks at the order). An LRU store
    /// notes only entries in its list (not pinned): see `touch_read`.
    #[inline(always)]
    pub(super) fn note_read(&mut self, i: u32) {
        if self.pending.push(i) {
            self.apply_reads();
        }
    }

    /// Applies the reads noted so far, oldest first: the order is then what
    /// it would be had each read moved its entry at once.
    #[inline]
    pub(super) fn settle_reads(&mut self) {
        if !self.pending.is_empty() {
            self.apply_reads();
        }
    }

    /// Checks (in debug builds) that no read waits: what removes an entry
    /// or chooses a victim comes after `settle_reads`.
    #[inline(always)]
    pub(super) fn debug_assert_settled(&self) {
        debug_assert!(
            self.pending.is_empty(),
            "a call looked at the order before applying the pending reads"
        );
    }

    #[inline(never)]
    fn apply_reads(&mut self) {
        let n = (self.pending.len as usize).min(PENDING_READS);
        self.pending.len = 0;
        // Only LRU stores note reads (`PendingReads::new`), only linked
        // (unpinned) entries, and a pin settles the notes first: each note
        // is a move to the back.
        let EvictionOrder::Lru(o) = &mut self.order else {
            unreachable!("only LRU stores note reads");
        };
        for &i in &self.pending.slots[..n] {
            o.move_to_back(i);
        }
    }
}

#[cfg(test)]
impl<K, V> MemoryManager<K, V> {
    /// The bytes at the start of a `MemoryManager` that a read hit and a
    /// short-path replace touch: the pending reads, the time-based flag and
    /// the hit and insert counters (`repr(C)`, declared first).
    pub(crate) const HOT_BYTES: usize = std::mem::offset_of!(MemoryManager<K, V>, counters) + 16;
}
