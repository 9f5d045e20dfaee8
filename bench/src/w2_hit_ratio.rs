//! W2 hit ratio: scrambled Zipf traces (s in 0.7, 0.9, 0.99, 1.2) over N
//! keys and a looping scan, for caches of 1% and 10% of N. Every entry is
//! charged 1; each cache serves get-then-put-on-miss and counts hits over
//! the whole trace (cold start included for all, Belady too).
//!
//! nexus runs each strategy in its default configuration, and LFU once
//! more with `lfu_history` (evicted keys that come back resume their
//! count); the LFU targets compare the better of the two LFU columns.
//!
//! Our budget: MODERATE starts at usage >= ceil(0.7 x max) (the working
//! size) and a put evicts until usage is below it, so a store holds at most
//! ceil(0.7 x max) - 1 entries. `max` is chosen so that this is exactly the
//! peers' capacity, and the harness checks the entry count at the end.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;

use mini_moka::sync::ConcurrentCacheExt;
use nexus_store::{EvictionStrategy, MemoryConfig, Store};

use crate::progress::Progress;
use crate::rng::{Rng, ScrambledZipf, mix64};

pub const ZIPF_S: [f64; 4] = [0.7, 0.9, 0.99, 1.2];
pub const CACHE_PCTS: [f64; 2] = [1.0, 10.0];

pub const NEXUS_LRU: &str = "nexus LRU";
pub const NEXUS_LFU: &str = "nexus LFU";
/// LFU with `MemoryConfig::lfu_history`.
pub const NEXUS_LFU_HISTORY: &str = "nexus LFU+history";
/// nexus's LFU configurations, compared as one by the LFU targets.
pub const NEXUS_LFUS: [&str; 2] = [NEXUS_LFU, NEXUS_LFU_HISTORY];
pub const NEXUS_SIZE: &str = "nexus SIZE";
pub const PEERS: [&str; 4] = ["moka", "mini-moka", "quick_cache", "lru"];
pub const BELADY: &str = "Belady (OPT)";
/// Every column, Belady last.
pub const POLICIES: [&str; 9] = [
    NEXUS_LRU,
    NEXUS_LFU,
    NEXUS_LFU_HISTORY,
    NEXUS_SIZE,
    "moka",
    "mini-moka",
    "quick_cache",
    "lru",
    BELADY,
];

pub struct Params {
    pub keys: usize,
    pub trace_len: usize,
}

pub struct Row {
    pub trace: String,
    /// The Zipf exponent, or None for the scan.
    pub zipf: Option<f64>,
    pub cache_pct: f64,
    pub capacity: usize,
    /// Hit ratio per `POLICIES` entry.
    pub ratios: Vec<f64>,
    /// Entries our stores held at the end (each should equal `capacity`).
    pub nexus_entries: Vec<u64>,
}

impl Row {
    pub fn ratio(&self, policy: &str) -> f64 {
        let i = POLICIES
            .iter()
            .position(|&p| p == policy)
            .expect("a policy");
        self.ratios[i]
    }

    /// The best peer and its hit ratio.
    pub fn best_peer(&self) -> (&'static str, f64) {
        PEERS
            .iter()
            .map(|&p| (p, self.ratio(p)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("peers")
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
    pub scan_len: usize,
}

// ---- caches -------------------------------------------------------------------

trait HitCache {
    fn get(&mut self, k: u64) -> bool;
    fn put(&mut self, k: u64);
}

struct Nexus(Store<u64, u64>);

impl HitCache for Nexus {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64) {
        self.0.put(k, k).expect("a put within the budget");
    }
}

struct Moka(moka::sync::Cache<u64, u64>);

impl HitCache for Moka {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64) {
        self.0.insert(k, k);
    }
}

struct MiniMoka(mini_moka::sync::Cache<u64, u64>);

impl HitCache for MiniMoka {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64) {
        self.0.insert(k, k);
    }
}

struct Quick(quick_cache::sync::Cache<u64, u64>);

impl HitCache for Quick {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64) {
        self.0.insert(k, k);
    }
}

struct Lru(lru::LruCache<u64, u64>);

impl HitCache for Lru {
    fn get(&mut self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }

    fn put(&mut self, k: u64) {
        self.0.put(k, k);
    }
}

/// The smallest budget whose working size holds exactly `capacity` entries
/// charged 1: ceil(0.7 x max) = capacity + 1 (the library's rounding).
pub fn nexus_max_for(capacity: usize) -> u64 {
    let moderate = MemoryConfig::default().moderate_threshold;
    let working = |max: u64| (max as f64 * moderate).ceil() as u64;
    let mut max = ((capacity as f64 / moderate).floor() as u64).saturating_sub(2);
    while working(max) <= capacity as u64 {
        max += 1;
    }
    assert_eq!(
        working(max),
        capacity as u64 + 1,
        "no budget fits {capacity}"
    );
    max
}

fn nexus_store(strategy: EvictionStrategy, lfu_history: bool, capacity: usize) -> Store<u64, u64> {
    let config = MemoryConfig {
        strategy,
        lfu_history,
        ..MemoryConfig::with_max_bytes(nexus_max_for(capacity))
    };
    Store::with_estimator(config, |_: &u64, _: &u64| 1u64).expect("a valid config")
}

fn simulate(cache: &mut dyn HitCache, keys: &[u64], trace: &[u32]) -> f64 {
    let mut hits = 0u64;
    for &id in trace {
        let k = keys[id as usize];
        if cache.get(k) {
            hits += 1;
        } else {
            cache.put(k);
        }
    }
    hits as f64 / trace.len() as f64
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

pub fn run(params: Params) -> W2 {
    let n = params.keys;
    let keys: Vec<u64> = (0..n as u64).map(|i| mix64(i + 0xABCD)).collect();
    let mut traces: Vec<(String, Option<f64>, Vec<u32>)> = ZIPF_S
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let z = ScrambledZipf::new(n, s, 77 + i as u64);
            (
                format!("zipf {s}"),
                Some(s),
                z.stream(params.trace_len, 99 + i as u64),
            )
        })
        .collect();
    // A loop over a fifth of the keys (in a fixed shuffled order), larger
    // than both caches: recency policies get nothing from it.
    let scan_len = n / 5;
    let mut order: Vec<u32> = (0..scan_len as u32).collect();
    Rng::new(5).shuffle(&mut order);
    let scan: Vec<u32> = order
        .iter()
        .copied()
        .cycle()
        .take(params.trace_len)
        .collect();
    traces.push((format!("loop scan ({scan_len} keys)"), None, scan));

    let total = traces.len() * CACHE_PCTS.len() * POLICIES.len();
    let mut progress = Progress::new("W2", total);
    let mut rows = Vec::new();
    for (name, zipf, trace) in &traces {
        for &pct in &CACHE_PCTS {
            let capacity = ((n as f64 * pct / 100.0).round() as usize).max(1);
            let mut ratios = Vec::new();
            let mut nexus_entries = Vec::new();
            for policy in POLICIES {
                progress.step(&format!("{policy} {name} cache {pct}%"));
                let ratio = match policy {
                    NEXUS_LRU | NEXUS_LFU | NEXUS_LFU_HISTORY | NEXUS_SIZE => {
                        let strategy = match policy {
                            NEXUS_LRU => EvictionStrategy::Lru,
                            NEXUS_LFU | NEXUS_LFU_HISTORY => EvictionStrategy::Lfu,
                            _ => EvictionStrategy::Size,
                        };
                        let history = policy == NEXUS_LFU_HISTORY;
                        let mut c = Nexus(nexus_store(strategy, history, capacity));
                        let r = simulate(&mut c, &keys, trace);
                        nexus_entries.push(c.0.metrics().entry_count);
                        r
                    }
                    "moka" => {
                        let mut c = Moka(moka::sync::Cache::new(capacity as u64));
                        let r = simulate(&mut c, &keys, trace);
                        c.0.run_pending_tasks();
                        r
                    }
                    "mini-moka" => {
                        let mut c = MiniMoka(mini_moka::sync::Cache::new(capacity as u64));
                        let r = simulate(&mut c, &keys, trace);
                        c.0.sync();
                        r
                    }
                    "quick_cache" => {
                        let mut c = Quick(quick_cache::sync::Cache::new(capacity));
                        simulate(&mut c, &keys, trace)
                    }
                    "lru" => {
                        let cap = NonZeroUsize::new(capacity).expect("non-zero");
                        simulate(&mut Lru(lru::LruCache::new(cap)), &keys, trace)
                    }
                    _ => belady(trace, n, capacity),
                };
                ratios.push(ratio);
            }
            rows.push(Row {
                trace: name.clone(),
                zipf: *zipf,
                cache_pct: pct,
                capacity,
                ratios,
                nexus_entries,
            });
        }
    }
    let worst = rows
        .iter()
        .filter(|r| r.zipf.is_some())
        .map(|r| (r.best_nexus_lfu().1 - r.best_peer().1) * 100.0)
        .fold(f64::INFINITY, f64::min);
    progress.finish(&format!(
        "worst best-nexus-LFU - best peer on Zipf: {worst:+.2} points"
    ));
    W2 {
        rows,
        params,
        scan_len,
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

    #[test]
    fn budgets_hold_exactly_the_capacity() {
        for cap in [1, 7, 100, 1000, 10_000, 123_457] {
            let store = nexus_store(EvictionStrategy::Lru, false, cap);
            for k in 0..(cap as u64 + 50) {
                store.put(k, k).unwrap();
            }
            assert_eq!(store.metrics().entry_count, cap as u64, "cap {cap}");
        }
    }
}
