//! Long eviction runs (a signal's shedding, `evict`, `clear_unpinned`, the
//! budget restored after a pin or a read handle let go): chunk by chunk,
//! with the shard's lock handed over fairly in between so that a concurrent
//! reader waits at most one chunk.

use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Shared;
use crate::clock::Now;
use crate::events::EvictionReason;
use crate::held_panic::HeldPanic;
use crate::memory_manager::{Effects, LongRun, MemoryManager, RunGoal};
use crate::value_handle::BudgetKeeper;

/// Counts a long run in progress for as long as it lives (unwinding too).
struct LongRunGuard<'a>(&'a AtomicUsize);

impl<'a> LongRunGuard<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        LongRunGuard(count)
    }
}

impl Drop for LongRunGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most entries one hold of the lock evicts in a long run (a signal's
/// shedding, `evict`, `clear_unpinned`): a concurrent reader waits at most
/// this many evictions.
const EVICTION_CHUNK: usize = 128;

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Runs a long eviction run chunk by chunk, releasing the lock (and
    /// delivering what each chunk removed) in between; returns the entries
    /// and the charged bytes it evicted. A callback's panic is held in
    /// `held` (the caller resumes it once its own work is done), and the run
    /// reaches its goal first (`held_panic`).
    pub(super) fn long_run_held(
        &self,
        shard: usize,
        mut run: LongRun,
        held: &mut HeldPanic,
    ) -> (usize, u64) {
        let in_progress = LongRunGuard::enter(&self.long_runs);
        loop {
            let mut fx = Effects::default();
            let done = self.lock_collect_with(shard, true, &mut fx, |m, _, fx| {
                m.run_chunk(&mut run, EVICTION_CHUNK, fx)
            });
            self.deliver_held(&mut fx, held);
            if done {
                break;
            }
        }
        let evicted = (run.count(), run.bytes());
        self.locked_held(shard, held, |m, now, fx| m.run_finish(run, now, fx));
        drop(in_progress);
        // A handle released during the run left the budget to it.
        if self.link.recheck.swap(false, Ordering::SeqCst) {
            self.restore_budget_held(held);
        }
        evicted
    }

    /// `Store::clear_unpinned`: every shard, one pass over its storage where
    /// that applies (LRU or SIZE, every entry that stays pinned), else in
    /// chunks like any long run, after its expired entries (removed as
    /// EXPIRED, not counted); a callback's panic goes on once every shard
    /// is cleared.
    pub(super) fn clear_unpinned(&self) -> usize {
        let mut held = HeldPanic::new();
        let report = self.listener.get().is_some()
            || std::mem::needs_drop::<K>()
            || std::mem::needs_drop::<V>();
        let cleared = (0..self.shards.len())
            .map(|shard| {
                let one_pass = self.locked_held(shard, &mut held, |m, now, fx| {
                    // Expired entries leave first, as EXPIRED and uncounted.
                    m.sweep_expired(now, fx);
                    m.clear_unpinned_in_one_pass(report, now, fx)
                });
                one_pass.unwrap_or_else(|| {
                    let run = LongRun::new(RunGoal::All, EvictionReason::Manual);
                    self.long_run_held(shard, run, &mut held).0
                })
            })
            .sum();
        held.resume();
        cleared
    }

    /// Evicts each shard down to its budget in force, if above it (every
    /// shard, before a callback's panic goes on).
    pub(super) fn restore_budget(&self) {
        let mut held = HeldPanic::new();
        self.restore_budget_held(&mut held);
        held.resume();
    }

    fn restore_budget_held(&self, held: &mut HeldPanic) {
        self.each_with_run(held, |m, now, fx| m.budget_run(now, fx));
    }

    /// Runs `f` on every shard in turn under its lock, and the long run it
    /// asks for (if any) before the next shard; a callback's panic is held
    /// in `held`.
    pub(super) fn each_with_run(
        &self,
        held: &mut HeldPanic,
        mut f: impl FnMut(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> Option<LongRun>,
    ) {
        for shard in 0..self.shards.len() {
            if let Some(run) = self.locked_held(shard, held, &mut f) {
                self.long_run_held(shard, run, held);
            }
        }
    }
}

impl<K, V> BudgetKeeper for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Called by the release of a handle that may have held usage above the
    /// budget (it set `link.recheck` first). A long run in progress restores
    /// the budget when it ends, so the releasing thread does not do its work:
    /// the run's decrement of `long_runs` and check of `recheck` pair with
    /// the release's store of `recheck` and read of `long_runs` (SeqCst), so
    /// one of the two always does it.
    fn enforce_budget(&self) {
        if self.long_runs.load(Ordering::SeqCst) > 0 {
            return;
        }
        self.link.recheck.store(false, Ordering::SeqCst);
        self.restore_budget();
    }
}
