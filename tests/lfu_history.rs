//! `MemoryConfig::lfu_history` (opt-in, LFU only): the LFU counts of
//! recently evicted keys are remembered, and a key inserted again starts at
//! its remembered count + 1 instead of 1. One focused test per rule; the
//! model test (tests/model.rs) checks the same rules on random sequences.
//!
//! Stores here are `Store<String, u64>` charged their value, unbounded
//! unless a test says otherwise; `entries_snapshot()`'s third field is the
//! LFU count.

use std::sync::Arc;

use nexus_store::{
    Error, EvictionReason, EvictionStrategy, Loaded, MemoryConfig, MemoryPressureLevel, Store,
};

type Charged = Store<String, u64>;

/// The fewest ghosts the history keeps (the doc of `lfu_history`).
const FLOOR: usize = 64;

fn store(strategy: EvictionStrategy, max: u64, lfu_history: bool) -> Charged {
    let config = MemoryConfig {
        strategy,
        lfu_history,
        ..MemoryConfig::with_max_bytes(max)
    };
    Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap()
}

fn lfu(max: u64) -> Charged {
    store(EvictionStrategy::Lfu, max, true)
}

fn put(s: &Charged, key: &str, charge: u64) {
    s.put(key.to_string(), charge)
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

/// `n` accesses of a present key.
fn get_n(s: &Charged, key: &str, n: usize) {
    for _ in 0..n {
        assert!(s.get(key).is_some(), "{key} is present");
    }
}

/// The LFU count of a present key, from `entries_snapshot()`.
fn count(s: &Charged, key: &str) -> u64 {
    s.entries_snapshot()
        .into_iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("{key} is not present"))
        .access_count
}

/// Puts `key` and evicts it (MANUAL, `evict(1)`) as the only entry.
fn put_and_evict_alone(s: &Charged, key: &str) {
    put(s, key, 0);
    assert_eq!(s.evict(1), 1);
    assert!(!s.contains(key));
}

#[test]
fn an_evicted_key_that_comes_back_resumes_its_count_plus_one() {
    let s = lfu(0);
    put(&s, "a", 1);
    get_n(&s, "a", 4);
    assert_eq!(count(&s, "a"), 5);
    assert_eq!(s.evict(1), 1); // MANUAL
    assert!(!s.contains("a"));
    put(&s, "a", 1); // the insert is an access: 5 + 1
    assert_eq!(count(&s, "a"), 6);
    // The ghost left the history: evicted again, it is remembered at 6.
    assert_eq!(s.evict(1), 1);
    put(&s, "a", 1);
    assert_eq!(count(&s, "a"), 7);
    // Other keys start at 1 as ever.
    put(&s, "b", 1);
    assert_eq!(count(&s, "b"), 1);
}

#[test]
fn without_the_setting_counts_start_at_one() {
    let s = store(EvictionStrategy::Lfu, 0, false);
    assert!(!MemoryConfig::default().lfu_history);
    put(&s, "a", 1);
    get_n(&s, "a", 4);
    assert_eq!(s.evict(1), 1);
    put(&s, "a", 1);
    assert_eq!(count(&s, "a"), 1);
}

/// The returning key is the newest of its count's group: after the entries
/// that already have that count, before every higher count.
#[test]
fn a_returning_key_goes_to_the_end_of_its_count_group() {
    let s = lfu(0);
    put(&s, "x", 0);
    get_n(&s, "x", 2); // count 3
    assert_eq!(s.evict(1), 1);
    put(&s, "one", 0); // 1
    put(&s, "four", 0);
    get_n(&s, "four", 3); // 4
    put(&s, "six", 0);
    get_n(&s, "six", 5); // 6
    put(&s, "x", 0); // 3 + 1 = 4, group 4 exists: after "four"
    assert_eq!(s.eviction_order(), ["one", "four", "x", "six"]);
    assert_eq!(count(&s, "x"), 4);

    // A count with no group yet: between its neighbours.
    put(&s, "y", 0);
    get_n(&s, "y", 3); // 4
    s.pin("one");
    s.pin("four");
    s.pin("x");
    s.pin("six");
    assert_eq!(s.evict(1), 1); // y, remembered at 4
    s.unpin("one").unwrap();
    s.unpin("six").unwrap();
    assert_eq!(s.eviction_order(), ["one", "six"]);
    put(&s, "y", 0); // 5: no group 5, lands between 1 and 6
    assert_eq!(s.eviction_order(), ["one", "y", "six"]);
}

/// Evictions of every kind record: CAPACITY (a put's threshold reaction),
/// PRESSURE (a signal), MANUAL (`evict`, `evict_lru`, `clear_unpinned`).
#[test]
fn every_eviction_reason_records() {
    // CAPACITY: budget 10, working size 7; each entry charged 3.
    let s = lfu(10);
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    s.set_eviction_listener(Some(Arc::new(move |k: &String, r, _| {
        sink.lock().unwrap().push((k.clone(), r));
    })));
    put(&s, "a", 3);
    get_n(&s, "a", 2); // 3
    put(&s, "b", 3);
    get_n(&s, "b", 4); // 5
    put(&s, "c", 3); // usage 9 >= 7: evicts the fewest accesses, c excluded: a
    assert_eq!(
        log.lock().unwrap().drain(..).collect::<Vec<_>>(),
        [("a".to_string(), EvictionReason::Capacity)]
    );
    s.remove("c").unwrap();
    put(&s, "a", 3);
    assert_eq!(count(&s, "a"), 4);

    // PRESSURE.
    let s = lfu(0);
    put(&s, "p", 1);
    get_n(&s, "p", 6); // 7
    s.signal_pressure(MemoryPressureLevel::Emergency);
    assert!(!s.contains("p"));
    s.signal_pressure(MemoryPressureLevel::None);
    put(&s, "p", 1);
    assert_eq!(count(&s, "p"), 8);

    // MANUAL: evict_lru and clear_unpinned (evict is tested above).
    let s = lfu(0);
    put(&s, "m", 1);
    get_n(&s, "m", 1); // 2
    put(&s, "n", 1);
    get_n(&s, "n", 2); // 3
    assert_eq!(s.evict_lru(1), 1); // m, the least recently used
    assert_eq!(s.clear_unpinned(), 1); // n
    put(&s, "m", 1);
    put(&s, "n", 1);
    assert_eq!((count(&s, "m"), count(&s, "n")), (3, 4));
}

#[test]
fn remove_clear_and_replace_do_not_record() {
    let s = lfu(0);
    put(&s, "r", 1);
    get_n(&s, "r", 3); // 4
    s.remove("r").unwrap();
    put(&s, "r", 1);
    assert_eq!(count(&s, "r"), 1, "a removed key starts at 1");

    get_n(&s, "r", 3);
    put(&s, "other", 1);
    assert_eq!(s.clear(), 2);
    put(&s, "r", 1);
    assert_eq!(count(&s, "r"), 1, "a cleared key starts at 1");

    // A replace is an access (+1) and leaves nothing in the history.
    put(&s, "r", 2);
    assert_eq!(count(&s, "r"), 2);
    s.remove("r").unwrap();
    put(&s, "r", 1);
    assert_eq!(count(&s, "r"), 1);

    // Remove and clear do not forget either: a ghost survives them.
    put(&s, "g", 1);
    get_n(&s, "g", 1); // 2
    assert_eq!(s.evict(1), 1); // r (count 1, older) goes first
    assert_eq!(s.evict(1), 1); // g
    put(&s, "z", 1);
    s.remove("z").unwrap();
    assert_eq!(s.clear(), 0);
    put(&s, "g", 1);
    assert_eq!(count(&s, "g"), 3);
}

/// The history holds at most max(64, entries present) ghosts, oldest
/// forgotten first.
#[test]
fn the_history_is_bounded_oldest_forgotten_first() {
    // A store of at most one entry: the floor, 64 ghosts.
    let s = lfu(0);
    put(&s, "old", 0);
    get_n(&s, "old", 9); // 10
    assert_eq!(s.evict(1), 1);
    for i in 0..FLOOR - 1 {
        put_and_evict_alone(&s, &format!("k{i}"));
    }
    // 64 ghosts: "old" is still the oldest one remembered.
    put(&s, "old", 0);
    assert_eq!(count(&s, "old"), 11);

    // Once more: evicted again, then 64 newer evictions push it out.
    assert_eq!(s.evict(1), 1);
    for i in 0..FLOOR {
        put_and_evict_alone(&s, &format!("n{i}"));
    }
    put(&s, "old", 0);
    assert_eq!(count(&s, "old"), 1, "forgotten beyond the bound");
}

/// With more entries than the floor, the bound is the entry count measured
/// right after each eviction.
#[test]
fn the_bound_follows_the_entry_count() {
    let s = lfu(0);
    let key = |i: usize| format!("e{i:03}");
    for i in 0..200 {
        put(&s, &key(i), 0);
        get_n(&s, &key(i), 1); // 2
    }
    // The k-th victim (e{k-1}) leaves 200 - k entries: from the 101st on
    // the ghosts outnumber the entries and the oldest go. After 110, 90
    // entries and 90 ghosts (e020..e109) remain.
    assert_eq!(s.evict(110), 110);
    put(&s, &key(19), 0);
    put(&s, &key(20), 0);
    put(&s, &key(109), 0);
    assert_eq!(count(&s, &key(19)), 1);
    assert_eq!(count(&s, &key(20)), 3);
    assert_eq!(count(&s, &key(109)), 3);
}

#[test]
fn the_setting_is_ignored_for_lru_and_size() {
    for strategy in [EvictionStrategy::Lru, EvictionStrategy::Size] {
        let on = store(strategy, 40, true);
        let off = store(strategy, 40, false);
        for s in [&on, &off] {
            for i in 0..30u64 {
                let k = format!("k{}", i % 7);
                put(s, &k, 1 + i % 5);
                if i % 3 == 0 {
                    s.get(&format!("k{}", i % 4));
                }
                if i % 11 == 0 {
                    s.evict(1);
                }
            }
            assert!(s.metrics().eviction_count > 0);
        }
        assert_eq!(on.eviction_order(), off.eviction_order(), "{strategy:?}");
        let mut a = on.entries_snapshot();
        let mut b = off.entries_snapshot();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{strategy:?}");
        assert!(
            a.iter().all(|e| e.access_count == 1),
            "{strategy:?}: counts are 1"
        );
        assert!(on.config().lfu_history);
    }
}

#[test]
fn get_or_load_inserts_resume_the_count() {
    let s = lfu(0);
    s.set_loader(Some(Arc::new(|_: &String| -> Result<Loaded<u64>, Error> {
        Ok(Loaded::new(1))
    })));
    drop(s.get_or_load("l").unwrap()); // miss, load, insert: 1
    get_n(&s, "l", 2); // 3
    assert_eq!(s.evict(1), 1);
    drop(s.get_or_load("l").unwrap()); // miss, load, insert: 3 + 1
    assert_eq!(count(&s, "l"), 4);
    drop(s.get_or_load("l").unwrap()); // hit: 5
    assert_eq!(count(&s, "l"), 5);
}

/// A key pinned while absent and then put takes its ghost too (its count
/// shows while pinned; unpin files it at the end of that count's group).
#[test]
fn a_pinned_insert_takes_its_ghost() {
    let s = lfu(0);
    put(&s, "p", 0);
    get_n(&s, "p", 2); // 3
    assert_eq!(s.evict(1), 1);
    s.pin("p");
    put(&s, "p", 0);
    let e = s.entries_snapshot();
    assert_eq!(
        e,
        [nexus_store::EntrySnapshot {
            key: "p".to_string(),
            charge: 0,
            access_count: 4,
            pinned: true
        }]
    );
    put(&s, "q", 0);
    get_n(&s, "q", 4); // 5
    put(&s, "r", 0);
    s.unpin("p").unwrap();
    assert_eq!(s.eviction_order(), ["r", "p", "q"]);
}

/// Through the C ABI: `NexusMemoryConfig.lfu_history` changes which entry
/// `evict` takes.
#[test]
fn the_c_config_field_turns_it_on() {
    use nexus_store::ffi::*;
    for (history, survivor) in [(false, b"b"), (true, b"a")] {
        let mut config = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
        nexus_memory_config_init(config.as_mut_ptr());
        // SAFETY: initialized just above.
        let mut config = unsafe { config.assume_init() };
        config.strategy = NEXUS_EVICTION_STRATEGY_LFU;
        config.lfu_history = history;
        let mut store = std::ptr::null_mut();
        assert_eq!(nexus_store_new(&config, &mut store), NEXUS_STATUS_OK);
        let mut n = 0usize;
        let put = |k: &[u8]| {
            let s = nexus_store_put(store, k.as_ptr(), k.len(), b"v".as_ptr(), 1);
            assert_eq!(s, NEXUS_STATUS_OK);
        };
        put(b"a");
        for _ in 0..5 {
            let mut len = 0usize;
            let mut buf = [0u8; 4];
            let s = nexus_store_get_copy(store, b"a".as_ptr(), 1, buf.as_mut_ptr(), 4, &mut len);
            assert_eq!(s, NEXUS_STATUS_OK);
        }
        assert_eq!(nexus_store_evict(store, 1, &mut n), NEXUS_STATUS_OK);
        assert_eq!(n, 1);
        // "a" comes back (count 7 with the history, 1 without), then "b"
        // (count 1): the history keeps "a" over the newer "b".
        put(b"a");
        put(b"b");
        assert_eq!(nexus_store_evict(store, 1, &mut n), NEXUS_STATUS_OK);
        let mut present = false;
        let s = nexus_store_contains(store, survivor.as_ptr(), 1, &mut present);
        assert_eq!((s, present), (NEXUS_STATUS_OK, true), "history {history}");
        assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
    }
}
