//! W2 hit ratio: for caches of 1% and 10% of a trace's keys (or bytes),
//! every strategy of ours, the peers, libCacheSim's algorithms (when the
//! bench's venv is set up: `make bench-setup`) and Belady, on: scrambled
//! Zipf traces (s in 0.7, 0.9, 0.99, 1.2), a loop, a scan mix, a shifting
//! working set, sized objects (byte hit ratio) and the real cloudPhysics
//! and twitter traces (`w2_traces`). Each cache serves get-then-put-on-miss
//! and counts hits over the whole trace (cold start included).
//!
//! Our budget: MODERATE starts at usage >= ceil(0.7 x max) (the working
//! size) and a put evicts until usage is below it, so a store holds at most
//! ceil(0.7 x max) - 1 units. `max` is chosen so that this is exactly the
//! peers' capacity, and the harness checks the entry count at the end of
//! every count-sized row.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::rc::Rc;

use mini_moka::sync::ConcurrentCacheExt;
use nexus_store::{EvictionStrategy, MemoryConfig, Store};

use crate::progress::Progress;
use crate::rng::mix64;
use crate::w2_libcachesim as lcs;
use crate::w2_traces::{self as traces, Kind, Trace};

pub const ZIPF_S: [f64; 4] = [0.7, 0.9, 0.99, 1.2];
pub const CACHE_PCTS: [f64; 2] = [1.0, 10.0];

pub const NEXUS_LRU: &str = "nexus LRU";
pub const NEXUS_LFU: &str = "nexus LFU";
/// LFU with `MemoryConfig::lfu_history`.
pub const NEXUS_LFU_HISTORY: &str = "nexus LFU+history";
/// nexus's LFU configurations, compared as one by the LFU targets.
pub const NEXUS_LFUS: [&str; 2] = [NEXUS_LFU, NEXUS_LFU_HISTORY];
pub const NEXUS_SIZE: &str = "nexus SIZE";
pub const NEXUS_TINY_LFU: &str = "nexus TINY_LFU";
pub const PEERS: [&str; 4] = ["moka", "mini-moka", "quick_cache", "lru"];
pub const BELADY: &str = "Belady (OPT)";
/// Every column of ours and the peers', Belady last (libCacheSim's columns
/// follow, in `w2_libcachesim::ALGORITHMS` order).
pub const POLICIES: [&str; 10] = [
    NEXUS_LRU,
    NEXUS_LFU,
    NEXUS_LFU_HISTORY,
    NEXUS_SIZE,
    NEXUS_TINY_LFU,
    "moka",
    "mini-moka",
    "quick_cache",
    "lru",
    BELADY,
];

pub struct Params {
    pub keys: usize,
    pub trace_len: usize,
    /// Also the real traces and libCacheSim's columns (when set up).
    pub extended: bool,
}

pub struct Row {
    pub trace: String,
    pub kind: Kind,
    /// Byte hit ratios (a sized trace).
    pub sized: bool,
    pub cache_pct: f64,
    /// Entries, or bytes for a sized trace.
    pub capacity: u64,
    /// Hit ratio per `POLICIES` entry; NaN where a policy does not apply
    /// (lru and our count Belady on sized traces).
    pub ratios: Vec<f64>,
    /// libCacheSim's hit ratios in `w2_libcachesim::ALGORITHMS` order
    /// (empty when not set up).
    pub lcs: Vec<f64>,
    /// Entries our stores held at the end (each should equal `capacity`
    /// on a count-sized trace).
    pub nexus_entries: Vec<u64>,
}

impl Row {
    pub fn zipf(&self) -> Option<f64> {
        match self.kind {
            Kind::Zipf(s) => Some(s),
            _ => None,
        }
    }

    pub fn ratio(&self, policy: &str) -> f64 {
        let i = POLICIES
            .iter()
            .position(|&p| p == policy)
            .expect("a policy");
        self.ratios[i]
    }

    /// libCacheSim's hit ratio for `alg` (NaN if not run).
    pub fn lcs_ratio(&self, alg: &str) -> f64 {
        lcs::ALGORITHMS
            .iter()
            .position(|&a| a == alg)
            .and_then(|i| self.lcs.get(i).copied())
            .unwrap_or(f64::NAN)
    }

    /// The best peer and its hit ratio (peers that do not apply skipped).
    pub fn best_peer(&self) -> (&'static str, f64) {
        PEERS
            .iter()
            .map(|&p| (p, self.ratio(p)))
            .filter(|p| p.1.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("peers")
    }

    /// libCacheSim's best online algorithm (Belady excluded) and its ratio.
    pub fn best_lcs(&self) -> Option<(&'static str, f64)> {
        lcs::ALGORITHMS
            .iter()
            .zip(&self.lcs)
            .filter(|(a, v)| **a != "Belady" && v.is_finite())
            .map(|(&a, &v)| (a, v))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The bound: our Belady (count traces), else libCacheSim's.
    pub fn belady(&self) -> f64 {
        let ours = self.ratio(BELADY);
        if ours.is_finite() {
            ours
        } else {
            self.lcs_ratio("Belady")
        }
    }

    /// The better of nexus's LFU configurations and its hit ratio (the
    /// plain LFU on a tie).
    pub fn best_nexus_lfu(&self) -> (&'static str, f64) {
        NEXUS_LFUS
            .iter()
            .map(|&p| (p, self.ratio(p)))
            .reduce(|best, p| if p.1 > best.1 { p } else { best })
            .expect("LFU configurations")
    }
}

pub struct W2 {
    pub rows: Vec<Row>,
    pub params: Params,
    /// Whether libCacheSim's columns were run.
    pub with_lcs: bool,
}

// ---- caches -------------------------------------------------------------------

/// A cache under test: `size` is the entry's charge (1 on count traces).
trait HitCache {
    fn get(&mut self, k: u64) -> bool;
    fn put(&mut self, k: u64, size: u32);
}

struct Nexus(Store<u64, u64>);

impl HitCache for Nexus {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64, size: u32) {
        // The value is the charge (the estimator returns it).
        self.0
            .put(k, u64::from(size))
            .expect("a put within the budget");
    }
}

struct Moka(moka::sync::Cache<u64, u32>);

impl HitCache for Moka {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64, size: u32) {
        self.0.insert(k, size);
    }
}

struct MiniMoka(mini_moka::sync::Cache<u64, u32>);

impl HitCache for MiniMoka {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64, size: u32) {
        self.0.insert(k, size);
    }
}

/// quick_cache weighs an entry by its value (the size).
#[derive(Clone)]
struct ByValue;

impl quick_cache::Weighter<u64, u32> for ByValue {
    fn weight(&self, _: &u64, v: &u32) -> u64 {
        u64::from(*v)
    }
}

struct Quick(quick_cache::sync::Cache<u64, u32, ByValue>);

impl HitCache for Quick {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64, size: u32) {
        self.0.insert(k, size);
    }
}

struct Lru(lru::LruCache<u64, u64>);

impl HitCache for Lru {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64, _: u32) {
        self.0.put(k, k);
    }
}

/// The smallest budget whose working size holds exactly `capacity` units:
/// ceil(0.7 x max) = capacity + 1 (the library's rounding).
pub fn nexus_max_for(capacity: u64) -> u64 {
    let moderate = MemoryConfig::default().moderate_threshold;
    let working = |max: u64| (max as f64 * moderate).ceil() as u64;
    let mut max = ((capacity as f64 / moderate).floor() as u64).saturating_sub(2);
    while working(max) <= capacity {
        max += 1;
    }
    assert_eq!(working(max), capacity + 1, "no budget fits {capacity}");
    max
}

fn nexus_store(strategy: EvictionStrategy, lfu_history: bool, capacity: u64) -> Store<u64, u64> {
    let config = MemoryConfig {
        strategy,
        lfu_history,
        ..MemoryConfig::with_max_bytes(nexus_max_for(capacity))
    };
    Store::with_estimator(config, |_: &u64, size: &u64| *size).expect("a valid config")
}

/// The hit ratio, or the byte hit ratio on a sized trace.
fn simulate(cache: &mut dyn HitCache, keys: &[u64], trace: &Trace) -> f64 {
    let (mut hit, mut all) = (0u64, 0u64);
    for &id in &trace.ids {
        let k = keys[id as usize];
        let size = trace.size_of(id);
        all += size;
        if cache.get(k) {
            hit += size;
        } else {
            cache.put(k, size as u32);
        }
    }
    hit as f64 / all as f64
}

/// One of our policies' outcome at each request of `trace` (1: a hit), for
/// comparing policies request by request (`nexus-w2-tune`'s
/// `NEXUS_W2_HITS`); None for a policy that is not ours.
#[allow(dead_code)] // nexus-bench includes this module but does not call it
pub fn nexus_hits(policy: &str, trace: &Trace, keys: &[u64], capacity: u64) -> Option<Vec<u8>> {
    let (strategy, history) = strategy_of(policy)?;
    let mut c = Nexus(nexus_store(strategy, history, capacity));
    let mut out = Vec::with_capacity(trace.ids.len());
    for &id in &trace.ids {
        let k = keys[id as usize];
        let hit = c.get(k);
        if !hit {
            c.put(k, trace.size_of(id) as u32);
        }
        out.push(u8::from(hit));
    }
    Some(out)
}

fn strategy_of(policy: &str) -> Option<(EvictionStrategy, bool)> {
    Some(match policy {
        NEXUS_LRU => (EvictionStrategy::Lru, false),
        NEXUS_LFU => (EvictionStrategy::Lfu, false),
        NEXUS_LFU_HISTORY => (EvictionStrategy::Lfu, true),
        NEXUS_SIZE => (EvictionStrategy::Size, false),
        NEXUS_TINY_LFU => (EvictionStrategy::TinyLfu, false),
        _ => return None,
    })
}

/// One policy's hit ratio on `trace` with a cache of `capacity`; for ours,
/// also the entries held at the end.
pub fn measure(policy: &str, trace: &Trace, keys: &[u64], capacity: u64) -> (f64, Option<u64>) {
    let sized = trace.sizes.is_some();
    if let Some((strategy, history)) = strategy_of(policy) {
        let mut c = Nexus(nexus_store(strategy, history, capacity));
        let r = simulate(&mut c, keys, trace);
        return (r, Some(c.0.metrics().entry_count));
    }
    let r = match policy {
        "moka" => {
            let c = moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_: &u64, v: &u32| *v)
                .build();
            let mut c = Moka(c);
            let r = simulate(&mut c, keys, trace);
            c.0.run_pending_tasks();
            r
        }
        "mini-moka" => {
            let c = mini_moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_: &u64, v: &u32| *v)
                .build();
            let mut c = MiniMoka(c);
            let r = simulate(&mut c, keys, trace);
            c.0.sync();
            r
        }
        "quick_cache" => {
            let items = if sized {
                (capacity / 64 / 1024).max(16) as usize
            } else {
                capacity as usize
            };
            let mut c = Quick(quick_cache::sync::Cache::with_weighter(
                items, capacity, ByValue,
            ));
            simulate(&mut c, keys, trace)
        }
        "lru" if sized => f64::NAN,
        "lru" => {
            let cap = NonZeroUsize::new(capacity as usize).expect("non-zero");
            simulate(&mut Lru(lru::LruCache::new(cap)), keys, trace)
        }
        _ if sized => f64::NAN,
        _ => belady(&trace.ids, trace.keys, capacity as usize),
    };
    (r, None)
}

/// Belady's MIN with bypass (the offline optimum for get-then-put-on-miss
/// when a policy may also decline to admit): on a miss with the cache full,
/// evict the resident used furthest in the future, unless the missed key
/// itself is used even later, in which case it is not admitted.
pub fn belady(trace: &[u32], n_keys: usize, capacity: usize) -> f64 {
    const NEVER: u64 = u64::MAX;
    let mut next_use = vec![NEVER; trace.len()];
    let mut last = vec![NEVER; n_keys];
    for (t, &k) in trace.iter().enumerate().rev() {
        next_use[t] = last[k as usize];
        last[k as usize] = t as u64;
    }
    // Resident keys by (next use, key); `at[k]` is the next use a resident
    // key is filed under (the time of its coming access).
    let mut resident: BTreeSet<(u64, u32)> = BTreeSet::new();
    let mut at: Vec<Option<u64>> = vec![None; n_keys];
    let mut hits = 0u64;
    for (t, &k) in trace.iter().enumerate() {
        let nu = next_use[t];
        if let Some(old) = at[k as usize] {
            hits += 1;
            resident.remove(&(old, k));
            resident.insert((nu, k));
            at[k as usize] = Some(nu);
            continue;
        }
        if resident.len() < capacity {
            resident.insert((nu, k));
            at[k as usize] = Some(nu);
            continue;
        }
        let &(far, victim) = resident.last().expect("a full cache");
        if nu < far {
            resident.remove(&(far, victim));
            at[victim as usize] = None;
            resident.insert((nu, k));
            at[k as usize] = Some(nu);
        }
    }
    hits as f64 / trace.len() as f64
}

/// The traces of a run: the synthetic ones, then (extended) the real ones.
/// The scan mix depends on the cache size, so each trace comes with the
/// cache sizes it runs at.
pub fn traces(params: &Params) -> Vec<(Rc<Trace>, f64)> {
    let (n, len) = (params.keys, params.trace_len);
    let mut base = Vec::new();
    for (i, &s) in ZIPF_S.iter().enumerate() {
        base.push(Rc::new(traces::zipf(n, len, s, i as u64)));
    }
    let z99 = Rc::clone(&base[2]);
    base.push(Rc::new(traces::loop_scan(n, len)));
    let mut out: Vec<(Rc<Trace>, f64)> = Vec::new();
    for t in &base {
        for &pct in &CACHE_PCTS {
            out.push((Rc::clone(t), pct));
        }
    }
    for &pct in &CACHE_PCTS {
        let (mix, _) = traces::scan_mix(&z99, z99.capacity(pct) as usize);
        out.push((Rc::new(mix), pct));
    }
    let shifting = Rc::new(traces::shifting(n, len));
    let sized = Rc::new(traces::sized(&z99));
    for t in [shifting, sized] {
        for &pct in &CACHE_PCTS {
            out.push((Rc::clone(&t), pct));
        }
    }
    if params.extended {
        for t in traces::real() {
            let t = Rc::new(t);
            for &pct in &CACHE_PCTS {
                out.push((Rc::clone(&t), pct));
            }
        }
    }
    out
}

fn file_name(t: &Trace, pct: f64) -> String {
    let mut name: String = t
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if t.kind == Kind::ScanMix {
        name.push_str(&format!("_{pct}"));
    }
    name
}

pub fn run(params: Params) -> W2 {
    let runs = traces(&params);
    let with_lcs = params.extended && lcs::available();
    let steps_per_row = POLICIES.len() + if with_lcs { lcs::ALGORITHMS.len() } else { 0 };
    let mut progress = Progress::new("W2", runs.len() * steps_per_row);
    let mut rows = Vec::new();
    for (trace, pct) in &runs {
        let keys: Vec<u64> = (0..trace.keys as u64).map(|i| mix64(i + 0xABCD)).collect();
        let capacity = trace.capacity(*pct);
        let mut ratios = Vec::new();
        let mut nexus_entries = Vec::new();
        for policy in POLICIES {
            progress.step(&format!("{policy} {} cache {pct}%", trace.name));
            let (r, held) = measure(policy, trace, &keys, capacity);
            ratios.push(r);
            nexus_entries.extend(held);
        }
        let mut lcs_ratios = Vec::new();
        if with_lcs {
            progress.step(&format!("libCacheSim {} cache {pct}%", trace.name));
            match lcs::write_trace(trace, &file_name(trace, *pct)) {
                Ok(path) => lcs_ratios = lcs::run(&path, capacity, trace.sizes.is_some()),
                Err(e) => eprintln!("W2: cannot write {}: {e}", trace.name),
            }
            for _ in 1..lcs::ALGORITHMS.len() {
                progress.step("libCacheSim");
            }
        }
        rows.push(Row {
            trace: trace.name.clone(),
            kind: trace.kind,
            sized: trace.sizes.is_some(),
            cache_pct: *pct,
            capacity,
            ratios,
            lcs: lcs_ratios,
            nexus_entries,
        });
    }
    let worst = rows
        .iter()
        .map(|r| (r.ratio(NEXUS_TINY_LFU) - r.best_peer().1) * 100.0)
        .fold(f64::INFINITY, f64::min);
    progress.finish(&format!(
        "worst TINY_LFU - best peer over every row: {worst:+.2} points"
    ));
    W2 {
        rows,
        params,
        with_lcs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn belady_on_a_tiny_trace() {
        // Capacity 2; a b c a b: OPT keeps a and b, bypasses c: 2 hits.
        assert_eq!(belady(&[0, 1, 2, 0, 1], 3, 2), 2.0 / 5.0);
        // Capacity 1 on a a b a: hits at t=1, b bypassed, hit at t=3.
        assert_eq!(belady(&[0, 0, 1, 0], 2, 1), 2.0 / 4.0);
    }

    /// Every strategy of ours holds exactly the capacity on a count trace,
    /// and TINY_LFU keeps a hot set through a scan that LRU loses.
    #[test]
    fn tiny_lfu_holds_the_capacity_and_resists_a_scan() {
        let base = traces::zipf(5000, 150_000, 0.99, 2);
        let cap = base.capacity(10.0);
        let (mix, used) = traces::scan_mix(&base, cap as usize);
        let keys: Vec<u64> = (0..used as u64).collect();
        let (tiny, held) = measure(NEXUS_TINY_LFU, &mix, &keys, cap);
        let (lru, _) = measure(NEXUS_LRU, &mix, &keys, cap);
        assert_eq!(held, Some(cap));
        assert!(tiny > lru + 0.02, "TINY_LFU {tiny} vs LRU {lru}");
    }

    #[test]
    fn budgets_hold_exactly_the_capacity() {
        for cap in [1, 7, 100, 1000, 10_000, 123_457] {
            let store = nexus_store(EvictionStrategy::Lru, false, cap);
            for k in 0..(cap + 50) {
                store.put(k, 1).unwrap();
            }
            assert_eq!(store.metrics().entry_count, cap, "cap {cap}");
        }
    }
}
