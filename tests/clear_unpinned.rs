//! `clear_unpinned` (docs/DESIGN.md section 3): one pass over the entry
//! storage for LRU and SIZE stores whose surviving entries are all pinned,
//! the chunked run otherwise; either way the same outcome: every evictable
//! entry gone (reason MANUAL, one EVICTION event), pinned entries and
//! entries held by read handles kept and still found, the store working as
//! before afterwards.

use nexus_store::{EventKind, EvictionReason, EvictionStrategy, MemoryConfig, Store};

mod common;
use common::string_keys::{events, listen, present, take};

type Charged = Store<String, u64>;

fn store(strategy: EvictionStrategy, shards: u32) -> Charged {
    let config = MemoryConfig {
        strategy,
        shards,
        ..MemoryConfig::with_max_bytes(1 << 30)
    };
    Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap()
}

fn key(i: u64) -> String {
    format!("k{i:04}")
}

/// 300 entries charged 1..=300, every tenth pinned; returns the pinned keys.
fn fill(s: &Charged) -> Vec<String> {
    let mut pinned = Vec::new();
    for i in 1..=300u64 {
        s.put(key(i), i).unwrap();
        if i % 10 == 0 {
            s.pin(&key(i));
            pinned.push(key(i));
        }
    }
    pinned
}

fn check_clear(strategy: EvictionStrategy, shards: u32, hold: bool) {
    let s = store(strategy, shards);
    let pinned = fill(&s);
    let log = listen(&s);
    let _ = events(&s);
    // A read handle on an unpinned entry: it must stay (and, for LRU,
    // keep its place: the chunked run then does the work).
    let held = hold.then(|| s.get(&key(7)).unwrap());
    let before = s.metrics();
    let pinned_bytes: u64 = pinned.iter().map(|k| k[1..].parse::<u64>().unwrap()).sum();
    let kept_bytes = pinned_bytes + if hold { 7 } else { 0 };
    let evicted_count = 270 - usize::from(hold);

    assert_eq!(s.clear_unpinned(), evicted_count);

    let removed = take(&log);
    assert_eq!(removed.len(), evicted_count, "each victim reported once");
    assert!(removed.iter().all(|r| r.1 == EvictionReason::Manual));
    let mut keys: Vec<_> = removed.iter().map(|r| r.0.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), evicted_count);
    assert!(
        keys.iter()
            .all(|k| !(pinned.contains(k) || hold && *k == key(7)))
    );
    let freed: u64 = removed.iter().map(|r| r.2).sum();

    let m = s.metrics();
    assert_eq!(m.current_usage, kept_bytes);
    assert_eq!(m.current_usage, before.current_usage - freed);
    assert_eq!(m.entry_count, 30 + u64::from(hold));
    assert_eq!(
        m.eviction_count,
        before.eviction_count + evicted_count as u64
    );
    assert_eq!(m.pinned_count, 30);
    assert_eq!(m.pinned_bytes, pinned_bytes);
    let evictions: Vec<_> = events(&s)
        .into_iter()
        .filter(|e| e.kind == EventKind::Eviction)
        .collect();
    assert_eq!(
        evictions.len(),
        shards as usize,
        "one EVICTION event per shard"
    );
    assert_eq!(
        evictions.iter().map(|e| e.count).sum::<u64>(),
        evicted_count as u64
    );
    assert_eq!(evictions.iter().map(|e| e.bytes).sum::<u64>(), freed);

    // What stays is found through the rebuilt index; what went is not.
    for k in &pinned {
        assert!(s.contains(k), "{k} kept");
    }
    assert!(!s.contains(&key(1)));
    assert_eq!(s.contains(&key(7)), hold);
    drop(held);

    // The store works as before: new entries take freed slots, the order
    // holds them, a second clear takes them.
    for i in 1000..1100u64 {
        s.put(key(i), 1).unwrap();
    }
    for i in 1000..1100u64 {
        assert_eq!(s.get_cloned(&key(i)), Some(1));
    }
    if strategy == EvictionStrategy::Lru && shards == 1 {
        let order = s.eviction_order();
        let tail: Vec<_> = order.iter().rev().take(3).rev().cloned().collect();
        assert_eq!(tail, [key(1097), key(1098), key(1099)]);
    }
    assert_eq!(s.evict(1), 1);
    let expected = 100 - 1 + usize::from(hold);
    assert_eq!(s.clear_unpinned(), expected);
    let mut left = present(&s);
    left.sort();
    let mut want = pinned.clone();
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn the_one_pass_reports_victims_in_storage_order() {
    // Recency reversed: the chunked run would report k0300 first.
    let s = store(EvictionStrategy::Lru, 1);
    fill(&s);
    for i in (1..=300u64).rev() {
        s.get_cloned(&key(i));
    }
    let log = listen(&s);
    assert_eq!(s.clear_unpinned(), 270);
    let keys: Vec<_> = take(&log).into_iter().map(|r| r.0).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "storage (insertion) order");
}

#[test]
fn one_pass_for_lru_and_size() {
    for strategy in [EvictionStrategy::Lru, EvictionStrategy::Size] {
        check_clear(strategy, 1, false);
        check_clear(strategy, 4, false);
    }
}

#[test]
fn chunked_when_a_read_handle_holds_an_unpinned_entry() {
    for strategy in [EvictionStrategy::Lru, EvictionStrategy::Size] {
        check_clear(strategy, 1, true);
    }
}

#[test]
fn chunked_for_the_frequency_strategies() {
    for strategy in [EvictionStrategy::Lfu, EvictionStrategy::TinyLfu] {
        check_clear(strategy, 1, false);
        check_clear(strategy, 2, true);
    }
}
