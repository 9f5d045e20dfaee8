//! The four test cases of the original design, on the Rust core:
//! LRU eviction order, pinned items, pressure levels, size estimation.
//!
//! Most tests use a `Store<String, u64>` whose estimator charges the value
//! itself, so every byte figure below is exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nexus_store::{
    ByteSizeEstimator, ENTRY_OVERHEAD_BYTES, ErrorKind, EventKind, EvictionReason, MemoryConfig,
    MemoryMetrics, MemoryPressureLevel, Store,
};
use serde::Serialize;

type Charged = Store<String, u64>;

mod common;
use common::string_keys::{events, evicted, listen, present, take};

/// A store whose entries are charged their value.
fn charged(config: MemoryConfig) -> Charged {
    Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap()
}

fn put(s: &Charged, key: &str, charge: u64) {
    s.put(key.to_string(), charge)
        .unwrap_or_else(|e| panic!("put {key} ({charge}): {e}"));
}

fn entry<V: Send + Sync + 'static>(s: &Store<String, V>, key: &str) -> Option<(u64, bool)> {
    s.entries_snapshot()
        .into_iter()
        .find(|e| e.key == key)
        .map(|e| (e.charge, e.pinned))
}

#[test]
fn lru_eviction_order_is_correct() {
    // Part 1: evict-to-fit alone (thresholds high enough that no put below
    // 990 bytes triggers a threshold reaction).
    let s = charged(MemoryConfig {
        moderate_threshold: 0.99,
        critical_threshold: 1.0,
        ..MemoryConfig::with_max_bytes(1000)
    });
    let log = listen(&s);
    for i in 0..9 {
        put(&s, &format!("k{i}"), 100);
    }
    assert_eq!(
        s.eviction_order(),
        ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"]
    );
    // Gets reorder: k0 and k3 become the most recently used.
    assert_eq!(*s.get("k0").unwrap(), 100);
    assert_eq!(*s.get("k3").unwrap(), 100);
    assert_eq!(
        s.eviction_order(),
        ["k1", "k2", "k4", "k5", "k6", "k7", "k8", "k0", "k3"]
    );

    // 900 + 250 = 1150 > 1000: evict just enough (150) in LRU order.
    put(&s, "x", 250);
    assert_eq!(
        take(&log),
        evicted(&["k1", "k2"], EvictionReason::Capacity, 100)
    );
    assert_eq!(s.metrics().current_usage, 950);

    put(&s, "y", 100); // 1050: one entry goes
    assert_eq!(take(&log), evicted(&["k4"], EvictionReason::Capacity, 100));

    assert!(s.get("k5").is_some()); // k5 is saved by the read
    put(&s, "z", 100); // 1050: one entry goes, k6, not k5
    assert_eq!(take(&log), evicted(&["k6"], EvictionReason::Capacity, 100));
    assert_eq!(
        s.eviction_order(),
        ["k7", "k8", "k0", "k3", "x", "y", "k5", "z"]
    );
    assert_eq!(s.metrics().current_usage, 950);
    assert_eq!(s.metrics().eviction_count, 4);

    assert_eq!(s.evict_lru(2), 2);
    assert_eq!(
        take(&log),
        evicted(&["k7", "k8"], EvictionReason::Manual, 100)
    );
    assert_eq!(s.eviction_order(), ["k0", "k3", "x", "y", "k5", "z"]);

    // Part 2: default thresholds; the threshold reaction also goes in LRU
    // order.
    let s = charged(MemoryConfig::with_max_bytes(1000));
    let log = listen(&s);
    for k in ["a", "b", "c", "d", "e", "f"] {
        put(&s, k, 100);
    }
    assert!(s.get("a").is_some());
    assert!(s.get("b").is_some());
    assert_eq!(s.eviction_order(), ["c", "d", "e", "f", "a", "b"]);
    put(&s, "g", 100); // 700 = working size: evict until below it
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Capacity, 100));
    put(&s, "h", 250); // 850 (MODERATE): evict until < 700
    assert_eq!(
        take(&log),
        evicted(&["d", "e"], EvictionReason::Capacity, 100)
    );
    assert_eq!(s.eviction_order(), ["f", "a", "b", "g", "h"]);
    assert!(s.get("f").is_some());
    put(&s, "i", 300); // 950 (CRITICAL): evict until < 700
    assert_eq!(
        take(&log),
        evicted(&["a", "b", "g"], EvictionReason::Capacity, 100)
    );
    assert_eq!(s.eviction_order(), ["h", "f", "i"]);
    assert_eq!(s.metrics().current_usage, 650);
    assert_eq!(s.pressure_level(), MemoryPressureLevel::None);
}

#[test]
fn pinned_items_are_protected() {
    let s = charged(MemoryConfig::with_max_bytes(1000));
    let log = listen(&s);
    let protected = |s: &Charged| {
        assert!(s.contains("p1") && s.contains("p2"), "{:?}", present(s));
        assert_eq!(entry(s, "p1").map(|e| e.1), Some(true));
        assert_eq!(entry(s, "p2").map(|e| e.1), Some(true));
        assert!(!s.eviction_order().iter().any(|k| k.starts_with('p')));
    };

    put(&s, "p1", 100);
    s.pin("p1");
    // A pin of an absent key waits for it.
    s.pin("p2");
    assert!(s.is_pinned("p2"));
    assert!(!s.contains("p2"));
    assert_eq!(s.pinned_ids(), ["p1", "p2"]);
    assert_eq!(s.metrics().pinned_count, 1);
    put(&s, "p2", 100);
    assert_eq!(entry(&s, "p2"), Some((100, true)));
    assert_eq!(
        (s.metrics().pinned_count, s.metrics().pinned_bytes),
        (2, 200)
    );
    assert!(s.eviction_order().is_empty());

    // Capacity: the threshold reaction and evict-to-fit pass them by.
    put(&s, "a", 300);
    put(&s, "b", 300); // 800: MODERATE, "a" goes
    assert_eq!(take(&log), evicted(&["a"], EvictionReason::Capacity, 300));
    put(&s, "c", 800); // 1300 > 1000: "b" goes; the pins could not
    assert_eq!(take(&log), evicted(&["b"], EvictionReason::Capacity, 300));
    protected(&s);
    assert_eq!(s.metrics().current_usage, 1000);
    // Fitting 900 would need evicting a pinned entry: refused.
    let err = s.put("d".to_string(), 900).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    protected(&s);
    assert!(s.contains("c"));

    // Manual evictions.
    assert_eq!(s.evict(10), 1);
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Manual, 800));
    protected(&s);
    put(&s, "a", 100);
    put(&s, "b", 100);
    assert_eq!(s.evict_lru(10), 2);
    protected(&s);
    put(&s, "a", 100);
    assert_eq!(s.clear_unpinned(), 1);
    protected(&s);
    assert_eq!(present(&s), ["p1", "p2"]);
    take(&log);

    // Every pressure level.
    for k in ["a", "b", "c"] {
        put(&s, k, 100);
    }
    s.signal_pressure(MemoryPressureLevel::Moderate); // 500 -> <= 375
    assert_eq!(
        take(&log),
        evicted(&["a", "b"], EvictionReason::Pressure, 100)
    );
    protected(&s);
    s.signal_pressure(MemoryPressureLevel::Critical); // 300 -> <= 150: only "c" can go
    assert_eq!(take(&log), evicted(&["c"], EvictionReason::Pressure, 100));
    protected(&s);
    assert_eq!(s.metrics().current_usage, 200);
    put(&s, "d", 100); // fits the CRITICAL held budget (350)
    s.signal_pressure(MemoryPressureLevel::Emergency);
    assert_eq!(take(&log), evicted(&["d"], EvictionReason::Pressure, 100));
    protected(&s);
    assert_eq!(present(&s), ["p1", "p2"]);
    s.signal_pressure(MemoryPressureLevel::None);

    // A pin survives remove and re-put.
    s.remove("p1").unwrap();
    assert!(!s.contains("p1"));
    assert!(s.is_pinned("p1"));
    assert_eq!(s.pinned_ids(), ["p1", "p2"]);
    assert_eq!(
        (s.metrics().pinned_count, s.metrics().pinned_bytes),
        (1, 100)
    );
    put(&s, "p1", 150);
    assert_eq!(entry(&s, "p1"), Some((150, true)));
    assert_eq!(
        (s.metrics().pinned_count, s.metrics().pinned_bytes),
        (2, 250)
    );
    // Pinning again keeps its place.
    s.pin("p1");
    assert_eq!(s.pinned_ids(), ["p1", "p2"]);
    protected(&s);
    assert_eq!(s.clear_unpinned(), 0);

    // Unpin makes it evictable.
    put(&s, "a", 100);
    s.unpin("p1").unwrap();
    assert!(!s.is_pinned("p1"));
    assert_eq!(s.pinned_ids(), ["p2"]);
    assert_eq!(entry(&s, "p1"), Some((150, false)));
    assert_eq!(s.eviction_order(), ["a", "p1"]);
    assert_eq!(
        (s.metrics().pinned_count, s.metrics().pinned_bytes),
        (1, 100)
    );
    take(&log);
    assert_eq!(s.clear_unpinned(), 2);
    // In storage order (one pass over the entries), not recency order.
    let mut cleared = take(&log);
    cleared.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        cleared,
        [
            ("a".to_string(), EvictionReason::Manual, 100),
            ("p1".to_string(), EvictionReason::Manual, 150)
        ]
    );
    assert_eq!(present(&s), ["p2"]);
    assert_eq!(s.unpin("p1").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn pressure_levels_trigger_eviction() {
    // max 1000: working size 700, held budgets 525 (MODERATE) and 350
    // (CRITICAL, EMERGENCY).
    let s = charged(MemoryConfig::with_max_bytes(1000));
    let log = listen(&s);
    for k in ["e0", "e1", "e2", "e3", "e4", "e5"] {
        put(&s, k, 100);
    }
    assert!(events(&s).is_empty());
    let ev = |kind, previous_level, level, count, bytes, usage_bytes| {
        (kind, previous_level, level, count, bytes, usage_bytes)
    };
    let summary = |s: &Charged| -> Vec<_> {
        events(s)
            .into_iter()
            .map(|e| {
                if e.kind == EventKind::Eviction {
                    assert_eq!(e.reason, EvictionReason::Pressure);
                }
                ev(
                    e.kind,
                    e.previous_level,
                    e.level,
                    e.count,
                    e.bytes,
                    e.usage_bytes,
                )
            })
            .collect()
    };
    use EventKind::{Eviction, PressureChanged};
    use MemoryPressureLevel::{Critical, Emergency, Moderate, None};

    // MODERATE: keep 0.75 x 600 = 450 -> two entries (200 bytes) go.
    s.signal_pressure(Moderate);
    assert_eq!(
        take(&log),
        evicted(&["e0", "e1"], EvictionReason::Pressure, 100)
    );
    assert_eq!(
        summary(&s),
        [
            ev(PressureChanged, None, Moderate, 0, 0, 600),
            ev(Eviction, Moderate, Moderate, 2, 200, 400)
        ]
    );
    let m = s.metrics();
    assert_eq!(m.current_usage, 400);
    assert_eq!((m.eviction_count, m.evicted_bytes), (2, 200));
    assert_eq!(m.pressure_level, Moderate);
    assert_eq!(m.effective_budget, 525);
    assert_eq!(s.pressure_level(), Moderate);

    s.signal_pressure(None);
    assert_eq!(
        summary(&s),
        [ev(PressureChanged, Moderate, None, 0, 0, 400)]
    );
    assert_eq!(s.metrics().effective_budget, 1000);
    put(&s, "f0", 100);
    put(&s, "f1", 100);
    assert!(take(&log).is_empty());

    // CRITICAL: keep 0.5 x 600 = 300 -> three entries (300 bytes) go.
    s.signal_pressure(Critical);
    assert_eq!(
        take(&log),
        evicted(&["e2", "e3", "e4"], EvictionReason::Pressure, 100)
    );
    assert_eq!(
        summary(&s),
        [
            ev(PressureChanged, None, Critical, 0, 0, 600),
            ev(Eviction, Critical, Critical, 3, 300, 300)
        ]
    );
    let m = s.metrics();
    assert_eq!(m.current_usage, 300);
    assert_eq!((m.eviction_count, m.evicted_bytes), (5, 500));
    assert_eq!((m.pressure_level, m.effective_budget), (Critical, 350));

    // EMERGENCY: every evictable entry goes, the pinned one stays.
    s.pin("p");
    put(&s, "p", 50); // 350: exactly the held budget
    s.signal_pressure(Emergency);
    assert_eq!(
        take(&log),
        evicted(&["e5", "f0", "f1"], EvictionReason::Pressure, 100)
    );
    assert_eq!(
        summary(&s),
        [
            ev(PressureChanged, Critical, Emergency, 0, 0, 350),
            ev(Eviction, Emergency, Emergency, 3, 300, 50)
        ]
    );
    assert_eq!(
        s.metrics(),
        MemoryMetrics {
            current_usage: 50,
            max_usage: 600,
            eviction_count: 8,
            pressure_level: Emergency,
            entry_count: 1,
            pinned_count: 1,
            pinned_bytes: 50,
            in_use_bytes: 0,
            hit_count: 0,
            miss_count: 0,
            insert_count: 9,
            evicted_bytes: 800,
            load_count: 0,
            load_failure_count: 0,
            max_cache_bytes: 1000,
            effective_budget: 350,
        }
    );
    // Unpinned puts are refused until the signal ends.
    let err = s.put("u".to_string(), 10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OverBudget);
    assert!(!s.contains("u"));

    s.signal_pressure(None);
    assert_eq!(
        summary(&s),
        [ev(PressureChanged, Emergency, None, 0, 0, 50)]
    );
    assert_eq!(s.metrics().effective_budget, 1000);
    put(&s, "u", 10);
    assert!(s.contains("u"));
    assert!(take(&log).is_empty());
}

#[test]
fn size_estimation_works() {
    // The default byte estimator: key length + value length (bytes, not
    // chars) + ENTRY_OVERHEAD_BYTES.
    let s: Store<String, String> =
        Store::with_estimator(MemoryConfig::with_max_bytes(100_000), ByteSizeEstimator).unwrap();
    s.put("ké".to_string(), "héllo".to_string()).unwrap();
    s.put(String::new(), String::new()).unwrap();
    assert_eq!(entry(&s, "ké"), Some((3 + 6 + ENTRY_OVERHEAD_BYTES, false)));
    assert_eq!(entry(&s, ""), Some((ENTRY_OVERHEAD_BYTES, false)));
    assert_eq!(s.metrics().current_usage, 9 + 2 * ENTRY_OVERHEAD_BYTES);
    let bytes: Store<String, Vec<u8>> =
        Store::with_estimator(MemoryConfig::default(), ByteSizeEstimator).unwrap();
    bytes.put("abc".to_string(), vec![7; 5000]).unwrap();
    assert_eq!(
        bytes.get("abc").unwrap().charge(),
        5003 + ENTRY_OVERHEAD_BYTES
    );

    // A custom closure.
    let s: Store<String, String> = Store::with_estimator(
        MemoryConfig::with_max_bytes(100_000),
        |k: &String, v: &String| (k.len() * 10 + v.len()) as u64,
    )
    .unwrap();
    s.put("ab".to_string(), "xyz".to_string()).unwrap();
    assert_eq!(entry(&s, "ab"), Some((23, false)));
    assert_eq!(s.metrics().current_usage, 23);

    // The JSON estimator of the original design, the default of Store::new.
    #[derive(Serialize)]
    struct Profile {
        name: String,
        tags: Vec<String>,
        score: f64,
        active: bool,
        note: Option<String>,
    }
    let profiles: Store<String, Profile> =
        Store::new(MemoryConfig::with_max_bytes(100_000)).unwrap();
    let values = [
        Profile {
            name: "Zoë \"the\" tester\n".to_string(),
            tags: vec!["a".to_string(), "β".to_string()],
            score: 12.5,
            active: true,
            note: None,
        },
        Profile {
            name: String::new(),
            tags: Vec::new(),
            score: -0.001,
            active: false,
            note: Some("\u{1F600}\t".to_string()),
        },
    ];
    let mut total = 0;
    for (i, v) in values.into_iter().enumerate() {
        let expected = serde_json::to_string(&v).unwrap().len() as u64;
        total += expected;
        let key = format!("p{i}");
        profiles.put(key.clone(), v).unwrap();
        assert_eq!(entry(&profiles, &key), Some((expected, false)));
    }
    assert_eq!(profiles.metrics().current_usage, total);

    // Computed once: an estimator returning a new number on every call.
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let s: Charged = Store::with_estimator(
        MemoryConfig::with_max_bytes(1000),
        move |_: &String, _: &u64| (c.fetch_add(1, Ordering::SeqCst) + 1) * 10,
    )
    .unwrap();
    let log = listen(&s);
    put(&s, "a", 0); // charged 10
    put(&s, "b", 0); // charged 20
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Reads, pins, unpins, pressure signals and metrics never re-estimate.
    assert_eq!(s.get("a").unwrap().charge(), 10);
    assert!(s.contains("b"));
    s.pin("a");
    s.unpin("a").unwrap();
    s.signal_pressure(MemoryPressureLevel::None);
    let _ = s.metrics();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(entry(&s, "a"), Some((10, false)));
    assert_eq!(entry(&s, "b"), Some((20, false)));
    assert_eq!(s.metrics().current_usage, 30);
    s.remove("a").unwrap();
    s.remove("b").unwrap();
    assert_eq!(
        take(&log),
        [
            ("a".to_string(), EvictionReason::Removed, 10),
            ("b".to_string(), EvictionReason::Removed, 20)
        ]
    );
    let m = s.metrics();
    assert_eq!((m.current_usage, m.max_usage, m.entry_count), (0, 30, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // 0 is charged as 0; the entry is still present and evictable.
    let s: Charged =
        Store::with_estimator(MemoryConfig::with_max_bytes(100), |_: &String, _: &u64| 0).unwrap();
    for i in 0..50 {
        put(&s, &format!("z{i}"), 1);
    }
    let m = s.metrics();
    assert_eq!(
        (m.current_usage, m.entry_count, m.pressure_level),
        (0, 50, MemoryPressureLevel::None)
    );
    assert_eq!(entry(&s, "z0"), Some((0, false)));
    assert_eq!(s.evict(1), 1);
    assert!(!s.contains("z0"));
    assert_eq!(s.metrics().entry_count, 49);

    // u64::MAX on a bounded store: TOO_LARGE, nothing changed.
    let s: Charged =
        Store::with_estimator(MemoryConfig::with_max_bytes(1000), |k: &String, _: &u64| {
            if k == "huge" { u64::MAX } else { 100 }
        })
        .unwrap();
    put(&s, "a", 0);
    let before = (s.entries_snapshot(), s.eviction_order(), s.metrics());
    let err = s.put("huge".to_string(), 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert_eq!(
        (s.entries_snapshot(), s.eviction_order(), s.metrics()),
        before
    );
    assert!(events(&s).is_empty());
}
