//! The reference model of docs/DESIGN.md §2-§6, shared by the proptest
//! suite (`tests/model.rs`, against the Rust `Store<u8, u64>`) and the fuzz
//! target `fuzz/fuzz_targets/c_api_model.rs` (against the C ABI): a plain
//! `Vec` of entries with a recency stamp and an access count, eviction order
//! computed by sorting, usage computed by summing. The choices the design
//! leaves open, and which the model follows, are listed in tests/model.rs.
//!
//! Included with `#[path]` (`mod reference_model;` in tests/, a `#[path]`
//! attribute in fuzz/), so it depends on nothing but `nexus_store`.

#![allow(dead_code)]

use std::collections::VecDeque;

use nexus_store::{
    ErrorKind, Event, EventKind, EvictionReason, EvictionStrategy, MemoryMetrics,
    MemoryPressureLevel as Level,
};

pub const KEYS: u8 = 12;

/// The fewest ghosts the store's LFU history keeps (`lfu_history`'s doc).
pub const HISTORY_FLOOR: usize = 64;

// ---- operations ---------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum Op {
    Put(u8, u64),
    /// Get; `true` keeps the handle alive until a `Release`.
    Get(u8, bool),
    Contains(u8),
    Remove(u8),
    Clear,
    Pin(u8),
    Unpin(u8),
    Evict(usize),
    EvictLru(usize),
    ClearUnpinned,
    Signal(Level),
    SetMaxBytes(u64),
    ResetMetrics,
    /// Drops the held handle at this index (modulo the number held).
    Release(usize),
}

/// A store's configuration as the model sees it.
#[derive(Clone, Debug)]
pub struct Setup {
    pub max: u64,
    pub batch: usize,
    /// (moderate, critical) thresholds.
    pub thresholds: (f64, f64),
    /// (moderate, critical) signal keeps.
    pub keeps: (f64, f64),
    /// `MemoryConfig::lfu_history` (only LFU stores use it).
    pub lfu_history: bool,
    /// `MemoryConfig::max_entries` (0 = no entry-count limit).
    pub max_entries: u64,
}

/// What a call returned, comparable between the store and the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Err(ErrorKind),
    Got(Option<u64>),
    Bool(bool),
    Count(usize),
    Unit,
}

pub fn outcome(r: nexus_store::Result<()>) -> Outcome {
    match r {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Err(e.kind()),
    }
}

/// An event without its sequence number and timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev {
    pub kind: EventKind,
    pub level: Level,
    pub previous_level: Level,
    pub reason: EvictionReason,
    pub count: u64,
    pub bytes: u64,
    pub usage_bytes: u64,
}

impl From<&Event> for Ev {
    fn from(e: &Event) -> Self {
        Ev {
            kind: e.kind,
            level: e.level,
            previous_level: e.previous_level,
            reason: e.reason,
            count: e.count,
            bytes: e.bytes,
            usage_bytes: e.usage_bytes,
        }
    }
}

// ---- the reference model --------------------------------------------------------

#[derive(Clone, Debug)]
pub struct MEntry {
    pub key: u8,
    pub charge: u64,
    /// Recency: the model clock at the last access (or unpin).
    pub stamp: u64,
    /// LFU access count: 1 on insert, +1 per access and per replace.
    pub count: u64,
    /// Identity of the stored value (a handle holds a value, not a key).
    pub vid: u64,
}

#[derive(Default)]
pub struct Run {
    pub count: u64,
    pub bytes: u64,
}

#[derive(Clone)]
pub struct Model {
    pub strategy: EvictionStrategy,
    pub max: u64,
    pub batch: usize,
    pub moderate: f64,
    pub critical: f64,
    pub moderate_keep: f64,
    pub critical_keep: f64,
    pub entries: Vec<MEntry>,
    /// Pinned keys in pin order, present or not.
    pub pins: Vec<u8>,
    /// Live read handles: (value id, charge).
    pub handles: Vec<(u64, u64)>,
    pub signalled: Level,
    pub reported: Level,
    pub clock: u64,
    pub next_vid: u64,
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    pub evictions: u64,
    pub evicted_bytes: u64,
    pub peak: u64,
    /// Events produced by the current call.
    pub events: Vec<Ev>,
    /// Eviction listener calls of the current call.
    pub removed: Vec<(u8, EvictionReason, u64)>,
    /// LFU with `lfu_history`: (key, count) of evicted keys, oldest first.
    pub history: Option<VecDeque<(u8, u64)>>,
    /// TINY_LFU, whose order depends on a frequency sketch the model does
    /// not replay: the store's victims of the current step, in order, then
    /// the store's order after it. The model takes victims in that order,
    /// so every other rule (which entries may go, how many, the budget,
    /// events, metrics, the listener) is still checked exactly.
    pub oracle: Vec<u8>,
    /// `Setup::max_entries`.
    pub max_entries: u64,
}

impl Model {
    pub fn new(strategy: EvictionStrategy, setup: &Setup) -> Self {
        Model {
            strategy,
            max: setup.max,
            batch: setup.batch,
            moderate: setup.thresholds.0,
            critical: setup.thresholds.1,
            moderate_keep: setup.keeps.0,
            critical_keep: setup.keeps.1,
            entries: Vec::new(),
            pins: Vec::new(),
            handles: Vec::new(),
            signalled: Level::None,
            reported: Level::None,
            clock: 0,
            next_vid: 0,
            hits: 0,
            misses: 0,
            inserts: 0,
            evictions: 0,
            evicted_bytes: 0,
            peak: 0,
            events: Vec::new(),
            removed: Vec::new(),
            history: (strategy == EvictionStrategy::Lfu && setup.lfu_history).then(VecDeque::new),
            oracle: Vec::new(),
            max_entries: setup.max_entries,
        }
    }

    pub fn now(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn usage(&self) -> u64 {
        self.entries.iter().map(|e| e.charge).sum()
    }

    pub fn find(&self, k: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.key == k)
    }

    pub fn is_pinned(&self, k: u8) -> bool {
        self.pins.contains(&k)
    }

    pub fn in_use(&self, e: &MEntry) -> bool {
        self.handles.iter().any(|&(vid, _)| vid == e.vid)
    }

    pub fn evictable(&self, e: &MEntry) -> bool {
        !self.is_pinned(e.key) && !self.in_use(e)
    }

    /// Bytes of present entries that nothing may evict.
    pub fn unevictable_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| !self.evictable(e))
            .map(|e| e.charge)
            .sum()
    }

    pub fn in_use_bytes(&self) -> u64 {
        let mut seen: Vec<u64> = Vec::new();
        let mut sum = 0;
        for &(vid, charge) in &self.handles {
            if !seen.contains(&vid) {
                seen.push(vid);
                sum += charge;
            }
        }
        sum
    }

    // Levels and budgets, straight from docs/DESIGN.md §2-§3.

    pub fn usage_level(&self, usage: u64) -> Level {
        let max = self.max as f64;
        if self.max == 0 {
            Level::None
        } else if usage as f64 >= self.critical * max {
            Level::Critical
        } else if usage as f64 >= self.moderate * max {
            Level::Moderate
        } else {
            Level::None
        }
    }

    pub fn below_working_size(&self, usage: u64) -> bool {
        (usage as f64) < self.max as f64 * self.moderate
    }

    /// The budget in force; `None` when unbounded.
    pub fn budget(&self) -> Option<u64> {
        if self.max == 0 {
            return None;
        }
        let working = self.max as f64 * self.moderate;
        Some(match self.signalled {
            Level::None => self.max,
            Level::Moderate => (working * self.moderate_keep).floor() as u64,
            Level::Critical | Level::Emergency => (working * self.critical_keep).floor() as u64,
        })
    }

    /// Present unpinned keys in strategy order (in-use ones included).
    pub fn order(&self) -> Vec<u8> {
        let mut v: Vec<&MEntry> = self
            .entries
            .iter()
            .filter(|e| !self.is_pinned(e.key))
            .collect();
        match self.strategy {
            EvictionStrategy::Lru => v.sort_by_key(|e| e.stamp),
            EvictionStrategy::Lfu => v.sort_by_key(|e| (e.count, e.stamp)),
            EvictionStrategy::Size => v.sort_by_key(|e| (std::cmp::Reverse(e.charge), e.stamp)),
            EvictionStrategy::TinyLfu => {
                // The oracle's order; keys it does not list (none, when the
                // store is right) last, by recency.
                let rank = |k: u8| {
                    self.oracle
                        .iter()
                        .position(|&o| o == k)
                        .unwrap_or(usize::MAX)
                };
                v.sort_by_key(|e| (rank(e.key), e.stamp));
            }
        }
        v.into_iter().map(|e| e.key).collect()
    }

    pub fn lru_order(&self) -> Vec<u8> {
        let mut v: Vec<&MEntry> = self.entries.iter().collect();
        v.sort_by_key(|e| e.stamp);
        v.into_iter().map(|e| e.key).collect()
    }

    /// Walks `order`, taking evictable entries other than `exclude`, while
    /// fewer than `limit` are taken and `enough(freed)` is false.
    pub fn pick(
        &self,
        order: Vec<u8>,
        exclude: Option<u8>,
        limit: usize,
        enough: impl Fn(u64) -> bool,
    ) -> Vec<u8> {
        let mut victims = Vec::new();
        let mut freed = 0;
        for k in order {
            if victims.len() >= limit || enough(freed) {
                break;
            }
            if Some(k) == exclude {
                continue;
            }
            let e = &self.entries[self.find(k).unwrap()];
            if self.evictable(e) {
                victims.push(k);
                freed += e.charge;
            }
        }
        victims
    }

    pub fn evict(&mut self, victims: &[u8], reason: EvictionReason, run: &mut Run) {
        for &k in victims {
            let e = self.entries.remove(self.find(k).unwrap());
            if let Some(h) = &mut self.history {
                h.push_back((k, e.count));
                let bound = self.entries.len().max(HISTORY_FLOOR);
                while h.len() > bound {
                    h.pop_front();
                }
            }
            self.evictions += 1;
            self.evicted_bytes += e.charge;
            run.count += 1;
            run.bytes += e.charge;
            self.removed.push((k, reason, e.charge));
        }
    }

    pub fn finish_run(&mut self, run: Run, reason: EvictionReason) {
        if run.count > 0 {
            self.events.push(Ev {
                kind: EventKind::Eviction,
                level: self.reported,
                previous_level: self.reported,
                reason,
                count: run.count,
                bytes: run.bytes,
                usage_bytes: self.usage(),
            });
        }
    }

    /// Every change of the reported level is an event.
    pub fn update_level(&mut self) {
        let level = self.usage_level(self.usage()).max(self.signalled);
        if level != self.reported {
            self.events.push(Ev {
                kind: EventKind::PressureChanged,
                level,
                previous_level: self.reported,
                reason: EvictionReason::Capacity,
                count: 0,
                bytes: 0,
                usage_bytes: self.usage(),
            });
            self.reported = level;
        }
    }

    pub fn manual(&mut self, victims: Vec<u8>) -> Outcome {
        let mut run = Run::default();
        self.evict(&victims, EvictionReason::Manual, &mut run);
        self.finish_run(run, EvictionReason::Manual);
        self.update_level();
        Outcome::Count(victims.len())
    }

    pub fn put(&mut self, k: u8, charge: u64) -> Outcome {
        if self.max != 0 && charge > self.max {
            return Outcome::Err(ErrorKind::TooLarge);
        }
        let pinned = self.is_pinned(k);
        if self.signalled == Level::Emergency && !pinned {
            return Outcome::Err(ErrorKind::OverBudget);
        }
        let old = self.find(k).map(|i| self.entries[i].clone());
        let new_usage = self.usage() - old.as_ref().map_or(0, |e| e.charge) + charge;
        let mut fit = Vec::new();
        if let Some(budget) = self.budget().filter(|&b| new_usage > b) {
            // Evict, in strategy order, just enough to fit (never the key
            // itself); if even every evictable entry is not enough, fail
            // and change nothing.
            fit = self.pick(self.order(), Some(k), usize::MAX, |f| {
                new_usage - f <= budget
            });
            let freed: u64 = fit
                .iter()
                .map(|&v| self.entries[self.find(v).unwrap()].charge)
                .sum();
            if new_usage - freed > budget {
                return Outcome::Err(ErrorKind::OverBudget);
            }
        }
        // The entry-count limit: a new key into a full store takes the first
        // `need` evictable entries in order (a superset of the byte victims).
        if self.max_entries != 0 && old.is_none() {
            let need = (self.entries.len() as u64 + 1).saturating_sub(self.max_entries) as usize;
            if fit.len() < need {
                fit = self.pick(self.order(), Some(k), need, |_| false);
                if fit.len() < need {
                    return Outcome::Err(ErrorKind::OverBudget);
                }
            }
        }
        let remembered = match &mut self.history {
            Some(h) if old.is_none() => h
                .iter()
                .position(|&(g, _)| g == k)
                .and_then(|p| h.remove(p))
                .map(|(_, count)| count),
            _ => None,
        };
        let mut run = Run::default();
        self.evict(&fit, EvictionReason::Capacity, &mut run);
        let stamp = self.now();
        let vid = self.next_vid;
        self.next_vid += 1;
        match old {
            Some(old) => {
                let i = self.find(k).unwrap();
                self.entries[i] = MEntry {
                    key: k,
                    charge,
                    stamp,
                    count: old.count + 1,
                    vid,
                };
                self.removed.push((k, EvictionReason::Replaced, old.charge));
            }
            None => self.entries.push(MEntry {
                key: k,
                charge,
                stamp,
                count: remembered.map_or(1, |c| c + 1),
                vid,
            }),
        }
        self.inserts += 1;
        let usage = self.usage();
        self.peak = self.peak.max(usage);
        self.update_level();
        let limit = match self.usage_level(usage) {
            Level::Moderate => self.batch,
            Level::Critical => usize::MAX,
            _ => 0,
        };
        let reaction = self.pick(self.order(), Some(k), limit, |f| {
            self.below_working_size(usage - f)
        });
        self.evict(&reaction, EvictionReason::Capacity, &mut run);
        self.finish_run(run, EvictionReason::Capacity);
        self.update_level();
        Outcome::Ok
    }

    pub fn get(&mut self, k: u8, hold: bool) -> Outcome {
        match self.find(k) {
            None => {
                self.misses += 1;
                Outcome::Got(None)
            }
            Some(i) => {
                self.hits += 1;
                let stamp = self.now();
                let e = &mut self.entries[i];
                e.stamp = stamp;
                e.count += 1;
                let (vid, charge) = (e.vid, e.charge);
                if hold {
                    self.handles.push((vid, charge));
                }
                Outcome::Got(Some(charge))
            }
        }
    }

    pub fn remove(&mut self, k: u8) -> Outcome {
        match self.find(k) {
            None => Outcome::Err(ErrorKind::NotFound),
            Some(i) => {
                let e = self.entries.remove(i);
                self.removed.push((k, EvictionReason::Removed, e.charge));
                self.update_level();
                Outcome::Ok
            }
        }
    }

    pub fn clear(&mut self) -> Outcome {
        let n = self.entries.len();
        for e in std::mem::take(&mut self.entries) {
            self.removed
                .push((e.key, EvictionReason::Removed, e.charge));
        }
        self.update_level();
        Outcome::Count(n)
    }

    pub fn unpin(&mut self, k: u8) -> Outcome {
        let Some(p) = self.pins.iter().position(|&x| x == k) else {
            return Outcome::Err(ErrorKind::NotFound);
        };
        self.pins.remove(p);
        if let Some(i) = self.find(k) {
            let stamp = self.now();
            self.entries[i].stamp = stamp;
            self.enforce_budget();
        }
        Outcome::Ok
    }

    /// Evicts down to the budget in force, as far as evictable entries allow.
    pub fn enforce_budget(&mut self) {
        let Some(budget) = self.budget() else { return };
        let usage = self.usage();
        if usage <= budget {
            return;
        }
        let reason = if self.signalled > Level::None {
            EvictionReason::Pressure
        } else {
            EvictionReason::Capacity
        };
        let victims = self.pick(self.order(), None, usize::MAX, |f| usage - f <= budget);
        let mut run = Run::default();
        self.evict(&victims, reason, &mut run);
        self.finish_run(run, reason);
        self.update_level();
    }

    pub fn signal(&mut self, level: Level) -> Outcome {
        let previous = self.signalled;
        self.signalled = level;
        self.update_level();
        if level < previous || level == Level::None {
            return Outcome::Unit;
        }
        let usage = self.usage();
        let keep = |k: f64| {
            let t = (usage as f64 * k).floor() as u64;
            self.budget().map_or(t, |b| t.min(b))
        };
        let target = match level {
            Level::Moderate => keep(self.moderate_keep),
            Level::Critical => keep(self.critical_keep),
            _ => 0,
        };
        let victims = self.pick(self.order(), None, usize::MAX, |f| usage - f <= target);
        let mut run = Run::default();
        self.evict(&victims, EvictionReason::Pressure, &mut run);
        self.finish_run(run, EvictionReason::Pressure);
        self.update_level();
        Outcome::Unit
    }

    pub fn set_max_bytes(&mut self, max: u64) -> Outcome {
        if max != 0 && self.unevictable_bytes() > max {
            return Outcome::Err(ErrorKind::OverBudget);
        }
        self.max = max;
        let usage = self.usage();
        let mut run = Run::default();
        if let Some(budget) = self.budget() {
            let victims = self.pick(self.order(), None, usize::MAX, |f| usage - f <= budget);
            self.evict(&victims, EvictionReason::Capacity, &mut run);
        }
        self.finish_run(run, EvictionReason::Capacity);
        self.update_level();
        Outcome::Ok
    }

    pub fn apply(&mut self, op: &Op) -> Outcome {
        self.events.clear();
        self.removed.clear();
        match *op {
            Op::Put(k, c) => self.put(k, c),
            Op::Get(k, hold) => self.get(k, hold),
            Op::Contains(k) => Outcome::Bool(self.find(k).is_some()),
            Op::Remove(k) => self.remove(k),
            Op::Clear => self.clear(),
            Op::Pin(k) => {
                if !self.is_pinned(k) {
                    self.pins.push(k);
                }
                Outcome::Unit
            }
            Op::Unpin(k) => self.unpin(k),
            Op::Evict(n) => {
                let v = self.pick(self.order(), None, n, |_| false);
                self.manual(v)
            }
            Op::EvictLru(n) => {
                let v = self.pick(self.lru_order(), None, n, |_| false);
                self.manual(v)
            }
            Op::ClearUnpinned => {
                let v = self.pick(self.order(), None, usize::MAX, |_| false);
                self.manual(v)
            }
            Op::Signal(level) => self.signal(level),
            Op::SetMaxBytes(m) => self.set_max_bytes(m),
            Op::ResetMetrics => {
                self.hits = 0;
                self.misses = 0;
                self.inserts = 0;
                self.evictions = 0;
                self.evicted_bytes = 0;
                self.peak = self.usage();
                Outcome::Unit
            }
            Op::Release(i) => {
                if !self.handles.is_empty() {
                    let i = i % self.handles.len();
                    self.handles.remove(i);
                    self.enforce_budget();
                }
                Outcome::Unit
            }
        }
    }

    pub fn metrics(&self) -> MemoryMetrics {
        MemoryMetrics {
            current_usage: self.usage(),
            max_usage: self.peak,
            eviction_count: self.evictions,
            pressure_level: self.reported,
            entry_count: self.entries.len() as u64,
            pinned_count: self
                .entries
                .iter()
                .filter(|e| self.is_pinned(e.key))
                .count() as u64,
            pinned_bytes: self
                .entries
                .iter()
                .filter(|e| self.is_pinned(e.key))
                .map(|e| e.charge)
                .sum(),
            in_use_bytes: self.in_use_bytes(),
            hit_count: self.hits,
            miss_count: self.misses,
            insert_count: self.inserts,
            evicted_bytes: self.evicted_bytes,
            load_count: 0,
            load_failure_count: 0,
            max_cache_bytes: self.max,
            effective_budget: self.budget().unwrap_or(0),
        }
    }

    /// (key, charge, lfu count, pinned), sorted by key.
    pub fn snapshot(&self) -> Vec<(u8, u64, u64, bool)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|e| {
                let count = match self.strategy {
                    EvictionStrategy::Lfu => e.count,
                    _ => 1,
                };
                (e.key, e.charge, count, self.is_pinned(e.key))
            })
            .collect();
        v.sort();
        v
    }
}
