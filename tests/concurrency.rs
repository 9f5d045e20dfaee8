//! Concurrency tests of the Rust core: a multi-threaded stress run with
//! invariants checked afterwards (per strategy), pressure signals from many
//! threads, the loader's single flight and its failure modes, and slow
//! callbacks that must not block other threads.
//!
//! Every test body runs under a watchdog: a deadlock fails the test instead
//! of hanging the run.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{assert_accounting, wait_until, watchdog};

use nexus_store::{
    Error, ErrorKind, EventKind, EvictionReason, EvictionStrategy, Loaded, LoaderFn, MemoryConfig,
    MemoryPressureLevel, Store, ValueHandle,
};

// ---- helpers ---------------------------------------------------------------

/// A small deterministic PRNG (splitmix64), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn level_of(n: u64) -> MemoryPressureLevel {
    match n % 4 {
        0 => MemoryPressureLevel::None,
        1 => MemoryPressureLevel::Moderate,
        2 => MemoryPressureLevel::Critical,
        _ => MemoryPressureLevel::Emergency,
    }
}

// ---- stress -----------------------------------------------------------------

/// A value that knows its key and charge and counts live instances.
struct Val {
    key: u32,
    charge: u64,
    live: Arc<AtomicI64>,
}

impl Val {
    fn new(key: u32, charge: u64, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Val {
            key,
            charge,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

const STRESS_MAX: u64 = 20_000;
const STRESS_KEYS: u64 = 96;
const RESERVED: [u32; 4] = [0, 1, 2, 3];
const THREADS: usize = 8;
const OPS: usize = 4_000;

fn stress(strategy: EvictionStrategy) {
    stress_with(strategy, false);
}

fn stress_with(strategy: EvictionStrategy, lfu_history: bool) {
    let config = MemoryConfig {
        strategy,
        lfu_history,
        ..MemoryConfig::with_max_bytes(STRESS_MAX)
    };
    let store: Store<u32, Val> =
        Store::with_estimator(config, |_: &u32, v: &Val| v.charge).expect("store");
    let live = Arc::new(AtomicI64::new(0));

    // Evictions of reserved (pinned) keys are violations; removals by clear are not.
    let violations = Arc::new(AtomicUsize::new(0));
    {
        let violations = Arc::clone(&violations);
        store.set_eviction_listener(Some(Arc::new(
            move |k: &u32, reason: EvictionReason, _bytes: u64| {
                if RESERVED.contains(k)
                    && matches!(
                        reason,
                        EvictionReason::Capacity
                            | EvictionReason::Pressure
                            | EvictionReason::Manual
                    )
                {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
            },
        )));
    }

    for &k in &RESERVED {
        store.pin(&k);
        store
            .put(k, Val::new(k, 50 + u64::from(k), &live))
            .expect("put a reserved key");
    }

    // `clear` removes pinned entries too: it runs exclusively and puts the
    // reserved keys back before anyone else looks, so that "a reserved key
    // is present" holds at every point where a thread checks it.
    let gate = Arc::new(RwLock::new(()));
    let barrier = Arc::new(Barrier::new(THREADS));
    let clears = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for t in 0..THREADS {
        let store = store.clone();
        let live = Arc::clone(&live);
        let gate = Arc::clone(&gate);
        let barrier = Arc::clone(&barrier);
        let clears = Arc::clone(&clears);
        workers.push(thread::spawn(move || {
            let mut rng = Rng::new(0xC0FFEE ^ ((t as u64 + 1) << 32) ^ strategy as u64);
            barrier.wait();
            for _ in 0..OPS {
                if rng.below(1_000) == 0 {
                    let _w = gate.write().unwrap();
                    store.clear();
                    clears.fetch_add(1, Ordering::SeqCst);
                    for &k in &RESERVED {
                        store
                            .put(k, Val::new(k, 10 + rng.below(90), &live))
                            .expect("re-put a reserved key after clear");
                    }
                    continue;
                }
                let _r = gate.read().unwrap();
                let key = rng.below(STRESS_KEYS) as u32;
                let reserved = RESERVED.contains(&key);
                let other = RESERVED.len() as u32 + rng.below(STRESS_KEYS - 4) as u32;
                match rng.below(100) {
                    0..=28 => {
                        let charge = if reserved {
                            1 + rng.below(100)
                        } else {
                            1 + rng.below(800)
                        };
                        match store.put(key, Val::new(key, charge, &live)) {
                            Ok(()) => assert!(!reserved || store.is_pinned(&key)),
                            // Pinned and in-use entries may hold the budget.
                            Err(e) => assert_eq!(e.kind(), ErrorKind::OverBudget, "{e}"),
                        }
                        // A failed put changes nothing: a reserved key stays.
                        assert!(
                            !reserved || store.contains(&key),
                            "reserved key {key} missing"
                        );
                    }
                    29..=44 => {
                        if let Some(h) = store.get(&key) {
                            assert_eq!(h.key, key, "get returned another key's value");
                            assert_eq!(h.charge(), h.charge);
                            if rng.below(4) == 0 {
                                // Hold the handle across another call.
                                let _ = store.evict(1);
                                assert_eq!(h.key, key);
                            }
                        } else {
                            assert!(!reserved, "reserved key {key} missing");
                        }
                    }
                    45..=48 => store.pin(&other),
                    49..=58 => match store.unpin(&other) {
                        Ok(()) => {}
                        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound),
                    },
                    59..=63 => {
                        let _ = store.evict(rng.below(4) as usize);
                    }
                    64..=68 => {
                        let _ = store.evict_lru(rng.below(4) as usize);
                    }
                    69..=73 => store.signal_pressure(level_of(rng.next())),
                    74..=75 => {
                        let _ = store.clear_unpinned();
                    }
                    76..=83 => match store.remove(&other) {
                        Ok(()) => {}
                        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound),
                    },
                    84..=93 => {
                        let present = store.contains(&key);
                        assert!(present || !reserved, "reserved key {key} missing");
                    }
                    _ => {
                        let m = store.metrics();
                        assert!(m.pinned_count <= m.entry_count);
                        assert!(m.pinned_bytes <= m.current_usage);
                        let r = RESERVED[rng.below(4) as usize];
                        assert!(store.is_pinned(&r));
                        assert!(store.pinned_ids().contains(&r));
                    }
                }
            }
        }));
    }
    for w in workers {
        if let Err(p) = w.join() {
            panic::resume_unwind(p);
        }
    }

    let context = format!("{strategy:?} (lfu_history {lfu_history}) after the stress run");
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "{context}: a pinned key was evicted"
    );
    for &k in &RESERVED {
        assert!(store.contains(&k), "{context}: pinned key {k} is gone");
        assert!(store.is_pinned(&k), "{context}: pin of {k} is gone");
        assert_eq!(store.get(&k).expect("reserved").key, k);
    }
    assert_accounting(&store, &context);
    let m = store.metrics();
    assert!(
        clears.load(Ordering::SeqCst) > 0,
        "{context}: the run cleared"
    );
    assert!(m.eviction_count > 0, "{context}: the run evicted");
    assert_eq!(m.in_use_bytes, 0, "{context}: no handle is alive");
    assert_eq!(
        live.load(Ordering::SeqCst),
        m.entry_count as i64,
        "{context}: live values vs entries (a value leaked or was dropped twice)"
    );
    if strategy == EvictionStrategy::Lfu {
        assert!(store.entries_snapshot().iter().all(|e| e.access_count >= 1));
    }
    // With no handle held and only the reserved keys pinned, a CRITICAL
    // signal (after NONE: a lower signal than the one in force would only
    // change the held budget) brings usage under the budget in force.
    for k in store.pinned_ids() {
        if !RESERVED.contains(&k) {
            store.unpin(&k).expect("unpin a dynamic pin");
        }
    }
    assert_eq!(store.pinned_ids().len(), RESERVED.len());
    store.signal_pressure(MemoryPressureLevel::None);
    store.signal_pressure(MemoryPressureLevel::Critical);
    let m = store.metrics();
    assert_eq!(m.effective_budget, 7_000, "floor(0.7 x 20000 x 0.5)");
    assert!(
        m.current_usage <= m.effective_budget,
        "{context}: usage {} > budget in force {}",
        m.current_usage,
        m.effective_budget
    );
    assert_accounting(&store, &context);

    // Still usable; every value released once the store is gone.
    store.signal_pressure(MemoryPressureLevel::None);
    store
        .put(1_000, Val::new(1_000, 5, &live))
        .expect("put after the run");
    assert_eq!(store.get(&1_000).expect("get after the run").key, 1_000);
    store.set_eviction_listener(None);
    drop(store);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "{context}: values leaked at drop"
    );
}

#[test]
fn stress_lru_keeps_pins_and_accounting() {
    watchdog(60, "stress-lru", || stress(EvictionStrategy::Lru));
}

#[test]
fn stress_lfu_keeps_pins_and_accounting() {
    watchdog(60, "stress-lfu", || stress(EvictionStrategy::Lfu));
}

#[test]
fn stress_size_keeps_pins_and_accounting() {
    watchdog(60, "stress-size", || stress(EvictionStrategy::Size));
}

#[test]
fn stress_lfu_history_keeps_pins_and_accounting() {
    watchdog(60, "stress-lfu-history", || {
        stress_with(EvictionStrategy::Lfu, true)
    });
}

// ---- signals from many threads --------------------------------------------

#[test]
fn signals_from_many_threads_while_others_put() {
    watchdog(60, "signals", || {
        const MAX: u64 = 10_000;
        // Held budgets: floor(0.7 x 10000 x 0.75) and floor(0.7 x 10000 x 0.5).
        const MODERATE_HELD: u64 = 5_250;
        const CRITICAL_HELD: u64 = 3_500;
        let store: Store<u32, u64> =
            Store::with_estimator(MemoryConfig::with_max_bytes(MAX), |_: &u32, v: &u64| *v)
                .unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let mut signallers = Vec::new();
        let mut putters = Vec::new();
        for t in 0..4u64 {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            signallers.push(thread::spawn(move || {
                let mut rng = Rng::new(77 + t);
                barrier.wait();
                for _ in 0..500 {
                    store.signal_pressure(level_of(rng.next()));
                    // Usage may exceed the budget in force here: another
                    // thread's signal may be shedding (a long run releases
                    // the lock between chunks; a call is in flight). The
                    // invariant is checked once the signals have ended.
                    let m = store.metrics();
                    assert!(
                        [MAX, MODERATE_HELD, CRITICAL_HELD].contains(&m.effective_budget),
                        "unexpected effective budget {}",
                        m.effective_budget
                    );
                    if m.effective_budget == CRITICAL_HELD {
                        assert!(m.pressure_level >= MemoryPressureLevel::Critical);
                    } else if m.effective_budget == MODERATE_HELD {
                        assert!(m.pressure_level >= MemoryPressureLevel::Moderate);
                    }
                }
            }));
        }
        let stop = Arc::new(AtomicBool::new(false));
        for t in 0..4u64 {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            let stop = Arc::clone(&stop);
            putters.push(thread::spawn(move || {
                let mut rng = Rng::new(991 + t);
                barrier.wait();
                let mut n = 0;
                while n < 2_000 || !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = rng.below(200) as u32;
                    match store.put(key, 1 + rng.below(400)) {
                        Ok(()) => {}
                        Err(e) => assert_eq!(e.kind(), ErrorKind::OverBudget, "{e}"),
                    }
                }
            }));
        }
        for s in signallers {
            if let Err(p) = s.join() {
                panic::resume_unwind(p);
            }
        }
        // The last signal, given while the putters still run.
        store.signal_pressure(MemoryPressureLevel::Critical);
        stop.store(true, Ordering::SeqCst);
        for p in putters {
            if let Err(p) = p.join() {
                panic::resume_unwind(p);
            }
        }
        let m = store.metrics();
        assert_eq!(
            m.effective_budget, CRITICAL_HELD,
            "budget of the last signal"
        );
        assert_eq!(m.max_cache_bytes, MAX);
        assert!(m.current_usage <= CRITICAL_HELD);
        assert_eq!(m.pressure_level, MemoryPressureLevel::Critical);
        assert_eq!(store.pressure_level(), MemoryPressureLevel::Critical);
        assert_accounting(&store, "after concurrent signals");

        store.signal_pressure(MemoryPressureLevel::None);
        let m = store.metrics();
        assert_eq!(
            m.effective_budget, MAX,
            "NONE restores the configured budget"
        );
        assert_eq!(m.pressure_level, MemoryPressureLevel::None);
        store.put(5_000, 3_000).expect("the full budget is back");
        assert!(store.contains(&5_000));
        assert_accounting(&store, "after NONE");
    });
}

// ---- the PRESSURE_CHANGED chain ----------------------------------------------

/// Two threads put and signal one store at once, while a slow eviction
/// listener holds each call between its change of level and the delivery of
/// its events. The PRESSURE_CHANGED events, in sequence order, form one
/// chain (each one's `previous_level` is the level of the one before it)
/// that ends at the store's level: a consumer that follows the level from
/// events ends where the store is. `callback`: delivered to an event
/// callback (sorted by sequence) rather than queued.
fn pressure_changes_chain_under_two_writers(shards: u32, callback: bool) {
    let config = MemoryConfig {
        shards,
        event_queue_capacity: 1 << 20,
        ..MemoryConfig::with_max_bytes(6_000)
    };
    let store: Store<u32, u64> = Store::with_estimator(config, |_: &u32, v: &u64| *v).unwrap();
    store.set_eviction_listener(Some(Arc::new(|_: &u32, _, _| {
        thread::sleep(Duration::from_micros(20));
    })));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    if callback {
        let seen = Arc::clone(&seen);
        store.set_event_callback(Some(Arc::new(move |e: &nexus_store::Event| {
            seen.lock().unwrap().push(*e);
        })));
    }
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(5 + t);
                for _ in 0..3_000 {
                    let _ = store.put(rng.below(300) as u32, 1 + rng.below(1_500));
                    if rng.below(50) == 0 {
                        store.signal_pressure(level_of(rng.below(3)));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        if let Err(p) = w.join() {
            panic::resume_unwind(p);
        }
    }
    let mut events = std::mem::take(&mut *seen.lock().unwrap());
    while let Some(e) = store.poll_event() {
        events.push(e);
    }
    events.sort_by_key(|e| e.sequence);
    let mut level = MemoryPressureLevel::None;
    let mut changes = 0;
    for e in events
        .iter()
        .filter(|e| e.kind == EventKind::PressureChanged)
    {
        assert_eq!(
            e.previous_level, level,
            "shards {shards}, callback {callback}: event {} goes {:?} -> {:?}, but the one before \
             ended at {level:?}",
            e.sequence, e.previous_level, e.level
        );
        assert_ne!(e.level, e.previous_level, "a change that changes nothing");
        level = e.level;
        changes += 1;
    }
    assert!(changes > 10, "the run changed the level {changes} times");
    assert_eq!(
        level,
        store.pressure_level(),
        "shards {shards}, callback {callback}: the last PRESSURE_CHANGED is not the store's level"
    );
}

#[test]
fn pressure_changed_events_chain_under_two_writers() {
    watchdog(120, "pressure-chain", || {
        for shards in [1, 4] {
            for callback in [false, true] {
                pressure_changes_chain_under_two_writers(shards, callback);
            }
        }
    });
}

// ---- loader ----------------------------------------------------------------

type Loader = Arc<dyn Fn(&String) -> nexus_store::Result<Loaded<u64>> + Send + Sync>;

fn loader_store() -> Store<String, u64> {
    Store::with_estimator(
        MemoryConfig::with_max_bytes(100_000),
        |_: &String, _: &u64| 10,
    )
    .unwrap()
}

/// Runs `get_or_load(key)` on `n` threads released together; each returns
/// what its call gave (or the panic payload's message).
type LoadOutcome = Result<nexus_store::Result<ValueHandle<u64>>, String>;

fn load_from_threads(store: &Store<String, u64>, key: &str, n: usize) -> Vec<LoadOutcome> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            let key = key.to_string();
            thread::spawn(move || {
                barrier.wait();
                panic::catch_unwind(AssertUnwindSafe(|| store.get_or_load(key.as_str()))).map_err(
                    |p| {
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default()
                    },
                )
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn loader_single_flight_calls_once_and_shares_the_value() {
    watchdog(30, "single-flight", || {
        let store = loader_store();
        let calls = Arc::new(AtomicUsize::new(0));
        let next_id = Arc::new(AtomicU64::new(1_000));
        {
            let (calls, next_id, s) = (Arc::clone(&calls), Arc::clone(&next_id), store.clone());
            let loader: Loader = Arc::new(move |_k: &String| {
                calls.fetch_add(1, Ordering::SeqCst);
                // Every caller has looked the key up (and missed) before the
                // loader returns: 7 of them are waiting for this call.
                wait_until(10, "8 misses", || s.metrics().miss_count >= 8);
                thread::sleep(Duration::from_millis(100));
                Ok(Loaded::new(next_id.fetch_add(1, Ordering::SeqCst)))
            });
            store.set_loader(Some(loader));
        }
        let results = load_from_threads(&store, "k", 8);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "loader called once");
        let handles: Vec<ValueHandle<u64>> = results
            .into_iter()
            .map(|r| r.expect("no panic").expect("loaded"))
            .collect();
        let first = &*handles[0] as *const u64;
        for h in &handles {
            assert_eq!(**h, 1_000, "every caller gets the loaded value");
            assert_eq!(&**h as *const u64, first, "the same value, not a copy");
        }
        let m = store.metrics();
        assert_eq!(m.load_count, 1);
        assert_eq!(m.load_failure_count, 0);
        assert_eq!(m.entry_count, 1, "the loaded value is cached");
        assert_eq!(
            &*store.get("k").unwrap() as *const u64,
            first,
            "the cached value is the one returned"
        );
        // A hit does not call the loader.
        assert_eq!(*store.get_or_load("k").unwrap(), 1_000);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        store.set_loader(None);
    });
}

#[test]
fn loader_failure_reaches_every_waiter_and_caches_nothing() {
    watchdog(30, "loader-failure", || {
        for kind in [ErrorKind::NotFound, ErrorKind::Callback] {
            let store = loader_store();
            let calls = Arc::new(AtomicUsize::new(0));
            let fail = Arc::new(AtomicBool::new(true));
            {
                let (calls, fail, s) = (Arc::clone(&calls), Arc::clone(&fail), store.clone());
                let loader: Loader = Arc::new(move |_k: &String| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    if fail.load(Ordering::SeqCst) {
                        wait_until(10, "8 misses", || s.metrics().miss_count >= 8);
                        thread::sleep(Duration::from_millis(50));
                        return Err(Error::new(kind, "the backend said no"));
                    }
                    Ok(Loaded::new(n as u64 + 500))
                });
                store.set_loader(Some(loader));
            }
            let results = load_from_threads(&store, "k", 8);
            assert_eq!(
                calls.load(Ordering::SeqCst),
                1,
                "{kind:?}: loader called once"
            );
            for r in results {
                let e = r.expect("no panic").expect_err("the load failed");
                assert_eq!(e.kind(), kind, "{kind:?}: every waiter gets the error");
            }
            assert!(!store.contains("k"), "{kind:?}: nothing cached");
            let m = store.metrics();
            assert_eq!(m.entry_count, 0);
            assert_eq!(m.current_usage, 0);
            assert_eq!(m.load_count, 1);
            assert_eq!(m.load_failure_count, 1, "{kind:?}: failure counted");

            // A later call calls the loader again (the failure was not cached).
            fail.store(false, Ordering::SeqCst);
            let h = store.get_or_load("k").expect("second load");
            assert_eq!(*h, 501);
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert!(store.contains("k"));
            let m = store.metrics();
            assert_eq!((m.load_count, m.load_failure_count), (2, 1));
            store.set_loader(None);
        }
    });
}

#[test]
fn an_abandoned_load_fails_only_its_caller_and_the_waiters_load_again() {
    watchdog(30, "abandoned-load", || {
        let store = loader_store();
        let calls = Arc::new(AtomicUsize::new(0));
        {
            let (calls, s) = (Arc::clone(&calls), store.clone());
            let loader: Loader = Arc::new(move |_k: &String| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    // The first caller's task "is cancelled" once the 7
                    // others have joined its load.
                    wait_until(10, "8 misses", || s.metrics().miss_count >= 8);
                    thread::sleep(Duration::from_millis(50));
                    return Err(Error::load_abandoned("my caller was cancelled"));
                }
                Ok(Loaded::new(n as u64 + 500))
            });
            store.set_loader(Some(loader));
        }
        let results = load_from_threads(&store, "k", 8);
        let (failed, loaded): (Vec<_>, Vec<_>) = results
            .into_iter()
            .map(|r| r.expect("no panic"))
            .partition(|r| r.is_err());
        assert_eq!(
            failed.len(),
            1,
            "only the caller whose loader abandoned fails"
        );
        let e = failed.into_iter().next().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Callback);
        assert_eq!(e.message(), "my caller was cancelled");
        assert!(e.is_load_abandoned());
        for h in loaded {
            assert_eq!(*h.unwrap(), 501, "the waiters got the second load's value");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one waiter ran its own loader"
        );
        let m = store.metrics();
        assert_eq!((m.load_count, m.load_failure_count), (2, 1));
        assert_eq!(*store.get("k").unwrap(), 501, "the second load is cached");
        // A plain failure is no abandonment.
        assert!(!Error::new(ErrorKind::Callback, "no").is_load_abandoned());
        store.set_loader(None);
    });
}

#[test]
fn loader_panic_propagates_to_its_caller_and_waiters_get_panic() {
    watchdog(30, "loader-panic", || {
        let store = loader_store();
        let calls = Arc::new(AtomicUsize::new(0));
        let explode = Arc::new(AtomicBool::new(true));
        {
            let (calls, explode, s) = (Arc::clone(&calls), Arc::clone(&explode), store.clone());
            let loader: Loader = Arc::new(move |_k: &String| {
                calls.fetch_add(1, Ordering::SeqCst);
                if explode.load(Ordering::SeqCst) {
                    wait_until(10, "8 misses", || s.metrics().miss_count >= 8);
                    thread::sleep(Duration::from_millis(50));
                    panic!("loader boom");
                }
                Ok(Loaded::new(7))
            });
            store.set_loader(Some(loader));
        }
        let results = load_from_threads(&store, "k", 8);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let mut panicked = 0;
        let mut panic_errors = 0;
        for r in results {
            match r {
                Err(msg) => {
                    assert!(
                        msg.contains("loader boom"),
                        "the loader's own panic: {msg:?}"
                    );
                    panicked += 1;
                }
                Ok(Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::Panic, "{e}");
                    panic_errors += 1;
                }
                Ok(Ok(h)) => panic!("a waiter got a value {} from a panicking loader", *h),
            }
        }
        assert_eq!((panicked, panic_errors), (1, 7));
        assert!(!store.contains("k"));
        assert_eq!(store.metrics().load_failure_count, 1);

        // The store still works, and the key is not stuck in flight.
        store.put("other".to_string(), 1).unwrap();
        assert_eq!(*store.get("other").unwrap(), 1);
        explode.store(false, Ordering::SeqCst);
        let h = store.get_or_load("k").expect("the key is not stuck");
        assert_eq!(*h, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(store.contains("k"));
        assert_accounting(&store, "after a loader panic");
        store.set_loader(None);
    });
}

#[test]
fn reentrant_loader_same_key_is_busy_other_key_works() {
    watchdog(30, "reentrant-loader", || {
        let store = loader_store();
        let inner: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        {
            let (s, inner) = (store.clone(), Arc::clone(&inner));
            let loader: Loader = Arc::new(move |k: &String| {
                if k == "a" {
                    let same = s.get_or_load("a").map(|h| *h);
                    inner
                        .lock()
                        .unwrap()
                        .push(format!("same:{:?}", same.map_err(|e| e.kind())));
                    let other = s.get_or_load("b").map(|h| *h);
                    inner
                        .lock()
                        .unwrap()
                        .push(format!("other:{:?}", other.map_err(|e| e.kind())));
                    return Ok(Loaded::new(1));
                }
                Ok(Loaded::new(2))
            });
            store.set_loader(Some(loader));
        }
        let h = store.get_or_load("a").expect("outer load");
        assert_eq!(*h, 1);
        assert_eq!(
            *inner.lock().unwrap(),
            vec!["same:Err(Busy)".to_string(), "other:Ok(2)".to_string()]
        );
        assert!(store.contains("a") && store.contains("b"));
        let m = store.metrics();
        assert_eq!(m.load_count, 2, "a BUSY re-entry is not a load");
        assert_eq!(m.load_failure_count, 0);
        // Not stuck: "a" is now cached and a plain hit.
        assert_eq!(*store.get_or_load("a").unwrap(), 1);
        store.set_loader(None);
    });
}

/// A loader that signals it started and waits for `go`.
fn gated_loader(
    store: &Store<String, u64>,
    value: u64,
) -> (Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let entered = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (e, g, c) = (Arc::clone(&entered), Arc::clone(&go), Arc::clone(&calls));
    let loader: Loader = Arc::new(move |_k: &String| {
        c.fetch_add(1, Ordering::SeqCst);
        e.store(true, Ordering::SeqCst);
        wait_until(10, "go", || g.load(Ordering::SeqCst));
        Ok(Loaded::new(value))
    });
    store.set_loader(Some(loader));
    (entered, go, calls)
}

fn spawn_load(
    store: &Store<String, u64>,
    key: &str,
) -> thread::JoinHandle<nexus_store::Result<ValueHandle<u64>>> {
    let (store, key) = (store.clone(), key.to_string());
    thread::spawn(move || store.get_or_load(key.as_str()))
}

#[test]
fn put_during_a_load_wins() {
    watchdog(30, "put-during-load", || {
        let store = loader_store();
        let (entered, go, calls) = gated_loader(&store, 42);
        let loading = spawn_load(&store, "k");
        wait_until(10, "loader entered", || entered.load(Ordering::SeqCst));
        let waiting = spawn_load(&store, "k");
        // The waiter has looked the key up (a miss) and waits for the load.
        wait_until(10, "waiter registered", || store.metrics().miss_count >= 2);
        store.put("k".to_string(), 7).unwrap();
        go.store(true, Ordering::SeqCst);
        let a = loading.join().unwrap().expect("loader's caller");
        let b = waiting.join().unwrap().expect("waiter");
        assert_eq!((*a, *b), (42, 42), "callers get the loaded value");
        assert_eq!(&*a as *const u64, &*b as *const u64);
        assert_eq!(
            *store.get("k").unwrap(),
            7,
            "the put's value is what is cached"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let m = store.metrics();
        assert_eq!(m.entry_count, 1);
        assert_eq!(m.insert_count, 1, "the loaded value was not inserted");
        assert_accounting(&store, "after put during load");
        store.set_loader(None);
    });
}

#[test]
fn remove_during_a_load_wins() {
    watchdog(30, "remove-during-load", || {
        let store = loader_store();
        let (entered, go, calls) = gated_loader(&store, 42);
        let loading = spawn_load(&store, "k");
        wait_until(10, "loader entered", || entered.load(Ordering::SeqCst));
        let waiting = spawn_load(&store, "k");
        wait_until(10, "waiter registered", || store.metrics().miss_count >= 2);
        // Absent: NotFound, but the load in flight is superseded all the same.
        assert_eq!(store.remove("k").unwrap_err().kind(), ErrorKind::NotFound);
        go.store(true, Ordering::SeqCst);
        let a = loading.join().unwrap().expect("loader's caller");
        let b = waiting.join().unwrap().expect("waiter");
        assert_eq!((*a, *b), (42, 42));
        assert!(
            !store.contains("k"),
            "the loaded value is not cached after a remove"
        );
        assert_eq!(store.metrics().entry_count, 0);
        assert_eq!(
            store.metrics().in_use_bytes,
            10,
            "the handles still hold the value"
        );
        drop((a, b));
        assert_eq!(store.metrics().in_use_bytes, 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Put then remove during a second load: still absent afterwards.
        let (entered, go, _) = gated_loader(&store, 43);
        let loading = spawn_load(&store, "k");
        wait_until(10, "loader entered", || entered.load(Ordering::SeqCst));
        store.put("k".to_string(), 8).unwrap();
        store.remove("k").unwrap();
        go.store(true, Ordering::SeqCst);
        assert_eq!(*loading.join().unwrap().unwrap(), 43);
        assert!(!store.contains("k"));
        assert_accounting(&store, "after remove during load");
        store.set_loader(None);
    });
}

// ---- slow callbacks ----------------------------------------------------------

/// What a blocked callback records.
#[derive(Default)]
struct Blocker {
    entered: AtomicBool,
    others_done: AtomicBool,
    saw_others_done: AtomicBool,
    first: AtomicBool,
}

impl Blocker {
    /// The first call blocks until the other threads are done (or 10 s).
    fn block_once(&self) {
        if self.first.swap(true, Ordering::SeqCst) {
            return;
        }
        self.entered.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.others_done.load(Ordering::SeqCst) {
                self.saw_others_done.store(true, Ordering::SeqCst);
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// While one thread is blocked inside a callback, other threads use the
/// store (get, put that evicts, contains, metrics, pin, signal).
fn others_proceed_while_blocked(
    store: &Store<u32, u64>,
    blocker: &Arc<Blocker>,
    slow: thread::JoinHandle<()>,
) {
    wait_until(10, "callback entered", || {
        blocker.entered.load(Ordering::SeqCst)
    });
    let workers: Vec<_> = (0..3u32)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                for i in 0..200u32 {
                    let k = 100 + t * 1_000 + i;
                    store.put(k, 5).unwrap();
                    // Another worker's puts may have evicted it already
                    // (this thread can be preempted for a while).
                    if let Some(h) = store.get(&k) {
                        assert_eq!(*h, 5);
                    }
                    let _ = store.contains(&k);
                    let _ = store.metrics();
                    store.pin(&k);
                    store.unpin(&k).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    // The workers finished while the slow callback was still running.
    assert!(
        !slow.is_finished(),
        "the slow callback returned before the others finished"
    );
    assert!(!blocker.saw_others_done.load(Ordering::SeqCst));
    blocker.others_done.store(true, Ordering::SeqCst);
    slow.join().expect("slow thread");
    assert!(
        blocker.saw_others_done.load(Ordering::SeqCst),
        "other threads were blocked while a callback ran"
    );
    assert_accounting(store, "after a slow callback");
}

fn small_store() -> Store<u32, u64> {
    Store::with_estimator(MemoryConfig::with_max_bytes(1_000), |_: &u32, v: &u64| *v).unwrap()
}

#[test]
fn slow_event_callback_does_not_block_other_threads() {
    watchdog(30, "slow-event-callback", || {
        let store = small_store();
        let blocker = Arc::new(Blocker::default());
        let b = Arc::clone(&blocker);
        store.set_event_callback(Some(Arc::new(move |_e: &nexus_store::Event| {
            b.block_once()
        })));
        let s = store.clone();
        let slow = thread::spawn(move || s.signal_pressure(MemoryPressureLevel::Moderate));
        others_proceed_while_blocked(&store, &blocker, slow);
        store.set_event_callback(None);
    });
}

#[test]
fn slow_eviction_listener_does_not_block_other_threads() {
    watchdog(30, "slow-listener", || {
        let store = small_store();
        store.put(1, 10).unwrap();
        let blocker = Arc::new(Blocker::default());
        let b = Arc::clone(&blocker);
        store.set_eviction_listener(Some(Arc::new(
            move |_k: &u32, _r: EvictionReason, _b: u64| b.block_once(),
        )));
        let s = store.clone();
        let slow = thread::spawn(move || s.remove(&1).unwrap());
        others_proceed_while_blocked(&store, &blocker, slow);
        store.set_eviction_listener(None);
    });
}

#[test]
fn slow_loader_does_not_block_other_keys_or_calls() {
    watchdog(30, "slow-loader", || {
        let store = small_store();
        let blocker = Arc::new(Blocker::default());
        let b = Arc::clone(&blocker);
        let loader: Arc<LoaderFn<u32, u64>> = Arc::new(move |k: &u32| {
            if *k == 1 {
                b.block_once();
            }
            Ok(Loaded::new(3))
        });
        store.set_loader(Some(loader));
        let s = store.clone();
        let slow = thread::spawn(move || assert_eq!(*s.get_or_load(&1).unwrap(), 3));
        wait_until(10, "loader entered", || {
            blocker.entered.load(Ordering::SeqCst)
        });
        // Another key loads meanwhile.
        assert_eq!(*store.get_or_load(&2).unwrap(), 3);
        others_proceed_while_blocked(&store, &blocker, slow);
        assert!(store.contains(&1), "the slow load was cached");
        store.set_loader(None);
    });
}
