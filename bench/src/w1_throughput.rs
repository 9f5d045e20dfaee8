//! W1 throughput: 2^15 key slots, a scrambled Zipf(0.99) key stream per
//! thread (the same popular keys for every thread), caches filled first so
//! every read hits; read/write mixes 100/0, 75/25, 0/100; 1 and 2 threads;
//! u64 keys and 24-byte string keys. Every contender runs the same streams;
//! rounds rotate the order so drift on a shared machine hits all alike.

use std::hash::Hash;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Barrier;
use std::time::Instant;

use mini_moka::sync::ConcurrentCacheExt;
use nexus_store::{MemoryConfig, Store};
use parking_lot::Mutex;

use crate::cabi::CStore;
use crate::progress::Progress;
use crate::rng::{Rng, ScrambledZipf, mix64};
use crate::stats::median;

pub const SLOTS: usize = 1 << 15;
const ZIPF_S: f64 = 0.99;
const WRITE: u32 = 1 << 31;

pub const NEXUS: &str = "nexus";
pub const NEXUS_C: &str = "nexus C ABI";
/// The C ABI store with `SHARDS` shards.
pub const NEXUS_C_SHARDED: &str = "nexus C ABI 16 shards";
/// The native store in sharded mode (`MemoryConfig::shards`).
pub const NEXUS_SHARDED: &str = "nexus 16 shards";
pub const SHARDS: u32 = 16;
pub const MOKA: &str = "moka";
pub const MINI_MOKA: &str = "mini-moka";
pub const QUICK_CACHE: &str = "quick_cache";
pub const LRU: &str = "lru+Mutex";
pub const CONTENDERS: [&str; 8] = [
    NEXUS,
    NEXUS_SHARDED,
    NEXUS_C,
    NEXUS_C_SHARDED,
    MOKA,
    MINI_MOKA,
    QUICK_CACHE,
    LRU,
];
/// Ours, in the order the ratio table lists them.
pub const OURS: [&str; 4] = [NEXUS, NEXUS_SHARDED, NEXUS_C, NEXUS_C_SHARDED];
pub const PEERS: [&str; 4] = [MOKA, MINI_MOKA, QUICK_CACHE, LRU];

/// Percent of reads / writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub reads: u32,
}

impl Mix {
    pub fn label(self) -> String {
        format!("{}/{}", self.reads, 100 - self.reads)
    }
}

pub const MIXES: [Mix; 3] = [Mix { reads: 100 }, Mix { reads: 75 }, Mix { reads: 0 }];
pub const KEY_KINDS: [&str; 2] = ["u64", "str24"];

pub struct Params {
    pub ops_per_thread: usize,
    pub rounds: usize,
}

/// One (key kind, mix, threads) cell: Mops/s per contender per round.
pub struct Cell {
    pub keys: &'static str,
    pub mix: Mix,
    pub threads: usize,
    /// `mops[c][r]`: contender `CONTENDERS[c]`, round `r`.
    pub mops: Vec<Vec<f64>>,
    /// Reads that missed (every read should hit) and refused writes.
    pub misses: u64,
    pub failures: u64,
    /// Per timed run, the threads' CPU time over the wall time: how many
    /// of them ran at once on average (see `Timed`).
    pub together: Vec<f64>,
}

impl Cell {
    fn index(name: &str) -> usize {
        CONTENDERS
            .iter()
            .position(|&c| c == name)
            .expect("a contender")
    }

    /// Median Mops/s of a contender.
    pub fn median(&self, name: &str) -> f64 {
        median(&self.mops[Self::index(name)])
    }

    /// The median over rounds of `a / b`, each ratio taken within one round
    /// (so both sides saw the same machine state).
    pub fn ratio(&self, a: &str, b: &str) -> f64 {
        let (a, b) = (&self.mops[Self::index(a)], &self.mops[Self::index(b)]);
        let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        median(&r)
    }

    pub fn label(&self) -> String {
        format!("{} {} {}t", self.keys, self.mix.label(), self.threads)
    }

    /// The median over the cell's runs of how many threads ran at once.
    pub fn together(&self) -> f64 {
        median(&self.together)
    }
}

pub struct W1 {
    pub cells: Vec<Cell>,
    pub params: Params,
}

impl W1 {
    pub fn cell(&self, keys: &str, mix: Mix, threads: usize) -> &Cell {
        self.cells
            .iter()
            .find(|c| c.keys == keys && c.mix == mix && c.threads == threads)
            .expect("every cell was measured")
    }
}

// ---- keys -------------------------------------------------------------------

trait Key: Clone + Hash + Eq + Send + Sync + 'static {
    fn make(slot: usize) -> Self;
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R;
}

impl Key for u64 {
    fn make(slot: usize) -> Self {
        mix64(slot as u64 + 1)
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.to_le_bytes())
    }
}

/// 24-byte string keys ("user:" and 19 digits), as bytes.
impl Key for Box<[u8]> {
    fn make(slot: usize) -> Self {
        let s = format!(
            "user:{:019}",
            mix64(slot as u64) % 10_000_000_000_000_000_000
        );
        debug_assert_eq!(s.len(), 24);
        s.into_bytes().into_boxed_slice()
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}

// ---- contenders -------------------------------------------------------------

trait Contender<K>: Sync {
    fn get(&self, k: &K) -> bool;
    fn put(&self, k: &K, v: u64) -> bool;
    /// Lets lazy caches finish pending maintenance after the fill.
    fn settle(&self) {}
}

/// Object-safe runner: one virtual call per run, static dispatch per op.
trait Runner<K>: Sync {
    fn run(&self, keys: &[K], ops: &[u32]) -> (u64, u64);
    fn fill(&self, keys: &[K]) -> (u64, u64);
}

impl<K, C: Contender<K>> Runner<K> for C {
    fn run(&self, keys: &[K], ops: &[u32]) -> (u64, u64) {
        let (mut misses, mut failures) = (0u64, 0u64);
        for &op in ops {
            let i = (op & !WRITE) as usize;
            let k = &keys[i];
            if op & WRITE != 0 {
                failures += u64::from(!self.put(k, i as u64));
            } else {
                misses += u64::from(!self.get(k));
            }
        }
        (misses, failures)
    }

    /// Puts every key, then reads every key back: (misses, failures).
    fn fill(&self, keys: &[K]) -> (u64, u64) {
        let mut failures = 0;
        for (i, k) in keys.iter().enumerate() {
            failures += u64::from(!self.put(k, i as u64));
        }
        self.settle();
        let misses = keys.iter().filter(|k| !self.get(k)).count() as u64;
        (misses, failures)
    }
}

struct Nexus<K>(Store<K, u64>);

impl<K: Key> Contender<K> for Nexus<K> {
    #[inline]
    fn get(&self, k: &K) -> bool {
        // The copy-out read, like the peers' `get` (which clone the value);
        // `Store::get` would also make a read handle.
        black_box(self.0.get_cloned(k)).is_some()
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        self.0.put(k.clone(), v).is_ok()
    }
}

struct NexusC(CStore);

impl<K: Key> Contender<K> for NexusC {
    #[inline]
    fn get(&self, k: &K) -> bool {
        let mut buf = [0u8; 8];
        let hit = k.with_bytes(|b| self.0.get_copy(b, &mut buf));
        black_box(buf);
        hit
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        k.with_bytes(|b| self.0.put(b, &v.to_le_bytes()))
    }
}

struct Moka<K: Key>(moka::sync::Cache<K, u64>);

impl<K: Key> Contender<K> for Moka<K> {
    #[inline]
    fn get(&self, k: &K) -> bool {
        black_box(self.0.get(k)).is_some()
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        self.0.insert(k.clone(), v);
        true
    }

    fn settle(&self) {
        self.0.run_pending_tasks();
    }
}

struct MiniMoka<K: Key>(mini_moka::sync::Cache<K, u64>);

impl<K: Key> Contender<K> for MiniMoka<K> {
    #[inline]
    fn get(&self, k: &K) -> bool {
        black_box(self.0.get(k)).is_some()
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        self.0.insert(k.clone(), v);
        true
    }

    fn settle(&self) {
        self.0.sync();
    }
}

struct Quick<K>(quick_cache::sync::Cache<K, u64>);

impl<K: Key> Contender<K> for Quick<K> {
    #[inline]
    fn get(&self, k: &K) -> bool {
        black_box(self.0.get(k)).is_some()
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        self.0.insert(k.clone(), v);
        true
    }
}

struct Lru<K>(Mutex<lru::LruCache<K, u64>>);

impl<K: Key> Contender<K> for Lru<K> {
    #[inline]
    fn get(&self, k: &K) -> bool {
        black_box(self.0.lock().get(k).copied()).is_some()
    }

    #[inline]
    fn put(&self, k: &K, v: u64) -> bool {
        self.0.lock().put(k.clone(), v);
        true
    }
}

/// Every contender, in `CONTENDERS` order, each sized for twice the key
/// slots so the filled key set fits without eviction.
fn contenders<K: Key>() -> Vec<Box<dyn Runner<K>>> {
    let cap = 2 * SLOTS;
    // Charged 1 per entry: the working size (0.7 x max) holds 2 x SLOTS.
    let config = MemoryConfig::with_max_bytes(3 * cap as u64);
    let sharded_config = MemoryConfig {
        shards: SHARDS,
        ..config.clone()
    };
    let native: Store<K, u64> =
        Store::with_estimator(config, |_: &K, _: &u64| 1u64).expect("a valid config");
    let sharded: Store<K, u64> =
        Store::with_estimator(sharded_config, |_: &K, _: &u64| 1u64).expect("a valid config");
    vec![
        Box::new(Nexus(native)),
        Box::new(Nexus(sharded)),
        // Default estimator (key + value + NEXUS_ENTRY_OVERHEAD_BYTES), 1 GiB.
        Box::new(NexusC(CStore::new(1 << 30))),
        Box::new(NexusC(CStore::with_shards(1 << 30, SHARDS))),
        Box::new(Moka(moka::sync::Cache::new(cap as u64))),
        Box::new(MiniMoka(mini_moka::sync::Cache::new(cap as u64))),
        Box::new(Quick(quick_cache::sync::Cache::new(cap))),
        Box::new(Lru(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(cap).expect("non-zero"),
        )))),
    ]
}

// ---- measuring --------------------------------------------------------------

/// The calling thread's CPU time, in seconds.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One timed run: total Mops/s, reads that missed, refused writes, and how
/// many threads ran at once on average (their CPU time over the wall time:
/// 2.0 when two threads ran side by side throughout, 1.0 when they took
/// turns on one core).
struct Timed {
    mops: f64,
    misses: u64,
    failures: u64,
    together: f64,
}

/// Runs `streams` (one per thread) on `runner`: total Mops/s over the wall
/// time from the first thread's start to the last thread's end.
fn timed<K: Key>(runner: &dyn Runner<K>, keys: &[K], streams: &[Vec<u32>]) -> Timed {
    let barrier = Barrier::new(streams.len());
    let results: Vec<(Instant, Instant, (u64, u64), f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = streams
            .iter()
            .map(|ops| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let (t0, cpu0) = (Instant::now(), thread_cpu_secs());
                    let r = runner.run(keys, ops);
                    (t0, Instant::now(), r, thread_cpu_secs() - cpu0)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let start = results.iter().map(|r| r.0).min().expect("a thread");
    let end = results.iter().map(|r| r.1).max().expect("a thread");
    let ops: usize = streams.iter().map(Vec::len).sum();
    let secs = (end - start).as_secs_f64().max(1e-9);
    Timed {
        mops: ops as f64 / secs / 1e6,
        misses: results.iter().map(|r| r.2.0).sum(),
        failures: results.iter().map(|r| r.2.1).sum(),
        together: results.iter().map(|r| r.3).sum::<f64>() / secs,
    }
}

/// Per-thread op streams for a mix: key ids with the write bit set on
/// `100 - reads` percent of them.
fn op_streams(key_streams: &[Vec<u32>], mix: Mix, threads: usize, seed: u64) -> Vec<Vec<u32>> {
    key_streams[..threads]
        .iter()
        .enumerate()
        .map(|(t, ids)| {
            let mut rng = Rng::new(seed ^ (t as u64 + 1).wrapping_mul(0x51));
            ids.iter()
                .map(|&i| {
                    let write = rng.below(100) >= u64::from(mix.reads);
                    i | if write { WRITE } else { 0 }
                })
                .collect()
        })
        .collect()
}

fn run_kind<K: Key>(
    label: &'static str,
    params: &Params,
    key_streams: &[Vec<u32>],
    progress: &mut Progress,
    cells: &mut Vec<Cell>,
) {
    let keys: Vec<K> = (0..SLOTS).map(K::make).collect();
    for threads in [1, 2] {
        for mix in MIXES {
            let streams = op_streams(key_streams, mix, threads, 0xC0FFEE + u64::from(mix.reads));
            let warm: Vec<Vec<u32>> = streams.iter().map(|s| s[..s.len() / 8].to_vec()).collect();
            let runners = contenders::<K>();
            let mut cell = Cell {
                keys: label,
                mix,
                threads,
                mops: vec![Vec::new(); CONTENDERS.len()],
                misses: 0,
                failures: 0,
                together: Vec::new(),
            };
            for r in &runners {
                let (m, f) = r.fill(&keys);
                cell.misses += m;
                cell.failures += f;
                timed(r.as_ref(), &keys, &warm);
            }
            for round in 0..params.rounds {
                for j in 0..runners.len() {
                    let c = (round + j) % runners.len();
                    progress.step(&format!(
                        "{} {} {}t {label} (round {}/{})",
                        CONTENDERS[c],
                        mix.label(),
                        threads,
                        round + 1,
                        params.rounds
                    ));
                    let t = timed(runners[c].as_ref(), &keys, &streams);
                    cell.mops[c].push(t.mops);
                    cell.misses += t.misses;
                    cell.failures += t.failures;
                    cell.together.push(t.together);
                }
            }
            cells.push(cell);
        }
    }
}

pub fn run(params: Params) -> W1 {
    let zipf = ScrambledZipf::new(SLOTS, ZIPF_S, 0x5EED);
    let key_streams: Vec<Vec<u32>> = (0..2)
        .map(|t| zipf.stream(params.ops_per_thread, 1000 + t))
        .collect();
    let total = KEY_KINDS.len() * 2 * MIXES.len() * params.rounds * CONTENDERS.len();
    let mut progress = Progress::new("W1", total);
    let mut cells = Vec::new();
    run_kind::<u64>(
        KEY_KINDS[0],
        &params,
        &key_streams,
        &mut progress,
        &mut cells,
    );
    run_kind::<Box<[u8]>>(
        KEY_KINDS[1],
        &params,
        &key_streams,
        &mut progress,
        &mut cells,
    );
    let w1 = W1 { cells, params };
    let c = w1.cell("u64", MIXES[0], 1);
    progress.finish(&format!(
        "u64 100/0 1t: nexus {:.1}, nexus C ABI {:.1}, lru+Mutex {:.1} Mops/s",
        c.median(NEXUS),
        c.median(NEXUS_C),
        c.median(LRU)
    ));
    w1
}
