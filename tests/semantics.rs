//! docs/DESIGN.md §2-§6 on the Rust core, one focused test per
//! behaviour: eviction orders, the reactions table, errors that change
//! nothing, read handles, events, metrics and config validation.
//!
//! Most tests use a `Store<String, u64>` whose estimator charges the value
//! itself, so every byte figure is exact. With `max_cache_bytes` 1000 and
//! the default config: working size 700, CRITICAL at 900, held budgets 525
//! (MODERATE signal) and 350 (CRITICAL and EMERGENCY signals).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nexus_store::{
    Error, ErrorKind, Event, EventKind, EvictionReason, EvictionStrategy, Loaded, ManualClock,
    MemoryConfig, MemoryMetrics, MemoryPressureLevel, Store,
};

use MemoryPressureLevel as L;

type Charged = Store<String, u64>;

mod common;
use common::string_keys::{Log, events, evicted, listen, present, take};

fn value_charge(_: &String, v: &u64) -> u64 {
    *v
}

/// A store whose entries are charged their value.
fn charged(config: MemoryConfig) -> Charged {
    Store::with_estimator(config, value_charge).unwrap()
}

fn bounded(max: u64) -> Charged {
    charged(MemoryConfig::with_max_bytes(max))
}

fn with_strategy(max: u64, strategy: EvictionStrategy) -> Charged {
    charged(MemoryConfig {
        strategy,
        ..MemoryConfig::with_max_bytes(max)
    })
}

/// A store on a manual clock.
fn clocked(config: MemoryConfig, start_ns: u64) -> (Charged, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start_ns));
    let s = Store::builder(config, value_charge)
        .clock(clock.clone())
        .build()
        .unwrap();
    (s, clock)
}

fn put(s: &Charged, key: &str, charge: u64) {
    s.put(key.to_string(), charge)
        .unwrap_or_else(|e| panic!("put {key} ({charge}): {e}"));
}

fn put_all(s: &Charged, keys: &[&str], charge: u64) {
    for k in keys {
        put(s, k, charge);
    }
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

fn taken_keys(log: &Log) -> Vec<String> {
    take(log).into_iter().map(|e| e.0).collect()
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

/// (charge, lfu count, pinned) of `key`.
fn entry(s: &Charged, key: &str) -> Option<(u64, u64, bool)> {
    s.entries_snapshot()
        .into_iter()
        .find(|e| e.key == key)
        .map(|e| (e.charge, e.access_count, e.pinned))
}

/// Everything observable that a failed call must leave as it was.
#[derive(Debug, PartialEq)]
struct State {
    entries: Vec<nexus_store::EntrySnapshot<String>>,
    order: Vec<String>,
    metrics: MemoryMetrics,
    pins: Vec<String>,
    level: MemoryPressureLevel,
}

fn state(s: &Charged) -> State {
    let mut entries = s.entries_snapshot();
    entries.sort();
    State {
        entries,
        order: s.eviction_order(),
        metrics: s.metrics(),
        pins: s.pinned_ids(),
        level: s.pressure_level(),
    }
}

/// Asserts that `f` fails with `kind` and changes nothing: entries, order,
/// metrics, pins, level, no event, no listener call.
fn assert_unchanged<T: std::fmt::Debug>(
    s: &Charged,
    log: &Log,
    kind: ErrorKind,
    f: impl FnOnce() -> Result<T, Error>,
) {
    let _ = events(s);
    take(log);
    let before = state(s);
    let err = f().expect_err("the call should fail");
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(state(s), before);
    assert!(events(s).is_empty());
    assert!(take(log).is_empty());
}

// ---- eviction orders ---------------------------------------------------------

#[test]
fn lfu_counts_start_at_one_and_grow_with_access_and_replace() {
    let s = with_strategy(0, EvictionStrategy::Lfu);
    put_all(&s, &["a", "b", "c"], 10);
    for k in ["a", "b", "c"] {
        assert_eq!(entry(&s, k), Some((10, 1, false)), "{k}");
    }
    assert!(s.get("a").is_some());
    assert!(s.get("a").is_some());
    assert_eq!(entry(&s, "a").unwrap().1, 3);
    put(&s, "b", 20); // a replace adds 1
    assert_eq!(entry(&s, "b"), Some((20, 2, false)));
    assert!(s.get("missing").is_none()); // a miss counts nothing
    assert_eq!(entry(&s, "c").unwrap().1, 1);
    assert_eq!(s.eviction_order(), ["c", "b", "a"]);
}

#[test]
fn lfu_evicts_fewest_accesses_first_ties_by_lru() {
    let s = with_strategy(0, EvictionStrategy::Lfu);
    let log = listen(&s);
    put_all(&s, &["a", "b", "c"], 10);
    assert_eq!(s.eviction_order(), ["a", "b", "c"]); // all 1: LRU
    assert!(s.get("a").is_some()); // a=2
    assert_eq!(s.eviction_order(), ["b", "c", "a"]);
    assert!(s.get("b").is_some()); // b=2, more recent than a
    assert_eq!(s.eviction_order(), ["c", "a", "b"]);
    assert!(s.get("c").is_some());
    assert!(s.get("c").is_some()); // c=3
    assert_eq!(s.eviction_order(), ["a", "b", "c"]);
    put(&s, "d", 10); // a new entry starts at 1: first to go
    assert_eq!(s.eviction_order(), ["d", "a", "b", "c"]);
    put(&s, "a", 10); // replace: a=3, most recent of the 3s
    assert_eq!(take(&log), evicted(&["a"], EvictionReason::Replaced, 10));
    assert_eq!(s.eviction_order(), ["d", "b", "c", "a"]);
    assert_eq!(s.evict(2), 2);
    assert_eq!(take(&log), evicted(&["d", "b"], EvictionReason::Manual, 10));
    assert_eq!(s.eviction_order(), ["c", "a"]);
}

#[test]
fn size_evicts_largest_first_ties_by_lru() {
    let s = with_strategy(0, EvictionStrategy::Size);
    let log = listen(&s);
    put(&s, "a", 10);
    put(&s, "b", 30);
    put(&s, "c", 20);
    put(&s, "d", 30);
    put(&s, "e", 10);
    assert_eq!(s.eviction_order(), ["b", "d", "c", "a", "e"]);
    assert!(s.get("b").is_some()); // b is now more recent than d
    assert_eq!(s.eviction_order(), ["d", "b", "c", "a", "e"]);
    put(&s, "a", 30); // recharged, and the most recent 30
    assert_eq!(take(&log), evicted(&["a"], EvictionReason::Replaced, 10));
    assert_eq!(s.eviction_order(), ["d", "b", "a", "c", "e"]);
    assert!(s.get("e").is_some());
    assert!(s.get("c").is_some());
    assert_eq!(s.eviction_order(), ["d", "b", "a", "c", "e"]);
    assert_eq!(s.evict(2), 2);
    assert_eq!(take(&log), evicted(&["d", "b"], EvictionReason::Manual, 30));
}

#[test]
fn evict_lru_uses_lru_order_under_lfu() {
    let s = with_strategy(0, EvictionStrategy::Lfu);
    let log = listen(&s);
    put_all(&s, &["a", "b", "c"], 10);
    assert!(s.get("a").is_some());
    assert!(s.get("a").is_some());
    assert!(s.get("b").is_some());
    // LFU: c(1) b(2) a(3); LRU: c, a, b.
    assert_eq!(s.eviction_order(), ["c", "b", "a"]);
    assert_eq!(s.evict_lru(2), 2);
    assert_eq!(take(&log), evicted(&["c", "a"], EvictionReason::Manual, 10));
    assert_eq!(present(&s), ["b"]);
}

#[test]
fn evict_lru_uses_lru_order_under_size() {
    let s = with_strategy(0, EvictionStrategy::Size);
    let log = listen(&s);
    put(&s, "a", 30);
    put(&s, "b", 20);
    put(&s, "c", 10);
    put(&s, "d", 40);
    assert!(s.get("a").is_some());
    s.pin("b");
    // SIZE: d a c; LRU among the unpinned: c, d, a.
    assert_eq!(s.eviction_order(), ["d", "a", "c"]);
    assert_eq!(s.evict_lru(2), 2);
    assert_eq!(
        take(&log),
        [
            ("c".to_string(), EvictionReason::Manual, 10),
            ("d".to_string(), EvictionReason::Manual, 40)
        ]
    );
    assert_eq!(present(&s), ["a", "b"]);
}

#[test]
fn contains_and_is_pinned_are_not_accesses() {
    for strategy in EvictionStrategy::ALL {
        let s = with_strategy(0, strategy);
        put(&s, "a", 10);
        put(&s, "b", 10);
        put(&s, "c", 10);
        let before = state(&s);
        for k in ["a", "b", "c", "zz"] {
            assert_eq!(s.contains(k), k != "zz");
            assert!(!s.is_pinned(k));
        }
        assert_eq!(state(&s), before, "{strategy:?}");
        assert_eq!(
            (before.metrics.hit_count, before.metrics.miss_count),
            (0, 0)
        );
    }
}

#[test]
fn pin_and_unpin_are_not_accesses_lru() {
    let s = bounded(0);
    put_all(&s, &["a", "b", "c", "d"], 10);
    s.pin("b");
    // Pinned entries leave the order; the others keep theirs.
    assert_eq!(s.eviction_order(), ["a", "c", "d"]);
    s.pin("zz"); // absent
    s.unpin("zz").unwrap();
    assert_eq!(s.eviction_order(), ["a", "c", "d"]);
    s.unpin("b").unwrap();
    // Design choice: an unpinned entry re-enters as the most recently used.
    assert_eq!(s.eviction_order(), ["a", "c", "d", "b"]);
    let m = s.metrics();
    assert_eq!((m.hit_count, m.miss_count, m.insert_count), (0, 0, 4));
}

#[test]
fn pin_and_unpin_are_not_accesses_lfu() {
    let s = with_strategy(0, EvictionStrategy::Lfu);
    put_all(&s, &["a", "b", "c", "d"], 10);
    assert!(s.get("a").is_some());
    assert!(s.get("c").is_some());
    assert_eq!(s.eviction_order(), ["b", "d", "a", "c"]);
    s.pin("a");
    assert_eq!(entry(&s, "a"), Some((10, 2, true)));
    assert_eq!(s.eviction_order(), ["b", "d", "c"]);
    assert!(s.get("b").is_some()); // b=2, after c
    s.unpin("a").unwrap();
    // Count unchanged (2); back at the end of its count group.
    assert_eq!(entry(&s, "a"), Some((10, 2, false)));
    assert_eq!(s.eviction_order(), ["d", "c", "b", "a"]);
    let m = s.metrics();
    assert_eq!((m.hit_count, m.miss_count), (3, 0));
}

#[test]
fn pin_and_unpin_are_not_accesses_size() {
    let s = with_strategy(0, EvictionStrategy::Size);
    put_all(&s, &["a", "b", "c"], 10);
    put(&s, "big", 50);
    s.pin("a");
    assert_eq!(s.eviction_order(), ["big", "b", "c"]);
    s.unpin("a").unwrap();
    // Same size as b and c: fresh recency puts it last among them.
    assert_eq!(s.eviction_order(), ["big", "b", "c", "a"]);
    assert_eq!(entry(&s, "a"), Some((10, 1, false)));
    let m = s.metrics();
    assert_eq!((m.hit_count, m.miss_count), (0, 0));
}

// ---- reactions: puts ---------------------------------------------------------

#[test]
fn put_leaving_moderate_evicts_at_most_batch_size() {
    let s = charged(MemoryConfig {
        eviction_batch_size: 2,
        ..MemoryConfig::with_max_bytes(100)
    });
    let log = listen(&s);
    let ones = numbered("k", 60);
    for k in &ones {
        put(&s, k, 1);
    }
    put(&s, "x", 15); // 75: MODERATE; 6 would be needed, the batch is 2
    assert_eq!(taken_keys(&log), ["k00", "k01"]);
    assert_eq!(s.metrics().current_usage, 73);
    assert_eq!(s.pressure_level(), L::Moderate);
    put(&s, "k02", 1); // a replace at MODERATE: again at most 2
    let mut got = take(&log);
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        [
            ("k02".to_string(), EvictionReason::Replaced, 1),
            ("k03".to_string(), EvictionReason::Capacity, 1),
            ("k04".to_string(), EvictionReason::Capacity, 1)
        ]
    );
    assert_eq!(s.metrics().current_usage, 71);
}

#[test]
fn put_leaving_moderate_stops_below_working_size() {
    let s = bounded(100);
    let log = listen(&s);
    for k in &numbered("k", 60) {
        put(&s, k, 1);
    }
    put(&s, "x", 11); // 71: two entries bring it below 70, the batch is 10
    assert_eq!(
        take(&log),
        evicted(&["k00", "k01"], EvictionReason::Capacity, 1)
    );
    assert_eq!(s.metrics().current_usage, 69);
    assert_eq!(s.pressure_level(), L::None);
}

#[test]
fn put_leaving_critical_evicts_below_working_size() {
    let s = charged(MemoryConfig {
        eviction_batch_size: 2,
        ..MemoryConfig::with_max_bytes(100)
    });
    let log = listen(&s);
    for k in &numbered("k", 60) {
        put(&s, k, 1);
    }
    put(&s, "x", 15); // 75 -> 73 (batch of 2)
    take(&log);
    put(&s, "y", 17); // 90: CRITICAL, evict until < 70 whatever the batch
    let keys = taken_keys(&log);
    assert_eq!(keys, numbered("k", 23)[2..]);
    assert_eq!(s.metrics().current_usage, 69);
    assert_eq!(s.pressure_level(), L::None);
    assert!(s.contains("x") && s.contains("y"));
}

#[test]
fn inserted_entry_is_never_a_victim_of_its_own_put() {
    // Replacing the only entry with a charge equal to the budget: CRITICAL,
    // but the entry stays.
    let s = bounded(1000);
    put(&s, "a", 10);
    put(&s, "a", 1000);
    assert_eq!(entry(&s, "a"), Some((1000, 1, false)));
    assert_eq!(s.pressure_level(), L::Critical);
    assert_eq!(s.metrics().eviction_count, 0);
    // A new key of the full budget evicts the other one, not itself.
    put(&s, "b", 1000);
    assert_eq!(present(&s), ["b"]);

    // SIZE: the new entry is the largest, yet the others go.
    let s = with_strategy(1000, EvictionStrategy::Size);
    let log = listen(&s);
    put(&s, "b", 100);
    put(&s, "c", 100);
    put(&s, "x", 850); // 1050: fit evicts b; 950 CRITICAL: c goes too
    assert_eq!(taken_keys(&log), ["b", "c"]);
    assert_eq!(present(&s), ["x"]);
    assert_eq!(s.metrics().current_usage, 850);
    // LFU: the replaced entry has the lowest count.
    let s = with_strategy(1000, EvictionStrategy::Lfu);
    let log = listen(&s);
    put(&s, "a", 100);
    put(&s, "b", 100);
    for _ in 0..3 {
        assert!(s.get("b").is_some());
    }
    put(&s, "a", 950); // a=2, b=4: b goes, a stays
    assert_eq!(
        take(&log),
        [
            ("b".to_string(), EvictionReason::Capacity, 100),
            ("a".to_string(), EvictionReason::Replaced, 100)
        ]
    );
    assert_eq!(present(&s), ["a"]);
}

#[test]
fn replacing_a_key_frees_its_old_charge_before_fitting() {
    let s = bounded(1000);
    let log = listen(&s);
    put(&s, "a", 500);
    put(&s, "b", 150);
    // 650 - 500 + 540 = 690: no eviction needed.
    put(&s, "a", 540);
    assert_eq!(
        take(&log),
        [("a".to_string(), EvictionReason::Replaced, 500)]
    );
    assert_eq!(s.metrics().current_usage, 690);
    assert_eq!(present(&s), ["a", "b"]);
    // 150 + 1000 = 1150: only b (150) has to go, not 540 + 150.
    put(&s, "a", 1000);
    let mut got = take(&log);
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        [
            ("a".to_string(), EvictionReason::Replaced, 540),
            ("b".to_string(), EvictionReason::Capacity, 150)
        ]
    );
    assert_eq!(entry(&s, "a"), Some((1000, 1, false)));
    assert_eq!(s.metrics().current_usage, 1000);
}

// ---- reactions: signals -------------------------------------------------------

fn six_hundred() -> (Charged, Log) {
    let s = bounded(1000);
    let log = listen(&s);
    put_all(&s, &["a", "b", "c", "d", "e", "f"], 100);
    (s, log)
}

#[test]
fn signal_moderate_sheds_and_holds_the_budget() {
    let (s, log) = six_hundred();
    s.signal_pressure(L::Moderate); // keep 0.75 x 600 = 450
    assert_eq!(
        take(&log),
        evicted(&["a", "b"], EvictionReason::Pressure, 100)
    );
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.effective_budget, m.max_cache_bytes),
        (400, 525, 1000)
    );
    assert_eq!(s.pressure_level(), L::Moderate);
    // Held at 525 until the signal ends: a put over it evicts to fit.
    put(&s, "g", 200); // 600 > 525: one LRU entry (c) goes
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Capacity, 100));
    assert_eq!(s.metrics().current_usage, 500);
    put(&s, "h", 25); // exactly 525
    assert!(take(&log).is_empty());
    assert_eq!(s.metrics().current_usage, 525);
    // More than the held budget, less than the configured one: cannot fit.
    let err = s.put("big".to_string(), 600).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    assert_eq!(s.metrics().effective_budget, 525);
}

#[test]
fn signal_critical_sheds_and_holds_the_budget() {
    let (s, log) = six_hundred();
    s.signal_pressure(L::Critical); // keep 0.5 x 600 = 300
    assert_eq!(
        take(&log),
        evicted(&["a", "b", "c"], EvictionReason::Pressure, 100)
    );
    let m = s.metrics();
    assert_eq!((m.current_usage, m.effective_budget), (300, 350));
    assert_eq!(s.pressure_level(), L::Critical);
    put(&s, "g", 100); // 400 > 350: d goes
    assert_eq!(take(&log), evicted(&["d"], EvictionReason::Capacity, 100));
    assert_eq!(s.metrics().current_usage, 300);
    put(&s, "h", 50); // 350: fits
    assert!(take(&log).is_empty());
    assert_eq!(s.metrics().current_usage, 350);
}

#[test]
fn signal_sheds_to_the_held_budget_when_it_is_lower() {
    // Entries held by read handles let usage reach 1000; once released, a
    // MODERATE signal sheds to min(0.75 x 1000, 525) = 525.
    let s = bounded(1000);
    let log = listen(&s);
    let mut handles = Vec::new();
    for k in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        put(&s, k, 100);
        handles.push(s.get(k).unwrap());
    }
    assert_eq!(s.metrics().current_usage, 1000);
    assert!(take(&log).is_empty());
    drop(handles);
    s.signal_pressure(L::Moderate);
    assert_eq!(
        take(&log),
        evicted(&["a", "b", "c", "d", "e"], EvictionReason::Pressure, 100)
    );
    let m = s.metrics();
    assert_eq!((m.current_usage, m.effective_budget), (500, 525));
}

#[test]
fn signal_emergency_evicts_every_evictable_entry_and_refuses_unpinned_puts() {
    let (s, log) = six_hundred();
    s.pin("a");
    let held = s.get("b").unwrap(); // in use: not evictable
    s.signal_pressure(L::Emergency);
    assert_eq!(
        take(&log),
        evicted(&["c", "d", "e", "f"], EvictionReason::Pressure, 100)
    );
    assert_eq!(present(&s), ["a", "b"]);
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.effective_budget, m.pressure_level),
        (200, 350, L::Emergency)
    );
    // Unpinned keys are refused, new or present.
    for k in ["x", "b"] {
        let err = s.put(k.to_string(), 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OverBudget, "{k}");
    }
    // Pinned keys may be put within the CRITICAL held budget (350).
    put(&s, "a", 250); // 100 (b) + 250 = 350
    assert_eq!(take(&log), evicted(&["a"], EvictionReason::Replaced, 100));
    s.pin("p");
    let err = s.put("p".to_string(), 1).unwrap_err(); // 351: b is in use
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    assert!(!s.contains("p"));
    drop(held);
    put(&s, "p", 1); // b is evictable now: it goes to fit
    assert_eq!(take(&log), evicted(&["b"], EvictionReason::Capacity, 100));
    assert_eq!(present(&s), ["a", "p"]);
    let err = s.put("q".to_string(), 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    // Ended: unpinned puts work again.
    s.signal_pressure(L::None);
    put(&s, "q", 1);
    assert!(s.contains("q"));
}

#[test]
fn signal_none_restores_the_configured_budget() {
    let (s, log) = six_hundred();
    s.signal_pressure(L::Critical);
    take(&log);
    let _ = events(&s);
    assert_eq!(s.metrics().effective_budget, 350);
    s.signal_pressure(L::None);
    let ev = events(&s);
    assert_eq!(kinds(&ev), [EventKind::PressureChanged]);
    assert_eq!((ev[0].previous_level, ev[0].level), (L::Critical, L::None));
    assert_eq!(s.metrics().effective_budget, 1000);
    assert_eq!(s.pressure_level(), L::None);
    put_all(&s, &["g", "h", "i"], 100); // 600: no eviction
    assert!(take(&log).is_empty());
    assert_eq!(s.metrics().current_usage, 600);
}

#[test]
fn signal_decays_to_none_on_a_manual_clock() {
    let config = MemoryConfig {
        signal_decay_ms: 100,
        ..MemoryConfig::with_max_bytes(1000)
    };
    let (s, clock) = clocked(config, 0);
    let log = listen(&s);
    put_all(&s, &["a", "b", "c", "d", "e", "f"], 100);
    s.signal_pressure(L::Moderate); // 600 -> 400
    assert_eq!(taken_keys(&log), ["a", "b"]);
    let _ = events(&s);
    clock.advance_ms(99);
    assert_eq!(s.pressure_level(), L::Moderate);
    assert_eq!(s.metrics().effective_budget, 525);
    // Repeated at 99 ms: the decay restarts from here.
    s.signal_pressure(L::Moderate); // 400 -> 300
    assert_eq!(taken_keys(&log), ["c"]);
    let _ = events(&s);
    clock.advance_ms(99);
    assert_eq!(s.pressure_level(), L::Moderate);
    assert!(events(&s).is_empty());
    clock.advance_ms(1);
    assert_eq!(s.pressure_level(), L::None);
    assert_eq!(s.metrics().effective_budget, 1000);
    let ev = events(&s);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::PressureChanged);
    assert_eq!((ev[0].previous_level, ev[0].level), (L::Moderate, L::None));
    assert_eq!((ev[0].timestamp_ns, ev[0].usage_bytes), (199_000_000, 300));
    assert!(take(&log).is_empty());

    // CRITICAL falls back to NONE too, not to MODERATE.
    s.signal_pressure(L::Critical);
    clock.advance_ms(100);
    assert_eq!(s.pressure_level(), L::None);
    // With no decay configured a signal lasts.
    let (s, clock) = clocked(MemoryConfig::with_max_bytes(1000), 0);
    s.signal_pressure(L::Critical);
    clock.advance_ms(1_000_000);
    assert_eq!(s.pressure_level(), L::Critical);
}

/// A signal's shed stops when the signal decays under it (audit 14: the old
/// EMERGENCY run went on after the decay, evicting as PRESSURE what was put
/// once the store was back at NONE).
#[test]
fn a_shed_stops_when_its_signal_decays() {
    let config = MemoryConfig {
        signal_decay_ms: 10,
        ..MemoryConfig::with_max_bytes(1_000_000)
    };
    let (s, clock) = clocked(config, 0);
    for k in numbered("k", 1000) {
        put(&s, &k, 10);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let (c, tick) = (Arc::clone(&calls), Arc::clone(&clock));
    s.set_eviction_listener(Some(Arc::new(move |_: &String, _, _| {
        // The first chunk's victims are heard before the next chunk: the
        // signal decays meanwhile.
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            tick.advance_ms(20);
        }
    })));
    s.signal_pressure(L::Emergency);
    let taken = calls.load(Ordering::SeqCst);
    assert!(taken > 0 && taken < 1000, "{taken} of 1000 taken");
    assert_eq!(s.metrics().entry_count, 1000 - taken as u64);
    assert_eq!(s.signalled_level(), L::None);
}

/// A store created after a signal starts at that level, and with
/// `signal_decay_ms` lets it decay from when it was given, not from its own
/// start (audit 5: with the Android hook's 30 s decay, every cache created
/// later refused puts for its first 30 s).
#[test]
fn a_store_created_after_a_signal_decays_it_from_when_it_was_given() {
    let handler = nexus_store::MemoryPressureHandler::new();
    handler.signal(L::Emergency);
    std::thread::sleep(std::time::Duration::from_millis(150));
    let make = |decay_ms: u64| {
        // Started at 1 s, so that 150 ms before its start is a time it has.
        let clock = Arc::new(ManualClock::new(1_000_000_000));
        let config = MemoryConfig {
            signal_decay_ms: decay_ms,
            ..MemoryConfig::with_max_bytes(1000)
        };
        let s = Store::builder(config, value_charge)
            .clock(clock.clone())
            .pressure_handler(&handler)
            .build()
            .unwrap();
        (s, clock)
    };
    // 150 ms old against a decay of 100 ms: over before the store began.
    let (s, _) = make(100);
    assert_eq!(s.signalled_level(), L::None);
    put(&s, "k", 100);
    assert!(events(&s).is_empty(), "no level change to report");
    // Against a decay of 60 s it holds, and ends 60 s after it was given
    // (at least 150 ms before this store's clock started).
    let (s, clock) = make(60_000);
    assert_eq!(s.signalled_level(), L::Emergency);
    clock.advance_ms(59_850);
    assert_eq!(s.signalled_level(), L::None);
    // Without a decay it lasts.
    let (s, clock) = make(0);
    clock.advance_ms(1_000_000);
    assert_eq!(s.signalled_level(), L::Emergency);
}

#[test]
fn repeated_signal_sheds_again_without_pressure_changed() {
    let (s, log) = six_hundred();
    s.signal_pressure(L::Moderate); // 600 -> 400
    take(&log);
    assert_eq!(
        kinds(&events(&s)),
        [EventKind::PressureChanged, EventKind::Eviction]
    );
    s.signal_pressure(L::Moderate); // 400 -> 300
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Pressure, 100));
    let ev = events(&s);
    assert_eq!(kinds(&ev), [EventKind::Eviction]);
    assert_eq!(
        (ev[0].reason, ev[0].count, ev[0].bytes, ev[0].usage_bytes),
        (EvictionReason::Pressure, 1, 100, 300)
    );
    // A repeat that evicts nothing reports nothing.
    put(&s, "g", 1);
    s.signal_pressure(L::Critical); // 301 -> <= 150
    take(&log);
    let _ = events(&s);
    s.pin("e");
    s.pin("f");
    s.pin("g");
    s.signal_pressure(L::Critical);
    assert!(take(&log).is_empty());
    assert!(events(&s).is_empty());
}

#[test]
fn lower_signal_only_changes_the_held_budget() {
    let (s, log) = six_hundred();
    s.signal_pressure(L::Critical); // 600 -> 300
    take(&log);
    let _ = events(&s);
    s.signal_pressure(L::Moderate);
    assert!(take(&log).is_empty());
    let ev = events(&s);
    assert_eq!(kinds(&ev), [EventKind::PressureChanged]);
    assert_eq!(
        (ev[0].previous_level, ev[0].level),
        (L::Critical, L::Moderate)
    );
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.effective_budget, m.pressure_level),
        (300, 525, L::Moderate)
    );
    // EMERGENCY -> CRITICAL: no shedding either, puts accepted again.
    s.signal_pressure(L::Emergency); // sheds everything
    assert_eq!(taken_keys(&log), ["d", "e", "f"]);
    let _ = events(&s);
    s.pin("p2");
    put(&s, "p2", 100);
    s.signal_pressure(L::Critical);
    assert!(take(&log).is_empty());
    assert_eq!(s.metrics().effective_budget, 350);
    put(&s, "u", 100);
    assert_eq!(present(&s), ["p2", "u"]);
}

#[test]
fn unbounded_store_sheds_on_signals_but_holds_no_budget() {
    let s = bounded(0);
    let log = listen(&s);
    let keys = numbered("k", 10);
    for k in &keys {
        put(&s, k, 100);
    }
    let m = s.metrics();
    assert_eq!(
        (m.pressure_level, m.effective_budget, m.max_cache_bytes),
        (L::None, 0, 0)
    );
    s.signal_pressure(L::Moderate); // 1000 -> <= 750
    assert_eq!(taken_keys(&log), keys[..3]);
    let m = s.metrics();
    assert_eq!((m.current_usage, m.effective_budget), (700, 0));
    assert_eq!(s.pressure_level(), L::Moderate);
    s.pin("big");
    put(&s, "big", 1_000_000); // no held budget: no eviction
    assert!(take(&log).is_empty());
    s.signal_pressure(L::None);
    // The usage level is always NONE on an unbounded store.
    assert_eq!(s.pressure_level(), L::None);
    assert_eq!(s.metrics().pressure_level, L::None);
    s.signal_pressure(L::Critical); // 1_000_700 -> <= 500_350: all the unpinned go
    assert_eq!(taken_keys(&log), keys[3..]);
    assert_eq!(s.metrics().current_usage, 1_000_000);
    s.signal_pressure(L::Emergency);
    let err = s.put("u".to_string(), 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    // Pinned puts have no held budget to respect.
    s.pin("big2");
    put(&s, "big2", 5_000_000);
    assert_eq!(s.metrics().current_usage, 6_000_000);
    assert_eq!(s.metrics().effective_budget, 0);
}

#[test]
fn manual_evictions_report_manual() {
    let (s, log) = six_hundred();
    let _ = events(&s);
    assert_eq!(s.evict(1), 1);
    assert_eq!(s.evict_lru(2), 2);
    s.pin("f");
    assert_eq!(s.clear_unpinned(), 2);
    assert_eq!(
        take(&log),
        evicted(&["a", "b", "c", "d", "e"], EvictionReason::Manual, 100)
    );
    let ev = events(&s);
    assert_eq!(
        ev.iter()
            .map(|e| (e.kind, e.reason, e.count, e.bytes, e.usage_bytes))
            .collect::<Vec<_>>(),
        [
            (EventKind::Eviction, EvictionReason::Manual, 1, 100, 500),
            (EventKind::Eviction, EvictionReason::Manual, 2, 200, 300),
            (EventKind::Eviction, EvictionReason::Manual, 2, 200, 100),
        ]
    );
    let m = s.metrics();
    assert_eq!((m.eviction_count, m.evicted_bytes), (5, 500));
    // Nothing evictable: no event.
    assert_eq!(s.evict(5) + s.evict_lru(5) + s.clear_unpinned(), 0);
    assert!(events(&s).is_empty());
}

// ---- errors change nothing ----------------------------------------------------

#[test]
fn too_large_changes_nothing() {
    let (s, log) = six_hundred();
    s.pin("a");
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || {
        s.put("x".to_string(), 1001)
    });
    // Replacing an existing key, pinned or not, with too large a charge.
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || {
        s.put("b".to_string(), 1001)
    });
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || {
        s.put("a".to_string(), u64::MAX)
    });
    assert_eq!(entry(&s, "b"), Some((100, 1, false)));
}

#[test]
fn overflowing_sums_on_an_unbounded_store_are_too_large() {
    let s = bounded(0);
    let log = listen(&s);
    put(&s, "a", u64::MAX - 10);
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || s.put("b".to_string(), 11));
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || {
        s.put("b".to_string(), u64::MAX)
    });
    put(&s, "b", 10); // exactly u64::MAX
    assert_eq!(s.metrics().current_usage, u64::MAX);
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || s.put("c".to_string(), 1));
    // A replace subtracts the old charge first: fine.
    put(&s, "b", 10);
    put(&s, "a", u64::MAX - 10);
    assert_eq!(s.metrics().current_usage, u64::MAX);
    assert_unchanged(&s, &log, ErrorKind::TooLarge, || {
        s.put("a".to_string(), u64::MAX)
    });
}

#[test]
fn over_budget_when_everything_is_pinned() {
    let s = bounded(1000);
    let log = listen(&s);
    put(&s, "a", 300);
    put(&s, "b", 300);
    s.pin("a");
    s.pin("b");
    // 600 + 500 > 1000 and nothing can go.
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || {
        s.put("c".to_string(), 500)
    });
    // A pinned key that is not present yet: the same.
    s.pin("c");
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || {
        s.put("c".to_string(), 500)
    });
    put(&s, "c", 400);
    assert_eq!(s.metrics().current_usage, 1000);
}

#[test]
fn over_budget_when_read_handles_block_eviction() {
    let s = bounded(1000);
    let log = listen(&s);
    put(&s, "a", 300);
    put(&s, "b", 300);
    let ha = s.get("a").unwrap();
    let hb = s.get("b").unwrap();
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || {
        s.put("c".to_string(), 500)
    });
    drop(hb);
    // b alone is evictable now: enough.
    put(&s, "c", 500);
    assert_eq!(take(&log), evicted(&["b"], EvictionReason::Capacity, 300));
    assert_eq!(present(&s), ["a", "c"]);
    drop(ha);
}

#[test]
fn emergency_refusal_changes_nothing() {
    let (s, log) = six_hundred();
    let held = s.get("c").unwrap();
    s.signal_pressure(L::Emergency);
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || {
        s.put("x".to_string(), 1)
    });
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || {
        s.put("c".to_string(), 1)
    });
    drop(held);
}

#[test]
fn set_max_bytes_below_pinned_bytes_changes_nothing() {
    let s = bounded(1000);
    let log = listen(&s);
    put(&s, "a", 300);
    put(&s, "b", 300);
    put(&s, "c", 50);
    s.pin("a");
    s.pin("b");
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || s.set_max_bytes(599));
    assert_eq!(s.config().max_cache_bytes, 1000);
    // In-use entries count like pinned ones.
    let h = s.get("c").unwrap();
    assert_unchanged(&s, &log, ErrorKind::OverBudget, || s.set_max_bytes(600));
    drop(h);
    s.set_max_bytes(600).unwrap();
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Capacity, 50));
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.max_cache_bytes, m.effective_budget),
        (600, 600, 600)
    );
}

#[test]
fn unpin_of_a_key_not_pinned_changes_nothing() {
    let (s, log) = six_hundred();
    s.pin("a");
    s.pin("absent");
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.unpin("b"));
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.unpin("zz"));
    s.unpin("a").unwrap();
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.unpin("a"));
    assert_eq!(s.pinned_ids(), ["absent"]);
}

#[test]
fn remove_of_an_absent_key_changes_nothing() {
    let (s, log) = six_hundred();
    s.pin("ghost"); // pinned but absent
    assert!(s.get("a").is_some());
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.remove("zz"));
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.remove("ghost"));
    s.remove("a").unwrap();
    assert_unchanged(&s, &log, ErrorKind::NotFound, || s.remove("a"));
}

#[test]
fn huge_charges_do_not_overflow_evicted_bytes() {
    // Hazard 5 (sizes that would overflow a sum): evicted_bytes is a
    // cumulative counter; it must not wrap or panic.
    let s = bounded(0);
    put(&s, "a", u64::MAX);
    assert_eq!(s.clear_unpinned(), 1);
    put(&s, "a", 5);
    assert_eq!(s.clear_unpinned(), 1);
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.entry_count, m.eviction_count),
        (0, 0, 2)
    );
    assert_eq!(m.evicted_bytes, u64::MAX, "saturates");
    put(&s, "b", 1);
    assert_eq!(s.metrics().current_usage, 1);
}

#[test]
fn huge_charges_do_not_overflow_in_use_bytes() {
    // Two values held by handles whose charges add past u64::MAX (one of
    // them removed): in_use_bytes saturates instead of wrapping to 0.
    let s = bounded(0);
    put(&s, "a", u64::MAX);
    let ha = s.get("a").unwrap();
    s.remove("a").unwrap();
    put(&s, "b", 5);
    let hb = s.get("b").unwrap();
    assert_eq!(s.metrics().in_use_bytes, u64::MAX);
    drop(ha);
    drop(hb);
    assert_eq!(s.metrics().in_use_bytes, 0);
}

// ---- read handles ---------------------------------------------------------------

/// A value that counts its drops (its release action).
struct Tracked {
    text: String,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn read_handles_outlive_remove_clear_eviction_attempts_and_the_store() {
    let drops = Arc::new(AtomicUsize::new(0));
    let s: Store<String, Tracked> = Store::with_estimator(
        MemoryConfig::with_max_bytes(1000),
        |_: &String, v: &Tracked| v.text.len() as u64 * 100,
    )
    .unwrap();
    let value = |t: &str| Tracked {
        text: t.to_string(),
        drops: Arc::clone(&drops),
    };
    s.put("a".to_string(), value("A")).unwrap();
    let ha = s.get("a").unwrap();
    s.remove("a").unwrap();
    assert_eq!(ha.text, "A");
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    s.put("b".to_string(), value("B")).unwrap();
    let hb = s.get("b").unwrap();
    assert_eq!(s.clear(), 1);
    assert_eq!(hb.text, "B");

    s.put("c".to_string(), value("C")).unwrap();
    let hc = s.get("c").unwrap();
    assert_eq!(s.evict(10) + s.evict_lru(10) + s.clear_unpinned(), 0);
    s.signal_pressure(L::Emergency);
    assert!(s.contains("c"));
    s.signal_pressure(L::None);
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    drop(ha); // the last holder of a removed value releases it
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(s);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!((hb.text.as_str(), hc.text.as_str()), ("B", "C"));
    drop(hb);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let hc2 = hc.clone();
    drop(hc);
    assert_eq!(hc2.value().text, "C");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(hc2);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn in_use_bytes_counts_each_held_value_once() {
    let s = bounded(1000);
    put(&s, "a", 100);
    put(&s, "b", 50);
    let h1 = s.get("a").unwrap();
    let h2 = s.get("a").unwrap();
    assert_eq!(s.metrics().in_use_bytes, 100);
    let h3 = s.get("b").unwrap();
    let h1b = h1.clone();
    assert_eq!(s.metrics().in_use_bytes, 150);
    // A removed value still counts while held; a replaced one too.
    s.remove("a").unwrap();
    put(&s, "b", 70);
    let m = s.metrics();
    assert_eq!((m.current_usage, m.in_use_bytes), (70, 150));
    let h4 = s.get("b").unwrap();
    assert_eq!(s.metrics().in_use_bytes, 220);
    drop(h1);
    drop(h2);
    assert_eq!(s.metrics().in_use_bytes, 220);
    drop(h1b);
    assert_eq!(s.metrics().in_use_bytes, 120);
    drop(h3);
    drop(h4);
    assert_eq!(s.metrics().in_use_bytes, 0);
}

#[test]
fn entries_with_a_live_handle_are_not_evicted() {
    let s = bounded(1000);
    let log = listen(&s);
    put_all(&s, &["a", "b", "c"], 100);
    let h = s.get("a").unwrap();
    assert!(s.get("b").is_some());
    assert!(s.get("c").is_some());
    // Still first in the order, but skipped.
    assert_eq!(s.eviction_order(), ["a", "b", "c"]);
    assert_eq!(s.evict(1), 1);
    assert_eq!(taken_keys(&log), ["b"]);
    put(&s, "big", 900); // 1100: fit evicts c, not a
    assert_eq!(taken_keys(&log), ["c"]);
    s.signal_pressure(L::Emergency);
    assert_eq!(taken_keys(&log), ["big"]);
    assert_eq!(present(&s), ["a"]);
    s.signal_pressure(L::None);
    drop(h);
    assert_eq!(s.evict(1), 1);
    assert_eq!(taken_keys(&log), ["a"]);
}

// ---- events -----------------------------------------------------------------------

fn pc(seq: u64, prev: L, level: L, usage: u64, ts: u64) -> Event {
    Event {
        kind: EventKind::PressureChanged,
        sequence: seq,
        level,
        previous_level: prev,
        reason: EvictionReason::Capacity,
        count: 0,
        bytes: 0,
        usage_bytes: usage,
        timestamp_ns: ts,
    }
}

#[allow(clippy::too_many_arguments)]
fn eviction(
    seq: u64,
    level: L,
    reason: EvictionReason,
    count: u64,
    bytes: u64,
    usage: u64,
    ts: u64,
) -> Event {
    Event {
        kind: EventKind::Eviction,
        sequence: seq,
        level,
        previous_level: level,
        reason,
        count,
        bytes,
        usage_bytes: usage,
        timestamp_ns: ts,
    }
}

#[test]
fn put_crossing_the_threshold_reports_moderate_eviction_and_back() {
    let (s, clock) = clocked(MemoryConfig::with_max_bytes(1000), 5_000);
    for k in ["a", "b", "c", "d", "e", "f"] {
        clock.advance_ns(10);
        put(&s, k, 100);
    }
    assert!(events(&s).is_empty());
    clock.advance_ns(10); // 5070
    put(&s, "g", 150); // 750 -> 650
    assert_eq!(
        events(&s),
        [
            pc(1, L::None, L::Moderate, 750, 5070),
            eviction(2, L::Moderate, EvictionReason::Capacity, 1, 100, 650, 5070),
            pc(3, L::Moderate, L::None, 650, 5070),
        ]
    );
    // With an evict-to-fit in the same put: still one run.
    clock.advance_ns(1000); // 6070
    put(&s, "h", 600); // 1250: fit evicts b,c,d (950); then < 700: e,f,g
    assert_eq!(
        events(&s),
        [
            pc(4, L::None, L::Critical, 950, 6070),
            eviction(5, L::Critical, EvictionReason::Capacity, 6, 650, 600, 6070),
            pc(6, L::Critical, L::None, 600, 6070),
        ]
    );
}

#[test]
fn events_go_to_the_callback_when_one_is_registered() {
    let (s, clock) = clocked(MemoryConfig::with_max_bytes(1000), 0);
    let got: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&got);
    s.set_event_callback(Some(Arc::new(move |e: &Event| {
        sink.lock().unwrap().push(*e)
    })));
    put_all(&s, &["a", "b", "c", "d", "e", "f"], 100);
    clock.advance_ns(42);
    put(&s, "g", 100); // 700 -> 600
    assert!(s.poll_event().is_none());
    assert_eq!(
        *got.lock().unwrap(),
        [
            pc(1, L::None, L::Moderate, 700, 42),
            eviction(2, L::Moderate, EvictionReason::Capacity, 1, 100, 600, 42),
            pc(3, L::Moderate, L::None, 600, 42),
        ]
    );
    s.set_event_callback(None);
    s.signal_pressure(L::Critical);
    assert_eq!(got.lock().unwrap().len(), 3);
    assert_eq!(
        kinds(&events(&s)),
        [EventKind::PressureChanged, EventKind::Eviction]
    );
}

#[test]
fn event_sequences_start_at_one_and_timestamps_never_decrease() {
    let (s, clock) = clocked(MemoryConfig::with_max_bytes(1000), 1_000);
    let mut expected = Vec::new();
    s.signal_pressure(L::Moderate);
    expected.push(pc(1, L::None, L::Moderate, 0, 1_000));
    clock.advance_ms(1);
    put_all(&s, &["a", "b", "c", "d", "e"], 100); // 500 <= 525: fits
    s.signal_pressure(L::Critical); // 500 -> 250: a, b, c
    expected.push(pc(2, L::Moderate, L::Critical, 500, 1_001_000));
    expected.push(eviction(
        3,
        L::Critical,
        EvictionReason::Pressure,
        3,
        300,
        200,
        1_001_000,
    ));
    clock.advance_ms(2);
    assert_eq!(s.evict_lru(1), 1);
    expected.push(eviction(
        4,
        L::Critical,
        EvictionReason::Manual,
        1,
        100,
        100,
        3_001_000,
    ));
    s.signal_pressure(L::None);
    expected.push(pc(5, L::Critical, L::None, 100, 3_001_000));
    assert_eq!(events(&s), expected);

    // The real clock: sequences still +1, timestamps non-decreasing.
    let (s, log) = six_hundred();
    drop(log);
    for round in 0..20 {
        put(&s, &format!("x{round}"), 150);
        s.signal_pressure(if round % 2 == 0 { L::Moderate } else { L::None });
    }
    let ev = events(&s);
    assert!(ev.len() > 20);
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1);
    }
    assert!(
        ev.windows(2)
            .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns)
    );
}

// ---- metrics ------------------------------------------------------------------------

fn metrics_scenario() -> (Charged, nexus_store::ValueHandle<u64>) {
    let s = bounded(1000);
    s.set_loader(Some(Arc::new(|k: &String| -> Result<Loaded<u64>, Error> {
        match k.as_str() {
            "good" => Ok(Loaded::new(50)),
            _ => Err(Error::new(ErrorKind::NotFound, "no such thing")),
        }
    })));
    put(&s, "a", 100);
    put(&s, "b", 200);
    put(&s, "c", 300);
    s.pin("b");
    assert!(s.get("a").is_some()); // hit
    assert!(s.get("zz").is_none()); // miss
    let held = s.get("c").unwrap(); // hit
    let loaded = s.get_or_load("good").unwrap(); // miss, load, insert
    assert_eq!(*loaded, 50);
    drop(loaded);
    assert_eq!(
        s.get_or_load("bad").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    put(&s, "d", 100); // 750: a goes (LRU: a, c, good, d)
    (s, held)
}

#[test]
fn metrics_report_every_field() {
    let (s, held) = metrics_scenario();
    assert_eq!(
        s.metrics(),
        MemoryMetrics {
            current_usage: 650,
            max_usage: 750,
            eviction_count: 1,
            pressure_level: L::None,
            entry_count: 4,
            pinned_count: 1,
            pinned_bytes: 200,
            in_use_bytes: 300,
            hit_count: 2,
            miss_count: 3,
            insert_count: 5,
            evicted_bytes: 100,
            load_count: 2,
            load_failure_count: 1,
            max_cache_bytes: 1000,
            effective_budget: 1000,
        }
    );
    // MODERATE: 650 -> <= 487; c is in use, so good and d go.
    s.signal_pressure(L::Moderate);
    let m = s.metrics();
    assert_eq!(
        (
            m.current_usage,
            m.eviction_count,
            m.evicted_bytes,
            m.entry_count
        ),
        (500, 3, 250, 2)
    );
    assert_eq!((m.pressure_level, m.effective_budget), (L::Moderate, 525));
    drop(held);
    assert_eq!(s.metrics().in_use_bytes, 0);
}

#[test]
fn metrics_json_has_exactly_the_sixteen_fields() {
    let (s, _held) = metrics_scenario();
    s.signal_pressure(L::Critical);
    let m = s.metrics();
    let v: serde_json::Value = serde_json::from_str(&s.metrics_json()).unwrap();
    let o = v.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort();
    let mut expected = [
        "current_usage",
        "max_usage",
        "eviction_count",
        "pressure_level",
        "entry_count",
        "pinned_count",
        "pinned_bytes",
        "in_use_bytes",
        "hit_count",
        "miss_count",
        "insert_count",
        "evicted_bytes",
        "load_count",
        "load_failure_count",
        "max_cache_bytes",
        "effective_budget",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    for k in expected {
        assert!(o[k].is_u64(), "{k} is not an unsigned integer: {}", o[k]);
    }
    assert_eq!(o["pressure_level"], 2);
    let fields = [
        ("current_usage", m.current_usage),
        ("max_usage", m.max_usage),
        ("eviction_count", m.eviction_count),
        ("pressure_level", m.pressure_level as u64),
        ("entry_count", m.entry_count),
        ("pinned_count", m.pinned_count),
        ("pinned_bytes", m.pinned_bytes),
        ("in_use_bytes", m.in_use_bytes),
        ("hit_count", m.hit_count),
        ("miss_count", m.miss_count),
        ("insert_count", m.insert_count),
        ("evicted_bytes", m.evicted_bytes),
        ("load_count", m.load_count),
        ("load_failure_count", m.load_failure_count),
        ("max_cache_bytes", m.max_cache_bytes),
        ("effective_budget", m.effective_budget),
    ];
    for (k, want) in fields {
        assert_eq!(o[k].as_u64(), Some(want), "{k}");
    }
    assert_eq!(o["effective_budget"].as_u64(), Some(350));
}

#[test]
fn reset_metrics_zeroes_counters_and_sets_peak_to_current_usage() {
    let (s, held) = metrics_scenario();
    s.signal_pressure(L::Moderate); // 650 -> 500
    s.reset_metrics();
    assert_eq!(
        s.metrics(),
        MemoryMetrics {
            current_usage: 500,
            max_usage: 500,
            eviction_count: 0,
            pressure_level: L::Moderate,
            entry_count: 2,
            pinned_count: 1,
            pinned_bytes: 200,
            in_use_bytes: 300,
            hit_count: 0,
            miss_count: 0,
            insert_count: 0,
            evicted_bytes: 0,
            load_count: 0,
            load_failure_count: 0,
            max_cache_bytes: 1000,
            effective_budget: 525,
        }
    );
    put(&s, "e", 20);
    let m = s.metrics();
    assert_eq!((m.max_usage, m.insert_count), (520, 1));
    drop(held);
}

#[test]
fn set_max_bytes_at_run_time_evicts_down_and_changes_the_budget() {
    let (s, log) = six_hundred();
    let _ = events(&s);
    s.set_max_bytes(400).unwrap();
    assert_eq!(
        take(&log),
        evicted(&["a", "b"], EvictionReason::Capacity, 100)
    );
    let ev = events(&s);
    let ev_runs: Vec<_> = ev
        .iter()
        .filter(|e| e.kind == EventKind::Eviction)
        .map(|e| (e.reason, e.count, e.bytes, e.usage_bytes))
        .collect();
    assert_eq!(ev_runs, [(EvictionReason::Capacity, 2, 200, 400)]);
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.max_cache_bytes, m.effective_budget),
        (400, 400, 400)
    );
    assert_eq!(s.config().max_cache_bytes, 400);
    assert_eq!(s.pressure_level(), L::Critical); // 400 >= ceil(0.9 x 400)
    assert_eq!(
        s.put("x".to_string(), 401).unwrap_err().kind(),
        ErrorKind::TooLarge
    );

    s.set_max_bytes(2000).unwrap();
    assert!(take(&log).is_empty());
    let m = s.metrics();
    assert_eq!(
        (m.max_cache_bytes, m.effective_budget, m.pressure_level),
        (2000, 2000, L::None)
    );
    // Under a held signal the held budget follows the new configured one.
    s.signal_pressure(L::Moderate); // 400 -> 300
    assert_eq!(s.metrics().effective_budget, 1050);
    s.set_max_bytes(1000).unwrap();
    assert_eq!(s.metrics().effective_budget, 525);
    s.set_max_bytes(0).unwrap();
    let m = s.metrics();
    assert_eq!((m.max_cache_bytes, m.effective_budget), (0, 0));
    s.signal_pressure(L::None);
    assert_eq!(s.pressure_level(), L::None);
    put(&s, "huge", 1_000_000);
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Pressure, 100));
    assert_eq!(s.metrics().current_usage, 1_000_300);
}

// ---- config validation -----------------------------------------------------------

#[test]
fn bad_configs_are_invalid_argument_from_every_constructor() {
    let base = MemoryConfig::with_max_bytes(1000);
    let mut bad = Vec::new();
    for (m, c) in [
        (f64::NAN, 0.9),
        (0.7, f64::NAN),
        (f64::INFINITY, 0.9),
        (0.7, f64::INFINITY),
        (f64::NEG_INFINITY, 0.9),
        (-0.1, 0.9),
        (0.0, 0.9),
        (0.9, 0.7),
        (0.8, 0.8),
        (0.7, 1.01),
        (0.7, -0.5),
        (1.0, 1.0),
    ] {
        bad.push(MemoryConfig {
            moderate_threshold: m,
            critical_threshold: c,
            ..base.clone()
        });
    }
    for (mk, ck) in [
        (0.5, 0.75),
        (1.1, 0.5),
        (0.75, 0.0),
        (0.75, -0.1),
        (0.0, 0.0),
        (f64::NAN, 0.5),
        (0.75, f64::NAN),
        (f64::INFINITY, 0.5),
        (-0.5, -0.75),
    ] {
        bad.push(MemoryConfig {
            signal_moderate_keep: mk,
            signal_critical_keep: ck,
            ..base.clone()
        });
    }
    bad.push(MemoryConfig {
        eviction_batch_size: 0,
        ..base.clone()
    });
    bad.push(MemoryConfig {
        event_queue_capacity: 0,
        ..base.clone()
    });
    for config in bad {
        let what = format!("{config:?}");
        let e = Store::<String, u64>::with_estimator(config.clone(), value_charge)
            .err()
            .unwrap_or_else(|| panic!("accepted {what}"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
        let e = Store::<String, u64>::new(config.clone())
            .err()
            .unwrap_or_else(|| panic!("Store::new accepted {what}"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
        let e = Store::<String, u64>::builder(config, value_charge)
            .build()
            .err()
            .unwrap_or_else(|| panic!("build accepted {what}"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
    }

    // The edges that are allowed.
    for config in [
        MemoryConfig {
            critical_threshold: 1.0,
            signal_moderate_keep: 1.0,
            signal_critical_keep: 1.0,
            ..base.clone()
        },
        MemoryConfig {
            moderate_threshold: 0.01,
            signal_moderate_keep: 0.5,
            signal_critical_keep: 0.5,
            eviction_batch_size: 1,
            event_queue_capacity: 1,
            ..base.clone()
        },
        MemoryConfig::default(),
    ] {
        let s = Store::<String, u64>::with_estimator(config.clone(), value_charge).unwrap();
        assert_eq!(s.config(), config);
    }
}

/// A loss after a poll made room is counted where it happened: the DROPPED
/// marker moves behind the events queued after the poll (taking the new
/// loss's number), so the queue read in order ends with the store's level
/// (audit 15: the loss was counted in the earlier marker and the queue
/// ended on a PRESSURE_CHANGED whose level the store had left).
#[test]
fn a_loss_after_a_poll_is_counted_behind_the_events_queued_since() {
    use nexus_store::{EventKind, EventMask};
    let store: Store<u32, u64> = Store::new(MemoryConfig {
        event_queue_capacity: 2,
        ..MemoryConfig::with_max_bytes(1 << 20)
    })
    .unwrap();
    store.set_event_mask(EventMask::PRESSURE_CHANGED);
    store.signal_pressure(MemoryPressureLevel::Moderate); // 1, queued
    store.signal_pressure(MemoryPressureLevel::None); // 2, queued
    store.signal_pressure(MemoryPressureLevel::Moderate); // 3 lost: the marker
    let mut polled = vec![store.poll_event().unwrap()];
    store.signal_pressure(MemoryPressureLevel::None); // 4, queued behind it
    store.signal_pressure(MemoryPressureLevel::Moderate); // 5 lost: the marker moves
    while let Some(e) = store.poll_event() {
        polled.push(e);
    }
    let seen: Vec<(u64, EventKind, u64)> = polled
        .iter()
        .map(|e| (e.sequence, e.kind, e.count))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, EventKind::PressureChanged, 0),
            (2, EventKind::PressureChanged, 0),
            (4, EventKind::PressureChanged, 0),
            // Lost: 3 (the gap) and 5 (the marker's number).
            (5, EventKind::Dropped, 2),
        ]
    );
    let last = polled.last().unwrap();
    assert_eq!(last.level, store.pressure_level());
    assert_eq!(last.level, MemoryPressureLevel::Moderate);
}
