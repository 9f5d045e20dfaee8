//! Reads applied in batches (docs/DESIGN.md §5): a read hit in an LRU
//! store notes its entry and the notes are applied to the order later, in
//! the order the reads were made, before any call that looks at the order.
//! These tests check that nothing can tell: long runs of reads (past the
//! buffer's size, so that a read applies a full buffer) and short-path
//! replaces leave the same order, the same victims and the same counts as
//! the same calls each followed by a call that settles the order (for
//! every strategy: the others apply reads at once, and must stay so).

use std::collections::HashMap;

use nexus_store::{EvictionStrategy, MemoryConfig, Store};

mod common;
use common::Rng;

const STRATEGIES: [EvictionStrategy; 4] = [
    EvictionStrategy::Lru,
    EvictionStrategy::Lfu,
    EvictionStrategy::Size,
    EvictionStrategy::TinyLfu,
];

fn store(strategy: EvictionStrategy, shards: u32) -> Store<u32, u64> {
    let config = MemoryConfig {
        max_cache_bytes: 4_000,
        strategy,
        shards,
        ..MemoryConfig::default()
    };
    // The value is its own charge.
    Store::<u32, u64>::with_estimator(config, |_: &u32, v: &u64| *v).unwrap()
}

/// One step of the sequence: mostly reads of a skewed key set (runs of
/// them far longer than the buffer), some replaces of present keys with the
/// same charge (the short path) or another, some new keys (which evict).
fn step(s: &Store<u32, u64>, charges: &mut HashMap<u32, u64>, rng: &mut Rng) {
    let skewed = |rng: &mut Rng| {
        let r = rng.below(1_000);
        (r * r / 10_000) as u32
    };
    match rng.below(100) {
        0..=69 => {
            let _ = s.get_cloned(&skewed(rng));
        }
        70..=74 => {
            // A read handle, dropped at once.
            drop(s.get(&skewed(rng)));
        }
        75..=89 => {
            // `contains` is no access and applies nothing.
            let k = skewed(rng);
            let charge = match charges.get(&k) {
                Some(&c) if s.contains(&k) && rng.below(4) != 0 => c,
                _ => 20 + rng.below(60),
            };
            if s.put(k, charge).is_ok() {
                charges.insert(k, charge);
            }
        }
        _ => {
            let (k, charge) = (100 + rng.below(400) as u32, 20 + rng.below(60));
            if s.put(k, charge).is_ok() {
                charges.insert(k, charge);
            }
        }
    }
}

fn compare(strategy: EvictionStrategy, shards: u32, seed: u64) {
    let batched = store(strategy, shards);
    let settled = store(strategy, shards);
    let (mut a, mut b) = (Rng(seed), Rng(seed));
    let (mut ca, mut cb) = (HashMap::new(), HashMap::new());
    for n in 0..3_000 {
        step(&batched, &mut ca, &mut a);
        step(&settled, &mut cb, &mut b);
        // `eviction_order` applies the noted reads: `settled` never has
        // more than one waiting.
        let settled_order = settled.eviction_order();
        if n % 97 == 0 {
            assert_eq!(
                batched.eviction_order(),
                settled_order,
                "{strategy:?}, {shards} shard(s), seed {seed}, step {n}"
            );
        }
    }
    assert_eq!(batched.eviction_order(), settled.eviction_order());
    let (ma, mb) = (batched.metrics(), settled.metrics());
    assert_eq!(
        (
            ma.hit_count,
            ma.miss_count,
            ma.eviction_count,
            ma.current_usage,
            ma.insert_count
        ),
        (
            mb.hit_count,
            mb.miss_count,
            mb.eviction_count,
            mb.current_usage,
            mb.insert_count
        ),
        "{strategy:?}, {shards} shard(s), seed {seed}"
    );
    assert!(ma.eviction_count > 0, "the sequence evicts");
}

#[test]
fn long_runs_of_reads_leave_the_order_that_reads_applied_one_by_one_leave() {
    // One shard: a store of several puts each key in a shard picked by a
    // hash seeded per store, so two such stores differ anyway (and each
    // shard is one such order).
    for strategy in STRATEGIES {
        for seed in [1, 0x9E37_79B9_7F4A_7C15, 42] {
            compare(strategy, 1, seed);
        }
    }
}

#[test]
fn an_lru_order_after_more_reads_than_the_buffer_holds_is_exact() {
    let s = store(EvictionStrategy::Lru, 1);
    for k in 0..40u32 {
        s.put(k, 10).unwrap();
    }
    // Read every key in a scrambled order, several times over (far more
    // reads than the buffer holds, with no other call in between).
    let mut expected: Vec<u32> = (0..40).collect();
    for round in 0..5u32 {
        for j in 0..40u32 {
            let k = (j * 17 + round * 3) % 40;
            assert_eq!(s.get_cloned(&k), Some(10));
            expected.retain(|&x| x != k);
            expected.push(k);
        }
    }
    assert_eq!(s.eviction_order(), expected);
    // The next victim is the least recently read key.
    let first = expected[0];
    s.evict(1);
    assert!(!s.contains(&first));
}
