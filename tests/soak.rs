//! The soak (docs/TESTING.md): 8 threads of random C calls (puts of bytes
//! and objects, reads kept or released, removes, pins, evictions, clears,
//! budget changes, pressure signals) on one sharded store while a ninth
//! polls its events, for NEXUS_SOAK_SECONDS (`make soak`: 600, `make
//! soak-short`: 30; 3 when unset, as part of `cargo test`). Then:
//! - RSS after the warm-up (the first third) stays flat: it grows by less
//!   than 16 MiB to the end;
//! - every polled event's sequence number is above the one before, and the
//!   gaps add up to no more than the DROPPED markers counted;
//! - usage equals the sum of the charges of the present entries, and the
//!   entry count matches;
//! - after the store is freed while read handles are still held, and those
//!   are released, every object the store took was released exactly once.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nexus_store::ffi::*;

mod common;
use common::Rng;

const THREADS: usize = 8;

/// The tests here run one at a time (the soak measures the process's RSS).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
const KEYS: u32 = 2048;
const MAGIC: u64 = 0x5eed_cafe_f00d_d00d;

/// An object value: its cost, and a marker cleared on release (a second
/// release of the same object would find it cleared).
struct Obj {
    magic: AtomicU64,
    cost: usize,
}

static TAKEN: AtomicUsize = AtomicUsize::new(0);
static RELEASED: AtomicUsize = AtomicUsize::new(0);
static DOUBLE_RELEASES: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn release(_: *mut c_void, object: *mut c_void) {
    // SAFETY: every object in the store is a `Box<Obj>` made below.
    let obj = unsafe { &*object.cast::<Obj>() };
    if obj.magic.swap(0, Ordering::SeqCst) != MAGIC {
        DOUBLE_RELEASES.fetch_add(1, Ordering::SeqCst);
        return;
    }
    RELEASED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: released exactly once (checked above), so freed once.
    drop(unsafe { Box::from_raw(object.cast::<Obj>()) });
}

unsafe extern "C" fn estimator(
    _: *mut c_void,
    _: *const u8,
    _: usize,
    value: *const c_void,
    value_len: usize,
) -> usize {
    if value_len == 0 {
        // SAFETY: an object from below.
        unsafe { (*value.cast::<Obj>()).cost }
    } else {
        value_len
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A store handle, shared by the threads (the handle is a plain number).
#[derive(Clone, Copy)]
struct Handle(usize);

impl Handle {
    fn get(self) -> *mut NexusStore {
        ptr::without_provenance_mut(self.0)
    }
}

fn key_bytes(k: u32) -> [u8; 2] {
    (k as u16).to_le_bytes()
}

fn allowed(status: NexusStatus, what: &str, ok: &[NexusStatus]) {
    assert!(
        status == NEXUS_STATUS_OK || ok.contains(&status),
        "{what}: unexpected status {status}"
    );
}

/// One worker: random calls until `stop`; returns the read handles it
/// still holds (as addresses).
fn worker(store: Handle, seed: u64, stop: &AtomicBool) -> Vec<usize> {
    let s = store.get();
    let mut rng = Rng(seed | 1);
    let mut held: Vec<*mut NexusValue> = Vec::new();
    let value = [0xa5u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let k = key_bytes(rng.below(u64::from(KEYS)) as u32);
        let kp = k.as_ptr();
        match rng.below(100) {
            0..=34 => {
                let len = 1 + rng.below(512) as usize;
                let st = nexus_store_put(s, kp, 2, value.as_ptr(), len);
                allowed(
                    st,
                    "put",
                    &[NEXUS_STATUS_ERR_OVER_BUDGET, NEXUS_STATUS_ERR_TOO_LARGE],
                );
            }
            35..=44 => {
                let cost = 1 + rng.below(512) as usize;
                let obj = Box::into_raw(Box::new(Obj {
                    magic: AtomicU64::new(MAGIC),
                    cost,
                }));
                // Cost 0 half of the time: the estimator reads the object.
                let given = if rng.below(2) == 0 { cost } else { 0 };
                let st = nexus_store_put_object(
                    s,
                    kp,
                    2,
                    obj.cast(),
                    given,
                    Some(release),
                    ptr::null_mut(),
                );
                if st == NEXUS_STATUS_OK {
                    TAKEN.fetch_add(1, Ordering::SeqCst);
                } else {
                    allowed(
                        st,
                        "put_object",
                        &[NEXUS_STATUS_ERR_OVER_BUDGET, NEXUS_STATUS_ERR_TOO_LARGE],
                    );
                    // SAFETY: not taken: still ours.
                    drop(unsafe { Box::from_raw(obj) });
                }
            }
            45..=64 => {
                let mut v = ptr::null_mut();
                let st = nexus_store_get(s, kp, 2, &mut v);
                allowed(st, "get", &[NEXUS_STATUS_NOT_FOUND]);
                if st == NEXUS_STATUS_OK {
                    if held.len() < 16 && rng.below(4) == 0 {
                        held.push(v);
                    } else {
                        nexus_value_release(v);
                    }
                }
            }
            65..=69 => {
                if let Some(v) = held.pop() {
                    nexus_value_release(v);
                }
            }
            70..=74 => {
                let mut buf = [0u8; 512];
                let mut n = 0;
                let st = nexus_store_get_copy(s, kp, 2, buf.as_mut_ptr(), buf.len(), &mut n);
                allowed(
                    st,
                    "get_copy",
                    &[NEXUS_STATUS_NOT_FOUND, NEXUS_STATUS_ERR_INVALID_ARGUMENT],
                );
            }
            75..=79 => {
                let st = nexus_store_remove(s, kp, 2);
                allowed(st, "remove", &[NEXUS_STATUS_NOT_FOUND]);
            }
            80..=83 => {
                // Pins on a small set of keys, so most entries stay evictable.
                let pk = key_bytes(rng.below(64) as u32);
                allowed(nexus_store_pin(s, pk.as_ptr(), 2), "pin", &[]);
            }
            84..=87 => {
                let pk = key_bytes(rng.below(64) as u32);
                allowed(
                    nexus_store_unpin(s, pk.as_ptr(), 2),
                    "unpin",
                    &[NEXUS_STATUS_NOT_FOUND],
                );
            }
            88..=90 => {
                let mut n = 0;
                allowed(
                    nexus_store_evict(s, rng.below(8) as usize, &mut n),
                    "evict",
                    &[],
                );
            }
            91 => {
                let mut n = 0;
                allowed(nexus_store_clear_unpinned(s, &mut n), "clear_unpinned", &[]);
            }
            92..=95 => {
                let level = match rng.below(10) {
                    0..=4 => NEXUS_PRESSURE_LEVEL_NONE,
                    5..=6 => NEXUS_PRESSURE_LEVEL_MODERATE,
                    7..=8 => NEXUS_PRESSURE_LEVEL_CRITICAL,
                    _ => NEXUS_PRESSURE_LEVEL_EMERGENCY,
                };
                allowed(nexus_store_signal_pressure(s, level), "signal", &[]);
            }
            96 => {
                let max = 256 * 1024 + rng.below(256 * 1024);
                allowed(
                    nexus_store_set_max_bytes(s, max),
                    "set_max_bytes",
                    &[NEXUS_STATUS_ERR_OVER_BUDGET],
                );
            }
            _ => {
                let mut m = NexusMemoryMetrics::default();
                allowed(nexus_store_memory_metrics(s, &mut m), "metrics", &[]);
            }
        }
    }
    held.into_iter().map(|v| v as usize).collect()
}

/// Polls events until `stop`; returns (events, gaps, dropped).
fn poller(store: Handle, stop: &AtomicBool) -> (u64, u64, u64) {
    let s = store.get();
    let (mut last, mut events, mut gaps, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut e = NexusEvent::default();
        match nexus_store_poll_event(s, &mut e) {
            NEXUS_STATUS_OK => {
                assert!(
                    e.sequence > last,
                    "event {} after {last}: out of order",
                    e.sequence
                );
                gaps += e.sequence - last - 1;
                last = e.sequence;
                events += 1;
                if e.kind == NEXUS_EVENT_KIND_DROPPED {
                    dropped += e.count;
                }
            }
            NEXUS_STATUS_EMPTY if stopping => return (events, gaps, dropped),
            NEXUS_STATUS_EMPTY => std::thread::sleep(Duration::from_micros(200)),
            st => panic!("poll_event: status {st}"),
        }
    }
}

fn usage_against_charges(s: *mut NexusStore) {
    let (mut sum, mut count) = (0u64, 0u64);
    for k in 0..KEYS {
        let kb = key_bytes(k);
        let mut v = ptr::null_mut();
        match nexus_store_get(s, kb.as_ptr(), 2, &mut v) {
            NEXUS_STATUS_OK => {
                let obj = nexus_value_object(v);
                sum += if obj.is_null() {
                    nexus_value_len(v) as u64
                } else {
                    // SAFETY: an `Obj`, alive while the handle is.
                    unsafe { (*obj.cast::<Obj>()).cost as u64 }
                };
                count += 1;
                nexus_value_release(v);
            }
            NEXUS_STATUS_NOT_FOUND => {}
            st => panic!("get: status {st}"),
        }
    }
    let mut m = NexusMemoryMetrics::default();
    assert_eq!(nexus_store_memory_metrics(s, &mut m), NEXUS_STATUS_OK);
    assert_eq!(
        m.current_usage, sum,
        "usage == the sum of the present entries' charges"
    );
    assert_eq!(m.entry_count, count, "entry count");
}

#[test]
fn eight_threads_of_random_calls_and_signals() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seconds: u64 = std::env::var("NEXUS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut c = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(c.as_mut_ptr());
    // SAFETY: initialized above.
    let mut c = unsafe { c.assume_init() };
    c.max_cache_bytes = 512 * 1024;
    c.shards = 4;
    c.event_queue_capacity = 64;
    c.size_estimator = Some(estimator);
    let mut s = ptr::null_mut();
    assert_eq!(nexus_store_new(&c, &mut s), NEXUS_STATUS_OK);
    let store = Handle(s.addr());

    let stop = Arc::new(AtomicBool::new(false));
    let stop_polling = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                worker(
                    store,
                    0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1),
                    &stop,
                )
            })
        })
        .collect();
    let poll = {
        let stop = Arc::clone(&stop_polling);
        std::thread::spawn(move || poller(store, &stop))
    };

    let start = Instant::now();
    let total = Duration::from_secs(seconds);
    std::thread::sleep(total / 3);
    let warm_rss = rss_bytes();
    let mut peak_rss = warm_rss;
    while start.elapsed() < total {
        std::thread::sleep(Duration::from_millis(200));
        peak_rss = peak_rss.max(rss_bytes());
    }
    stop.store(true, Ordering::SeqCst);
    let held: Vec<usize> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop_polling.store(true, Ordering::SeqCst);
    let (events, gaps, dropped) = poll.join().unwrap();

    let end_rss = rss_bytes();
    println!(
        "soak: {seconds} s, RSS after warm-up {} KiB, peak {} KiB, end {} KiB; {events} events polled, {dropped} dropped, {} objects taken",
        warm_rss / 1024,
        peak_rss / 1024,
        end_rss / 1024,
        TAKEN.load(Ordering::SeqCst)
    );
    assert!(
        peak_rss < warm_rss + (16 << 20),
        "RSS grew from {warm_rss} to {peak_rss} after the warm-up"
    );
    assert!(
        gaps <= dropped,
        "sequence gaps {gaps} but only {dropped} events dropped"
    );

    // Back to normal, then the accounting.
    assert_eq!(
        nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE),
        NEXUS_STATUS_OK
    );
    usage_against_charges(s);

    // Freed while read handles are held; they stay readable.
    assert_eq!(nexus_store_free(s), NEXUS_STATUS_OK);
    for v in held {
        let v = ptr::with_exposed_provenance_mut::<NexusValue>(v);
        assert!(!nexus_value_data(v).is_null() || !nexus_value_object(v).is_null());
        nexus_value_release(v);
    }
    assert_eq!(
        DOUBLE_RELEASES.load(Ordering::SeqCst),
        0,
        "an object released twice"
    );
    assert_eq!(
        RELEASED.load(Ordering::SeqCst),
        TAKEN.load(Ordering::SeqCst),
        "every object taken is released exactly once"
    );
}

/// 16 threads racing pin, unpin, evict, clear_unpinned, signals and puts
/// on 64 keys for 2 seconds (NEXUS_RACE_SECONDS), while keys 0..8 stay
/// pinned throughout: those are never evicted (still present, with their
/// values), and afterwards usage equals the sum of the present entries'
/// charges and the store still takes puts.
#[test]
fn sixteen_threads_race_pin_unpin_evict_signal() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seconds: u64 = std::env::var("NEXUS_RACE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut c = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(c.as_mut_ptr());
    // SAFETY: initialized above.
    let mut c = unsafe { c.assume_init() };
    c.max_cache_bytes = 8 * 1024;
    c.size_estimator = Some(estimator);
    let mut s = ptr::null_mut();
    assert_eq!(nexus_store_new(&c, &mut s), NEXUS_STATUS_OK);
    let value = [7u8; 256];
    for k in 0..8u32 {
        let kb = key_bytes(k);
        assert_eq!(nexus_store_pin(s, kb.as_ptr(), 2), NEXUS_STATUS_OK);
        assert_eq!(
            nexus_store_put(s, kb.as_ptr(), 2, value.as_ptr(), 100),
            NEXUS_STATUS_OK
        );
    }
    let store = Handle(s.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let s = store.get();
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ ((t + 1) * 0x9e37_79b9));
                let value = [1u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    let k = key_bytes(8 + rng.below(56) as u32);
                    let mut n = 0;
                    let st = match rng.below(7) {
                        0 => nexus_store_pin(s, k.as_ptr(), 2),
                        1 => nexus_store_unpin(s, k.as_ptr(), 2),
                        2 => nexus_store_evict(s, 1 + rng.below(4) as usize, &mut n),
                        3 => nexus_store_clear_unpinned(s, &mut n),
                        4 => nexus_store_signal_pressure(s, rng.below(4) as u32),
                        _ => nexus_store_put(
                            s,
                            k.as_ptr(),
                            2,
                            value.as_ptr(),
                            1 + rng.below(256) as usize,
                        ),
                    };
                    assert!(
                        matches!(
                            st,
                            NEXUS_STATUS_OK | NEXUS_STATUS_NOT_FOUND | NEXUS_STATUS_ERR_OVER_BUDGET
                        ),
                        "status {st}"
                    );
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    for k in 0..8u32 {
        let kb = key_bytes(k);
        let mut buf = [0u8; 256];
        let mut n = 0;
        assert_eq!(
            nexus_store_get_copy(s, kb.as_ptr(), 2, buf.as_mut_ptr(), buf.len(), &mut n),
            NEXUS_STATUS_OK,
            "pinned key {k} was evicted"
        );
        assert_eq!(n, 100);
    }
    assert_eq!(
        nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE),
        NEXUS_STATUS_OK
    );
    usage_against_charges(s);
    let kb = key_bytes(100);
    assert_eq!(
        nexus_store_put(s, kb.as_ptr(), 2, value.as_ptr(), 10),
        NEXUS_STATUS_OK
    );
    assert_eq!(nexus_store_free(s), NEXUS_STATUS_OK);
}
