//! The store's configuration and the budget arithmetic derived from it.

use crate::error::{Error, Result};
use crate::eviction_strategy::EvictionStrategy;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;

/// The most shards a store may have.
pub const MAX_SHARDS: u32 = 64;

/// How a store keeps its memory. Build with `MemoryConfig::default()` and
/// set fields; [`MemoryConfig::validate`] (run by every store constructor)
/// says what is out of range.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryConfig {
    /// The budget in bytes of charged size; 0 = unbounded (the usage level is
    /// then always NONE and no budget reaction runs).
    pub max_cache_bytes: u64,
    /// Usage at or above `moderate_threshold x max_cache_bytes` (the working
    /// size) is MODERATE. Default 0.7.
    pub moderate_threshold: f64,
    /// Usage at or above `critical_threshold x max_cache_bytes` is CRITICAL.
    /// Default 0.9. Must satisfy 0 < moderate < critical <= 1.
    pub critical_threshold: f64,
    /// The most entries a put evicts when it leaves usage at MODERATE. >= 1.
    /// Default 10.
    pub eviction_batch_size: usize,
    /// The eviction order. Default LRU.
    pub strategy: EvictionStrategy,
    /// How many events the queue holds when no event callback is registered
    /// (plus one slot for the DROPPED marker). >= 1. Default 1024.
    pub event_queue_capacity: usize,
    /// A MODERATE signal sheds to this fraction of the usage at the signal and
    /// holds the budget at `floor(keep x moderate_threshold x
    /// max_cache_bytes)`: this fraction of the working size, rounded down
    /// and computed from the unrounded product (so 1 byte below `keep x` the
    /// rounded-up working size for some budgets; with shards, per share,
    /// summed). Default 0.75.
    pub signal_moderate_keep: f64,
    /// The same for CRITICAL (and the held budget under EMERGENCY).
    /// Default 0.5. Must satisfy 0 < critical_keep <= moderate_keep <= 1.
    pub signal_critical_keep: f64,
    /// A signalled level not repeated within this many milliseconds falls
    /// back to NONE; 0 = it lasts until replaced. Default 0. A store created
    /// after a signal (which it starts at) counts from when it was given.
    pub signal_decay_ms: u64,
    /// Independent parts the store is split into, each with its own lock and
    /// an equal share of the budget, keys spread over them by hash: more
    /// threads can work at once. 1 (the default) keeps one exact eviction
    /// order over the whole store; with more, the order is exact within each
    /// shard (see the README, "Shards"). 1..=64.
    pub shards: u32,
    /// LFU only (ignored for LRU, SIZE and TINY_LFU): remember the access counts of
    /// recently evicted keys, so that a key inserted again (a put of an
    /// absent key, or a `get_or_load` insert) starts at its remembered
    /// count + 1 (the insert is an access), as the newest entry of that
    /// count, instead of at 1 (the remembered count is then forgotten).
    ///
    /// Only evictions are remembered (reasons CAPACITY, PRESSURE, MANUAL,
    /// GOVERNOR), not `remove`, `clear`, a replace or an expiry. The history is a FIFO of at most
    /// max(64, entries present) evicted keys, the bound taken at each
    /// eviction with the evicted entry already gone; the oldest are
    /// forgotten first. It keeps a 64-bit hash of each key and its count,
    /// never the key (a few dozen bytes per remembered key); a hash
    /// collision can only give a key a wrong starting count. An insert
    /// with a remembered count, and an access that creates or empties a
    /// count group, cost O(log distinct counts) in this mode.
    ///
    /// Default false: counts start at 1 on insert, as the plain LFU order
    /// is specified, and nothing is kept for evicted keys.
    pub lfu_history: bool,
    /// The most entries the store holds (like NSCache's `countLimit`),
    /// beside the byte budget; 0 (the default) = no limit. Counted by the
    /// rules of the bytes: pinned entries and entries held by a read handle
    /// count and are never evicted. A put of a new key into a full store
    /// first evicts, in strategy order (reason CAPACITY), just enough
    /// entries (those the byte budget asks for included); if pinned and
    /// in-use entries alone fill it, the put is `OverBudget`. Replacing a
    /// key's value never changes the count. With several shards each has an
    /// equal share (the remainder one each to the first), so it must be 0
    /// or at least `shards`. The count does not change the pressure level.
    pub max_entries: u64,
    /// Time to live of every entry, in milliseconds, on the store's clock
    /// (`StoreBuilder::clock`); 0 (the default) = none. `Store::put_with_ttl`
    /// sets an entry's own. An expired entry is never returned (a read of it
    /// is a miss) and is removed, reason EXPIRED: by the next call after a
    /// read saw it, by a put that needs room, a pressure signal's shed or a
    /// smaller `Store::set_max_bytes` (expired entries go before any live
    /// one), or by
    /// `Store::sweep_expired`. A pinned entry expires only
    /// once unpinned (a pin of an entry that already expired finds it gone:
    /// it leaves, EXPIRED); a put of its key starts its time again.
    pub ttl_ms: u64,
    /// Time to idle, in milliseconds: an entry not read for this long
    /// expires (each hit starts it again; a TTL still caps it); 0 (the
    /// default) = none.
    pub tti_ms: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_cache_bytes: 0,
            moderate_threshold: 0.7,
            critical_threshold: 0.9,
            eviction_batch_size: 10,
            strategy: EvictionStrategy::Lru,
            event_queue_capacity: 1024,
            signal_moderate_keep: 0.75,
            signal_critical_keep: 0.5,
            signal_decay_ms: 0,
            shards: 1,
            lfu_history: false,
            max_entries: 0,
            ttl_ms: 0,
            tti_ms: 0,
        }
    }
}

impl MemoryConfig {
    /// A default configuration with the given budget.
    pub fn with_max_bytes(max_cache_bytes: u64) -> Self {
        MemoryConfig {
            max_cache_bytes,
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let (m, c) = (self.moderate_threshold, self.critical_threshold);
        if !m.is_finite() || !c.is_finite() {
            return Err(Error::invalid(format!(
                "thresholds must be finite numbers (moderate {m}, critical {c})"
            )));
        }
        if !(0.0 < m && m < c && c <= 1.0) {
            return Err(Error::invalid(format!(
                "thresholds must satisfy 0 < moderate < critical <= 1 (moderate {m}, critical {c})"
            )));
        }
        let (mk, ck) = (self.signal_moderate_keep, self.signal_critical_keep);
        if !(mk.is_finite() && ck.is_finite() && 0.0 < ck && ck <= mk && mk <= 1.0) {
            return Err(Error::invalid(format!(
                "keeps must satisfy 0 < critical_keep <= moderate_keep <= 1 \
                 (moderate_keep {mk}, critical_keep {ck})"
            )));
        }
        if self.eviction_batch_size == 0 {
            return Err(Error::invalid("eviction_batch_size must be at least 1"));
        }
        if self.event_queue_capacity == 0 {
            return Err(Error::invalid("event_queue_capacity must be at least 1"));
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(Error::invalid(format!(
                "shards must be between 1 and {MAX_SHARDS} (got {})",
                self.shards
            )));
        }
        self.check_shard_budget(self.max_cache_bytes)?;
        if self.max_entries != 0 && self.max_entries < u64::from(self.shards) {
            return Err(Error::invalid(format!(
                "max_entries {} cannot be shared by {} shards (each needs at least 1 entry)",
                self.max_entries, self.shards
            )));
        }
        Ok(())
    }

    /// Each shard needs a budget of at least one byte: a bounded budget
    /// must be at least `shards` bytes.
    pub(crate) fn check_shard_budget(&self, max_cache_bytes: u64) -> Result<()> {
        if max_cache_bytes != 0 && max_cache_bytes < u64::from(self.shards) {
            return Err(Error::invalid(format!(
                "a budget of {max_cache_bytes} bytes cannot be shared by {} shards \
                 (each needs at least 1 byte)",
                self.shards
            )));
        }
        Ok(())
    }

    /// The budget arithmetic for `max_cache_bytes` (which may differ from
    /// the configured one after `set_max_bytes`).
    pub(crate) fn limits(&self, max_cache_bytes: u64) -> Limits {
        let max = max_cache_bytes as f64;
        let working = scaled_ceil(max, self.moderate_threshold);
        Limits {
            max: max_cache_bytes,
            moderate_at: working,
            critical_at: scaled_ceil(max, self.critical_threshold),
            moderate_held: scaled_floor(max * self.moderate_threshold, self.signal_moderate_keep),
            critical_held: scaled_floor(max * self.moderate_threshold, self.signal_critical_keep),
        }
    }
}

fn scaled_ceil(x: f64, factor: f64) -> u64 {
    // `as` saturates at u64::MAX and maps NaN to 0; inputs are validated.
    (x * factor).ceil() as u64
}

fn scaled_floor(x: f64, factor: f64) -> u64 {
    (x * factor).floor() as u64
}

/// Byte thresholds derived from a budget. All usage comparisons are made
/// against these integers, so the rounding is defined once:
/// MODERATE when `usage >= moderate_at` (= ceil(moderate x max), the working
/// size), CRITICAL when `usage >= critical_at` (= ceil(critical x max)); the
/// held budgets are floor(keep x moderate x max).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max: u64,
    pub moderate_at: u64,
    pub critical_at: u64,
    pub moderate_held: u64,
    pub critical_held: u64,
}

impl Limits {
    pub fn bounded(&self) -> bool {
        self.max != 0
    }

    /// The level of `usage` against the configured budget.
    pub fn usage_level(&self, usage: u64) -> MemoryPressureLevel {
        if !self.bounded() {
            MemoryPressureLevel::None
        } else if usage >= self.critical_at {
            MemoryPressureLevel::Critical
        } else if usage >= self.moderate_at {
            MemoryPressureLevel::Moderate
        } else {
            MemoryPressureLevel::None
        }
    }

    /// The budget in force under a signalled level; `None` when unbounded.
    pub fn budget_in_force(&self, signalled: MemoryPressureLevel) -> Option<u64> {
        if !self.bounded() {
            return None;
        }
        Some(match signalled {
            MemoryPressureLevel::None => self.max,
            MemoryPressureLevel::Moderate => self.moderate_held,
            MemoryPressureLevel::Critical | MemoryPressureLevel::Emergency => self.critical_held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_match_the_spec() {
        let c = MemoryConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_cache_bytes, 0);
        assert_eq!(c.moderate_threshold, 0.7);
        assert_eq!(c.critical_threshold, 0.9);
        assert_eq!(c.eviction_batch_size, 10);
        assert_eq!(c.event_queue_capacity, 1024);
        assert_eq!(
            (c.signal_moderate_keep, c.signal_critical_keep),
            (0.75, 0.5)
        );
    }

    #[test]
    fn bad_thresholds_keeps_and_sizes_are_rejected() {
        let bad = [
            (f64::NAN, 0.9),
            (0.7, f64::NAN),
            (f64::INFINITY, 0.9),
            (-0.1, 0.9),
            (0.0, 0.9),
            (0.9, 0.7),
            (0.8, 0.8),
            (0.7, 1.01),
        ];
        for (m, c) in bad {
            let cfg = MemoryConfig {
                moderate_threshold: m,
                critical_threshold: c,
                ..MemoryConfig::default()
            };
            let e = cfg.validate().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{m} {c}");
        }
        for (mk, ck) in [(0.5, 0.75), (1.1, 0.5), (0.75, 0.0), (f64::NAN, 0.5)] {
            let cfg = MemoryConfig {
                signal_moderate_keep: mk,
                signal_critical_keep: ck,
                ..MemoryConfig::default()
            };
            assert!(cfg.validate().is_err(), "{mk} {ck}");
        }
        let cfg = MemoryConfig {
            eviction_batch_size: 0,
            ..MemoryConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = MemoryConfig {
            event_queue_capacity: 0,
            ..MemoryConfig::default()
        };
        assert!(cfg.validate().is_err());
        let ok = MemoryConfig {
            critical_threshold: 1.0,
            signal_moderate_keep: 1.0,
            signal_critical_keep: 1.0,
            ..MemoryConfig::default()
        };
        ok.validate().unwrap();
    }

    #[test]
    fn limits_round_thresholds_up_and_held_budgets_down() {
        let l = MemoryConfig::default().limits(1000);
        assert_eq!((l.moderate_at, l.critical_at), (700, 900));
        assert_eq!((l.moderate_held, l.critical_held), (525, 350));
        assert_eq!(l.usage_level(699), MemoryPressureLevel::None);
        assert_eq!(l.usage_level(700), MemoryPressureLevel::Moderate);
        assert_eq!(l.usage_level(900), MemoryPressureLevel::Critical);
        let l = MemoryConfig::default().limits(0);
        assert_eq!(l.usage_level(u64::MAX), MemoryPressureLevel::None);
        assert_eq!(l.budget_in_force(MemoryPressureLevel::Critical), None);
    }
}
