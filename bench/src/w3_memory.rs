//! W3 memory: heap bytes per entry for N u64 -> u64 entries, counted by the
//! binary's global allocator (requested bytes, from before the cache is
//! created to after the last insert, with the cache alive; malloc's own
//! headers not included). "Overhead" is that minus the 16 bytes of key and
//! value.

use std::any::Any;
use std::num::NonZeroUsize;

use mini_moka::sync::ConcurrentCacheExt;
use nexus_store::{EvictionStrategy, MemoryConfig, Store};

use crate::alloc::{CountingOn, live};
use crate::cabi::CStore;
use crate::progress::Progress;
use crate::rng::mix64;

pub const NEXUS_LRU: &str = "nexus (LRU)";
pub const NEXUS_LFU: &str = "nexus (LFU)";
pub const NEXUS_TINY_LFU: &str = "nexus (TINY_LFU)";
pub const NEXUS_C: &str = "nexus C ABI (8-byte keys and values)";
const PAYLOAD: f64 = 16.0;

pub struct Row {
    pub name: &'static str,
    pub bytes_per_entry: f64,
    pub entries: u64,
}

impl Row {
    pub fn overhead(&self) -> f64 {
        self.bytes_per_entry - PAYLOAD
    }
}

pub struct W3 {
    pub entries: usize,
    pub rows: Vec<Row>,
}

impl W3 {
    pub fn row(&self, name: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .expect("a measured row")
    }
}

type Build = fn(&[u64]) -> (Box<dyn Any>, u64);

fn nexus(strategy: EvictionStrategy, keys: &[u64]) -> (Box<dyn Any>, u64) {
    let config = MemoryConfig {
        strategy,
        ..MemoryConfig::with_max_bytes(4 * keys.len() as u64)
    };
    let s: Store<u64, u64> = Store::with_estimator(config, |_: &u64, _: &u64| 1u64).unwrap();
    for (i, &k) in keys.iter().enumerate() {
        s.put(k, i as u64).unwrap();
    }
    let n = s.metrics().entry_count;
    (Box::new(s), n)
}

const BUILDS: [(&str, Build); 8] = [
    (NEXUS_LRU, |keys| nexus(EvictionStrategy::Lru, keys)),
    (NEXUS_LFU, |keys| nexus(EvictionStrategy::Lfu, keys)),
    (NEXUS_TINY_LFU, |keys| {
        nexus(EvictionStrategy::TinyLfu, keys)
    }),
    (NEXUS_C, |keys| {
        let s = CStore::new(1 << 40);
        for (i, &k) in keys.iter().enumerate() {
            assert!(s.put(&k.to_le_bytes(), &(i as u64).to_le_bytes()));
        }
        let n = s.entry_count();
        (Box::new(s), n)
    }),
    ("moka", |keys| {
        let c = moka::sync::Cache::new(keys.len() as u64);
        for (i, &k) in keys.iter().enumerate() {
            c.insert(k, i as u64);
        }
        c.run_pending_tasks();
        let n = c.entry_count();
        (Box::new(c), n)
    }),
    ("mini-moka", |keys| {
        let c = mini_moka::sync::Cache::new(keys.len() as u64);
        for (i, &k) in keys.iter().enumerate() {
            c.insert(k, i as u64);
        }
        c.sync();
        let n = c.entry_count();
        (Box::new(c), n)
    }),
    ("quick_cache", |keys| {
        let c = quick_cache::sync::Cache::new(keys.len());
        for (i, &k) in keys.iter().enumerate() {
            c.insert(k, i as u64);
        }
        let n = c.len() as u64;
        (Box::new(c), n)
    }),
    ("lru+Mutex", |keys| {
        let c = lru::LruCache::new(NonZeroUsize::new(keys.len()).unwrap());
        let c = parking_lot::Mutex::new(c);
        for (i, &k) in keys.iter().enumerate() {
            c.lock().put(k, i as u64);
        }
        let n = c.lock().len() as u64;
        (Box::new(c), n)
    }),
];

pub fn run(entries: usize) -> W3 {
    let keys: Vec<u64> = (0..entries as u64).map(|i| mix64(i + 3)).collect();
    let mut progress = Progress::new("W3", BUILDS.len());
    let mut rows = Vec::new();
    for (name, build) in BUILDS {
        progress.step(&format!("{name}: {entries} u64 -> u64 entries"));
        let on = CountingOn::start();
        let before = live();
        let (cache, n) = build(&keys);
        let after = live();
        drop(cache);
        drop(on);
        rows.push(Row {
            name,
            // Per entry held (quick_cache's shards may hold a few fewer).
            bytes_per_entry: (after - before) as f64 / n.max(1) as f64,
            entries: n,
        });
    }
    let w3 = W3 { entries, rows };
    progress.finish(&format!(
        "nexus {:.1} bytes/entry ({:.1} beyond key and value)",
        w3.row(NEXUS_LRU).bytes_per_entry,
        w3.row(NEXUS_LRU).overhead()
    ));
    w3
}
