//! `MemoryConfig::max_entries`: the entry-count limit beside the byte
//! budget, rule by rule, on stores whose entries are charged their value.

use std::sync::{Arc, Mutex};

use nexus_store::{ErrorKind, EvictionReason, EvictionStrategy, MemoryConfig, Store};

type Charged = Store<String, u64>;

fn store(max_entries: u64, max_bytes: u64, strategy: EvictionStrategy) -> Charged {
    let config = MemoryConfig {
        max_entries,
        max_cache_bytes: max_bytes,
        strategy,
        ..MemoryConfig::default()
    };
    Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap()
}

fn put(s: &Charged, key: &str, charge: u64) {
    s.put(key.to_string(), charge)
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

fn keys(s: &Charged) -> Vec<String> {
    let mut k: Vec<String> = s.entries_snapshot().into_iter().map(|e| e.key).collect();
    k.sort();
    k
}

#[test]
fn a_new_key_into_a_full_store_evicts_the_least_recent_with_reason_capacity() {
    let s = store(3, 0, EvictionStrategy::Lru);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heard);
    s.set_eviction_listener(Some(Arc::new(move |k: &String, r, _| {
        h.lock().unwrap().push((k.clone(), r));
    })));
    for k in ["a", "b", "c"] {
        put(&s, k, 1);
    }
    let _ = s.get("a"); // a is now the most recent
    put(&s, "d", 1);
    assert_eq!(keys(&s), ["a", "c", "d"]);
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("b".to_string(), EvictionReason::Capacity)]
    );
    assert_eq!(s.metrics().entry_count, 3);
    assert_eq!(s.metrics().eviction_count, 1);
}

#[test]
fn replacing_a_value_never_changes_the_count() {
    let s = store(2, 0, EvictionStrategy::Lru);
    put(&s, "a", 1);
    put(&s, "b", 1);
    put(&s, "a", 5);
    put(&s, "b", 7);
    assert_eq!(keys(&s), ["a", "b"]);
    assert_eq!(s.metrics().eviction_count, 0);
}

#[test]
fn pinned_and_in_use_entries_count_and_are_never_evicted() {
    let s = store(3, 0, EvictionStrategy::Lru);
    put(&s, "pinned", 1);
    s.pin("pinned");
    put(&s, "held", 1);
    let handle = s.get("held").unwrap();
    put(&s, "free", 1);
    put(&s, "new", 1);
    assert_eq!(keys(&s), ["held", "new", "pinned"], "only `free` could go");
    put(&s, "newer", 1);
    assert_eq!(keys(&s), ["held", "newer", "pinned"]);
    // Both left are protected and fill 2 of 3: one more fits, then none.
    s.pin("newer");
    let e = s.put("x".to_string(), 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OverBudget);
    assert!(e.to_string().contains("limit of 3 entries"), "{e}");
    assert_eq!(
        keys(&s),
        ["held", "newer", "pinned"],
        "a refused put changes nothing"
    );
    drop(handle);
    put(&s, "x", 1);
    assert_eq!(
        keys(&s),
        ["newer", "pinned", "x"],
        "released, `held` could go"
    );
}

#[test]
fn bytes_and_count_take_the_victims_either_asks_for() {
    // 4 entries or 100 bytes, whichever is hit first (thresholds high
    // enough that no put below the budget evicts a batch).
    let config = MemoryConfig {
        max_entries: 4,
        max_cache_bytes: 100,
        moderate_threshold: 0.99,
        critical_threshold: 1.0,
        ..MemoryConfig::default()
    };
    let s: Charged = Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap();
    for (k, c) in [("a", 10), ("b", 10), ("c", 10), ("d", 10)] {
        put(&s, k, c);
    }
    put(&s, "e", 10); // the count asks for one
    assert_eq!(keys(&s), ["b", "c", "d", "e"]);
    put(&s, "big", 75); // bytes ask for two (30 + 75 > 100), the count for one
    assert_eq!(keys(&s), ["big", "d", "e"]);
    assert!(s.metrics().current_usage <= 100);
}

#[test]
fn the_strategy_order_picks_the_victims() {
    let s = store(2, 0, EvictionStrategy::Size);
    put(&s, "small", 1);
    put(&s, "large", 50);
    put(&s, "mid", 10);
    assert_eq!(keys(&s), ["mid", "small"], "SIZE evicts the largest first");
    let l = store(2, 0, EvictionStrategy::Lfu);
    put(&l, "hot", 1);
    let _ = l.get("hot");
    let _ = l.get("hot");
    put(&l, "cold", 1);
    put(&l, "new", 1);
    let mut k = keys(&l);
    k.sort();
    assert_eq!(k, ["hot", "new"], "LFU evicts the least used first");
}

#[test]
fn shards_share_the_count_and_bad_limits_are_refused() {
    let config = MemoryConfig {
        max_entries: 8,
        shards: 4,
        ..MemoryConfig::default()
    };
    let s: Charged = Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap();
    for i in 0..100 {
        put(&s, &format!("k{i}"), 1);
    }
    assert_eq!(s.metrics().entry_count, 8, "two per shard, each shard full");
    let bad = MemoryConfig {
        max_entries: 3,
        shards: 4,
        ..MemoryConfig::default()
    };
    let e = bad.validate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("max_entries 3"), "{e}");
    assert_eq!(MemoryConfig::default().max_entries, 0);
}

#[test]
fn loads_are_counted_too() {
    let s = store(2, 0, EvictionStrategy::Lru);
    s.set_loader(Some(Arc::new(|k: &String| {
        Ok(nexus_store::Loaded {
            value: k.len() as u64,
            charge: Some(1),
        })
    })));
    for k in ["a", "bb", "ccc"] {
        let _ = s.get_or_load(k).unwrap();
    }
    assert_eq!(keys(&s), ["bb", "ccc"]);
}
