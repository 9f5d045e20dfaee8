//! The accounting and the reactions: what is present, what it is charged,
//! what is pinned or in use, and which entries go when the budget or a
//! signal asks. Everything here runs under the store's lock and calls no
//! user code: it records what to report (events, removed entries) in
//! [`Effects`] for the store to deliver after the lock is released.

mod bulk_clear;
mod entries;
mod entry_limit;
mod eviction;
mod expiry;
mod loads;
mod pending_reads;
pub(crate) mod placement;
mod pressure;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::clock::Now;
use crate::entry_snapshot::EntrySnapshot;
use crate::entry_table::{Entry, EntryTable};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventKind, EvictionReason};
use crate::eviction_order::{EvictionOrder, Position, order_hash};
use crate::eviction_strategy::EvictionStrategy;
use crate::lfu_history::LfuHistory;
use crate::loader::{InFlight, LoadSlot};
use crate::memory_config::{Limits, MemoryConfig};
use crate::memory_metrics::MemoryMetrics;
use crate::pin_set::PinSet;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;
use crate::value_handle::{HandleLink, Stored, ValueCell, ValueHandle};
use pending_reads::PendingReads;
use placement::ShardPlace;

/// An entry that left the store during a call.
pub(crate) struct Removed<K, V> {
    pub key: K,
    /// Held only to be dropped after the lock is released (its drop is the
    /// value's release action).
    #[allow(dead_code)]
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
    /// Inline room for one: the value a put replaced, the usual case, costs
    /// no allocation.
    pub removed: SmallVec<[Removed<K, V>; 1]>,
    pub events: Vec<Event>,
}

impl<K, V> Default for Effects<K, V> {
    fn default() -> Self {
        Effects {
            removed: SmallVec::new(),
            events: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    // The two a read and a short-path replace write come first: they share
    // a line with the lock and the pending reads (`MemoryManager`).
    hits: u64,
    inserts: u64,
    misses: u64,
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
    /// A governor's shedding: `need` bytes freed in all, never taking the
    /// store's usage below `floor` (the run stops at the first victim that
    /// would).
    Shed { need: u64, floor: u64 },
}

/// An eviction run done in chunks (see `MemoryManager::run_chunk`).
pub(crate) struct LongRun {
    goal: RunGoal,
    reason: EvictionReason,
    run: Run,
    /// A signal's shedding: the signal's number. It stops once the shard
    /// applied a newer signal (which sheds, or ends the pressure, itself).
    signal: Option<u64>,
}

impl LongRun {
    pub fn new(goal: RunGoal, reason: EvictionReason) -> Self {
        LongRun {
            goal,
            reason,
            run: Run::default(),
            signal: None,
        }
    }

    /// The shedding of signal number `number`.
    pub fn for_signal(mut self, number: u64) -> Self {
        self.signal = Some(number);
        self
    }

    /// Entries evicted so far.
    pub fn count(&self) -> usize {
        self.run.count as usize
    }

    /// Charged bytes evicted so far.
    pub fn bytes(&self) -> u64 {
        self.run.bytes
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

#[repr(C)]
pub(crate) struct MemoryManager<K, V> {
    /// Read hits not yet applied to `order` (see `pending_reads`).
    pending: PendingReads,
    /// `has_time_based_state`, kept up to date where its inputs change (the
    /// signalled level, expiry turned on), in the line a read reads anyway.
    time_based: bool,
    counters: Counters,
    config: MemoryConfig,
    /// The budget arithmetic of this shard's share of the budget.
    limits: Limits,
    shard: ShardPlace,
    /// The usage last added to the store's total (sharded stores only).
    published_usage: u64,
    entries: EntryTable<K, V>,
    order: EvictionOrder,
    /// The counts of recently evicted keys: LFU with `lfu_history` only.
    history: Option<LfuHistory>,
    pins: PinSet<K>,
    usage: u64,
    pinned_count: u64,
    pinned_bytes: u64,
    signalled: MemoryPressureLevel,
    signal_at_ns: u64,
    /// The number of the last signal applied (`next_signal_number`).
    signal_number: u64,
    /// The number of the signal whose shed is in progress on this shard (a
    /// long run between chunks), 0 when none: a later signal that stops it
    /// sheds itself even when lower (`signal`).
    shedding: u64,
    reported: MemoryPressureLevel,
    /// In a store of one shard: how many times `reported` changed (with
    /// shards, `AcrossShards` counts the store's changes).
    level_changes: u64,
    next_tick: u64,
    link: Arc<HandleLink>,
    loads: HashMap<K, InFlight<V>, crate::key_hasher::KeyHasher>,
    /// Time to live / to idle, for stores that use them (`expiry`).
    expiry: Option<Box<expiry::Expiry>>,
}

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    pub fn new(
        config: MemoryConfig,
        shard: ShardPlace,
        (signalled, signalled_at_ns): (MemoryPressureLevel, u64),
        start_ns: u64,
        link: Arc<HandleLink>,
        hasher: crate::key_hasher::KeyHasher,
    ) -> Self {
        let limits = config.limits(shard.share(config.max_cache_bytes));
        let expiry = (config.ttl_ms != 0 || config.tti_ms != 0)
            .then(|| Box::new(expiry::Expiry::new(&config, start_ns)));
        let mut m = MemoryManager {
            pending: PendingReads::new(config.shards, config.strategy),
            time_based: false,
            expiry,
            shard,
            published_usage: 0,
            order: EvictionOrder::new(config.strategy, config.lfu_history),
            history: (config.strategy == EvictionStrategy::Lfu && config.lfu_history)
                .then(LfuHistory::new),
            config,
            limits,
            entries: EntryTable::with_hasher(hasher),
            pins: PinSet::new(),
            usage: 0,
            pinned_count: 0,
            pinned_bytes: 0,
            counters: Counters::default(),
            signalled,
            signal_at_ns: signalled_at_ns,
            signal_number: 0,
            shedding: 0,
            reported: signalled,
            level_changes: 0,
            next_tick: 0,
            link,
            loads: HashMap::default(),
        };
        m.time_based = m.compute_time_based();
        m
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    // ---- events and levels -------------------------------------------------

    fn event(&self, kind: EventKind, previous: MemoryPressureLevel, now: &Now<'_>) -> Event {
        Event {
            kind,
            // Numbered when the store hands it on (see `Store::deliver`).
            sequence: 0,
            level: self.level(),
            previous_level: previous,
            reason: EvictionReason::Capacity,
            count: 0,
            bytes: 0,
            usage_bytes: self.store_usage(),
            timestamp_ns: now.get(),
        }
    }

    /// The store's usage: this shard's, plus what the other shards last
    /// published.
    fn store_usage(&self) -> u64 {
        match self.shard.across() {
            None => self.usage,
            Some(a) => a
                .usage()
                .wrapping_sub(self.published_usage)
                .wrapping_add(self.usage),
        }
    }

    /// Before a put grows this shard from `old_charge` to `charge`, in a
    /// store of several shards with no budget: reserves the growth in the
    /// store's total, so that the shards' usages never add up past u64::MAX
    /// (`TooLarge` if they would). A bounded store needs nothing: the shares
    /// add up to its budget. The reservation counts as published.
    #[inline(always)]
    pub(super) fn reserve_store_growth(&mut self, old_charge: u64, charge: u64) -> Result<()> {
        let Some(a) = self.shard.across() else {
            return Ok(());
        };
        if self.limits.bounded() || charge <= old_charge {
            return Ok(());
        }
        let growth = charge - old_charge;
        a.reserve_usage(growth).map_err(|total| {
            Error::new(
                ErrorKind::TooLarge,
                format!(
                    "an entry charged {charge} bytes would overflow the store's total usage \
                     of {total} bytes"
                ),
            )
        })?;
        self.published_usage = self.published_usage.wrapping_add(growth);
        Ok(())
    }

    /// Adds this shard's change of usage to the store's total (called at the
    /// end of every call; nothing to do for a store of one shard).
    #[inline]
    fn publish_usage(&mut self) {
        if let Some(a) = self.shard.across()
            && self.usage != self.published_usage
        {
            a.add_usage(self.usage.wrapping_sub(self.published_usage));
            self.published_usage = self.usage;
        }
    }

    /// Reports a change of the reported level, if any. A shard's level is
    /// its usage level against its share of the budget, or the signalled
    /// level; the store's is the highest of its shards', and only a change
    /// of the store's level is an event.
    #[inline]
    fn update_level(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let level = self.limits.usage_level(self.usage).max(self.signalled);
        if level != self.reported {
            self.level_changed(level, now, fx);
        }
    }

    #[cold]
    fn level_changed(&mut self, level: MemoryPressureLevel, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let previous = std::mem::replace(&mut self.reported, level);
        let change = match self.shard.across() {
            None => {
                self.level_changes += 1;
                Some((previous, self.level_changes))
            }
            Some(a) => a.update(self.shard.index(), level),
        };
        if let Some((previous, number)) = change {
            let mut e = self.event(EventKind::PressureChanged, previous, now);
            // Until the store hands the event on: the change's number, by
            // which delivery keeps the events of changes made on several
            // threads in the order of the changes (`EventQueue::follow_level`).
            e.sequence = number;
            fx.events.push(e);
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
            self.set_signalled(MemoryPressureLevel::None, now, fx);
            self.update_level(now, fx);
        }
    }

    /// Sets the signalled level, reporting a change (once per store: by its
    /// first shard, which every signal reaches).
    fn set_signalled(&mut self, level: MemoryPressureLevel, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let previous = std::mem::replace(&mut self.signalled, level);
        self.time_based = self.compute_time_based();
        if previous != level && self.shard.index() == 0 {
            let mut e = self.event(EventKind::SignalChanged, previous, now);
            e.level = level;
            fx.events.push(e);
        }
    }

    /// The signalled level (NONE once it decayed).
    pub fn signalled(&self) -> MemoryPressureLevel {
        self.signalled
    }

    /// Whether time-based state may need bringing up to date (a signal that
    /// can decay): reads that skip `begin` must take the full path then.
    #[inline]
    pub fn has_time_based_state(&self) -> bool {
        debug_assert_eq!(self.time_based, self.compute_time_based());
        self.time_based
    }

    fn compute_time_based(&self) -> bool {
        (self.signalled != MemoryPressureLevel::None && self.config.signal_decay_ms != 0)
            || self.expiry.is_some()
    }

    /// Every call starts here: the reads noted on the fast path are applied
    /// to the order, and time-based state is brought up to date.
    #[inline]
    pub fn begin(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        self.settle_reads();
        self.apply_decay(now, fx);
        if self.expiry.is_some() {
            self.begin_expiry(now, fx);
        }
    }

    /// The store's reported level.
    pub fn level(&self) -> MemoryPressureLevel {
        match self.shard.across() {
            None => self.reported,
            Some(a) => a.level(),
        }
    }

    // ---- metrics -----------------------------------------------------------

    pub fn metrics(&self) -> MemoryMetrics {
        let c = &self.counters;
        MemoryMetrics {
            current_usage: self.usage,
            max_usage: c.peak,
            eviction_count: c.evictions,
            pressure_level: self.level(),
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
            max_cache_bytes: self.config.max_cache_bytes,
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
    pub fn snapshot(&self) -> Vec<EntrySnapshot<K>> {
        self.entries
            .iter()
            .map(|(i, e)| EntrySnapshot {
                key: e.key.clone(),
                charge: e.charge(),
                access_count: self.order.access_count(i),
                pinned: e.pinned(),
            })
            .collect()
    }

    pub fn strategy(&self) -> EvictionStrategy {
        self.config.strategy
    }
}
