//! W4 pressure: shedding SHED bytes from N entries charged 256 B - 1 KiB
//! (uniform), and clearing all but 1% of them.
//!
//! Values are plain `u32`s holding the entry's charge: no value owns a heap
//! block of that size, for every contender alike, so the figures are the
//! cost of the caches' bookkeeping (finding victims, unlinking, freeing
//! their own per-entry blocks), not of `free` on big buffers. Keys are u64.
//!
//! - nexus: `signal_pressure(MODERATE)` with `signal_moderate_keep` set so
//!   that the signal sheds SHED bytes, and `evict(n)` with the count that
//!   signal evicted; LRU order.
//! - lru+Mutex: `resize(len - n)`, the same entry count (lru has no weights).
//! - quick_cache (weighted by charge): `set_capacity(weight - SHED)`.
//!
//! Each repeat sheds (timed), then restores the cache untimed (budget back,
//! missing keys put again). A second series runs a reader thread meanwhile
//! that gets random keys in a loop and records the latency of every get
//! that starts while a shed is running. Then `clear_unpinned` with 1% of
//! the keys pinned, beside quick_cache's `retain` keeping the same keys.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nexus_store::{MemoryConfig, MemoryPressureLevel, Store};
use parking_lot::Mutex;

use crate::progress::Progress;
use crate::rng::{Rng, mix64};
use crate::stats::{median, percentile, percentiles_u32, time_weighted_percentile};

pub struct Params {
    pub entries: usize,
    pub shed_bytes: u64,
    pub repeats: usize,
    pub reader_repeats: usize,
    pub clear_repeats: usize,
}

pub const NEXUS_SIGNAL: &str = "nexus signal_pressure(MODERATE)";
pub const NEXUS_EVICT: &str = "nexus evict(n)";
pub const LRU_RESIZE: &str = "lru+Mutex resize";
pub const QC_SET_CAPACITY: &str = "quick_cache set_capacity";
pub const NEXUS_CLEAR: &str = "nexus clear_unpinned (1% pinned)";
pub const QC_RETAIN: &str = "quick_cache retain (keep 1%)";

/// Latency of the concurrent reader's gets during sheds, in ns.
pub struct ReaderStats {
    pub samples: usize,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// The p99 of what a get arriving at a random instant during a shed
    /// waits: each get weighted by its latency. A closed-loop reader blocked
    /// for 10 ms issues one get in that time, so the per-get p99 hides the
    /// stall (coordinated omission); this does not.
    pub p99_time: f64,
    /// The same computed within each shed, median over sheds: robust to a
    /// rare preemption of the reader by the rest of a shared machine.
    pub p99_time_per_shed: f64,
}

pub struct ShedRow {
    pub name: &'static str,
    /// Per quiet repeat: ns per evicted entry, entries evicted, bytes shed.
    pub ns_per_entry: Vec<f64>,
    pub evicted: Vec<f64>,
    pub shed_bytes: Vec<f64>,
    /// Per repeat with the reader running: ns per evicted entry.
    pub ns_per_entry_reader: Vec<f64>,
    pub reader: ReaderStats,
}

impl ShedRow {
    pub fn p50(&self) -> f64 {
        median(&self.ns_per_entry)
    }

    pub fn p99(&self) -> f64 {
        percentile(&self.ns_per_entry, 99.0)
    }
}

pub struct ClearRow {
    pub name: &'static str,
    pub removed: u64,
    /// Milliseconds per repeat.
    pub ms: Vec<f64>,
}

pub struct W4 {
    pub params: Params,
    pub total_bytes: u64,
    pub shed: Vec<ShedRow>,
    pub clear: Vec<ClearRow>,
}

impl W4 {
    pub fn shed_row(&self, name: &str) -> &ShedRow {
        self.shed.iter().find(|r| r.name == name).expect("a row")
    }

    pub fn clear_row(&self, name: &str) -> &ClearRow {
        self.clear.iter().find(|r| r.name == name).expect("a row")
    }
}

struct Data {
    keys: Vec<u64>,
    charges: Vec<u32>,
    total: u64,
}

// ---- contenders ---------------------------------------------------------------

trait Shedder: Sync {
    /// The timed part.
    fn shed(&self);
    fn len(&self) -> u64;
    /// Untimed: budget back, missing keys put again; returns their bytes.
    fn restore(&self, data: &Data) -> u64;
    fn read(&self, k: u64) -> bool;
}

fn nexus_store(data: &Data, keep: f64) -> Store<u64, u32> {
    // The working size (0.7 x max) stays above the full data set, so
    // filling evicts nothing; a MODERATE signal sheds to keep x usage.
    let config = MemoryConfig {
        signal_moderate_keep: keep,
        signal_critical_keep: keep,
        ..MemoryConfig::with_max_bytes(data.total * 10 / 7 + (1 << 20))
    };
    let store = Store::with_estimator(config, |_: &u64, v: &u32| u64::from(*v)).unwrap();
    for (&k, &c) in data.keys.iter().zip(&data.charges) {
        store.put(k, c).unwrap();
    }
    touch_all(data, |k| drop(store.get(&k)));
    store
}

/// Reads every key once in a random order, as a cache in use would have
/// been: its recency order then no longer follows the order its entries
/// were allocated in (which would flatter a walk over that order).
fn touch_all(data: &Data, mut read: impl FnMut(u64)) {
    let mut keys = data.keys.clone();
    Rng::new(0x70C4).shuffle(&mut keys);
    for k in keys {
        read(k);
    }
}

fn put_missing(data: &Data, contains: impl Fn(u64) -> bool, mut put: impl FnMut(u64, u32)) -> u64 {
    let mut bytes = 0;
    for (&k, &c) in data.keys.iter().zip(&data.charges) {
        if !contains(k) {
            put(k, c);
            bytes += u64::from(c);
        }
    }
    bytes
}

struct Nexus {
    store: Store<u64, u32>,
    /// None: shed by signal; Some(n): shed by evict(n).
    evict: Option<usize>,
}

impl Shedder for Nexus {
    fn shed(&self) {
        match self.evict {
            None => self.store.signal_pressure(MemoryPressureLevel::Moderate),
            Some(n) => {
                self.store.evict(n);
            }
        }
    }

    fn len(&self) -> u64 {
        self.store.metrics().entry_count
    }

    fn restore(&self, data: &Data) -> u64 {
        self.store.signal_pressure(MemoryPressureLevel::None);
        put_missing(
            data,
            |k| self.store.contains(&k),
            |k, c| self.store.put(k, c).unwrap(),
        )
    }

    fn read(&self, k: u64) -> bool {
        self.store.get(&k).is_some()
    }
}

struct Lru {
    cache: Mutex<lru::LruCache<u64, u32>>,
    n: usize,
}

impl Shedder for Lru {
    fn shed(&self) {
        let mut c = self.cache.lock();
        let cap = NonZeroUsize::new(c.len() - self.n).expect("non-zero");
        c.resize(cap);
    }

    fn len(&self) -> u64 {
        self.cache.lock().len() as u64
    }

    fn restore(&self, data: &Data) -> u64 {
        let mut c = self.cache.lock();
        c.resize(NonZeroUsize::new(data.keys.len()).expect("non-zero"));
        let c = std::cell::RefCell::new(c);
        put_missing(
            data,
            |k| c.borrow().contains(&k),
            |k, v| {
                c.borrow_mut().put(k, v);
            },
        )
    }

    fn read(&self, k: u64) -> bool {
        self.cache.lock().get(&k).is_some()
    }
}

#[derive(Clone)]
struct ChargeWeighter;

impl quick_cache::Weighter<u64, u32> for ChargeWeighter {
    fn weight(&self, _: &u64, v: &u32) -> u64 {
        u64::from(*v)
    }
}

type QuickCache = quick_cache::sync::Cache<u64, u32, ChargeWeighter>;

fn quick_cache(data: &Data) -> QuickCache {
    // 10% headroom: shards fill unevenly, and filling must evict nothing.
    let c = QuickCache::with_weighter(data.keys.len(), data.total * 11 / 10, ChargeWeighter);
    for (&k, &v) in data.keys.iter().zip(&data.charges) {
        c.insert(k, v);
    }
    assert_eq!(
        c.len(),
        data.keys.len(),
        "quick_cache evicted while filling"
    );
    touch_all(data, |k| {
        let _ = c.get(&k);
    });
    c
}

struct Quick {
    cache: QuickCache,
    full: u64,
    shed_bytes: u64,
}

impl Shedder for Quick {
    fn shed(&self) {
        self.cache
            .set_capacity(self.cache.weight() - self.shed_bytes);
    }

    fn len(&self) -> u64 {
        self.cache.len() as u64
    }

    fn restore(&self, data: &Data) -> u64 {
        self.cache.set_capacity(self.full);
        put_missing(
            data,
            |k| self.cache.contains_key(&k),
            |k, v| self.cache.insert(k, v),
        )
    }

    fn read(&self, k: u64) -> bool {
        self.cache.get(&k).is_some()
    }
}

// ---- measuring ------------------------------------------------------------------

struct Series {
    ns_per_entry: Vec<f64>,
    evicted: Vec<f64>,
    bytes: Vec<f64>,
    /// (shed number, ns) of every get the reader made during a shed.
    latencies: Vec<(u32, u32)>,
}

/// `repeats` sheds of `s`, each restored afterwards. With `reader`, a
/// thread gets random keys while each shed runs and records every get's
/// latency: the shed starts once the reader's first get has begun, and the
/// restore waits until its last get has ended, so no get waits on the
/// (untimed) restore.
fn series(
    s: &dyn Shedder,
    data: &Data,
    repeats: usize,
    reader: bool,
    progress: &mut Progress,
    label: &str,
) -> Series {
    let active = AtomicBool::new(false);
    let in_flight = AtomicBool::new(false);
    let started = AtomicU64::new(0);
    let epoch = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let mut out = Series {
        ns_per_entry: Vec::new(),
        evicted: Vec::new(),
        bytes: Vec::new(),
        latencies: Vec::new(),
    };
    std::thread::scope(|scope| {
        let handle = reader.then(|| {
            scope.spawn(|| {
                let mut rng = Rng::new(42);
                let mut samples: Vec<(u32, u32)> = Vec::with_capacity(1 << 20);
                while !stop.load(Ordering::Relaxed) {
                    if !active.load(Ordering::SeqCst) {
                        // Idle between sheds without holding a core, so
                        // that the rest of the machine runs now rather than
                        // preempting a measured shed.
                        std::thread::sleep(Duration::from_micros(50));
                        continue;
                    }
                    in_flight.store(true, Ordering::SeqCst);
                    if active.load(Ordering::SeqCst) {
                        started.fetch_add(1, Ordering::SeqCst);
                        let shed = epoch.load(Ordering::SeqCst);
                        let k = data.keys[rng.below(data.keys.len() as u64) as usize];
                        let t0 = Instant::now();
                        std::hint::black_box(s.read(k));
                        let ns = t0.elapsed().as_nanos();
                        samples.push((shed, u32::try_from(ns).unwrap_or(u32::MAX)));
                    }
                    in_flight.store(false, Ordering::SeqCst);
                }
                samples
            })
        });
        for r in 0..repeats {
            progress.step(&format!("{label} (repeat {}/{repeats})", r + 1));
            let before = s.len();
            epoch.store(r as u32, Ordering::SeqCst);
            let begun = started.load(Ordering::SeqCst);
            active.store(true, Ordering::SeqCst);
            while reader && started.load(Ordering::SeqCst) == begun {
                std::hint::spin_loop();
            }
            let t0 = Instant::now();
            s.shed();
            let elapsed = t0.elapsed();
            active.store(false, Ordering::SeqCst);
            while in_flight.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            let evicted = before - s.len();
            let bytes = s.restore(data);
            assert!(evicted > 0, "{label}: nothing was shed");
            out.ns_per_entry
                .push(elapsed.as_nanos() as f64 / evicted as f64);
            out.evicted.push(evicted as f64);
            out.bytes.push(bytes as f64);
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = handle {
            out.latencies = h.join().expect("the reader panicked");
        }
    });
    out
}

fn shed_row(
    name: &'static str,
    s: &dyn Shedder,
    data: &Data,
    params: &Params,
    progress: &mut Progress,
) -> ShedRow {
    let quiet = series(s, data, params.repeats, false, progress, name);
    let loaded = series(
        s,
        data,
        params.reader_repeats,
        true,
        progress,
        &format!("{name} + reader"),
    );
    let mut per_shed: Vec<Vec<u32>> = vec![Vec::new(); params.reader_repeats];
    for &(shed, ns) in &loaded.latencies {
        per_shed[shed as usize].push(ns);
    }
    let shed_p99: Vec<f64> = per_shed
        .iter_mut()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.sort_unstable();
            time_weighted_percentile(v, 99.0)
        })
        .collect();
    let mut all: Vec<u32> = loaded.latencies.iter().map(|&(_, ns)| ns).collect();
    let p = percentiles_u32(&mut all, &[50.0, 99.0, 99.9, 100.0]);
    let p99_time = time_weighted_percentile(&all, 99.0);
    ShedRow {
        name,
        ns_per_entry: quiet.ns_per_entry,
        evicted: quiet.evicted,
        shed_bytes: quiet.bytes,
        ns_per_entry_reader: loaded.ns_per_entry,
        reader: ReaderStats {
            samples: all.len(),
            p50: p[0],
            p99: p[1],
            p999: p[2],
            max: p[3],
            p99_time,
            p99_time_per_shed: median(&shed_p99),
        },
    }
}

fn time_ms(f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64() * 1e3
}

fn clear_rows(data: &Data, params: &Params, progress: &mut Progress) -> Vec<ClearRow> {
    let keep = |k: u64| k.is_multiple_of(100);
    let kept = data.keys.iter().filter(|&&k| keep(k)).count();
    let expected = (data.keys.len() - kept) as u64;

    let store = nexus_store(data, 0.75);
    for &k in data.keys.iter().filter(|&&k| keep(k)) {
        store.pin(&k);
    }
    let mut ours = ClearRow {
        name: NEXUS_CLEAR,
        removed: expected,
        ms: Vec::new(),
    };
    for r in 0..params.clear_repeats {
        progress.step(&format!(
            "{NEXUS_CLEAR} (repeat {}/{})",
            r + 1,
            params.clear_repeats
        ));
        let mut removed = 0;
        ours.ms.push(time_ms(|| removed = store.clear_unpinned()));
        assert_eq!(
            removed as u64, expected,
            "clear_unpinned kept the pins only"
        );
        put_missing(data, keep, |k, c| store.put(k, c).unwrap());
    }
    drop(store);

    let cache = quick_cache(data);
    let mut theirs = ClearRow {
        name: QC_RETAIN,
        removed: expected,
        ms: Vec::new(),
    };
    for r in 0..params.clear_repeats {
        progress.step(&format!(
            "{QC_RETAIN} (repeat {}/{})",
            r + 1,
            params.clear_repeats
        ));
        theirs.ms.push(time_ms(|| cache.retain(|&k, _| keep(k))));
        assert_eq!(cache.len(), kept, "retain kept the 1%");
        put_missing(data, keep, |k, v| cache.insert(k, v));
    }
    vec![ours, theirs]
}

pub fn run(params: Params) -> W4 {
    let mut rng = Rng::new(0xB1A5);
    let keys: Vec<u64> = (0..params.entries as u64).map(|i| mix64(i + 11)).collect();
    let charges: Vec<u32> = keys.iter().map(|_| 256 + rng.below(769) as u32).collect();
    let total = charges.iter().map(|&c| u64::from(c)).sum();
    let data = Data {
        keys,
        charges,
        total,
    };
    let per_row = params.repeats + params.reader_repeats;
    let mut progress = Progress::new("W4", 4 * per_row + 2 * params.clear_repeats);

    // A MODERATE signal sheds to floor(keep x usage): keep = 1 - SHED/total.
    let keep = 1.0 - params.shed_bytes as f64 / total as f64;
    let signal = Nexus {
        store: nexus_store(&data, keep),
        evict: None,
    };
    let mut shed = vec![shed_row(
        NEXUS_SIGNAL,
        &signal,
        &data,
        &params,
        &mut progress,
    )];
    let n = median(&shed[0].evicted).round() as usize;
    let evict = Nexus {
        evict: Some(n),
        ..signal
    };
    shed.push(shed_row(NEXUS_EVICT, &evict, &data, &params, &mut progress));
    drop(evict);

    let mut c = lru::LruCache::new(NonZeroUsize::new(data.keys.len()).expect("non-zero"));
    for (&k, &v) in data.keys.iter().zip(&data.charges) {
        c.put(k, v);
    }
    touch_all(&data, |k| {
        let _ = c.get(&k);
    });
    let lru = Lru {
        cache: Mutex::new(c),
        n,
    };
    shed.push(shed_row(LRU_RESIZE, &lru, &data, &params, &mut progress));
    drop(lru);

    let quick = Quick {
        cache: quick_cache(&data),
        full: data.total * 11 / 10,
        shed_bytes: params.shed_bytes,
    };
    shed.push(shed_row(
        QC_SET_CAPACITY,
        &quick,
        &data,
        &params,
        &mut progress,
    ));
    drop(quick);

    let clear = clear_rows(&data, &params, &mut progress);
    let w4 = W4 {
        total_bytes: data.total,
        params,
        shed,
        clear,
    };
    progress.finish(&format!(
        "nexus {:.0} ns/entry, lru resize {:.0} ns/entry; reader p99 {:.0} us",
        w4.shed_row(NEXUS_SIGNAL).p50(),
        w4.shed_row(LRU_RESIZE).p50(),
        w4.shed_row(NEXUS_SIGNAL).reader.p99 / 1e3
    ));
    w4
}
