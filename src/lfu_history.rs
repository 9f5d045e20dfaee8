//! The ghost history of `lfu_history`: the LFU access counts of recently
//! evicted keys, so that a key that comes back resumes its count instead of
//! starting at 1 (a hot key evicted by a burst of new keys or a pressure
//! shed would otherwise re-enter as the first victim).
//!
//! A ghost is a 64-bit hash of the key (the entry table's hasher) and the
//! count, not the key: 16 bytes in the FIFO plus an 8-byte position in the
//! index, whatever the key's size. A hash collision (two keys with the same
//! 64-bit hash) only gives the key that comes back a wrong starting count:
//! that changes which entry the LFU order evicts first, never what a read
//! returns or what is charged, so it is harmless.
//!
//! The history is a FIFO bounded by the store's size: each ghost recorded
//! (on an eviction, after the evicted entry left the entry table) then
//! forgets the oldest ghosts while more than `max(HISTORY_FLOOR, entries
//! present)` remain. A key inserted while it has a ghost takes it (the
//! ghost leaves the history). Taken ghosts stay in the FIFO as tombstones
//! until they reach its front or a compaction drops them, so every
//! operation is O(1) amortized.

use std::collections::VecDeque;

use hashbrown::HashTable;

/// The fewest ghosts the history may hold, however few entries the store
/// holds (a store of 3 entries still remembers its last 64 evictions).
pub(crate) const HISTORY_FLOOR: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Ghost {
    hash: u64,
    /// The evicted entry's LFU count (>= 1); 0 marks a taken ghost.
    count: u32,
}

pub(crate) struct LfuHistory {
    /// Ghosts, oldest first; taken ones are tombstones (count 0).
    fifo: VecDeque<Ghost>,
    /// The position of `fifo[0]`: the ghost at `fifo[k]` has position
    /// `front + k` (positions only grow, so they identify a ghost).
    front: u64,
    /// Positions of the live ghosts, hashed by their key hash.
    index: HashTable<u64>,
}

impl LfuHistory {
    pub fn new() -> Self {
        LfuHistory {
            fifo: VecDeque::new(),
            front: 0,
            index: HashTable::new(),
        }
    }

    /// Live ghosts.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Makes room for `n` more ghosts: until then `record` allocates
    /// nothing.
    pub fn reserve(&mut self, n: usize) {
        self.fifo.reserve(n);
        let (fifo, front) = (&self.fifo, self.front);
        self.index.reserve(n, |&p| fifo[(p - front) as usize].hash);
    }

    /// Makes room for as many of `n` more ghosts as it can without failing;
    /// returns how many (n, or 0 when an allocation failed).
    pub fn try_reserve(&mut self, n: usize) -> usize {
        if self.fifo.try_reserve(n).is_err() {
            return 0;
        }
        let (fifo, front) = (&self.fifo, self.front);
        match self
            .index
            .try_reserve(n, |&p| fifo[(p - front) as usize].hash)
        {
            Ok(()) => n,
            Err(_) => 0,
        }
    }

    /// Remembers that the key with `hash` was evicted with `count`, then
    /// forgets the oldest ghosts while more than `max(HISTORY_FLOOR,
    /// entries)` remain (`entries`: the entries present after the
    /// eviction).
    pub fn record(&mut self, hash: u64, count: u32, entries: usize) {
        debug_assert!(count >= 1, "LFU counts start at 1");
        let pos = self.front + self.fifo.len() as u64;
        self.fifo.push_back(Ghost { hash, count });
        let (fifo, front) = (&self.fifo, self.front);
        self.index
            .insert_unique(hash, pos, |&p| fifo[(p - front) as usize].hash);
        let capacity = entries.max(HISTORY_FLOOR);
        while self.index.len() > capacity {
            self.pop_front();
        }
        self.drop_leading_tombstones();
        self.compact_if_sparse();
    }

    /// The count remembered for the key with `hash`, if any; the ghost
    /// leaves the history.
    pub fn take(&mut self, hash: u64) -> Option<u32> {
        let (fifo, front) = (&self.fifo, self.front);
        let entry = self
            .index
            .find_entry(hash, |&p| fifo[(p - front) as usize].hash == hash)
            .ok()?;
        let (pos, _) = entry.remove();
        let ghost = &mut self.fifo[(pos - self.front) as usize];
        let count = ghost.count;
        ghost.count = 0;
        self.drop_leading_tombstones();
        self.compact_if_sparse();
        Some(count)
    }

    fn pop_front(&mut self) {
        let Some(g) = self.fifo.pop_front() else {
            return;
        };
        let pos = self.front;
        self.front += 1;
        if g.count != 0 {
            match self.index.find_entry(g.hash, |&p| p == pos) {
                Ok(e) => {
                    e.remove();
                }
                Err(_) => unreachable!("a live ghost is indexed"),
            }
        }
    }

    fn drop_leading_tombstones(&mut self) {
        while self.fifo.front().is_some_and(|g| g.count == 0) {
            self.fifo.pop_front();
            self.front += 1;
        }
    }

    /// Drops every tombstone once they outnumber the live ghosts (plus the
    /// floor), so the FIFO stays within twice the history's bound and the
    /// O(n) compaction is paid for by the takes that made the tombstones.
    fn compact_if_sparse(&mut self) {
        if self.fifo.len() <= 2 * self.index.len() + HISTORY_FLOOR {
            return;
        }
        self.fifo.retain(|g| g.count != 0);
        self.front = 0;
        self.index.clear();
        let fifo = &self.fifo;
        for (k, g) in fifo.iter().enumerate() {
            self.index
                .insert_unique(g.hash, k as u64, |&p| fifo[p as usize].hash);
        }
    }

    /// Forgets every ghost.
    #[cfg(test)]
    pub fn clear(&mut self) {
        self.fifo.clear();
        self.front = 0;
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_ghost_leaves_and_the_oldest_go_first() {
        let mut h = LfuHistory::new();
        for k in 0..HISTORY_FLOOR as u64 {
            h.record(k, k as u32 + 1, 0);
        }
        assert_eq!(h.len(), HISTORY_FLOOR);
        assert_eq!(h.take(5), Some(6));
        assert_eq!(h.take(5), None);
        // Room for one more; then the oldest (0) goes.
        h.record(1000, 7, 0);
        assert_eq!(h.len(), HISTORY_FLOOR);
        h.record(1001, 8, 0);
        assert_eq!(h.take(0), None);
        assert_eq!(h.take(1), Some(2));
        // A larger store keeps more.
        for k in 2000..2100 {
            h.record(k, 3, 150);
        }
        assert_eq!(h.len(), 150);
        // Shrinking forgets down to the new bound at the next record.
        h.record(3000, 4, 10);
        assert_eq!(h.len(), HISTORY_FLOOR);
        assert_eq!(h.take(3000), Some(4));
        assert_eq!(h.take(2099), Some(3));
        assert_eq!(h.take(2036), None);
        assert_eq!(h.take(2037), Some(3));
        h.clear();
        assert_eq!((h.len(), h.take(2040)), (0, None));
    }

    /// Against a plain FIFO of (hash, count), over many records and takes
    /// (compactions included).
    #[test]
    fn matches_a_plain_fifo() {
        let mut h = LfuHistory::new();
        let mut model: VecDeque<(u64, u32)> = VecDeque::new();
        let mut next = crate::test_rng::xorshift();
        for step in 0..200_000u32 {
            let key = next(400);
            if next(3) == 0 {
                let entries = next(200) as usize;
                let count = 1 + step % 50;
                // A key is recorded only when absent (it was present).
                if !model.iter().any(|&(k, _)| k == key) {
                    h.record(key, count, entries);
                    model.push_back((key, count));
                    while model.len() > entries.max(HISTORY_FLOOR) {
                        model.pop_front();
                    }
                }
            } else {
                let want = model.iter().position(|&(k, _)| k == key).map(|p| {
                    let (_, c) = model.remove(p).unwrap();
                    c
                });
                assert_eq!(h.take(key), want, "step {step}");
            }
            assert_eq!(h.len(), model.len());
            assert!(h.fifo.len() <= 2 * h.len() + HISTORY_FLOOR);
        }
    }
}
