//! Random operation sequences through the `extern "C"` functions, each step
//! checked against the reference model of tests/model.rs (the same file):
//! the status or result of the call, the queued events (in sequence order,
//! none dropped), the eviction listener's calls (as a multiset), which keys
//! are present and pinned, the pin order, the level and every metric, usage
//! against the budget in force.
//!
//! The C side: keys are one byte; a value is either 8 bytes holding its
//! charge (`nexus_store_put`) or an object holding it (`put_object`, with the
//! charge as its cost, or cost 0 so that the size estimator reads it); the
//! config's size estimator returns the charge. Reads go through `get` (the
//! handle kept or released at once) or `get_copy`. The eviction listener
//! re-enters the store (contains, is_pinned, metrics) and checks that an
//! entry that left is gone; it may replace itself from inside (its ctx is
//! destroyed exactly once). At the end the store is freed (blocking or
//! deferred) while read handles are still held; the stale handle is then
//! INVALID_HANDLE, a second free too, held values stay readable, and every
//! object the store took is released exactly once.

#![no_main]

use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use nexus_store::ffi::*;
use nexus_store::{EventKind, EvictionReason, EvictionStrategy, MemoryPressureLevel as Level};
use nexus_store_fuzz::reference_model::{Ev, KEYS, Model, Op, Outcome, Setup};
use nexus_store_fuzz::{
    Input, default_config, kind_of, last_message, metrics, poll_all, take_keys,
};

/// An object value: its charge, and which object it is.
struct Obj {
    charge: u64,
    id: usize,
}

/// What the callbacks share with the harness.
#[derive(Default)]
struct Shared {
    /// The store's handle, for re-entry from the listener.
    store: AtomicPtr<NexusStore>,
    removed: Mutex<Vec<(u8, EvictionReason, u64)>>,
    /// What the listener found wrong from inside.
    problems: Mutex<Vec<String>>,
    /// Releases per object id.
    released: Mutex<Vec<u32>>,
    /// Listener ctx registrations and destroys.
    registered: AtomicUsize,
    destroyed: AtomicUsize,
    /// When non-zero, the listener replaces itself on its next call and
    /// decrements this.
    replace_from_inside: AtomicUsize,
}

/// A listener ctx: a pointer to `Shared`, owned by the store.
struct ListenerCtx(*const Shared);

unsafe extern "C" fn estimator(
    _ctx: *mut c_void,
    _key: *const u8,
    _key_len: usize,
    value: *const c_void,
    value_len: usize,
) -> usize {
    if value_len == 8 {
        let mut b = [0u8; 8];
        // SAFETY: the store passes the value's 8 bytes.
        unsafe { ptr::copy_nonoverlapping(value.cast::<u8>(), b.as_mut_ptr(), 8) };
        u64::from_le_bytes(b) as usize
    } else {
        // SAFETY: an object value is an `Obj` this harness made.
        unsafe { (*value.cast::<Obj>()).charge as usize }
    }
}

unsafe extern "C" fn release(ctx: *mut c_void, object: *mut c_void) {
    // SAFETY: ctx is the harness's `Shared`, alive until every object is
    // released; object is a `Box<Obj>` given to put_object.
    let shared = unsafe { &*ctx.cast::<Shared>() };
    let obj = unsafe { Box::from_raw(object.cast::<Obj>()) };
    shared.released.lock().unwrap()[obj.id] += 1;
}

unsafe extern "C" fn destroy_listener(ctx: *mut c_void) {
    // SAFETY: ctx is a `Box<ListenerCtx>` registered with the store.
    let ctx = unsafe { Box::from_raw(ctx.cast::<ListenerCtx>()) };
    unsafe { &*ctx.0 }.destroyed.fetch_add(1, Ordering::SeqCst);
}

fn register_listener(store: *mut NexusStore, shared: &Shared) -> NexusStatus {
    shared.registered.fetch_add(1, Ordering::SeqCst);
    let ctx = Box::into_raw(Box::new(ListenerCtx(shared))).cast::<c_void>();
    nexus_store_set_eviction_listener(store, Some(listener), ctx, Some(destroy_listener))
}

unsafe extern "C" fn listener(
    ctx: *mut c_void,
    key: *const u8,
    key_len: usize,
    reason: NexusEvictionReason,
    bytes: u64,
) {
    // SAFETY: ctx is a live `ListenerCtx` (destroyed only after this call).
    let shared = unsafe { &*(*ctx.cast::<ListenerCtx>()).0 };
    let mut problems = Vec::new();
    if key_len != 1 {
        problems.push(format!("listener got a key of {key_len} bytes"));
    }
    // SAFETY: the key is valid for the call.
    let k = unsafe { *key };
    let reason = EvictionReason::try_from(reason).expect("a reason");
    shared.removed.lock().unwrap().push((k, reason, bytes));

    // Re-entry: the entry that left is gone (a replaced one is back).
    let store = shared.store.load(Ordering::SeqCst);
    let mut present = false;
    let s = nexus_store_contains(store, key, 1, &mut present);
    if s != NEXUS_STATUS_OK {
        problems.push(format!("contains from the listener: status {s}"));
    } else if present != (reason == EvictionReason::Replaced) {
        problems.push(format!(
            "key {k} present={present} in the listener ({reason:?})"
        ));
    }
    let mut pinned = false;
    let s = nexus_store_is_pinned(store, key, 1, &mut pinned);
    if s != NEXUS_STATUS_OK {
        problems.push(format!("is_pinned from the listener: status {s}"));
    }
    let mut m = NexusMemoryMetrics::default();
    if nexus_store_memory_metrics(store, &mut m) != NEXUS_STATUS_OK {
        problems.push("metrics from the listener failed".into());
    }
    // Replacing its own registration from inside: returns at once; the old
    // ctx is destroyed after this call returns.
    if shared
        .replace_from_inside
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        let s = register_listener(store, shared);
        if s != NEXUS_STATUS_OK {
            problems.push(format!("listener replacing itself: status {s}"));
        }
    }
    shared.problems.lock().unwrap().extend(problems);
}

fn level_of(b: u8) -> Level {
    match b % 8 {
        0..=2 => Level::None,
        3 | 4 => Level::Moderate,
        5 | 6 => Level::Critical,
        _ => Level::Emergency,
    }
}

fn setup_of(input: &mut Input) -> Setup {
    let max = match input.below(5) {
        0 => 0,
        1..=3 => 40 + u64::from(input.below(81)),
        _ => 120 + u64::from(input.u8()),
    };
    let batch = [1, 2, 3, 10][input.below(4) as usize];
    let thresholds =
        [(0.7, 0.9), (0.7, 0.9), (0.5, 1.0), (0.6, 0.75), (0.3, 0.9)][input.below(5) as usize];
    let keeps =
        [(0.75, 0.5), (0.75, 0.5), (1.0, 1.0), (1.0, 0.5), (0.6, 0.2)][input.below(5) as usize];
    Setup {
        max,
        batch,
        thresholds,
        keeps,
        lfu_history: input.bool(),
        max_entries: [0, 0, 0, 1, 3, 8][input.below(6) as usize],
    }
}

fn key_of(input: &mut Input) -> u8 {
    let b = input.u8();
    if b & 0x80 == 0 { b % 4 } else { b % KEYS }
}

fn charge_of(input: &mut Input) -> u64 {
    let b = input.u8();
    if b & 0x80 == 0 {
        u64::from(b % 10)
    } else {
        u64::from(b % 40)
    }
}

/// One operation, and how the C side runs it (a variant flag).
fn op_of(input: &mut Input) -> (Op, u8) {
    let code = input.u8();
    let variant = input.u8();
    let op = match code % 34 {
        0..=9 => Op::Put(key_of(input), charge_of(input)),
        10..=14 => Op::Get(key_of(input), input.bool()),
        15 => Op::Contains(key_of(input)),
        16 | 17 => Op::Remove(key_of(input)),
        18 => Op::Clear,
        19 | 20 => Op::Pin(key_of(input)),
        21 | 22 => Op::Unpin(key_of(input)),
        23 => Op::Evict(input.below(5) as usize),
        24 => Op::EvictLru(input.below(5) as usize),
        25 => Op::ClearUnpinned,
        26 | 27 => Op::Signal(level_of(input.u8())),
        28 => Op::SetMaxBytes(match input.below(3) {
            0 => 0,
            1 => 10 + u64::from(input.below(50)),
            _ => 60 + u64::from(input.u8()),
        }),
        29 => Op::ResetMetrics,
        _ => Op::Release(input.below(8) as usize),
    };
    (op, variant)
}

/// The C side of the comparison.
struct Real {
    store: *mut NexusStore,
    shared: &'static Shared,
    /// Held read handles, with the charge each one read.
    handles: Vec<(*mut NexusValue, u64)>,
    objects: usize,
    last_sequence: u64,
}

fn outcome_of(status: NexusStatus) -> Outcome {
    match kind_of(status) {
        None => Outcome::Ok,
        Some(k) => Outcome::Err(k),
    }
}

/// The charge a value handle reads.
fn read_charge(v: *const NexusValue) -> u64 {
    let data = nexus_value_data(v);
    if data.is_null() {
        let obj = nexus_value_object(v);
        assert!(!obj.is_null(), "a value is bytes or an object");
        // SAFETY: objects in this store are `Obj`s, alive while the handle is.
        unsafe { (*obj.cast::<Obj>()).charge }
    } else {
        assert_eq!(nexus_value_len(v), 8);
        let mut b = [0u8; 8];
        // SAFETY: 8 bytes, valid while the handle is.
        unsafe { ptr::copy_nonoverlapping(data, b.as_mut_ptr(), 8) };
        u64::from_le_bytes(b)
    }
}

impl Real {
    fn unit(status: NexusStatus, what: &str) -> Outcome {
        assert_eq!(status, NEXUS_STATUS_OK, "{what}: {}", last_message());
        Outcome::Unit
    }

    fn count(status: NexusStatus, n: usize, what: &str) -> Outcome {
        assert_eq!(status, NEXUS_STATUS_OK, "{what}: {}", last_message());
        Outcome::Count(n)
    }

    /// `object_value`: whether the model's entry for the key (if any) was
    /// put as an object (get_copy cannot read those).
    fn apply(&mut self, op: &Op, variant: u8, object_value: bool) -> Outcome {
        let s = self.store;
        match *op {
            Op::Put(k, c) => {
                if variant & 1 == 0 {
                    let v = c.to_le_bytes();
                    outcome_of(nexus_store_put(s, &k, 1, v.as_ptr(), 8))
                } else {
                    let id = self.objects;
                    self.objects += 1;
                    self.shared.released.lock().unwrap().push(0);
                    let obj = Box::into_raw(Box::new(Obj { charge: c, id }));
                    // Cost 0 asks the estimator (which reads the object).
                    let cost = if variant & 2 == 0 { c as usize } else { 0 };
                    let status = nexus_store_put_object(
                        s,
                        &k,
                        1,
                        obj.cast(),
                        cost,
                        Some(release),
                        ptr::from_ref(self.shared).cast_mut().cast(),
                    );
                    if status != NEXUS_STATUS_OK {
                        // Not taken: still ours; mark it as released once.
                        // SAFETY: the store took no ownership.
                        drop(unsafe { Box::from_raw(obj) });
                        self.shared.released.lock().unwrap()[id] += 1;
                    }
                    outcome_of(status)
                }
            }
            Op::Get(k, hold) => {
                if !hold && !object_value && variant & 1 == 1 {
                    let mut buf = [0u8; 8];
                    let mut len = 0usize;
                    let status = nexus_store_get_copy(s, &k, 1, buf.as_mut_ptr(), 8, &mut len);
                    return match status {
                        NEXUS_STATUS_OK => {
                            assert_eq!(len, 8);
                            Outcome::Got(Some(u64::from_le_bytes(buf)))
                        }
                        NEXUS_STATUS_NOT_FOUND => Outcome::Got(None),
                        other => outcome_of(other),
                    };
                }
                let mut v = ptr::null_mut();
                match nexus_store_get(s, &k, 1, &mut v) {
                    NEXUS_STATUS_OK => {
                        let charge = read_charge(v);
                        if hold {
                            self.handles.push((v, charge));
                        } else {
                            nexus_value_release(v);
                        }
                        Outcome::Got(Some(charge))
                    }
                    NEXUS_STATUS_NOT_FOUND => Outcome::Got(None),
                    other => outcome_of(other),
                }
            }
            Op::Contains(k) => {
                let mut b = false;
                Self::unit(nexus_store_contains(s, &k, 1, &mut b), "contains");
                Outcome::Bool(b)
            }
            Op::Remove(k) => outcome_of(nexus_store_remove(s, &k, 1)),
            Op::Clear => {
                let mut n = 0;
                Self::count(nexus_store_clear(s, &mut n), n, "clear")
            }
            Op::Pin(k) => Self::unit(nexus_store_pin(s, &k, 1), "pin"),
            Op::Unpin(k) => outcome_of(nexus_store_unpin(s, &k, 1)),
            Op::Evict(n) => {
                let mut e = 0;
                Self::count(nexus_store_evict(s, n, &mut e), e, "evict")
            }
            Op::EvictLru(n) => {
                let mut e = 0;
                Self::count(nexus_store_evict_lru(s, n, &mut e), e, "evict_lru")
            }
            Op::ClearUnpinned => {
                let mut e = 0;
                Self::count(nexus_store_clear_unpinned(s, &mut e), e, "clear_unpinned")
            }
            Op::Signal(level) => Self::unit(nexus_store_signal_pressure(s, level as u32), "signal"),
            Op::SetMaxBytes(m) => outcome_of(nexus_store_set_max_bytes(s, m)),
            Op::ResetMetrics => Self::unit(nexus_store_reset_metrics(s), "reset_metrics"),
            Op::Release(i) => {
                if !self.handles.is_empty() {
                    let i = i % self.handles.len();
                    let (v, charge) = self.handles.remove(i);
                    assert_eq!(read_charge(v), charge, "a held value changed");
                    nexus_value_release(v);
                }
                Outcome::Unit
            }
        }
    }

    fn events(&mut self) -> Vec<Ev> {
        poll_all(self.store, &mut self.last_sequence)
            .iter()
            .map(|e| Ev {
                kind: EventKind::try_from(e.kind).expect("a kind"),
                level: Level::try_from(e.level).expect("a level"),
                previous_level: Level::try_from(e.previous_level).expect("a level"),
                reason: EvictionReason::try_from(e.reason).expect("a reason"),
                count: e.count,
                bytes: e.bytes,
                usage_bytes: e.usage_bytes,
            })
            .collect()
    }
}

fn sorted_removals(mut v: Vec<(u8, EvictionReason, u64)>) -> Vec<(u8, EvictionReason, u64)> {
    v.sort_by_key(|&(k, r, b)| (k, r as u32, b));
    v
}

fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let strategy = [
        EvictionStrategy::Lru,
        EvictionStrategy::Lfu,
        EvictionStrategy::Size,
    ][input.below(3) as usize];
    let setup = setup_of(&mut input);
    let deferred_free = input.bool();

    let mut config = default_config();
    config.max_cache_bytes = setup.max;
    config.eviction_batch_size = setup.batch;
    config.moderate_threshold = setup.thresholds.0;
    config.critical_threshold = setup.thresholds.1;
    config.signal_moderate_keep = setup.keeps.0;
    config.signal_critical_keep = setup.keeps.1;
    config.strategy = strategy as u32;
    config.event_queue_capacity = 1 << 16;
    config.lfu_history = setup.lfu_history;
    config.max_entries = setup.max_entries;
    config.size_estimator = Some(estimator);
    let mut store = ptr::null_mut();
    assert_eq!(
        nexus_store_new(&config, &mut store),
        NEXUS_STATUS_OK,
        "{}",
        last_message()
    );

    // Freed at the end, once the store and every value are gone.
    let shared_box = Box::into_raw(Box::<Shared>::default());
    // SAFETY: alive until the `Box::from_raw` below.
    let shared: &'static Shared = unsafe { &*shared_box };
    shared.store.store(store, Ordering::SeqCst);
    assert_eq!(register_listener(store, shared), NEXUS_STATUS_OK);

    let mut model = Model::new(strategy, &setup);
    let mut real = Real {
        store,
        shared,
        handles: Vec::new(),
        objects: 0,
        last_sequence: 0,
    };
    // Which keys were last put as objects.
    let mut object_keys = [false; 256];

    let mut step = 0;
    while !input.is_empty() && step < 200 {
        let (op, variant) = op_of(&mut input);
        if variant & 0x40 != 0 && variant & 0x20 != 0 {
            // The listener replaces itself during this step's first removal.
            shared.replace_from_inside.store(1, Ordering::SeqCst);
        } else if variant & 0x70 == 0x70 {
            // Replace the listener from outside.
            assert_eq!(register_listener(store, shared), NEXUS_STATUS_OK);
        }
        let ctx = format!("step {step}: {op:?} (variant {variant:#x})");
        let object_value = match op {
            Op::Get(k, _) => model.find(k).is_some() && object_keys[k as usize],
            _ => false,
        };
        let expected = model.apply(&op);
        let actual = real.apply(&op, variant, object_value);
        assert_eq!(actual, expected, "result of {ctx}");
        if let (Op::Put(k, _), Outcome::Ok) = (&op, &actual) {
            object_keys[*k as usize] = variant & 1 == 1;
        }
        shared.replace_from_inside.store(0, Ordering::SeqCst);

        let problems = std::mem::take(&mut *shared.problems.lock().unwrap());
        assert!(problems.is_empty(), "{ctx}: {problems:?}");
        assert_eq!(real.events(), model.events, "events of {ctx}");
        let removed = std::mem::take(&mut *shared.removed.lock().unwrap());
        assert_eq!(
            sorted_removals(removed),
            sorted_removals(model.removed.clone()),
            "listener calls of {ctx}"
        );
        for k in 0..KEYS {
            let (mut present, mut pinned) = (false, false);
            assert_eq!(
                nexus_store_contains(store, &k, 1, &mut present),
                NEXUS_STATUS_OK
            );
            assert_eq!(
                nexus_store_is_pinned(store, &k, 1, &mut pinned),
                NEXUS_STATUS_OK
            );
            assert_eq!(
                present,
                model.find(k).is_some(),
                "contains({k}) after {ctx}"
            );
            assert_eq!(pinned, model.is_pinned(k), "is_pinned({k}) after {ctx}");
        }
        let mut list = ptr::null_mut();
        assert_eq!(nexus_store_pinned_ids(store, &mut list), NEXUS_STATUS_OK);
        let pins: Vec<Vec<u8>> = model.pins.iter().map(|&k| vec![k]).collect();
        assert_eq!(take_keys(list), pins, "pinned_ids after {ctx}");
        let mut level = 0;
        assert_eq!(
            nexus_store_pressure_level(store, &mut level),
            NEXUS_STATUS_OK
        );
        assert_eq!(level, model.reported as u32, "level after {ctx}");
        let m = metrics(store);
        assert_eq!(m, model.metrics(), "metrics after {ctx}");
        if model.max != 0 {
            assert!(
                m.current_usage <= model.max,
                "{ctx}: usage above the budget"
            );
        }
        if let Some(budget) = model.budget() {
            assert!(
                m.current_usage <= budget || model.unevictable_bytes() > budget,
                "{ctx}: usage {} above the budget in force {budget}",
                m.current_usage
            );
        }
        step += 1;
    }

    // Free the store while read handles are held: half released before.
    let keep = real.handles.len() / 2;
    for (v, charge) in real.handles.drain(keep..) {
        assert_eq!(read_charge(v), charge);
        nexus_value_release(v);
    }
    let status = if deferred_free {
        nexus_store_free_deferred(store)
    } else {
        nexus_store_free(store)
    };
    assert_eq!(status, NEXUS_STATUS_OK, "free: {}", last_message());
    let mut present = false;
    assert_eq!(
        nexus_store_contains(store, &0, 1, &mut present),
        NEXUS_STATUS_ERR_INVALID_HANDLE,
        "a freed handle"
    );
    assert_eq!(
        nexus_store_free(store),
        NEXUS_STATUS_ERR_INVALID_HANDLE,
        "a double free"
    );
    assert_eq!(
        nexus_store_free_deferred(store),
        NEXUS_STATUS_ERR_INVALID_HANDLE
    );
    for (v, charge) in real.handles.drain(..) {
        assert_eq!(read_charge(v), charge, "a value held across the free");
        nexus_value_release(v);
    }
    for (id, &n) in shared.released.lock().unwrap().iter().enumerate() {
        assert_eq!(n, 1, "object {id} released {n} times");
    }
    assert_eq!(
        shared.destroyed.load(Ordering::SeqCst),
        shared.registered.load(Ordering::SeqCst),
        "every listener ctx destroyed exactly once"
    );
    // SAFETY: nothing refers to it any more.
    drop(unsafe { Box::from_raw(shared_box) });
}

fuzz_target!(|data: &[u8]| run(data));
