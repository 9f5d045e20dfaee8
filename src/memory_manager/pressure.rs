//! Signals, the budget in force, and restoring it.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Whether usage is above the budget in force (only pinned and in-use
    /// entries can hold it there).
    pub fn overdrawn(&self) -> bool {
        self.limits
            .budget_in_force(self.signalled)
            .is_some_and(|b| self.usage > b)
    }

    /// What every call does last, under the lock: publishes what other
    /// threads read without it (the overdrawn flag, the store's usage).
    #[inline(always)]
    pub fn end_call(&mut self) {
        self.publish_overdrawn();
        self.publish_usage();
    }

    /// Records, for read handles, whether usage is above the budget in force
    /// (written only when it changes: the flag is read by every handle
    /// release, so it should not bounce between cores).
    #[inline(always)]
    fn publish_overdrawn(&self) {
        // Without a signal the configured budget always holds.
        let overdrawn = self.signalled != MemoryPressureLevel::None && self.overdrawn();
        let bit = self.shard.bit();
        let flags = self.link.overdrawn.load(Ordering::Relaxed);
        if (flags & bit != 0) != overdrawn {
            if overdrawn {
                self.link.overdrawn.fetch_or(bit, Ordering::SeqCst);
            } else {
                self.link.overdrawn.fetch_and(!bit, Ordering::SeqCst);
            }
        }
    }

    /// The run that brings usage back within the budget in force, if it is
    /// above it: what keeps `usage <= budget` once a pin ends or the last
    /// read handle of a protected entry is released. Expired entries go
    /// first (EXPIRED), as for a signal's shed; the run evicts what is still
    /// above, reason PRESSURE under a signal (the only time protected
    /// entries can hold usage above the budget), else CAPACITY.
    pub fn budget_run(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) -> Option<LongRun> {
        if !self.overdrawn() {
            return None;
        }
        if self.remove_due_expired(now, fx) > 0 && !self.overdrawn() {
            return None;
        }
        let reason = if self.signalled > MemoryPressureLevel::None {
            EvictionReason::Pressure
        } else {
            EvictionReason::Capacity
        };
        Some(LongRun::new(RunGoal::BudgetInForce, reason))
    }

    /// A signalled level. At or above the signalled level in force it sheds;
    /// below, it only changes the held budget, unless it stops the shed of
    /// an earlier signal still in progress (given at once on another
    /// thread): then it sheds as if that one had not come, so the store
    /// ends where the later signal alone would have left it.
    /// Takes a signal: the level (and its event) now, and the shedding it
    /// asks for as a long run, if any.
    pub fn signal(
        &mut self,
        level: MemoryPressureLevel,
        number: u64,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> Option<LongRun> {
        // An older signal than the last applied (two given at once, this
        // one overtaken on the way): the newer one stands.
        if number < self.signal_number {
            return None;
        }
        self.signal_number = number;
        let previous = self.signalled;
        let interrupting = self.shedding != 0;
        self.set_signalled(level, now, fx);
        self.signal_at_ns = now.get();
        self.update_level(now, fx);
        if level == MemoryPressureLevel::None || (level < previous && !interrupting) {
            self.shedding = 0;
            return None;
        }
        self.shedding = number;
        let usage = self.usage;
        let keep = |k: f64| {
            let t = (usage as f64 * k).floor() as u64;
            match self.limits.budget_in_force(level) {
                Some(b) => t.min(b),
                None => t,
            }
        };
        let target = match level {
            MemoryPressureLevel::Moderate => keep(self.config.signal_moderate_keep),
            MemoryPressureLevel::Critical => keep(self.config.signal_critical_keep),
            _ => 0,
        };
        // Expired entries go first (EXPIRED), toward the same target.
        self.remove_due_expired(now, fx);
        Some(
            LongRun::new(RunGoal::UsageAtMost(target), EvictionReason::Pressure).for_signal(number),
        )
    }

    /// Removes every expired entry the deadline queue finds (EXPIRED, not
    /// counted as evictions): what a signal's shed, the budget's restore and
    /// a governor's pass do before they evict live entries. How many.
    pub fn remove_due_expired(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) -> usize {
        if !self.expiry_on() {
            return 0;
        }
        let expired = self.take_expired(None);
        if expired.is_empty() {
            return 0;
        }
        self.remove_expired(expired, now, fx)
    }

    /// The expired entries a budget of `max` bytes takes before live ones
    /// (see `plan_max_bytes`): none unless it needs room. Their queue items
    /// are taken: give them back with `requeue_expired` if the change is
    /// refused.
    pub fn expired_for_max_bytes(&mut self, max: u64) -> Vec<u32> {
        let limits = self.config.limits(self.shard.share(max));
        let needs_room = limits
            .budget_in_force(self.signalled)
            .is_some_and(|b| self.usage > b);
        if self.expiry_on() && needs_room {
            self.take_expired(None)
        } else {
            Vec::new()
        }
    }

    /// Checks that the store's budget can become `max` bytes (this shard's
    /// share of it), and which entries must go once the expired entries
    /// `expired` (sorted) are gone. Changes nothing.
    pub fn plan_max_bytes(&self, max: u64, expired: &[u32]) -> Result<Vec<u32>> {
        let share = self.shard.share(max);
        let limits = self.config.limits(share);
        let usage = self.usage - self.charges_of(expired);
        let (victims, freed) = match limits.budget_in_force(self.signalled) {
            Some(b) if usage > b => {
                self.collect_victims_skipping(None, expired, usize::MAX, |f| usage - f <= b)
            }
            _ => (Vec::new(), 0),
        };
        if max != 0 && usage - freed > share {
            let whose = if share == max {
                format!("the new budget of {max} bytes")
            } else {
                format!("this shard's share ({share} bytes) of the new budget of {max} bytes")
            };
            return Err(Error::new(
                ErrorKind::OverBudget,
                format!(
                    "pinned and in-use entries alone hold {} bytes, more than {whose}",
                    usage - freed
                ),
            ));
        }
        Ok(victims)
    }

    /// Sets the budget as planned by `plan_max_bytes` (same lock hold).
    pub fn apply_max_bytes(
        &mut self,
        max: u64,
        (expired, victims): (Vec<u32>, Vec<u32>),
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) {
        let limits = self.config.limits(self.shard.share(max));
        self.config.max_cache_bytes = max;
        self.limits = limits;
        if !expired.is_empty() {
            self.remove_expired_within(expired, now, fx);
        }
        let mut run = Run::default();
        self.evict_slots(&victims, EvictionReason::Capacity, &mut run, fx);
        self.finish_run(run, EvictionReason::Capacity, now, fx);
        self.update_level(now, fx);
    }
}
