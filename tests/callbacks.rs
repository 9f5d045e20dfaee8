//! Callback tests of the Rust core: release (a value's `Drop`) runs exactly
//! once and never under the store's lock, callbacks may re-enter the store,
//! eviction listener reasons, event callback vs queue, unregistering while a
//! call is in flight, panicking callbacks, and the bounded event queue with
//! its DROPPED marker.
//!
//! Tests that could deadlock run under a watchdog: a deadlock fails the test
//! instead of hanging the run.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::{assert_accounting, wait_until, watchdog};

use nexus_store::{
    ErrorKind, Event, EventKind, EvictionReason, MemoryConfig, MemoryPressureLevel, Store,
};

// ---- helpers ---------------------------------------------------------------

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

// ---- a value whose Drop is its release action ------------------------------

/// How many times each value id was released.
#[derive(Default)]
struct Releases {
    counts: Mutex<HashMap<u64, u32>>,
    next: AtomicU64,
}

type DropHook = Arc<dyn Fn(u64) + Send + Sync>;

struct Tracked {
    id: u64,
    charge: u64,
    log: Arc<Releases>,
    on_drop: Option<DropHook>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        *self.log.counts.lock().unwrap().entry(self.id).or_default() += 1;
        if let Some(hook) = &self.on_drop {
            hook(self.id);
        }
    }
}

type TStore = Store<String, Tracked>;

struct Fx {
    store: TStore,
    log: Arc<Releases>,
}

impl Fx {
    fn new(max: u64) -> Fx {
        let store = Store::with_estimator(
            MemoryConfig::with_max_bytes(max),
            |_: &String, v: &Tracked| v.charge,
        )
        .expect("store");
        Fx {
            store,
            log: Arc::default(),
        }
    }

    fn val(&self, charge: u64, on_drop: Option<DropHook>) -> Tracked {
        let id = self.log.next.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.counts.lock().unwrap().insert(id, 0);
        Tracked {
            id,
            charge,
            log: Arc::clone(&self.log),
            on_drop,
        }
    }

    /// Puts a fresh value; returns its id.
    fn put(&self, key: &str, charge: u64) -> u64 {
        let v = self.val(charge, None);
        let id = v.id;
        self.store.put(key.to_string(), v).expect("put");
        id
    }

    fn released(&self, id: u64) -> u32 {
        self.log.counts.lock().unwrap()[&id]
    }

    /// Drops the store and checks that every value ever made was released
    /// exactly once.
    fn finish(self) {
        let Fx { store, log } = self;
        drop(store);
        for (id, n) in log.counts.lock().unwrap().iter() {
            assert_eq!(*n, 1, "value {id} released {n} times");
        }
    }
}

// ---- release exactly once ---------------------------------------------------

#[test]
fn release_once_on_remove() {
    let f = Fx::new(1_000);
    let a = f.put("a", 10);
    let b = f.put("b", 10);
    assert_eq!(f.released(a), 0);
    f.store.remove("a").unwrap();
    assert_eq!(f.released(a), 1, "released inside the remove");
    assert_eq!(f.store.remove("a").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(f.released(a), 1);
    // A pinned entry too.
    f.store.pin("b");
    f.store.remove("b").unwrap();
    assert_eq!(f.released(b), 1);
    assert!(f.store.is_pinned("b"), "the pin survives the remove");
    f.finish();
}

#[test]
fn release_once_on_replace() {
    let f = Fx::new(1_000);
    let a = f.put("k", 10);
    let b = f.put("k", 20);
    assert_eq!((f.released(a), f.released(b)), (1, 0));
    assert_eq!(f.store.metrics().current_usage, 20);
    assert_eq!(f.store.get("k").unwrap().id, b);
    // A replace while a handle holds the old value: released at the handle's drop.
    let h = f.store.get("k").unwrap();
    let c = f.put("k", 30);
    assert_eq!(f.released(b), 0, "a handle still holds it");
    assert_eq!(h.id, b);
    drop(h);
    assert_eq!((f.released(b), f.released(c)), (1, 0));
    f.finish();
}

#[test]
fn release_once_on_capacity_eviction() {
    let f = Fx::new(100);
    let a = f.put("a", 30);
    let b = f.put("b", 30);
    // 90 >= the critical threshold: evict until usage < 70 (LRU: "a").
    let c = f.put("c", 30);
    assert_eq!(f.released(a), 1, "released inside the put that evicted it");
    assert_eq!((f.released(b), f.released(c)), (0, 0));
    // Evict-to-fit (60 + 50 > 100: "b"), then the threshold reaction (80 >=
    // 70: "c"), one run.
    let d = f.put("d", 50);
    assert_eq!((f.released(b), f.released(c)), (1, 1));
    assert_eq!(f.released(d), 0);
    // set_max_bytes evicts down as well.
    let e = f.put("e", 10);
    f.store.set_max_bytes(55).unwrap();
    assert_eq!(f.released(d), 1);
    assert_eq!(f.released(e), 0);
    assert_accounting(&f.store, "capacity");
    f.finish();
}

#[test]
fn release_once_on_pressure_eviction() {
    let f = Fx::new(1_000);
    let ids: Vec<u64> = (0..4).map(|i| f.put(&format!("k{i}"), 10)).collect();
    // CRITICAL: keep floor(0.5 x 40) = 20.
    f.store.signal_pressure(MemoryPressureLevel::Critical);
    let released: Vec<u32> = ids.iter().map(|&id| f.released(id)).collect();
    assert_eq!(released, vec![1, 1, 0, 0]);
    f.store.signal_pressure(MemoryPressureLevel::Emergency);
    let released: Vec<u32> = ids.iter().map(|&id| f.released(id)).collect();
    assert_eq!(released, vec![1, 1, 1, 1]);
    f.store.signal_pressure(MemoryPressureLevel::None);
    f.finish();
}

#[test]
fn release_once_on_manual_eviction() {
    let f = Fx::new(1_000);
    let ids: Vec<u64> = (0..5).map(|i| f.put(&format!("k{i}"), 10)).collect();
    f.store.pin("k4");
    assert_eq!(f.store.evict(1), 1);
    assert_eq!(f.released(ids[0]), 1);
    assert_eq!(f.store.evict_lru(1), 1);
    assert_eq!(f.released(ids[1]), 1);
    // A held handle makes k2 unevictable.
    let h = f.store.get("k2").unwrap();
    assert_eq!(f.store.clear_unpinned(), 1);
    assert_eq!(f.released(ids[3]), 1);
    assert_eq!((f.released(ids[2]), f.released(ids[4])), (0, 0));
    drop(h);
    assert_eq!(
        f.released(ids[2]),
        0,
        "still present: dropping the handle releases nothing"
    );
    assert_eq!(f.store.clear_unpinned(), 1);
    assert_eq!(f.released(ids[2]), 1);
    assert_eq!(f.released(ids[4]), 0, "pinned");
    f.finish();
}

#[test]
fn release_once_on_clear() {
    let f = Fx::new(1_000);
    let ids: Vec<u64> = (0..4).map(|i| f.put(&format!("k{i}"), 10)).collect();
    f.store.pin("k0");
    assert_eq!(f.store.clear(), 4);
    assert!(ids.iter().all(|&id| f.released(id) == 1));
    assert_eq!(f.store.metrics().current_usage, 0);
    assert!(f.store.is_pinned("k0"), "pins stay");
    f.finish();
}

#[test]
fn release_on_last_handle_drop_after_removal_not_before() {
    let f = Fx::new(1_000);
    let a = f.put("a", 10);
    let h1 = f.store.get("a").unwrap();
    let h2 = h1.clone();
    f.store.remove("a").unwrap();
    assert_eq!(f.released(a), 0, "handles hold it");
    assert_eq!(f.store.metrics().in_use_bytes, 10);
    drop(h1);
    assert_eq!(f.released(a), 0, "one handle still holds it");
    assert_eq!(h2.id, a);
    drop(h2);
    assert_eq!(f.released(a), 1);
    assert_eq!(f.store.metrics().in_use_bytes, 0);
    f.finish();
}

#[test]
fn release_of_every_value_on_store_drop() {
    let f = Fx::new(1_000);
    let ids: Vec<u64> = (0..6).map(|i| f.put(&format!("k{i}"), 10)).collect();
    f.store.pin("k1");
    let clone = f.store.clone();
    drop(clone);
    assert!(
        ids.iter().all(|&id| f.released(id) == 0),
        "another handle keeps the store"
    );
    let log = Arc::clone(&f.log);
    drop(f.store);
    for id in ids {
        assert_eq!(log.counts.lock().unwrap()[&id], 1, "value {id}");
    }
}

#[test]
fn handle_outlives_the_store() {
    let f = Fx::new(1_000);
    let a = f.put("a", 10);
    let b = f.put("b", 10);
    let h = f.store.get("a").unwrap();
    let log = Arc::clone(&f.log);
    drop(f.store);
    let count = |id: u64| log.counts.lock().unwrap()[&id];
    assert_eq!(count(b), 1, "released with the store");
    assert_eq!(count(a), 0, "the handle holds it");
    assert_eq!(h.id, a);
    assert_eq!(h.charge(), 10);
    drop(h);
    assert_eq!(count(a), 1);
}

#[test]
fn failed_put_releases_its_value_once() {
    let f = Fx::new(100);
    let too_large = f.val(101, None);
    let id = too_large.id;
    let e = f.store.put("big".to_string(), too_large).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(f.released(id), 1);
    f.store.signal_pressure(MemoryPressureLevel::Emergency);
    let refused = f.val(1, None);
    let id = refused.id;
    let e = f.store.put("x".to_string(), refused).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OverBudget);
    assert_eq!(f.released(id), 1);
    assert_eq!(f.store.metrics().entry_count, 0);
    f.store.signal_pressure(MemoryPressureLevel::None);
    f.finish();
}

// ---- callbacks re-entering the store ----------------------------------------

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

type StoreCell = Arc<Mutex<Option<TStore>>>;

/// Calls back into the store from inside a callback: get, put, pin, unpin,
/// evict, metrics, poll_event, remove, set_max_bytes and more. A call made
/// under the store's lock would deadlock here. Nested callbacks (the pokes'
/// own evictions) do not poke again.
fn poke(cell: &StoreCell, log: &Arc<Releases>, pokes: &AtomicUsize) {
    if DEPTH.with(Cell::get) > 0 {
        return;
    }
    let Some(store) = cell.lock().unwrap().clone() else {
        return;
    };
    DEPTH.with(|d| d.set(d.get() + 1));
    let _ = store.get("anchor");
    let _ = store.contains("anchor");
    let id = log.next.fetch_add(1, Ordering::SeqCst) + 1;
    log.counts.lock().unwrap().insert(id, 0);
    let v = Tracked {
        id,
        charge: 1,
        log: Arc::clone(log),
        on_drop: None,
    };
    let _ = store.put("poke".to_string(), v);
    store.pin("poke-pin");
    let _ = store.unpin("poke-pin");
    let _ = store.evict(1);
    let _ = store.metrics();
    let _ = store.metrics_json();
    let _ = store.poll_event();
    let _ = store.pressure_level();
    let _ = store.remove("poke");
    let max = store.config().max_cache_bytes;
    store.set_max_bytes(max).expect("same budget");
    let _ = store.entries_snapshot();
    let _ = store.eviction_order();
    DEPTH.with(|d| d.set(d.get() - 1));
    pokes.fetch_add(1, Ordering::SeqCst);
}

struct Reentry {
    f: Fx,
    cell: StoreCell,
    pokes: Arc<AtomicUsize>,
}

impl Reentry {
    fn new() -> Reentry {
        let f = Fx::new(1_000);
        let cell: StoreCell = Arc::new(Mutex::new(Some(f.store.clone())));
        Reentry {
            f,
            cell,
            pokes: Arc::default(),
        }
    }

    fn hook(&self) -> DropHook {
        let (cell, log, pokes) = (
            Arc::clone(&self.cell),
            Arc::clone(&self.f.log),
            Arc::clone(&self.pokes),
        );
        Arc::new(move |_id| poke(&cell, &log, &pokes))
    }

    fn put(&self, key: &str, charge: u64, hooked: bool) {
        let v = self.f.val(charge, hooked.then(|| self.hook()));
        self.f.store.put(key.to_string(), v).expect("put");
    }

    fn pokes(&self) -> usize {
        self.pokes.load(Ordering::SeqCst)
    }

    /// Runs `op` and asserts it made at least one callback re-enter.
    fn expect_poke(&self, what: &str, op: impl FnOnce(&TStore)) {
        let before = self.pokes();
        op(&self.f.store);
        assert!(
            self.pokes() > before,
            "{what}: no callback re-entered the store"
        );
        assert_accounting(&self.f.store, what);
    }

    fn finish(self) {
        self.f.store.set_event_callback(None);
        self.f.store.set_eviction_listener(None);
        *self.cell.lock().unwrap() = None;
        self.f.finish();
    }
}

#[test]
fn release_drop_may_reenter_the_store() {
    watchdog(10, "reentry-release", || {
        let r = Reentry::new();
        r.put("anchor", 5, false);
        r.put("a", 10, true);
        r.expect_poke("remove", |s| s.remove("a").unwrap());
        r.put("a", 10, true);
        r.expect_poke("replace", |s| {
            s.put("a".to_string(), r.f.val(10, None)).unwrap();
        });
        r.put("b", 10, true);
        r.expect_poke("evict", |s| {
            // "anchor" and "a" go first in LRU order; evict through "b".
            while s.contains("b") {
                assert!(s.evict(1) > 0);
            }
        });
        r.put("c", 10, true);
        r.expect_poke("signal", |s| {
            s.signal_pressure(MemoryPressureLevel::Emergency)
        });
        r.f.store.signal_pressure(MemoryPressureLevel::None);
        r.put("d", 10, true);
        r.expect_poke("clear", |s| {
            s.clear();
        });
        r.put("e", 10, true);
        let h = r.f.store.get("e").unwrap();
        r.f.store.remove("e").unwrap();
        r.expect_poke("last handle drop", |_| drop(h));
        r.put("f", 600, true);
        r.expect_poke("capacity eviction", |s| {
            s.put("g".to_string(), r.f.val(600, None)).unwrap();
        });
        r.finish();
    });
}

#[test]
fn eviction_listener_may_reenter_the_store() {
    watchdog(10, "reentry-listener", || {
        let r = Reentry::new();
        let (cell, log, pokes) = (
            Arc::clone(&r.cell),
            Arc::clone(&r.f.log),
            Arc::clone(&r.pokes),
        );
        r.f.store.set_eviction_listener(Some(Arc::new(
            move |_k: &String, _r: EvictionReason, _b: u64| poke(&cell, &log, &pokes),
        )));
        r.put("anchor", 5, false);
        r.put("a", 10, false);
        r.expect_poke("remove", |s| s.remove("a").unwrap());
        r.put("a", 10, false);
        r.expect_poke("replace", |_| r.put("a", 11, false));
        r.put("b", 10, false);
        r.expect_poke("evict", |s| assert!(s.evict(1) > 0));
        r.put("c", 10, false);
        r.expect_poke("signal", |s| {
            s.signal_pressure(MemoryPressureLevel::Critical)
        });
        r.f.store.signal_pressure(MemoryPressureLevel::None);
        r.put("d", 600, false);
        r.expect_poke("capacity", |_| r.put("e", 600, false));
        r.put("z", 5, false);
        r.expect_poke("clear", |s| assert!(s.clear() > 0));
        r.finish();
    });
}

#[test]
fn event_callback_may_reenter_the_store() {
    watchdog(10, "reentry-event", || {
        let r = Reentry::new();
        let (cell, log, pokes) = (
            Arc::clone(&r.cell),
            Arc::clone(&r.f.log),
            Arc::clone(&r.pokes),
        );
        r.f.store
            .set_event_callback(Some(Arc::new(move |_e: &Event| poke(&cell, &log, &pokes))));
        r.put("anchor", 5, false);
        r.put("a", 10, false);
        r.expect_poke("signal", |s| {
            s.signal_pressure(MemoryPressureLevel::Moderate)
        });
        r.expect_poke("signal none", |s| {
            s.signal_pressure(MemoryPressureLevel::None)
        });
        r.put("b", 10, false);
        r.expect_poke("evict", |s| assert!(s.evict(1) > 0));
        r.put("c", 600, false);
        r.expect_poke("put crossing the threshold", |_| r.put("d", 200, false));
        r.finish();
    });
}

#[test]
fn size_estimator_may_reenter_the_store() {
    watchdog(10, "reentry-estimator", || {
        let cell: StoreCell = Arc::new(Mutex::new(None));
        let log: Arc<Releases> = Arc::default();
        let pokes = Arc::new(AtomicUsize::new(0));
        let (c2, l2, p2) = (Arc::clone(&cell), Arc::clone(&log), Arc::clone(&pokes));
        let store: TStore = Store::with_estimator(
            MemoryConfig::with_max_bytes(1_000),
            move |_: &String, v: &Tracked| {
                poke(&c2, &l2, &p2);
                v.charge
            },
        )
        .unwrap();
        *cell.lock().unwrap() = Some(store.clone());
        let f = Fx { store, log };
        f.put("a", 10);
        assert!(pokes.load(Ordering::SeqCst) > 0);
        assert!(f.store.contains("a"));
        assert_accounting(&f.store, "estimator");
        *cell.lock().unwrap() = None;
        f.finish();
    });
}

/// A put that fails must release (drop) its value outside the store's lock
/// too: here the value's Drop reads the metrics.
#[test]
fn failed_put_releases_its_value_outside_the_lock() {
    watchdog(5, "failed-put-release", || {
        let r = Reentry::new();
        let v = r.f.val(5_000, Some(r.hook()));
        let e = r.f.store.put("big".to_string(), v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(r.pokes(), 1, "the dropped value re-entered the store");
        r.f.store.signal_pressure(MemoryPressureLevel::Emergency);
        let v = r.f.val(1, Some(r.hook()));
        let e = r.f.store.put("refused".to_string(), v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OverBudget);
        assert_eq!(r.pokes(), 2);
        r.f.store.signal_pressure(MemoryPressureLevel::None);
        r.finish();
    });
}

// ---- eviction listener reasons ----------------------------------------------

type Seen = Arc<Mutex<Vec<(String, EvictionReason, u64)>>>;

fn u64_store(max: u64) -> Store<String, u64> {
    Store::with_estimator(MemoryConfig::with_max_bytes(max), |_: &String, v: &u64| *v).unwrap()
}

fn take(seen: &Seen) -> Vec<(String, EvictionReason, u64)> {
    std::mem::take(&mut *seen.lock().unwrap())
}

fn entry(k: &str, r: EvictionReason, b: u64) -> (String, EvictionReason, u64) {
    (k.to_string(), r, b)
}

fn drain_events<K, V>(store: &Store<K, V>) -> Vec<Event>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    std::iter::from_fn(|| store.poll_event()).collect()
}

fn eviction_events(events: &[Event]) -> Vec<(EvictionReason, u64, u64)> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Eviction)
        .map(|e| (e.reason, e.count, e.bytes))
        .collect()
}

#[test]
fn eviction_listener_reports_every_reason_with_key_and_bytes() {
    use EvictionReason::*;
    let store = u64_store(100);
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    store.set_eviction_listener(Some(Arc::new(
        move |k: &String, r: EvictionReason, b: u64| s2.lock().unwrap().push((k.clone(), r, b)),
    )));
    let put = |k: &str, v: u64| store.put(k.to_string(), v).unwrap();

    put("a", 30);
    put("b", 30);
    put("c", 30); // 90: CRITICAL, evict until < 70
    assert_eq!(take(&seen), vec![entry("a", Capacity, 30)]);
    assert_eq!(
        eviction_events(&drain_events(&store)),
        vec![(Capacity, 1, 30)]
    );

    put("b", 31);
    assert_eq!(take(&seen), vec![entry("b", Replaced, 30)]);
    assert!(
        eviction_events(&drain_events(&store)).is_empty(),
        "a replace is no eviction run"
    );

    store.remove("c").unwrap();
    assert_eq!(take(&seen), vec![entry("c", Removed, 30)]);

    put("d", 20);
    put("e", 10);
    // LRU order: b, d, e.
    assert_eq!(store.evict(1), 1);
    assert_eq!(take(&seen), vec![entry("b", Manual, 31)]);
    assert_eq!(store.evict_lru(1), 1);
    assert_eq!(take(&seen), vec![entry("d", Manual, 20)]);
    put("f", 20);
    assert_eq!(store.clear_unpinned(), 2);
    assert_eq!(
        take(&seen),
        vec![entry("e", Manual, 10), entry("f", Manual, 20)]
    );
    assert_eq!(
        eviction_events(&drain_events(&store)),
        vec![(Manual, 1, 31), (Manual, 1, 20), (Manual, 2, 30)]
    );

    put("g", 20);
    put("h", 10);
    // CRITICAL: keep floor(0.5 x 30) = 15: "g" goes.
    store.signal_pressure(MemoryPressureLevel::Critical);
    assert_eq!(take(&seen), vec![entry("g", Pressure, 20)]);
    assert_eq!(
        eviction_events(&drain_events(&store)),
        vec![(Pressure, 1, 20)]
    );
    store.signal_pressure(MemoryPressureLevel::None);

    put("i", 5);
    store.pin("i");
    assert_eq!(store.clear(), 2);
    let mut cleared = take(&seen);
    cleared.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        cleared,
        vec![entry("h", Removed, 10), entry("i", Removed, 5)]
    );
    store.set_eviction_listener(None);
    put("j", 1);
    store.remove("j").unwrap();
    assert!(take(&seen).is_empty(), "unregistered");
}

// ---- event callback vs queue ---------------------------------------------------

#[test]
fn event_callback_receives_events_instead_of_the_queue() {
    let store = u64_store(1_000);
    type Got = Arc<Mutex<Vec<(Event, thread::ThreadId)>>>;
    let got: Got = Arc::default();
    let g2 = Arc::clone(&got);
    store.set_event_callback(Some(Arc::new(move |e: &Event| {
        g2.lock().unwrap().push((*e, thread::current().id()))
    })));
    store.signal_pressure(MemoryPressureLevel::Moderate);
    store.put("a".to_string(), 10).unwrap();
    assert_eq!(store.evict(1), 1);
    assert!(store.poll_event().is_none(), "events went to the callback");
    {
        let got = got.lock().unwrap();
        let kinds: Vec<EventKind> = got.iter().map(|(e, _)| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::PressureChanged, EventKind::Eviction]);
        assert_eq!(
            (got[0].0.previous_level, got[0].0.level),
            (MemoryPressureLevel::None, MemoryPressureLevel::Moderate)
        );
        assert_eq!(got[1].0.reason, EvictionReason::Manual);
        assert!(got[0].0.sequence < got[1].0.sequence);
        assert!(got.iter().all(|(_, t)| *t == thread::current().id()));
    }
    // On the thread whose call produced the event.
    let s = store.clone();
    let t = thread::spawn(move || {
        s.signal_pressure(MemoryPressureLevel::Critical);
        thread::current().id()
    })
    .join()
    .unwrap();
    let last = *got.lock().unwrap().last().unwrap();
    assert_eq!(last.1, t);
    assert_eq!(last.0.level, MemoryPressureLevel::Critical);

    store.set_event_callback(None);
    let n = got.lock().unwrap().len();
    store.signal_pressure(MemoryPressureLevel::None);
    assert_eq!(
        got.lock().unwrap().len(),
        n,
        "the old callback is not called"
    );
    let e = store.poll_event().expect("the queue is back");
    assert_eq!(e.kind, EventKind::PressureChanged);
    assert_eq!(e.level, MemoryPressureLevel::None);
    assert_eq!(e.sequence, last.0.sequence + 1, "sequences go on");
    assert!(store.poll_event().is_none());
}

// ---- unregistering while a call is in flight ---------------------------------

#[derive(Default)]
struct Flags {
    calls: AtomicUsize,
    entered: AtomicBool,
    release: AtomicBool,
    in_call: AtomicBool,
    dropped_during_call: AtomicBool,
    drops: AtomicUsize,
}

/// Captured by the callback: counts its own drop and notes whether it
/// happened while a call was running.
struct Guard(Arc<Flags>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.in_call.load(Ordering::SeqCst) {
            self.0.dropped_during_call.store(true, Ordering::SeqCst);
        }
        self.0.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The first call blocks until `release`.
fn blocking_body(flags: &Flags) {
    if flags.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        flags.in_call.store(true, Ordering::SeqCst);
        flags.entered.store(true, Ordering::SeqCst);
        wait_until(10, "release", || flags.release.load(Ordering::SeqCst));
        flags.in_call.store(false, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Event,
    Listener,
}

fn register(store: &Store<String, u64>, slot: Slot, body: impl Fn() + Send + Sync + 'static) {
    match slot {
        Slot::Event => store.set_event_callback(Some(Arc::new(move |_e: &Event| body()))),
        Slot::Listener => store.set_eviction_listener(Some(Arc::new(
            move |_k: &String, _r: EvictionReason, _b: u64| body(),
        ))),
    }
}

fn unregister(store: &Store<String, u64>, slot: Slot) {
    match slot {
        Slot::Event => store.set_event_callback(None),
        Slot::Listener => store.set_eviction_listener(None),
    }
}

/// One event and one listener call: an eviction run of one entry.
fn trigger(store: &Store<String, u64>) {
    static N: AtomicU64 = AtomicU64::new(0);
    let k = format!("t{}", N.fetch_add(1, Ordering::SeqCst));
    store.put(k.clone(), 1).unwrap();
    while store.contains(k.as_str()) {
        assert!(store.evict(1) > 0);
    }
}

fn unregister_while_inside(slot: Slot, replace: bool) {
    let store = u64_store(0);
    let flags = Arc::new(Flags::default());
    let guard = Guard(Arc::clone(&flags));
    let f2 = Arc::clone(&flags);
    register(&store, slot, move || {
        let _keep = &guard;
        blocking_body(&f2);
    });
    let s = store.clone();
    let inside = thread::spawn(move || trigger(&s));
    wait_until(10, "callback entered", || {
        flags.entered.load(Ordering::SeqCst)
    });

    let new_calls = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicBool::new(false));
    let (s, n2, r2) = (store.clone(), Arc::clone(&new_calls), Arc::clone(&returned));
    let unregistering = thread::spawn(move || {
        if replace {
            register(&s, slot, move || {
                n2.fetch_add(1, Ordering::SeqCst);
            });
        } else {
            unregister(&s, slot);
        }
        r2.store(true, Ordering::SeqCst);
    });
    // Give a wrong implementation time to return early.
    thread::sleep(Duration::from_millis(150));
    assert!(
        !returned.load(Ordering::SeqCst),
        "{slot:?}: unregistering returned while another thread was inside the callback"
    );
    assert_eq!(
        flags.drops.load(Ordering::SeqCst),
        0,
        "{slot:?}: dropped during a call"
    );
    flags.release.store(true, Ordering::SeqCst);
    inside.join().expect("the thread inside the callback");
    unregistering.join().expect("the unregistering thread");
    assert!(returned.load(Ordering::SeqCst));
    assert_eq!(
        flags.drops.load(Ordering::SeqCst),
        1,
        "{slot:?}: dropped exactly once"
    );
    assert!(!flags.dropped_during_call.load(Ordering::SeqCst));

    // The old callback is not called any more; a replacement is.
    trigger(&store);
    assert_eq!(flags.calls.load(Ordering::SeqCst), 1);
    assert_eq!(new_calls.load(Ordering::SeqCst), usize::from(replace));
    unregister(&store, slot);
    assert_eq!(flags.drops.load(Ordering::SeqCst), 1);
}

#[test]
fn unregister_event_callback_waits_for_a_call_in_flight() {
    watchdog(20, "unregister-event", || {
        unregister_while_inside(Slot::Event, false)
    });
}

#[test]
fn replace_event_callback_waits_for_a_call_in_flight() {
    watchdog(20, "replace-event", || {
        unregister_while_inside(Slot::Event, true)
    });
}

#[test]
fn unregister_eviction_listener_waits_for_a_call_in_flight() {
    watchdog(20, "unregister-listener", || {
        unregister_while_inside(Slot::Listener, false)
    });
}

#[test]
fn replace_eviction_listener_waits_for_a_call_in_flight() {
    watchdog(20, "replace-listener", || {
        unregister_while_inside(Slot::Listener, true)
    });
}

fn unregister_from_inside(slot: Slot) {
    let store = u64_store(0);
    let flags = Arc::new(Flags::default());
    let guard = Guard(Arc::clone(&flags));
    let (f2, s2) = (Arc::clone(&flags), store.clone());
    let drops_seen_inside = Arc::new(AtomicUsize::new(usize::MAX));
    let d2 = Arc::clone(&drops_seen_inside);
    register(&store, slot, move || {
        let _keep = &guard;
        if f2.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            f2.in_call.store(true, Ordering::SeqCst);
            unregister(&s2, slot);
            d2.store(f2.drops.load(Ordering::SeqCst), Ordering::SeqCst);
            f2.in_call.store(false, Ordering::SeqCst);
        }
    });
    trigger(&store);
    assert_eq!(flags.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        drops_seen_inside.load(Ordering::SeqCst),
        0,
        "{slot:?}: not dropped during its call"
    );
    assert_eq!(
        flags.drops.load(Ordering::SeqCst),
        1,
        "{slot:?}: dropped once after the call"
    );
    assert!(!flags.dropped_during_call.load(Ordering::SeqCst));
    trigger(&store);
    assert_eq!(
        flags.calls.load(Ordering::SeqCst),
        1,
        "{slot:?}: unregistered"
    );
    if let Slot::Event = slot {
        let e = store.poll_event().expect("events go to the queue again");
        assert_eq!(e.kind, EventKind::Eviction);
    }
}

#[test]
fn unregister_event_callback_from_inside_itself() {
    watchdog(10, "unregister-event-inside", || {
        unregister_from_inside(Slot::Event)
    });
}

#[test]
fn unregister_eviction_listener_from_inside_itself() {
    watchdog(10, "unregister-listener-inside", || {
        unregister_from_inside(Slot::Listener)
    });
}

// ---- panicking callbacks ---------------------------------------------------

#[test]
fn panicking_event_callback_propagates_and_stays_registered() {
    let store = u64_store(100);
    store.put("a".to_string(), 10).unwrap();
    store.put("b".to_string(), 10).unwrap();
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let k2 = Arc::clone(&kinds);
    store.set_event_callback(Some(Arc::new(move |e: &Event| {
        k2.lock().unwrap().push(e.kind);
        panic!("event boom");
    })));
    let p = panic::catch_unwind(AssertUnwindSafe(|| store.evict(1))).unwrap_err();
    assert_eq!(panic_message(&*p), "event boom");
    assert!(!store.contains("a"), "the eviction happened");
    assert_accounting(&store, "after an event callback panic");
    // Every event of the call reached the callback, each call panicking;
    // the first panic went on after the last.
    assert_eq!(
        std::mem::take(&mut *kinds.lock().unwrap()),
        [EventKind::Eviction]
    );

    // Still registered, and the store still works.
    let p = panic::catch_unwind(AssertUnwindSafe(|| {
        store.signal_pressure(MemoryPressureLevel::Moderate)
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "event boom");
    assert_eq!(
        std::mem::take(&mut *kinds.lock().unwrap()),
        [EventKind::PressureChanged, EventKind::Eviction],
        "not disabled; the shed's event delivered too"
    );
    assert_eq!(store.pressure_level(), MemoryPressureLevel::Moderate);
    assert_accounting(&store, "after a second panic");
    store.put("c".to_string(), 5).unwrap();
    assert_eq!(*store.get("c").unwrap(), 5);
    store.set_event_callback(None);
    store.signal_pressure(MemoryPressureLevel::None);
    assert_eq!(store.poll_event().unwrap().level, MemoryPressureLevel::None);
    assert_accounting(&store, "after unregistering");
}

#[test]
fn panicking_eviction_listener_propagates_and_releases_victims() {
    let f = Fx::new(1_000);
    let ids: Vec<u64> = (0..3).map(|i| f.put(&format!("k{i}"), 10)).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&calls);
    f.store.set_eviction_listener(Some(Arc::new(
        move |_k: &String, _r: EvictionReason, _b: u64| {
            c2.fetch_add(1, Ordering::SeqCst);
            panic!("listener boom");
        },
    )));
    let p = panic::catch_unwind(AssertUnwindSafe(|| f.store.clear_unpinned())).unwrap_err();
    assert_eq!(panic_message(&*p), "listener boom");
    assert!(
        ids.iter().all(|&id| f.released(id) == 1),
        "victims released once"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the listener heard every victim before its panic went on"
    );
    assert_eq!(f.store.metrics().entry_count, 0);
    assert_accounting(&f.store, "after a listener panic");

    let a = f.put("a", 10);
    let p = panic::catch_unwind(AssertUnwindSafe(|| f.store.remove("a"))).unwrap_err();
    assert_eq!(panic_message(&*p), "listener boom");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "still registered");
    assert_eq!(f.released(a), 1);
    assert!(!f.store.contains("a"));
    f.store.set_eviction_listener(None);
    let b = f.put("b", 10);
    f.store.remove("b").unwrap();
    assert_eq!(f.released(b), 1);
    assert_accounting(&f.store, "after unregistering");
    f.finish();
}

/// A callback that panics once (then does nothing), for the tests below.
fn panics_once(message: &'static str) -> impl Fn() + Send + Sync + 'static {
    let armed = AtomicBool::new(true);
    move || {
        if armed.swap(false, Ordering::SeqCst) {
            panic!("{message}");
        }
    }
}

/// A signal's PRESSURE_CHANGED is delivered before its shed runs: an event
/// callback that panics on it must not leave the store above the budget it
/// just lowered (README: "the store stays consistent"). With shards, every
/// shard gets the signal and sheds its part before the panic goes on.
#[test]
fn a_panicking_event_callback_does_not_cut_a_signal_short() {
    for shards in [1, 4] {
        let mut config = MemoryConfig::with_max_bytes(400);
        config.shards = shards;
        let store: Store<String, u64> =
            Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap();
        for i in 0..24 {
            store.put(format!("k{i}"), 10).unwrap();
        }
        let once = panics_once("event boom");
        store.set_event_callback(Some(Arc::new(move |_e: &Event| once())));
        let p = panic::catch_unwind(AssertUnwindSafe(|| {
            store.signal_pressure(MemoryPressureLevel::Critical)
        }))
        .unwrap_err();
        assert_eq!(panic_message(&*p), "event boom");
        let m = store.metrics();
        assert_eq!(store.signalled_level(), MemoryPressureLevel::Critical);
        assert!(
            m.current_usage <= m.effective_budget && m.effective_budget < 240,
            "{shards} shards: usage {} against the budget in force {}",
            m.current_usage,
            m.effective_budget
        );
        assert_accounting(&store, "after the signal");
    }
}

/// A long run (`evict`) whose listener panics on its first victim still
/// evicts what it was asked for before the panic goes on.
#[test]
fn a_panicking_listener_does_not_cut_an_eviction_run_short() {
    let store = u64_store(10_000);
    for i in 0..300 {
        store.put(format!("k{i}"), 10).unwrap();
    }
    let once = panics_once("listener boom");
    store.set_eviction_listener(Some(Arc::new(
        move |_k: &String, _r: EvictionReason, _b: u64| once(),
    )));
    let p = panic::catch_unwind(AssertUnwindSafe(|| store.evict(200))).unwrap_err();
    assert_eq!(panic_message(&*p), "listener boom");
    assert_eq!(store.metrics().entry_count, 100, "all 200 evicted");
    assert_accounting(&store, "after the run");
}

/// A handler's signal reaches every store subscribed to it, even when the
/// first store's event callback panics (the monitor and
/// `signal_pressure_all` signal through such a handler).
#[test]
fn a_panicking_store_does_not_keep_a_signal_from_the_others() {
    let handler = nexus_store::MemoryPressureHandler::new();
    let make = || -> Store<String, u64> {
        Store::builder(MemoryConfig::with_max_bytes(100), |_: &String, v: &u64| *v)
            .pressure_handler(&handler)
            .build()
            .unwrap()
    };
    let (a, b) = (make(), make());
    a.set_event_callback(Some(Arc::new(|_e: &Event| panic!("a's event callback"))));
    for level in [MemoryPressureLevel::Emergency, MemoryPressureLevel::None] {
        let p = panic::catch_unwind(AssertUnwindSafe(|| handler.signal(level))).unwrap_err();
        assert_eq!(panic_message(&*p), "a's event callback");
        assert_eq!(a.signalled_level(), level);
        assert_eq!(b.signalled_level(), level, "b got {level:?} too");
    }
    b.put("k".to_string(), 10).unwrap();
}

/// Dropping read handles whose release restores the budget runs the
/// listener; a listener that panics there must not unwind out of the drop
/// (dropping a Vec of handles, or a handle dropped while unwinding, would
/// abort the process): the panic is dropped, and the budget restored.
#[test]
fn a_panicking_callback_run_by_a_handle_release_does_not_unwind_the_drop() {
    let store = u64_store(1000);
    let calls = Arc::new(AtomicUsize::new(0));
    // Ten entries of 60 bytes, all held, then CRITICAL (a held budget of
    // 350: nothing can go while held) and a listener that panics.
    let held_under_critical = || {
        store.set_eviction_listener(None);
        store.signal_pressure(MemoryPressureLevel::None);
        for i in 0..10 {
            store.put(format!("k{i}"), 60).unwrap();
        }
        let handles: Vec<_> = (0..10)
            .map(|i| store.get(format!("k{i}").as_str()).unwrap())
            .collect();
        store.signal_pressure(MemoryPressureLevel::Critical);
        assert_eq!(store.metrics().current_usage, 600, "held entries stay");
        let c2 = Arc::clone(&calls);
        store.set_eviction_listener(Some(Arc::new(
            move |_k: &String, _r: EvictionReason, _b: u64| {
                c2.fetch_add(1, Ordering::SeqCst);
                panic!("listener boom");
            },
        )));
        handles
    };
    let handles = held_under_critical();
    let budget = store.metrics().effective_budget;
    drop(handles);
    assert!(calls.load(Ordering::SeqCst) > 0, "the release evicted");
    assert!(
        store.metrics().current_usage <= budget,
        "{} over {budget}",
        store.metrics().current_usage
    );
    assert_accounting(&store, "after the releases");
    // Handles dropped while their thread unwinds from a panic of its own.
    let handles = held_under_critical();
    let before = calls.load(Ordering::SeqCst);
    let p = panic::catch_unwind(AssertUnwindSafe(move || {
        let _held = handles;
        panic!("the caller's own panic");
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*p), "the caller's own panic");
    assert!(
        calls.load(Ordering::SeqCst) > before,
        "the releases evicted"
    );
    assert!(store.metrics().current_usage <= budget);
    assert_accounting(&store, "after the unwinding release");
}

// ---- the bounded event queue --------------------------------------------------

/// One PRESSURE_CHANGED per call: an unbounded, empty store alternating
/// MODERATE and NONE.
fn produce(store: &Store<String, u64>, n: usize, toggle: &mut bool) {
    for _ in 0..n {
        *toggle = !*toggle;
        store.signal_pressure(if *toggle {
            MemoryPressureLevel::Moderate
        } else {
            MemoryPressureLevel::None
        });
    }
}

#[test]
fn unpolled_queue_is_bounded_with_one_dropped_marker() {
    let config = MemoryConfig {
        event_queue_capacity: 4,
        ..MemoryConfig::default()
    };
    let store: Store<String, u64> =
        Store::with_estimator(config, |_: &String, v: &u64| *v).unwrap();
    let mut toggle = false;
    let mut polled: Vec<Event> = Vec::new();
    let mut losses = 0u64;

    produce(&store, 50, &mut toggle);
    let batch = drain_events(&store);
    assert_eq!(batch.len(), 5, "4 events + 1 marker: {batch:?}");
    let regular: Vec<u64> = batch
        .iter()
        .filter(|e| e.kind != EventKind::Dropped)
        .map(|e| e.sequence)
        .collect();
    assert_eq!(regular, vec![1, 2, 3, 4], "the oldest events are kept");
    let marker = batch[4];
    assert_eq!(marker.kind, EventKind::Dropped);
    assert_eq!(marker.count, 46, "one marker sums every loss");
    losses += marker.count;
    polled.extend(&batch);

    // The marker was polled: a new loss makes a new marker. Polling one
    // event makes room for one more behind the marker; a loss after it
    // moves the marker behind it (taking that loss's number), and further
    // losses join the marker until it is polled.
    produce(&store, 5, &mut toggle);
    let first = store.poll_event().unwrap();
    assert_eq!(first.kind, EventKind::PressureChanged);
    polled.push(first);
    produce(&store, 1, &mut toggle); // queued behind the marker
    produce(&store, 2, &mut toggle); // lost: the marker moves behind it
    let batch = drain_events(&store);
    let kinds: Vec<EventKind> = batch.iter().map(|e| e.kind).collect();
    use EventKind::{Dropped, PressureChanged as P};
    assert_eq!(kinds, vec![P, P, P, P, Dropped]);
    let marker2 = batch[4];
    assert_eq!(marker2.count, 3, "1 lost before the move, 2 after");
    assert!(
        marker2.sequence > batch[3].sequence,
        "behind the last event"
    );
    losses += marker2.count;
    polled.extend(&batch);

    // After the queue drained: 4 fit, the 5th is lost into a third marker.
    produce(&store, 5, &mut toggle);
    let batch = drain_events(&store);
    assert_eq!(batch.len(), 5);
    assert_eq!(batch[4].kind, EventKind::Dropped);
    assert_eq!(batch[4].count, 1);
    losses += 1;
    polled.extend(&batch);

    // Sequence gaps match the losses exactly: each marker carries the
    // number of the latest loss it counts, the others are gaps.
    produce(&store, 1, &mut toggle);
    let probe = store.poll_event().unwrap();
    let mut seqs: Vec<u64> = polled.iter().map(|e| e.sequence).collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "sequence numbers are unique");
    assert!(seqs.iter().all(|&s| s >= 1 && s < probe.sequence));
    let gaps = (probe.sequence - 1) - seqs.len() as u64;
    let markers = polled
        .iter()
        .filter(|e| e.kind == EventKind::Dropped)
        .count() as u64;
    assert_eq!(markers, 3);
    assert_eq!(
        gaps + markers,
        losses,
        "missing sequence numbers and the markers' own == events reported lost"
    );
    let produced_events = 50 + 5 + 1 + 2 + 5;
    let regular = polled
        .iter()
        .filter(|e| e.kind != EventKind::Dropped)
        .count() as u64;
    // Only events take numbers: the probe's is the next.
    assert_eq!(probe.sequence, produced_events + 1);
    assert_eq!(
        regular + losses,
        produced_events,
        "every event is either polled or counted"
    );
    assert!(store.poll_event().is_none());
}

/// A replace waits for the old callback's calls in flight, not for every
/// clone of it: a caller that keeps its own clone, or registers one
/// callback on two stores, is not kept waiting (audit 15: each of these
/// waited for good). The kept clone still works afterwards.
#[test]
fn a_replace_does_not_wait_for_clones_the_caller_keeps() {
    watchdog(30, "replace-kept-clone", || {
        let store: Store<u32, u64> = Store::new(MemoryConfig::with_max_bytes(1 << 20)).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let cb: Arc<nexus_store::EventCallback> = Arc::new(move |_e: &nexus_store::Event| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        store.set_event_callback(Some(Arc::clone(&cb)));
        store.set_event_callback(None);
        let other: Store<u32, u64> = Store::new(MemoryConfig::with_max_bytes(1 << 20)).unwrap();
        store.set_event_callback(Some(Arc::clone(&cb)));
        other.set_event_callback(Some(Arc::clone(&cb)));
        store.set_event_callback(None);
        other.signal_pressure(MemoryPressureLevel::Critical);
        assert!(
            calls.load(Ordering::SeqCst) >= 1,
            "still registered on the other store"
        );
        other.set_event_callback(None);
        // Queued now; the caller's clone still runs.
        other.signal_pressure(MemoryPressureLevel::None);
        let before = calls.load(Ordering::SeqCst);
        cb(&other.poll_event().expect("the level change, queued"));
        assert_eq!(calls.load(Ordering::SeqCst), before + 1);
        let listener: Arc<nexus_store::EvictionListener<u32>> = Arc::new(|_: &u32, _, _| {});
        store.set_eviction_listener(Some(Arc::clone(&listener)));
        store.set_eviction_listener(None);
        let loader: Arc<nexus_store::LoaderFn<u32, u64>> =
            Arc::new(|k: &u32| Ok(nexus_store::Loaded::new(u64::from(*k))));
        store.set_loader(Some(Arc::clone(&loader)));
        assert_eq!(*store.get_or_load(&7).unwrap(), 7);
        store.set_loader(None);
    });
}
