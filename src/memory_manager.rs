//! The accounting and the reactions: what is present, what it is charged,
//! what is pinned or in use, and which entries go when the budget or a
//! signal asks. Everything here runs under the store's lock and calls no
//! user code: it records what to report (events, removed entries) in
//! [`Effects`] for the store to deliver after the lock is released.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Now;
use crate::entry_table::{Entry, EntryTable};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventKind, EvictionReason};
use crate::eviction_order::{EvictionOrder, Position};
use crate::eviction_strategy::EvictionStrategy;
use crate::loader::{InFlight, LoadSlot};
use crate::memory_config::{Limits, MemoryConfig};
use crate::memory_metrics::MemoryMetrics;
use crate::memory_pressure_level::MemoryPressureLevel;
use crate::pin_set::PinSet;
use crate::value_handle::{HandleLink, Stored, ValueCell, ValueHandle};

/// An entry that left the store during a call.
pub(crate) struct Removed<K, V> {
    pub key: K,
    pub cell: ValueCell<V>,
    pub charge: u64,
    pub reason: EvictionReason,
}

/// A put that was refused: its error, and what it was given back, to be
/// dropped (or returned) after the lock is released.
pub(crate) struct Rejected<K, V> {
    pub error: Error,
    pub key: K,
    pub cell: ValueCell<V>,
}

/// What a call must report once the lock is released.
pub(crate) struct Effects<K, V> {
    pub removed: Vec<Removed<K, V>>,
    pub events: Vec<Event>,
}

impl<K, V> Default for Effects<K, V> {
    fn default() -> Self {
        Effects {
            removed: Vec::new(),
            events: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    hits: u64,
    misses: u64,
    inserts: u64,
    evictions: u64,
    evicted_bytes: u64,
    loads: u64,
    load_failures: u64,
    peak: u64,
}

/// What a put will do, decided before anything changes.
struct PutPlan {
    existing: Option<u32>,
    pinned: bool,
    old_charge: u64,
    victims: Vec<u32>,
}

/// Where a long eviction run stops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RunGoal {
    /// Usage at or below this many bytes (a signal's shedding).
    UsageAtMost(u64),
    /// This many more entries (`evict(n)`).
    Count(usize),
    /// Every evictable entry (`clear_unpinned`).
    All,
    /// Usage at or below the budget in force, read at each chunk (what a
    /// released handle or pin asks for).
    BudgetInForce,
}

/// An eviction run done in chunks (see `MemoryManager::run_chunk`).
pub(crate) struct LongRun {
    goal: RunGoal,
    reason: EvictionReason,
    run: Run,
}

impl LongRun {
    pub fn new(goal: RunGoal, reason: EvictionReason) -> Self {
        LongRun {
            goal,
            reason,
            run: Run::default(),
        }
    }

    /// Entries evicted so far.
    pub fn count(&self) -> usize {
        self.run.count as usize
    }
}

#[derive(Default)]
struct Run {
    count: u64,
    bytes: u64,
}

/// How `get_or_load` goes on after looking the key up.
pub(crate) enum LoadStart<V> {
    Hit(ValueHandle<V>),
    /// Another caller is loading the key: wait for its result.
    Wait(Arc<LoadSlot<V>>),
    /// This caller must run the loader and then call `finish_load`.
    Load(Arc<LoadSlot<V>>),
}

pub(crate) struct MemoryManager<K, V> {
    config: MemoryConfig,
    limits: Limits,
    entries: EntryTable<K, V>,
    order: EvictionOrder,
    pins: PinSet<K>,
    usage: u64,
    pinned_count: u64,
    pinned_bytes: u64,
    counters: Counters,
    signalled: MemoryPressureLevel,
    signal_at_ns: u64,
    reported: MemoryPressureLevel,
    next_tick: u64,
    sequence: Arc<AtomicU64>,
    link: Arc<HandleLink>,
    loads: HashMap<K, InFlight<V>, foldhash::fast::RandomState>,
}

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    pub fn new(
        config: MemoryConfig,
        signalled: MemoryPressureLevel,
        start_ns: u64,
        sequence: Arc<AtomicU64>,
        link: Arc<HandleLink>,
    ) -> Self {
        let limits = config.limits(config.max_cache_bytes);
        MemoryManager {
            order: EvictionOrder::new(config.strategy),
            config,
            limits,
            entries: EntryTable::new(),
            pins: PinSet::new(),
            usage: 0,
            pinned_count: 0,
            pinned_bytes: 0,
            counters: Counters::default(),
            signalled,
            signal_at_ns: start_ns,
            reported: signalled,
            next_tick: 0,
            sequence,
            link,
            loads: HashMap::default(),
        }
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    // ---- events and levels -------------------------------------------------

    fn event(&self, kind: EventKind, previous: MemoryPressureLevel, now: &Now<'_>) -> Event {
        Event {
            kind,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
            level: self.reported,
            previous_level: previous,
            reason: EvictionReason::Capacity,
            count: 0,
            bytes: 0,
            usage_bytes: self.usage,
            timestamp_ns: now.get(),
        }
    }

    /// Reports a change of the reported level, if any.
    fn update_level(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let level = self.limits.usage_level(self.usage).max(self.signalled);
        if level != self.reported {
            let previous = self.reported;
            self.reported = level;
            fx.events
                .push(self.event(EventKind::PressureChanged, previous, now));
        }
    }

    /// Ends a signal that was not repeated within `signal_decay_ms`.
    #[inline]
    fn apply_decay(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        if self.signalled == MemoryPressureLevel::None || self.config.signal_decay_ms == 0 {
            return;
        }
        let decay_ns = self.config.signal_decay_ms.saturating_mul(1_000_000);
        if now.get().saturating_sub(self.signal_at_ns) >= decay_ns {
            self.signalled = MemoryPressureLevel::None;
            self.update_level(now, fx);
        }
    }

    /// Every call starts here: time-based state is brought up to date.
    #[inline]
    pub fn begin(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        self.apply_decay(now, fx);
    }

    pub fn level(&self) -> MemoryPressureLevel {
        self.reported
    }

    // ---- eviction ----------------------------------------------------------

    /// Evictable entries in strategy order, skipping `exclude`, until
    /// `done(freed)` or `max` victims. Returns the victims and their bytes.
    fn collect_victims(
        &self,
        exclude: Option<u32>,
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
            self.link.overdrawn.store(true, Ordering::SeqCst);
        }
        let entries = &self.entries;
        self.order.walk(|i| {
            if Some(i) == exclude {
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

    /// Up to `max` evictable entries, least recently used first, whatever
    /// the strategy (O(n) when the strategy is not LRU).
    fn collect_lru_victims(&self, max: usize) -> Vec<u32> {
        if matches!(self.order, EvictionOrder::Lru(_)) {
            return self.collect_victims(None, max, |_| false).0;
        }
        let mut c: Vec<(u64, u32)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.evictable())
            .map(|(i, e)| (e.tick, i))
            .collect();
        if max < c.len() {
            c.select_nth_unstable(max);
            c.truncate(max);
        }
        c.sort_unstable();
        c.into_iter().map(|(_, i)| i).collect()
    }

    fn evict_slots(
        &mut self,
        victims: &[u32],
        reason: EvictionReason,
        run: &mut Run,
        fx: &mut Effects<K, V>,
    ) {
        fx.removed.reserve(victims.len());
        for &i in victims {
            let e = self.entries.remove(i);
            debug_assert!(!e.pinned);
            let charge = e.charge();
            self.order.remove(
                i,
                Position {
                    charge,
                    tick: e.tick,
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

    fn finish_run(
        &mut self,
        run: Run,
        reason: EvictionReason,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) {
        if run.count > 0 {
            let mut e = self.event(EventKind::Eviction, self.reported, now);
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
        };
        self.evict_slots(&victims, run.reason, &mut run.run, fx);
        if let RunGoal::Count(remaining) = &mut run.goal {
            *remaining -= victims.len();
        }
        victims.len() < want
            || match run.goal {
                RunGoal::UsageAtMost(target) => self.usage <= target,
                RunGoal::Count(remaining) => remaining == 0,
                RunGoal::All => false,
                RunGoal::BudgetInForce => !self.overdrawn(),
            }
    }

    /// Ends a long run: its one EVICTION event, then the level.
    pub fn run_finish(&mut self, run: LongRun, now: &Now<'_>, fx: &mut Effects<K, V>) {
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

    // ---- entries -----------------------------------------------------------

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn supersede_load<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.loads.is_empty()
            && let Some(f) = self.loads.get_mut(key)
        {
            f.superseded = true;
        }
    }

    /// Checks whether `key` charged `charge` can be put, and which entries
    /// must go to make room. Changes nothing.
    fn plan_put(&self, key: &K, charge: u64) -> Result<PutPlan> {
        let limits = self.limits;
        if limits.bounded() && charge > limits.max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "an entry charged {charge} bytes exceeds the budget of {} bytes",
                    limits.max
                ),
            ));
        }
        let existing = self.entries.find(key);
        let pinned = match existing {
            Some(i) => self.entries.get(i).pinned,
            None => self.pins.contains(key),
        };
        if self.signalled == MemoryPressureLevel::Emergency && !pinned {
            return Err(Error::new(
                ErrorKind::OverBudget,
                "an EMERGENCY pressure signal is in force: only pinned keys may be put until it ends",
            ));
        }
        let old_charge = existing.map_or(0, |i| self.entries.get(i).charge());
        let base = self.usage - old_charge;
        let Some(new_usage) = base.checked_add(charge) else {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("an entry charged {charge} bytes overflows the usage of {base} bytes"),
            ));
        };
        let mut victims = Vec::new();
        if let Some(budget) = limits.budget_in_force(self.signalled)
            && new_usage > budget
        {
            let need = new_usage - budget;
            let pinned_others = self.pinned_bytes - if pinned { old_charge } else { 0 };
            let over = |detail: &str| {
                Error::new(
                    ErrorKind::OverBudget,
                    format!(
                        "an entry charged {charge} bytes cannot fit in the budget in force \
                         ({budget} bytes) {detail}"
                    ),
                )
            };
            if base - pinned_others < need {
                return Err(over("even after evicting every unpinned entry"));
            }
            let (v, freed) = self.collect_victims(existing, usize::MAX, |f| f >= need);
            if freed < need {
                return Err(over("even after evicting every entry not pinned or in use"));
            }
            victims = v;
        }
        Ok(PutPlan {
            existing,
            pinned,
            old_charge,
            victims,
        })
    }

    /// Inserts or replaces `key`. On error nothing has changed and the key
    /// and value come back, to be dropped after the lock is released.
    pub fn put(
        &mut self,
        key: K,
        cell: ValueCell<V>,
        charge: u64,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> std::result::Result<(), Rejected<K, V>> {
        let plan = match self.plan_put(&key, charge) {
            Ok(plan) => plan,
            Err(error) => return Err(Rejected { error, key, cell }),
        };
        let PutPlan {
            existing,
            pinned,
            old_charge,
            victims,
        } = plan;
        let limits = self.limits;

        // Committed from here on: nothing below fails.
        self.supersede_load(&key);
        let mut run = Run::default();
        self.evict_slots(&victims, EvictionReason::Capacity, &mut run, fx);
        let tick = self.tick();
        let slot = match existing {
            Some(i) => {
                let e = self.entries.get_mut(i);
                let old_at = Position {
                    charge: e.charge(),
                    tick: e.tick,
                };
                let old = std::mem::replace(&mut e.cell, cell);
                e.charge = charge;
                e.tick = tick;
                let linked = !e.pinned;
                if e.pinned {
                    self.pinned_bytes = self.pinned_bytes - old_charge + charge;
                }
                self.order
                    .touch(i, old_at, Position { charge, tick }, linked);
                fx.removed.push(Removed {
                    key,
                    cell: old,
                    charge: old_charge,
                    reason: EvictionReason::Replaced,
                });
                i
            }
            None => {
                let i = self.entries.insert(Entry {
                    key,
                    cell,
                    charge,
                    tick,
                    pinned,
                });
                self.order.insert(i, Position { charge, tick }, !pinned);
                if pinned {
                    self.pinned_count += 1;
                    self.pinned_bytes += charge;
                }
                i
            }
        };
        self.usage = self.usage - old_charge + charge;
        self.counters.inserts += 1;
        self.counters.peak = self.counters.peak.max(self.usage);
        self.update_level(now, fx);

        let usage = self.usage;
        let max = match limits.usage_level(usage) {
            MemoryPressureLevel::Moderate => self.config.eviction_batch_size,
            MemoryPressureLevel::Critical => usize::MAX,
            _ => 0,
        };
        let (v, _) = self.collect_victims(Some(slot), max, |f| usage - f < limits.moderate_at);
        self.evict_slots(&v, EvictionReason::Capacity, &mut run, fx);
        self.finish_run(run, EvictionReason::Capacity, now, fx);
        self.update_level(now, fx);
        Ok(())
    }

    /// A read: a hit is an access and returns a handle.
    pub fn get<Q>(&mut self, key: &Q) -> Option<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.find(key) {
            None => {
                self.counters.misses += 1;
                None
            }
            Some(i) => {
                self.counters.hits += 1;
                self.touch(i);
                let e = self.entries.get_mut(i);
                let charge = e.charge;
                Some(ValueHandle::acquire(e.cell.share(charge), &self.link))
            }
        }
    }

    /// A read that lends the value to `f` (library code, under the lock). It
    /// is an access only if `f` succeeds; a miss is `NOT_FOUND`.
    pub fn peek_with<Q, R>(&mut self, key: &Q, f: impl FnOnce(&V) -> Result<R>) -> Result<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(i) = self.entries.find(key) else {
            self.counters.misses += 1;
            return Err(Error::not_found("no entry with this key"));
        };
        let r = f(self.entries.get(i).cell.value())?;
        self.counters.hits += 1;
        self.touch(i);
        Ok(r)
    }

    fn touch(&mut self, i: u32) {
        let tick = self.tick();
        let e = self.entries.get_mut(i);
        let old = Position {
            charge: e.charge(),
            tick: e.tick,
        };
        e.tick = tick;
        let new = Position {
            charge: old.charge,
            tick,
        };
        let linked = !e.pinned;
        self.order.touch(i, old, new, linked);
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.find(key).is_some()
    }

    fn remove_slot(&mut self, i: u32, fx: &mut Effects<K, V>) {
        let e = self.entries.remove(i);
        let charge = e.charge();
        if e.pinned {
            self.pinned_count -= 1;
            self.pinned_bytes -= charge;
        }
        self.order.remove(
            i,
            Position {
                charge,
                tick: e.tick,
            },
        );
        self.usage -= charge;
        fx.removed.push(Removed {
            key: e.key,
            cell: e.cell,
            charge: e.charge,
            reason: EvictionReason::Removed,
        });
    }

    /// Removes `key`, pinned or not (its pin stays).
    pub fn remove<Q>(&mut self, key: &Q, now: &Now<'_>, fx: &mut Effects<K, V>) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.supersede_load(key);
        let Some(i) = self.entries.find(key) else {
            return Err(Error::not_found("no entry with this key"));
        };
        self.remove_slot(i, fx);
        self.update_level(now, fx);
        Ok(())
    }

    /// Removes every entry, pinned too; pins stay.
    pub fn clear(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) -> usize {
        for f in self.loads.values_mut() {
            f.superseded = true;
        }
        let drained = self.entries.drain();
        let n = drained.len();
        fx.removed.reserve(n);
        fx.removed.extend(drained.into_iter().map(|e| Removed {
            key: e.key,
            cell: e.cell,
            charge: e.charge,
            reason: EvictionReason::Removed,
        }));
        self.order.clear();
        self.usage = 0;
        self.pinned_count = 0;
        self.pinned_bytes = 0;
        self.update_level(now, fx);
        n
    }

    // ---- pins --------------------------------------------------------------

    pub fn pin(&mut self, key: K) {
        let present = self.entries.find(&key);
        if !self.pins.pin(key) {
            return;
        }
        if let Some(i) = present {
            let e = self.entries.get_mut(i);
            e.pinned = true;
            let at = Position {
                charge: e.charge(),
                tick: e.tick,
            };
            self.order.unlink(i, at);
            self.pinned_count += 1;
            self.pinned_bytes += at.charge;
        }
    }

    pub fn unpin<Q>(&mut self, key: &Q, now: &Now<'_>, fx: &mut Effects<K, V>) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.pins.unpin(key) {
            return Err(Error::not_found("the key is not pinned"));
        }
        if let Some(i) = self.entries.find(key) {
            let tick = self.tick();
            let e = self.entries.get_mut(i);
            e.pinned = false;
            e.tick = tick;
            let at = Position {
                charge: e.charge(),
                tick,
            };
            self.order.relink(i, at);
            self.pinned_count -= 1;
            self.pinned_bytes -= at.charge;
            self.enforce_budget(now, fx);
        }
        Ok(())
    }

    pub fn is_pinned<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pins.contains(key)
    }

    pub fn pinned_ids(&self) -> Vec<K> {
        if self.pins.is_empty() {
            Vec::new()
        } else {
            self.pins.keys()
        }
    }

    // ---- pressure and budget -----------------------------------------------

    /// Whether usage is above the budget in force (only pinned and in-use
    /// entries can hold it there).
    pub fn overdrawn(&self) -> bool {
        self.limits
            .budget_in_force(self.signalled)
            .is_some_and(|b| self.usage > b)
    }

    /// Records, for read handles, whether usage is above the budget in force
    /// (written only when it changes: the flag is read by every handle
    /// release, so it should not bounce between cores).
    #[inline]
    pub fn publish_overdrawn(&self) {
        // Without a signal the configured budget always holds.
        let overdrawn = self.signalled != MemoryPressureLevel::None && self.overdrawn();
        if self.link.overdrawn.load(Ordering::Relaxed) != overdrawn {
            self.link.overdrawn.store(overdrawn, Ordering::SeqCst);
        }
    }

    /// Evicts down to the budget in force, as far as evictable entries
    /// allow: what keeps `usage <= budget` once a pin ends or the last read
    /// handle of a protected entry is released. Reason PRESSURE under a
    /// signal (the only time protected entries can hold usage above the
    /// budget), else CAPACITY.
    pub fn enforce_budget(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let Some(budget) = self.limits.budget_in_force(self.signalled) else {
            return;
        };
        if self.usage <= budget {
            return;
        }
        let usage = self.usage;
        let reason = if self.signalled > MemoryPressureLevel::None {
            EvictionReason::Pressure
        } else {
            EvictionReason::Capacity
        };
        let (victims, _) = self.collect_victims(None, usize::MAX, |f| usage - f <= budget);
        let mut run = Run::default();
        self.evict_slots(&victims, reason, &mut run, fx);
        self.finish_run(run, reason, now, fx);
        self.update_level(now, fx);
    }

    /// The run that brings usage back within the budget in force, if it is
    /// above it.
    pub fn budget_run(&self) -> Option<LongRun> {
        if !self.overdrawn() {
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
    /// below, it only changes the held budget.
    /// Takes a signal: the level (and its event) now, and the shedding it
    /// asks for as a long run, if any.
    pub fn signal(
        &mut self,
        level: MemoryPressureLevel,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> Option<LongRun> {
        let previous = self.signalled;
        self.signalled = level;
        self.signal_at_ns = now.get();
        self.update_level(now, fx);
        if level < previous || level == MemoryPressureLevel::None {
            return None;
        }
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
        Some(LongRun::new(
            RunGoal::UsageAtMost(target),
            EvictionReason::Pressure,
        ))
    }

    pub fn set_max_bytes(&mut self, max: u64, now: &Now<'_>, fx: &mut Effects<K, V>) -> Result<()> {
        let limits = self.config.limits(max);
        let usage = self.usage;
        let (victims, freed) = match limits.budget_in_force(self.signalled) {
            Some(b) if usage > b => self.collect_victims(None, usize::MAX, |f| usage - f <= b),
            _ => (Vec::new(), 0),
        };
        if max != 0 && usage - freed > max {
            return Err(Error::new(
                ErrorKind::OverBudget,
                format!(
                    "pinned and in-use entries alone hold {} bytes, more than the new budget of {max} bytes",
                    usage - freed
                ),
            ));
        }
        self.config.max_cache_bytes = max;
        self.limits = limits;
        let mut run = Run::default();
        self.evict_slots(&victims, EvictionReason::Capacity, &mut run, fx);
        self.finish_run(run, EvictionReason::Capacity, now, fx);
        self.update_level(now, fx);
        Ok(())
    }

    // ---- loads -------------------------------------------------------------

    /// Looks `key` up for `get_or_load`. A re-entrant load of the key on the
    /// thread that is loading it is `BUSY` (and counts as nothing).
    pub fn begin_load<Q>(&mut self, key: &Q) -> Result<LoadStart<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        if let Some(f) = self.loads.get(key)
            && f.slot.thread == std::thread::current().id()
        {
            return Err(Error::new(
                ErrorKind::Busy,
                "get_or_load of a key from inside its own loader",
            ));
        }
        if let Some(h) = self.get(key) {
            return Ok(LoadStart::Hit(h));
        }
        if let Some(f) = self.loads.get(key) {
            return Ok(LoadStart::Wait(Arc::clone(&f.slot)));
        }
        let slot = LoadSlot::new();
        self.loads.insert(
            key.to_owned().into(),
            InFlight {
                slot: Arc::clone(&slot),
                superseded: false,
            },
        );
        self.counters.loads += 1;
        Ok(LoadStart::Load(slot))
    }

    /// Ends the load of `key`. A successful value is cached unless a put or
    /// remove of the key happened meanwhile, or it cannot fit (the caller
    /// still gets it).
    pub fn finish_load(
        &mut self,
        key: &K,
        result: &Result<Arc<Stored<V>>>,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) {
        let superseded = self.loads.remove(key).is_none_or(|f| f.superseded);
        match result {
            Ok(stored) if !superseded => {
                let cell = ValueCell::Shared(Arc::clone(stored));
                // A loaded value that cannot be cached is still returned.
                let _ = self.put(key.clone(), cell, stored.charge, now, fx);
            }
            Ok(_) => {}
            Err(_) => self.counters.load_failures += 1,
        }
    }

    pub fn handle_for(&self, stored: &Arc<Stored<V>>) -> ValueHandle<V> {
        ValueHandle::acquire(stored, &self.link)
    }

    // ---- metrics -----------------------------------------------------------

    pub fn metrics(&self) -> MemoryMetrics {
        let c = &self.counters;
        MemoryMetrics {
            current_usage: self.usage,
            max_usage: c.peak,
            eviction_count: c.evictions,
            pressure_level: self.reported,
            entry_count: self.entries.len() as u64,
            pinned_count: self.pinned_count,
            pinned_bytes: self.pinned_bytes,
            in_use_bytes: self.link.in_use.get(),
            hit_count: c.hits,
            miss_count: c.misses,
            insert_count: c.inserts,
            evicted_bytes: c.evicted_bytes,
            load_count: c.loads,
            load_failure_count: c.load_failures,
            max_cache_bytes: self.limits.max,
            effective_budget: self.limits.budget_in_force(self.signalled).unwrap_or(0),
        }
    }

    pub fn reset_metrics(&mut self) {
        self.counters = Counters {
            peak: self.usage,
            ..Counters::default()
        };
    }

    // ---- inspection (tests, tools) ------------------------------------------

    /// Keys in the order the configured strategy would evict them, present
    /// evictable and in-use entries alike (pinned ones are not in the order).
    pub fn eviction_order_keys(&self) -> Vec<K> {
        let mut keys = Vec::with_capacity(self.entries.len());
        self.order.walk(|i| {
            keys.push(self.entries.get(i).key.clone());
            true
        });
        keys
    }

    /// (key, charge, access count, pinned) of every present entry.
    pub fn snapshot(&self) -> Vec<(K, u64, u64, bool)> {
        self.entries
            .iter()
            .map(|(i, e)| {
                (
                    e.key.clone(),
                    e.charge(),
                    self.order.access_count(i),
                    e.pinned,
                )
            })
            .collect()
    }

    pub fn strategy(&self) -> EvictionStrategy {
        self.config.strategy
    }
}
