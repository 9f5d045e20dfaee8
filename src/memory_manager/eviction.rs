//! Choosing victims in strategy order and evicting them: short runs
//! within one call, long runs in chunks.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Evictable entries in strategy order, skipping `exclude`, until
    /// `done(freed)` or `max` victims. Returns the victims and their bytes.
    pub(super) fn collect_victims(
        &self,
        exclude: Option<u32>,
        max: usize,
        done: impl FnMut(u64) -> bool,
    ) -> (Vec<u32>, u64) {
        self.collect_victims_skipping(exclude, &[], max, done)
    }

    /// [`collect_victims`](Self::collect_victims) that also skips the slots
    /// in `skip` (sorted: expired entries a put removes before its victims).
    pub(super) fn collect_victims_skipping(
        &self,
        exclude: Option<u32>,
        skip: &[u32],
        max: usize,
        mut done: impl FnMut(u64) -> bool,
    ) -> (Vec<u32>, u64) {
        let mut victims = Vec::new();
        let mut freed = 0u64;
        if max == 0 || done(0) {
            return (victims, 0);
        }
        if self.signalled != MemoryPressureLevel::None && self.limits.bounded() {
            // Announce, before reading any reader count, that this scan may
            // leave usage above the held budget because of a handle. A
            // handle released meanwhile then sees the flag and restores the
            // budget (its count decrement and this store pair up as in
            // Dekker's algorithm: with SeqCst, one side sees the other).
            self.link
                .overdrawn
                .fetch_or(self.shard.bit(), Ordering::SeqCst);
        }
        let entries = &self.entries;
        self.order.walk(|i| {
            if Some(i) == exclude || (!skip.is_empty() && skip.binary_search(&i).is_ok()) {
                return true;
            }
            let e = entries.get(i);
            if !e.evictable() {
                return true;
            }
            victims.push(i);
            freed += e.charge();
            !(victims.len() >= max || done(freed))
        });
        (victims, freed)
    }

    /// A governor's victims (`RunGoal::Shed`): evictable entries in strategy
    /// order, at most `max`, until `freed + victims` reaches `need`; stops
    /// before the first victim whose removal would take the store's usage
    /// (this shard's, plus the others' as last published) below `floor`.
    /// The entry a put on this thread has just put (`governor::just_put`:
    /// the pass is that put's) is taken last, only if the others were not
    /// enough (or would cross the floor), as the store's own reactions
    /// never take it.
    fn collect_shed_victims(&self, max: usize, freed: u64, need: u64, floor: u64) -> Vec<u32> {
        let mut victims = Vec::new();
        let mut total = freed;
        let mut usage = self.store_usage();
        if total >= need {
            return victims;
        }
        let entries = &self.entries;
        let spared = crate::governor::just_put(self.link.store_id);
        let mut last = None;
        self.order.walk(|i| {
            let e = entries.get(i);
            if !e.evictable() {
                return true;
            }
            if last.is_none() && spared.is_some_and(|(h, _)| entries.hash_of(&e.key) == h) {
                last = Some(i);
                return true;
            }
            match usage.checked_sub(e.charge()) {
                Some(left) if left >= floor => usage = left,
                _ => return false,
            }
            total = total.saturating_add(e.charge());
            victims.push(i);
            victims.len() < max && total < need
        });
        // Also when the walk stopped at a victim that would cross the
        // floor: the entry just put, in its place, would not have.
        if let Some(i) = last
            && spared.is_some_and(|(_, strict)| !strict)
            && victims.len() < max
            && total < need
            && usage
                .checked_sub(entries.get(i).charge())
                .is_some_and(|left| left >= floor)
        {
            victims.push(i);
        }
        victims
    }

    /// Up to `max` evictable entries, least recently used first, whatever
    /// the strategy (O(n) when the strategy is not LRU).
    pub(super) fn collect_lru_victims(&self, max: usize) -> Vec<u32> {
        if matches!(self.order, EvictionOrder::Lru(_)) {
            return self.collect_victims(None, max, |_| false).0;
        }
        let mut c: Vec<(u64, u32)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.evictable())
            .map(|(i, e)| (e.tick(), i))
            .collect();
        if max < c.len() {
            c.select_nth_unstable(max);
            c.truncate(max);
        }
        c.sort_unstable();
        c.into_iter().map(|(_, i)| i).collect()
    }

    /// A put's threshold reaction, after the put committed, so it must not
    /// fail: victims as `collect_victims(Some(slot), max, done)` would pick,
    /// but only as many as the room it can get (fallibly) to record and
    /// report them; a failed allocation makes it evict fewer (the first in
    /// order), never unwind. Usage stays within the budget either way (the
    /// put's plan made room before it committed).
    pub(super) fn threshold_reaction(
        &mut self,
        slot: u32,
        max: usize,
        mut done: impl FnMut(u64) -> bool,
        run: &mut Run,
        fx: &mut Effects<K, V>,
    ) {
        if max == 0 || done(0) {
            return;
        }
        let mut victims: Vec<u32> = Vec::new();
        let mut freed = 0u64;
        let entries = &self.entries;
        self.order.walk(|i| {
            if i == slot {
                return true;
            }
            let e = entries.get(i);
            if !e.evictable() {
                return true;
            }
            if victims.len() == victims.capacity() && victims.try_reserve(1).is_err() {
                return false;
            }
            victims.push(i);
            freed += e.charge();
            !(victims.len() >= max || done(freed))
        });
        let mut n = victims.len();
        if fx.removed.try_reserve(n).is_err() {
            n = fx.removed.capacity() - fx.removed.len();
        }
        if !self.entries.try_reserve_removals(n) || !self.order.try_reserve_evictions() {
            n = 0;
        }
        if let Some(history) = &mut self.history {
            n = history.try_reserve(n);
        }
        self.evict_slots(
            &victims[..n.min(victims.len())],
            EvictionReason::Capacity,
            run,
            fx,
        );
    }

    #[inline]
    pub(super) fn evict_slots(
        &mut self,
        victims: &[u32],
        reason: EvictionReason,
        run: &mut Run,
        fx: &mut Effects<K, V>,
    ) {
        if !victims.is_empty() {
            self.evict_victims(victims, reason, run, fx);
        }
    }

    fn evict_victims(
        &mut self,
        victims: &[u32],
        reason: EvictionReason,
        run: &mut Run,
        fx: &mut Effects<K, V>,
    ) {
        self.debug_assert_settled();
        // Room first: an allocation failing below would leave a victim half
        // removed.
        fx.removed.reserve(victims.len());
        self.entries.reserve_removals(victims.len());
        self.order.reserve_evictions();
        if let Some(history) = &mut self.history {
            history.reserve(victims.len());
        }
        for &i in victims {
            let e = self.entries.remove(i);
            debug_assert!(!e.pinned());
            let charge = e.charge();
            if let Some(history) = &mut self.history {
                // Remembered with the entries that remain (the victim has
                // left the table) as the history's bound.
                let count = u32::try_from(self.order.access_count(i)).unwrap_or(u32::MAX);
                history.record(self.entries.hash_of(&e.key), count, self.entries.len());
            }
            self.order.evict(
                i,
                Position {
                    charge,
                    tick: e.tick(),
                },
            );
            self.usage -= charge;
            self.counters.evictions += 1;
            self.counters.evicted_bytes = self.counters.evicted_bytes.saturating_add(charge);
            run.count += 1;
            run.bytes = run.bytes.saturating_add(charge);
            fx.removed.push(Removed {
                key: e.key,
                cell: e.cell,
                charge,
                reason,
            });
        }
    }

    pub(super) fn finish_run(
        &mut self,
        run: Run,
        reason: EvictionReason,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) {
        if run.count > 0 {
            let mut e = self.event(EventKind::Eviction, self.level(), now);
            e.reason = reason;
            e.count = run.count;
            e.bytes = run.bytes;
            fx.events.push(e);
        }
    }

    /// Evicts, in strategy order, at most `chunk` victims toward the run's
    /// goal. Returns whether the run is over (goal reached or nothing left
    /// to evict). Long runs (a signal shedding 100,000 entries) go chunk by
    /// chunk, the store's lock released in between, so that other threads'
    /// calls wait at most one chunk.
    pub fn run_chunk(&mut self, run: &mut LongRun, chunk: usize, fx: &mut Effects<K, V>) -> bool {
        // A signal's shed ends when a later signal arrived, or when the
        // signal itself ended (`signal_decay_ms`, applied by this chunk's
        // `begin`): what is put after it must not go as PRESSURE.
        if run
            .signal
            .is_some_and(|n| n != self.signal_number || self.signalled == MemoryPressureLevel::None)
        {
            return true;
        }
        let usage = self.usage;
        let (victims, want) = match run.goal {
            RunGoal::UsageAtMost(target) => {
                let (v, _) = self.collect_victims(None, chunk, |f| usage - f <= target);
                (v, chunk)
            }
            RunGoal::Count(remaining) => {
                let want = remaining.min(chunk);
                (self.collect_victims(None, want, |_| false).0, want)
            }
            RunGoal::All => (self.collect_victims(None, chunk, |_| false).0, chunk),
            RunGoal::BudgetInForce => match self.limits.budget_in_force(self.signalled) {
                Some(target) => {
                    let (v, _) = self.collect_victims(None, chunk, |f| usage - f <= target);
                    (v, chunk)
                }
                None => (Vec::new(), chunk),
            },
            RunGoal::Shed { need, floor } => (
                self.collect_shed_victims(chunk, run.run.bytes, need, floor),
                chunk,
            ),
        };
        self.evict_slots(&victims, run.reason, &mut run.run, fx);
        if let RunGoal::Count(remaining) = &mut run.goal {
            *remaining -= victims.len();
        }
        // A governor's take stops at the first victim that would cross the
        // floor, in the order as it is then: TINY_LFU's walk changes with
        // each eviction (an evicted victim admits the candidate it lost
        // to), so a chunk that stopped there walks again, and the run ends
        // only when a walk takes nothing (before, a TINY_LFU member under
        // EMERGENCY kept an entry whose removal left it at its floor).
        let walked_out = match run.goal {
            RunGoal::Shed { .. } => victims.is_empty(),
            _ => victims.len() < want,
        };
        walked_out
            || match run.goal {
                RunGoal::UsageAtMost(target) => self.usage <= target,
                RunGoal::Count(remaining) => remaining == 0,
                RunGoal::All => false,
                RunGoal::BudgetInForce => !self.overdrawn(),
                RunGoal::Shed { need, .. } => run.run.bytes >= need,
            }
    }

    /// Ends a long run: its one EVICTION event, then the level.
    pub fn run_finish(&mut self, run: LongRun, now: &Now<'_>, fx: &mut Effects<K, V>) {
        if run.signal.is_some_and(|n| n == self.shedding) {
            self.shedding = 0;
        }
        self.finish_run(run.run, run.reason, now, fx);
        self.update_level(now, fx);
    }

    /// `evict_lru` when the strategy is not LRU: one O(n) selection.
    pub fn evict_lru_by_recency(
        &mut self,
        count: usize,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> usize {
        let victims = self.collect_lru_victims(count);
        let mut run = Run::default();
        self.evict_slots(&victims, EvictionReason::Manual, &mut run, fx);
        self.finish_run(run, EvictionReason::Manual, now, fx);
        self.update_level(now, fx);
        victims.len()
    }
}
