//! `clear_unpinned` in one pass over the entry storage, where it applies:
//! every evicted entry is taken slot by slot (memory in order, no walk of
//! the eviction order from entry to entry), the index is rebuilt from the
//! entries that stay, and the order is emptied. What it costs a concurrent
//! reader: the shard's lock is held for the pass (DESIGN.md section 3).

use std::hash::Hash;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Evicts every evictable entry in one pass, if the order it empties
    /// holds nothing that stays: the strategy is LRU or SIZE (orders that
    /// are only positions, no history or frequencies that outlive an
    /// eviction) and every entry that stays is pinned (pinned entries are
    /// in no order; an unpinned entry held by a read handle is, and would
    /// lose its place). `None`, with nothing changed, where it does not
    /// apply: the caller then runs the chunked eviction. The listener sees
    /// the victims in slot order. `report`: the victims go to `fx` (for the
    /// listener, and for drops that may run user code after the lock);
    /// without it (no listener, keys and values whose drop does nothing)
    /// they are dropped here.
    pub fn clear_unpinned_in_one_pass(
        &mut self,
        report: bool,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> Option<usize> {
        if !matches!(self.order, EvictionOrder::Lru(_) | EvictionOrder::Size(_))
            || self.history.is_some()
        {
            return None;
        }
        self.debug_assert_settled();
        let mut count = 0usize;
        for (_, e) in self.entries.iter() {
            if !e.pinned() {
                if e.cell.in_use() {
                    return None;
                }
                count += 1;
            }
        }
        if count == 0 {
            return Some(0);
        }
        // Room for what the pass hands on, before anything changes.
        if report {
            fx.removed.reserve(count);
        }
        fx.events.reserve(2);
        let mut run = Run::default();
        let (usage, counters) = (&mut self.usage, &mut self.counters);
        self.entries.take_each(
            count,
            |e| !e.pinned(),
            |_, e| {
                let charge = e.charge();
                *usage -= charge;
                counters.evictions += 1;
                counters.evicted_bytes = counters.evicted_bytes.saturating_add(charge);
                run.count += 1;
                run.bytes = run.bytes.saturating_add(charge);
                if report {
                    fx.removed.push(Removed {
                        key: e.key,
                        cell: e.cell,
                        charge,
                        reason: EvictionReason::Manual,
                    });
                }
            },
        );
        // Every entry left is pinned, so in no order.
        self.order.clear();
        self.finish_run(run, EvictionReason::Manual, now, fx);
        self.update_level(now, fx);
        Some(count)
    }
}
