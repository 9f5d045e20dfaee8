//! The sharded mode (`MemoryConfig::shards` > 1): each shard has an equal
//! share of the budget and its own exact eviction order; the store's level
//! is the highest of its shards'; metrics add up over the shards; pins and
//! read handles are never evicted; whole-store calls reach every shard.
//!
//! Stores here are `Store<u32, u64>` whose estimator charges the value, so
//! every byte figure is exact. Which shard a key lands in is not visible
//! (a random seed per store), so the tests assert what holds whatever the
//! spread.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use nexus_store::{
    ErrorKind, Event, EventKind, EvictionReason, EvictionStrategy, MemoryConfig,
    MemoryPressureLevel as L, Store,
};
use proptest::prelude::*;

type Sharded = Store<u32, u64>;
type Log = Arc<Mutex<Vec<(u32, EvictionReason, u64)>>>;

fn sharded(shards: u32, max: u64) -> Sharded {
    with(MemoryConfig {
        shards,
        ..MemoryConfig::with_max_bytes(max)
    })
}

fn with(config: MemoryConfig) -> Sharded {
    Store::with_estimator(config, |_: &u32, v: &u64| *v).unwrap()
}

fn listen(s: &Sharded) -> Log {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    s.set_eviction_listener(Some(Arc::new(move |k: &u32, r, b| {
        sink.lock().unwrap().push((*k, r, b));
    })));
    log
}

fn events(s: &Sharded) -> Arc<Mutex<Vec<Event>>> {
    let log: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&log);
    s.set_event_callback(Some(Arc::new(move |e: &Event| {
        sink.lock().unwrap().push(*e);
    })));
    log
}

/// The present keys and the sum of their charges, from the snapshot.
fn contents(s: &Sharded) -> (HashSet<u32>, u64) {
    let snap = s.entries_snapshot();
    let keys: HashSet<u32> = snap.iter().map(|e| e.key).collect();
    assert_eq!(keys.len(), snap.len(), "a key is in two shards");
    (keys, snap.iter().map(|e| e.charge).sum())
}

/// Metrics agree with the contents, and usage is within the budget.
fn check_consistent(s: &Sharded) {
    let (keys, usage) = contents(s);
    let m = s.metrics();
    assert_eq!(m.entry_count, keys.len() as u64);
    assert_eq!(m.current_usage, usage);
    assert!(m.max_usage >= m.current_usage);
    if m.max_cache_bytes > 0 {
        assert!(m.current_usage <= m.effective_budget + m.pinned_bytes + m.in_use_bytes);
    }
    for k in &keys {
        assert!(s.contains(k));
    }
}

#[test]
fn config_limits_shards_and_their_budget() {
    for bad in [0, 65] {
        let config = MemoryConfig {
            shards: bad,
            ..MemoryConfig::with_max_bytes(1000)
        };
        let Err(err) = Store::<u32, u64>::with_estimator(config, |_: &u32, v: &u64| *v) else {
            panic!("shards {bad} accepted");
        };
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("shards"), "{}", err.message());
    }
    // Each shard needs at least one byte of a bounded budget.
    let config = MemoryConfig {
        shards: 8,
        ..MemoryConfig::with_max_bytes(7)
    };
    let Err(err) = Store::<u32, u64>::with_estimator(config, |_: &u32, v: &u64| *v) else {
        panic!("a budget of 7 bytes for 8 shards accepted");
    };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    sharded(8, 8);
    sharded(64, 0);
    let s = sharded(8, 800);
    assert_eq!(
        s.set_max_bytes(7).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(s.metrics().max_cache_bytes, 800);
    assert_eq!(s.config().shards, 8);
}

#[test]
fn every_key_is_found_in_its_shard() {
    let s = sharded(16, 0);
    for k in 0..2000u32 {
        s.put(k, u64::from(k % 7)).unwrap();
    }
    for k in 0..2000u32 {
        assert_eq!(s.get_cloned(&k), Some(u64::from(k % 7)));
        assert!(s.contains(&k));
    }
    assert!(!s.contains(&5000));
    let m = s.metrics();
    assert_eq!(
        (m.entry_count, m.hit_count, m.insert_count),
        (2000, 2000, 2000)
    );
    s.remove(&7).unwrap();
    assert_eq!(s.remove(&7).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.clear(), 1999);
    assert_eq!(s.metrics().entry_count, 0);
    check_consistent(&s);
}

#[test]
fn an_entry_larger_than_a_shards_share_is_too_large() {
    // 4 shards of a 4000-byte budget: 1000 bytes each.
    let s = sharded(4, 4000);
    let e = s.put(1, 1001).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert!(e.message().contains("share"), "{}", e.message());
    s.put(1, 1000).unwrap();
    assert_eq!(s.metrics().current_usage, 1000);
}

/// A shard full of pinned entries refuses a put: the message names the
/// shard's part of the budget and the store's budget, since the store's
/// own figures (usage far below its budget) would not explain it.
#[test]
fn a_put_refused_in_a_full_shard_names_the_shards_part() {
    // 4 shards of a 4000-byte budget: 1000 bytes each.
    let s = sharded(4, 4000);
    let mut refused = None;
    for k in 0..100u32 {
        s.pin(&k);
        if let Err(e) = s.put(k, 300) {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("a shard fills with pinned entries");
    assert_eq!(e.kind(), ErrorKind::OverBudget);
    assert!(s.metrics().current_usage < 4000 - 300);
    assert!(
        e.message().contains("its shard's part (1000 bytes)")
            && e.message().contains("the store's budget is 4000 bytes"),
        "{}",
        e.message()
    );
    // One shard: the budget itself, as before.
    let one = sharded(1, 1000);
    for k in 0..3u32 {
        one.pin(&k);
        one.put(k, 300).unwrap();
    }
    one.pin(&3);
    let e = one.put(3, 300).unwrap_err();
    assert!(
        e.message()
            .contains("cannot fit in the budget in force (1000 bytes)"),
        "{}",
        e.message()
    );
}

#[test]
fn usage_stays_within_the_budget_and_each_shard_evicts_its_own() {
    let s = sharded(4, 4000);
    let log = listen(&s);
    for k in 0..400u32 {
        s.put(k, 10 + u64::from(k % 5)).unwrap();
        check_consistent(&s);
    }
    let evicted = log.lock().unwrap().len();
    assert!(
        evicted > 0,
        "4000 bytes cannot hold 400 entries of 10-14 bytes"
    );
    let m = s.metrics();
    assert_eq!(m.eviction_count, evicted as u64);
    // Each shard stops below its working size (0.7 x 1000) after evicting.
    assert!(m.current_usage <= 4 * 700 + 4 * 14, "{m:?}");
}

#[test]
fn lru_order_is_exact_within_each_shard() {
    // eviction_order() lists each shard's order in turn: the keys' last
    // access times rise within a shard, so the whole list has at most
    // shards - 1 descents.
    let shards = 4;
    let s = sharded(shards, 0);
    let mut last_access = std::collections::HashMap::new();
    let mut t = 0u64;
    let mut rng = 12345u64;
    for k in 0..300u32 {
        s.put(k, 1).unwrap();
        t += 1;
        last_access.insert(k, t);
    }
    for _ in 0..2000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let k = (rng % 300) as u32;
        assert!(s.get(&k).is_some());
        t += 1;
        last_access.insert(k, t);
    }
    let order = s.eviction_order();
    assert_eq!(order.len(), 300);
    let descents = order
        .windows(2)
        .filter(|w| last_access[&w[0]] > last_access[&w[1]])
        .count();
    assert!(descents < shards as usize, "{descents} descents");
    // With one shard the order is one exact LRU list.
    let one = sharded(1, 0);
    for k in [3, 1, 2] {
        one.put(k, 1).unwrap();
    }
    drop(one.get(&3));
    assert_eq!(one.eviction_order(), [1, 2, 3]);
}

#[test]
fn pins_and_handles_survive_emergency_in_every_shard() {
    // Shares of 10000: the 4000 bytes put (spread by a random hash) never
    // reach a shard's working size, so nothing goes before the signal.
    let s = sharded(8, 80_000);
    let log = listen(&s);
    for k in 0..200u32 {
        s.put(k, 20).unwrap();
    }
    assert_eq!(s.metrics().entry_count, 200);
    for k in (0..200).step_by(10) {
        s.pin(&k);
    }
    let held: Vec<_> = (5..200).step_by(50).map(|k| s.get(&k).unwrap()).collect();
    s.signal_pressure(L::Emergency);
    let (keys, _) = contents(&s);
    let pinned: HashSet<u32> = (0..200).step_by(10).collect();
    let handles: HashSet<u32> = (5..200).step_by(50).collect();
    assert_eq!(keys, &pinned | &handles);
    for (k, reason, _) in log.lock().unwrap().iter() {
        assert!(!pinned.contains(k) && !handles.contains(k));
        assert_eq!(*reason, EvictionReason::Pressure);
    }
    assert_eq!(s.pressure_level(), L::Emergency);
    // Unpinned puts are refused in every shard; pinned keys may be put.
    for k in 1000..1010u32 {
        assert_eq!(s.put(k, 1).unwrap_err().kind(), ErrorKind::OverBudget);
    }
    s.put(10, 5).unwrap();
    assert_eq!(s.pinned_ids().len(), 20);
    drop(held);
    // Released, they fit within the held (CRITICAL) budget, so they stay;
    // a new EMERGENCY signal sheds them.
    s.signal_pressure(L::Emergency);
    let (keys, _) = contents(&s);
    assert_eq!(keys, pinned);
    s.signal_pressure(L::None);
    assert_eq!(s.pressure_level(), L::None);
    check_consistent(&s);
}

#[test]
fn a_signal_reports_one_level_change_for_the_store() {
    let s = sharded(8, 80_000);
    let ev = events(&s);
    for k in 0..400u32 {
        s.put(k, 10).unwrap();
    }
    ev.lock().unwrap().clear();
    s.signal_pressure(L::Moderate);
    let got = ev.lock().unwrap().clone();
    let changes: Vec<_> = got
        .iter()
        .filter(|e| e.kind == EventKind::PressureChanged)
        .collect();
    assert_eq!(changes.len(), 1, "{got:?}");
    assert_eq!(
        (changes[0].previous_level, changes[0].level),
        (L::None, L::Moderate)
    );
    // One EVICTION event per shard that shed, together the whole shed.
    let shed: u64 = got
        .iter()
        .filter(|e| e.kind == EventKind::Eviction)
        .map(|e| e.count)
        .sum();
    assert_eq!(shed, s.metrics().eviction_count);
    assert!(shed > 0 && shed < 400);
    // The store's usage in the last event is the store's, not a shard's.
    assert_eq!(got.last().unwrap().usage_bytes, s.metrics().current_usage);
    ev.lock().unwrap().clear();
    s.signal_pressure(L::None);
    let got = ev.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].kind, got[0].previous_level, got[0].level),
        (EventKind::PressureChanged, L::Moderate, L::None)
    );
}

#[test]
fn level_events_chain_and_end_at_the_reported_level() {
    // Usage levels are per shard (against its share); the store reports
    // the highest, and each reported change says where it came from.
    let s = sharded(4, 4000);
    let ev = events(&s);
    for k in 0..300u32 {
        s.put(k, 13).unwrap();
    }
    s.signal_pressure(L::Critical);
    s.signal_pressure(L::None);
    let changes: Vec<Event> = ev
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::PressureChanged)
        .copied()
        .collect();
    assert!(!changes.is_empty());
    assert_eq!(changes[0].previous_level, L::None);
    for w in changes.windows(2) {
        assert_eq!(w[1].previous_level, w[0].level, "{changes:?}");
        assert_ne!(w[1].level, w[1].previous_level);
    }
    assert_eq!(changes.last().unwrap().level, s.pressure_level());
    assert_eq!(s.metrics().pressure_level, s.pressure_level());
}

#[test]
fn manual_eviction_counts_over_all_shards() {
    let s = sharded(8, 0);
    for k in 0..100u32 {
        s.put(k, 1).unwrap();
    }
    assert_eq!(s.evict(30), 30);
    assert_eq!(s.metrics().entry_count, 70);
    assert_eq!(s.evict_lru(5), 5);
    for k in 0..100u32 {
        s.pin(&k);
    }
    assert_eq!(s.evict(10), 0);
    for k in 0..50u32 {
        s.unpin(&k).unwrap();
    }
    let unpinned_present = (0..50u32).filter(|k| s.contains(k)).count();
    assert_eq!(s.evict(1000), unpinned_present);
    assert_eq!(s.clear_unpinned(), 0);
    let lfu = with(MemoryConfig {
        shards: 4,
        strategy: EvictionStrategy::Lfu,
        ..MemoryConfig::default()
    });
    for k in 0..40u32 {
        lfu.put(k, 1).unwrap();
    }
    assert_eq!(lfu.evict_lru(12), 12);
    assert_eq!(lfu.clear_unpinned(), 28);
}

/// An EVICTION event carries the store's level as both `level` and
/// `previous_level`, whichever shard evicted (audit 12: `previous_level` was
/// the evicting shard's own level, below the store's when another shard's
/// pins held the store at CRITICAL). Placement is random per store, so
/// several stores.
#[test]
fn an_eviction_event_carries_the_stores_level_twice() {
    let mut elevated = 0;
    for _ in 0..40 {
        let s = sharded(2, 2000);
        let ev = events(&s);
        for k in 0..14u32 {
            s.pin(&k);
            let _ = s.put(k, 100);
        }
        for k in 100..106u32 {
            let _ = s.put(k, 10);
        }
        s.evict_lru(6);
        for e in ev.lock().unwrap().iter() {
            if e.kind == EventKind::Eviction {
                assert_eq!(e.previous_level, e.level, "{e:?}");
                if e.level > L::None {
                    elevated += 1;
                }
            }
        }
    }
    assert!(elevated > 0, "no eviction happened at a raised level");
}

/// `set_max_bytes` evicts shard after shard under all their locks: each
/// EVICTION event carries the store's usage after it, so they fall and the
/// last is the usage after the call (audit 12: each added its shard's new
/// usage to the others' old one).
#[test]
fn set_max_bytes_events_carry_the_falling_usage() {
    let s = sharded(4, 80_000);
    for k in 0..400u32 {
        s.put(k, 50).unwrap();
    }
    let ev = events(&s);
    s.set_max_bytes(8000).unwrap();
    let usages: Vec<u64> = ev
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::Eviction)
        .map(|e| e.usage_bytes)
        .collect();
    assert_eq!(usages.len(), 4, "every shard evicted");
    assert!(usages.windows(2).all(|w| w[1] < w[0]), "{usages:?}");
    assert_eq!(*usages.last().unwrap(), s.metrics().current_usage);
}

#[test]
fn set_max_bytes_changes_every_shard_or_none() {
    let s = sharded(4, 80_000);
    for k in 0..400u32 {
        s.put(k, 50).unwrap();
    }
    // Pin everything: no shard can shrink below what it holds.
    for k in 0..400u32 {
        s.pin(&k);
    }
    let before = contents(&s);
    let e = s.set_max_bytes(4000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OverBudget);
    assert!(e.message().contains("share"), "{}", e.message());
    assert_eq!(contents(&s), before);
    assert_eq!(s.metrics().max_cache_bytes, 80_000);
    for k in 0..400u32 {
        s.unpin(&k).unwrap();
    }
    s.set_max_bytes(8000).unwrap();
    let m = s.metrics();
    assert_eq!(m.max_cache_bytes, 8000);
    assert!(m.current_usage <= 8000);
    check_consistent(&s);
}

#[test]
fn metrics_add_up_and_reset_on_every_shard() {
    let s = sharded(4, 0);
    for k in 0..50u32 {
        s.put(k, 2).unwrap();
    }
    for k in 0..60u32 {
        drop(s.get(&k));
    }
    let m = s.metrics();
    assert_eq!((m.hit_count, m.miss_count), (50, 10));
    assert_eq!((m.current_usage, m.max_usage), (100, 100));
    s.reset_metrics();
    let m = s.metrics();
    assert_eq!((m.hit_count, m.miss_count, m.insert_count), (0, 0, 0));
    assert_eq!(m.max_usage, 100);
    let json = s.metrics_json();
    assert!(json.contains("\"entry_count\":50"), "{json}");
}

#[test]
fn many_threads_on_a_sharded_store_keep_its_invariants() {
    common::watchdog(60, "sharded stress", || {
        let s = sharded(8, 20_000);
        let log = listen(&s);
        for k in (0..2000u32).step_by(100) {
            s.pin(&k);
        }
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let s = s.clone();
                thread::spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                    for i in 0..20_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = (x % 2000) as u32;
                        match x % 10 {
                            0..=4 => drop(s.get(&k)),
                            5..=7 => {
                                let _ = s.put(k, 5 + x % 40);
                            }
                            8 => {
                                let _ = s.remove(&k);
                            }
                            _ if i % 500 == 0 => {
                                s.signal_pressure(if t % 2 == 0 { L::Moderate } else { L::None })
                            }
                            _ => drop(s.get_cloned(&k)),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        s.signal_pressure(L::None);
        check_consistent(&s);
        let pinned: HashSet<u32> = (0..2000).step_by(100).collect();
        for (k, reason, _) in log.lock().unwrap().iter() {
            if matches!(
                reason,
                EvictionReason::Capacity | EvictionReason::Pressure | EvictionReason::Manual
            ) {
                assert!(!pinned.contains(k), "pinned key {k} was evicted");
            }
        }
    });
}

#[derive(Clone, Debug)]
enum Op {
    Put(u32, u64),
    Get(u32),
    Remove(u32),
    Pin(u32),
    Unpin(u32),
    Signal(L),
    Evict(usize),
    ClearUnpinned,
    SetMax(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..40u32;
    prop_oneof![
        6 => (key.clone(), 1..120u64).prop_map(|(k, c)| Op::Put(k, c)),
        4 => key.clone().prop_map(Op::Get),
        1 => key.clone().prop_map(Op::Remove),
        1 => key.clone().prop_map(Op::Pin),
        1 => key.prop_map(Op::Unpin),
        1 => prop::sample::select(vec![L::None, L::Moderate, L::Critical, L::Emergency])
            .prop_map(Op::Signal),
        1 => (0..6usize).prop_map(Op::Evict),
        1 => Just(Op::ClearUnpinned),
        1 => (400..1600u64).prop_map(Op::SetMax),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the calls, a sharded store keeps the invariants docs/DESIGN.md
    /// states for a store: usage within the budget in force (pins and
    /// handles aside), pinned entries never evicted, metrics that match the
    /// contents, and every put either present afterwards or refused.
    #[test]
    fn sharded_store_invariants(
        shards in 2..6u32,
        strategy in prop::sample::select(vec![
            EvictionStrategy::Lru, EvictionStrategy::Lfu, EvictionStrategy::Size,
        ]),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let s = with(MemoryConfig { shards, strategy, ..MemoryConfig::with_max_bytes(1000) });
        let log = listen(&s);
        let mut pins = HashSet::new();
        let mut largest_budget = 1000;
        for op in ops {
            log.lock().unwrap().clear();
            match op {
                Op::Put(k, c) => {
                    if s.put(k, c).is_ok() {
                        prop_assert!(s.contains(&k));
                    }
                }
                Op::Get(k) => drop(s.get(&k)),
                Op::Remove(k) => { let _ = s.remove(&k); }
                Op::Pin(k) => { s.pin(&k); pins.insert(k); }
                Op::Unpin(k) => { let _ = s.unpin(&k); pins.remove(&k); }
                Op::Signal(l) => s.signal_pressure(l),
                Op::Evict(n) => { s.evict(n); }
                Op::ClearUnpinned => { s.clear_unpinned(); }
                Op::SetMax(m) => {
                    if s.set_max_bytes(m).is_ok() {
                        largest_budget = largest_budget.max(m);
                    }
                }
            }
            for (k, reason, _) in log.lock().unwrap().iter() {
                if *reason != EvictionReason::Removed && *reason != EvictionReason::Replaced {
                    prop_assert!(!pins.contains(k), "pinned {} evicted", k);
                }
            }
            let (keys, usage) = contents(&s);
            let m = s.metrics();
            prop_assert_eq!(m.entry_count, keys.len() as u64);
            prop_assert_eq!(m.current_usage, usage);
            // Per shard, usage <= max(its budget in force, its pinned bytes):
            // over the store, at most the sum of the two.
            prop_assert!(m.current_usage <= m.effective_budget + m.pinned_bytes, "{:?}", m);
            // The sum of the shards' peaks: at least the usage, at most the
            // largest budget the store has had.
            prop_assert!(m.max_usage >= m.current_usage && m.max_usage <= largest_budget);
            let mut ids = s.pinned_ids();
            ids.sort_unstable();
            let mut want: Vec<u32> = pins.iter().copied().collect();
            want.sort_unstable();
            prop_assert_eq!(ids, want);
        }
    }
}

/// With several shards, evict(n), evict_lru(n) and clear_unpinned do every
/// shard's part even when the listener panics (the first panic goes on at
/// the end; they stopped after the first shard).
#[test]
fn a_panicking_listener_does_not_cut_a_sharded_eviction_short() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    for shards in [1u32, 2, 4] {
        let config = MemoryConfig {
            shards,
            ..MemoryConfig::default()
        };
        let s: Store<u64, u64> = Store::with_estimator(config, |_: &u64, _: &u64| 1).unwrap();
        for k in 0..2000 {
            s.put(k, k).unwrap();
        }
        s.set_eviction_listener(Some(Arc::new(|_k: &u64, _r, _b| panic!("listener boom"))));
        assert!(catch_unwind(AssertUnwindSafe(|| s.evict(300))).is_err());
        assert_eq!(s.metrics().entry_count, 1700, "{shards} shards: evict");
        assert!(catch_unwind(AssertUnwindSafe(|| s.evict_lru(300))).is_err());
        assert_eq!(s.metrics().entry_count, 1400, "{shards} shards: evict_lru");
        assert!(catch_unwind(AssertUnwindSafe(|| s.clear_unpinned())).is_err());
        assert_eq!(
            s.metrics().entry_count,
            0,
            "{shards} shards: clear_unpinned"
        );
    }
}
