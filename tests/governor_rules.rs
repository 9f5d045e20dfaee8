//! The governor's rules as properties over random runs (docs/DESIGN.md
//! §11): three stores of random priorities, floors and ceilings under one
//! budget, random puts, pins, unpins, removes, reads whose handles are held
//! for a while, and signals to the governor.
//! After every step:
//! - a store the governor took from this step is at or above its floor;
//! - after a step that enforces (a put, a signal): every store is within
//!   its ceiling or stuck, and the total is within the budget in force or
//!   every store is stuck ("stuck": its next victim in eviction order, held
//!   entries passed over, would take it below its floor, or it has none);
//! - if a store gave for the budget or a signal this step, every store of
//!   lower priority is stuck after it.

use std::collections::HashMap;

use nexus_store::{
    EvictionStrategy, Governor, GovernorConfig, MemberConfig, MemoryConfig,
    MemoryPressureLevel as Level, Store,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

type Charged = Store<u8, u64>;

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8, u64),
    Pin(usize, u8),
    Unpin(usize, u8),
    Remove(usize, u8),
    /// A read whose handle is kept (an entry held is never taken).
    Hold(usize, u8),
    /// The oldest handle kept on a store is released.
    Release(usize),
    Signal(Level),
}

fn op() -> impl Strategy<Value = Op> {
    let level = prop_oneof![
        Just(Level::None),
        Just(Level::Moderate),
        Just(Level::Critical),
        Just(Level::Emergency)
    ];
    prop_oneof![
        10 => (0..3usize, 0..10u8, 1..40u64).prop_map(|(s, k, c)| Op::Put(s, k, c)),
        1 => (0..3usize, 0..10u8).prop_map(|(s, k)| Op::Pin(s, k)),
        1 => (0..3usize, 0..10u8).prop_map(|(s, k)| Op::Unpin(s, k)),
        1 => (0..3usize, 0..10u8).prop_map(|(s, k)| Op::Remove(s, k)),
        1 => (0..3usize, 0..10u8).prop_map(|(s, k)| Op::Hold(s, k)),
        1 => (0..3usize).prop_map(Op::Release),
        1 => level.prop_map(Op::Signal),
    ]
}

#[derive(Clone, Debug)]
struct Setup {
    budget: u64,
    members: Vec<MemberConfig>,
    strategies: Vec<EvictionStrategy>,
}

fn setup() -> impl Strategy<Value = Setup> {
    let member =
        (0..3u32, 0..=50u64, prop::option::of(0..=150u64)).prop_map(|(p, f, c)| MemberConfig {
            priority: p,
            floor_bytes: f,
            ceiling_bytes: c.map(|extra| f + extra.max(1)),
        });
    let strategy = prop_oneof![
        Just(EvictionStrategy::Lru),
        Just(EvictionStrategy::Lfu),
        Just(EvictionStrategy::Size),
        Just(EvictionStrategy::TinyLfu)
    ];
    (
        150..=400u64,
        prop::collection::vec(member, 3),
        prop::collection::vec(strategy, 3),
    )
        .prop_map(|(budget, members, strategies)| Setup {
            budget,
            members,
            strategies,
        })
}

fn usage(s: &Charged) -> u64 {
    s.metrics().current_usage
}

/// Whether the governor can take nothing more from `s` without going
/// below `floor`: its next victim (pinned entries are not in the order;
/// entries in `held` are passed over) would cross it, or it has none.
fn stuck(s: &Charged, floor: u64, held: &[u8]) -> bool {
    let charges: HashMap<u8, u64> = s
        .entries_snapshot()
        .into_iter()
        .map(|e| (e.key, e.charge))
        .collect();
    let u = usage(s);
    match s.eviction_order().iter().find(|k| !held.contains(k)) {
        None => true,
        Some(k) => u < floor || u - charges[k] < floor,
    }
}

fn check(setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let g = Governor::new(GovernorConfig::with_budget(setup.budget)).unwrap();
    let stores: Vec<Charged> = setup
        .strategies
        .iter()
        .map(|&strategy| {
            let config = MemoryConfig {
                strategy,
                ..MemoryConfig::default()
            };
            Store::with_estimator(config, |_: &u8, v: &u64| *v).unwrap()
        })
        .collect();
    for (s, m) in stores.iter().zip(&setup.members) {
        // Floors add up to at most 150 <= the budget: every join succeeds.
        g.join(s, *m).unwrap();
    }
    // Per store: the handles kept, with their key and whether they still
    // hold the key's present entry (a put or remove of the key ends that).
    let mut handles: Vec<Vec<(u8, bool, nexus_store::ValueHandle<u64>)>> =
        (0..stores.len()).map(|_| Vec::new()).collect();
    let mut before = g.metrics();
    for (step, op) in ops.iter().enumerate() {
        let enforces = match op {
            Op::Put(s, k, c) => {
                handles[*s]
                    .iter_mut()
                    .filter(|h| h.0 == *k)
                    .for_each(|h| h.1 = false);
                stores[*s].put(*k, *c).unwrap();
                true
            }
            Op::Hold(s, k) => {
                if let Some(v) = stores[*s].get(k) {
                    handles[*s].push((*k, true, v));
                }
                false
            }
            Op::Release(s) => {
                if !handles[*s].is_empty() {
                    handles[*s].remove(0);
                }
                false
            }
            Op::Pin(s, k) => {
                stores[*s].pin(k);
                false
            }
            Op::Unpin(s, k) => {
                let _ = stores[*s].unpin(k);
                false
            }
            Op::Remove(s, k) => {
                handles[*s]
                    .iter_mut()
                    .filter(|h| h.0 == *k)
                    .for_each(|h| h.1 = false);
                let _ = stores[*s].remove(k);
                false
            }
            Op::Signal(level) => {
                g.signal_pressure(*level);
                true
            }
        };
        let after = g.metrics();
        // Keys whose present entry a kept handle holds (an entry the
        // governor took is not present: its handle held another value).
        let held: Vec<Vec<u8>> = handles
            .iter_mut()
            .zip(&stores)
            .map(|(hs, s)| {
                hs.iter_mut()
                    .filter(|h| h.1 && s.contains(&h.0))
                    .map(|h| h.0)
                    .collect()
            })
            .collect();
        let ctx = || format!("step {step} {op:?}; {after:?}");
        let gave = |i: usize| {
            let (b, a) = (
                &before.members[i].shed_bytes_by_cause,
                &after.members[i].shed_bytes_by_cause,
            );
            (a[0] + a[1] > b[0] + b[1], a[2] > b[2])
        };
        for (i, (s, m)) in stores.iter().zip(&setup.members).enumerate() {
            let (for_total, for_ceiling) = gave(i);
            if for_total || for_ceiling {
                prop_assert!(
                    usage(s) >= m.floor_bytes,
                    "store {i} below its floor: {}",
                    ctx()
                );
            }
            if for_total {
                for (j, (t, n)) in stores.iter().zip(&setup.members).enumerate() {
                    if n.priority < m.priority {
                        prop_assert!(
                            stuck(t, n.floor_bytes, &held[j]),
                            "store {i} gave while store {j} of lower priority could: {}",
                            ctx()
                        );
                    }
                }
            }
            if enforces && let Some(c) = m.ceiling_bytes {
                prop_assert!(
                    usage(s) <= c || stuck(s, m.floor_bytes, &held[i]),
                    "store {i} above its ceiling: {}",
                    ctx()
                );
            }
        }
        if enforces && after.total_usage > after.budget_in_force {
            for (i, (s, m)) in stores.iter().zip(&setup.members).enumerate() {
                prop_assert!(
                    stuck(s, m.floor_bytes, &held[i]),
                    "over the budget in force while store {i} could give: {}",
                    ctx()
                );
            }
            prop_assert!(after.unmet_bytes > 0, "over, not reported: {}", ctx());
        }
        before = after;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES for a longer hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_governor_keeps_its_rules(setup in setup(), ops in prop::collection::vec(op(), 1..80)) {
        check(&setup, &ops)?;
    }
}
