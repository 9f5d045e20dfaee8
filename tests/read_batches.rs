//! Reads applied in batches (docs/DESIGN.md §5): in an LRU store of
//! several shards a read hit notes its entry and the notes are applied to
//! the order later, in the order the reads were made, before any call that
//! looks at the order. These tests check that nothing can tell: after long
//! runs of reads (past the buffer's size, so that a read applies a full
//! buffer), short-path replaces and puts that evict, each shard's order is
//! exactly least recently used first.
//!
//! A key's shard comes from a hash seeded per store, so the tests do not
//! know it: `eviction_order` lists each shard's order in turn, and with two
//! shards an exact order is one that splits into two runs, each in the
//! order of last use, whose keys are exactly the store's.

use std::collections::HashMap;

use nexus_store::{EvictionStrategy, MemoryConfig, Store};

mod common;
use common::Rng;

fn sharded_lru() -> Store<u32, u64> {
    let config = MemoryConfig {
        max_cache_bytes: 4_000,
        strategy: EvictionStrategy::Lru,
        shards: 2,
        ..MemoryConfig::default()
    };
    // The value is its own charge.
    Store::<u32, u64>::with_estimator(config, |_: &u32, v: &u64| *v).unwrap()
}

/// Whether `order` is the concatenation of two runs (either may be empty),
/// each listing its keys from least to most recently used by `last_use`.
fn two_recency_runs(order: &[u32], last_use: &HashMap<u32, u64>) -> bool {
    let ticks: Vec<u64> = order.iter().map(|k| last_use[k]).collect();
    let descents = ticks.windows(2).filter(|w| w[0] > w[1]).count();
    descents <= 1
}

#[test]
fn each_shard_stays_in_exact_lru_order_through_long_runs_of_reads() {
    for seed in [1u64, 0x9E37_79B9_7F4A_7C15, 42] {
        let s = sharded_lru();
        let mut rng = Rng(seed);
        // The tick of each present key's last use (a put or a read hit).
        let mut last_use: HashMap<u32, u64> = HashMap::new();
        let mut charges: HashMap<u32, u64> = HashMap::new();
        let skewed = |rng: &mut Rng| {
            let r = rng.below(1_000);
            (r * r / 10_000) as u32
        };
        let mut evictions_seen = 0;
        for tick in 1..=4_000u64 {
            match rng.below(100) {
                0..=74 => {
                    // Runs of reads far longer than the buffer.
                    let k = skewed(&mut rng);
                    let hit = if rng.below(10) == 0 {
                        s.get(&k).is_some() // a handle, dropped at once
                    } else {
                        s.get_cloned(&k).is_some()
                    };
                    if hit {
                        last_use.insert(k, tick);
                    }
                }
                75..=89 => {
                    // A replace of a present key with its own charge: the
                    // short path, which notes its move.
                    let k = skewed(&mut rng);
                    let charge = charges.get(&k).copied().unwrap_or(40);
                    if s.put(k, charge).is_ok() {
                        last_use.insert(k, tick);
                        charges.insert(k, charge);
                    }
                }
                _ => {
                    // A new key: evicts from its shard's front.
                    let (k, charge) = (100 + rng.below(400) as u32, 20 + rng.below(60));
                    if s.put(k, charge).is_ok() {
                        last_use.insert(k, tick);
                        charges.insert(k, charge);
                    }
                }
            }
            if tick % 50 == 0 {
                // `contains` is no access and applies nothing.
                let before = last_use.len();
                last_use.retain(|k, _| s.contains(k));
                charges.retain(|k, _| last_use.contains_key(k));
                evictions_seen += before - last_use.len();
                let order = s.eviction_order();
                let mut keys = order.clone();
                keys.sort_unstable();
                let mut present: Vec<u32> = last_use.keys().copied().collect();
                present.sort_unstable();
                assert_eq!(keys, present, "seed {seed}, tick {tick}");
                assert!(
                    two_recency_runs(&order, &last_use),
                    "seed {seed}, tick {tick}: {order:?} is not two runs in order of last use"
                );
            }
        }
        assert!(evictions_seen > 0, "the sequence evicts");
    }
}

#[test]
fn an_lru_order_after_more_reads_than_the_buffer_holds_is_exact() {
    let s = sharded_lru();
    let mut last_use = HashMap::new();
    for k in 0..40u32 {
        s.put(k, 10).unwrap();
        last_use.insert(k, u64::from(k));
    }
    // Read every key in a scrambled order, several times over (far more
    // reads than the buffer holds, with no other call in between).
    let mut tick = 100;
    for round in 0..5u32 {
        for j in 0..40u32 {
            let k = (j * 17 + round * 3) % 40;
            assert_eq!(s.get_cloned(&k), Some(10));
            tick += 1;
            last_use.insert(k, tick);
        }
    }
    let order = s.eviction_order();
    assert_eq!(order.len(), 40);
    assert!(two_recency_runs(&order, &last_use), "{order:?}");
    // The store's least recently read key goes first from its shard: after
    // evicting one entry from each shard, the key read longest ago is gone.
    let oldest = *last_use.iter().min_by_key(|(_, t)| **t).unwrap().0;
    s.evict(2);
    assert!(!s.contains(&oldest));
}
