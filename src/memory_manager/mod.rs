//! The accounting and the reactions: what is present, what it is charged,
//! what is pinned or in use, and which entries go when the budget or a
//! signal asks. Everything here runs under the store's lock and calls no
//! user code: it records what to report (events, removed entries) in
//! [`Effects`] for the store to deliver after the lock is released.

mod entries;
mod eviction;
mod loads;
mod pressure;

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
use crate::lfu_history::LfuHistory;
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
    /// The counts of recently evicted keys: LFU with `lfu_history` only.
    history: Option<LfuHistory>,
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
            order: EvictionOrder::new(config.strategy, config.lfu_history),
            history: (config.strategy == EvictionStrategy::Lfu && config.lfu_history)
                .then(LfuHistory::new),
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
