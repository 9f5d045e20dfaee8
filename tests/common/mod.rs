//! Helpers shared by the integration tests (each test binary uses some).

#![allow(dead_code)]

pub mod string_keys;

use std::collections::HashSet;
use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use nexus_store::Store;

/// Runs `f` on its own thread and fails the test if it has not finished
/// within `secs` seconds (a deadlock). A panic inside `f` is propagated.
pub fn watchdog<T: Send + 'static>(
    secs: u64,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name(format!("{name}-body"))
        .spawn(move || {
            let r = f();
            drop(tx);
            r
        })
        .expect("spawn the test body");
    // While waiting: parking_lot's deadlock detection (the dev-dependency
    // switches it on) names a cycle of the library's locks at once.
    let deadline = Instant::now() + Duration::from_secs(secs);
    let finished = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                let cycles = parking_lot::deadlock::check_deadlock();
                if !cycles.is_empty() {
                    let threads: Vec<String> = cycles
                        .iter()
                        .flatten()
                        .map(|t| format!("thread {:?}:\n{:?}", t.thread_id(), t.backtrace()))
                        .collect();
                    panic!(
                        "watchdog: `{name}`: parking_lot found {} deadlock cycle(s)\n{}",
                        cycles.len(),
                        threads.join("\n")
                    );
                }
            }
            r => break r,
        }
    };
    match finished {
        Err(RecvTimeoutError::Timeout) => {
            panic!("watchdog: `{name}` did not finish within {secs} s (deadlock?)")
        }
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(payload) => panic::resume_unwind(payload),
        },
    }
}

/// Waits until `cond` holds; panics after `secs` seconds.
#[allow(dead_code)] // not every test binary that includes this module waits
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Checks the accounting of a quiescent store against its snapshot: usage,
/// entry and pin counts, the eviction order (exactly the present unpinned
/// keys) and the pin flags.
#[allow(dead_code)] // not every test file uses it
pub fn assert_accounting<K, V>(store: &Store<K, V>, context: &str)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + std::fmt::Debug + 'static,
    V: Send + Sync + 'static,
{
    let snap = store.entries_snapshot();
    let m = store.metrics();
    let sum: u64 = snap.iter().map(|e| e.charge).sum();
    let pinned: Vec<_> = snap.iter().filter(|e| e.pinned).collect();
    assert_eq!(m.current_usage, sum, "{context}: usage vs snapshot charges");
    assert_eq!(m.entry_count, snap.len() as u64, "{context}: entry_count");
    assert_eq!(
        m.pinned_count,
        pinned.len() as u64,
        "{context}: pinned_count"
    );
    assert_eq!(
        m.pinned_bytes,
        pinned.iter().map(|e| e.charge).sum::<u64>(),
        "{context}: pinned_bytes"
    );
    // The eviction order holds exactly the present unpinned keys.
    let order = store.eviction_order();
    let order_set: HashSet<K> = order.iter().cloned().collect();
    assert_eq!(
        order.len(),
        order_set.len(),
        "{context}: duplicate keys in the order"
    );
    let unpinned: HashSet<K> = snap
        .iter()
        .filter(|e| !e.pinned)
        .map(|e| e.key.clone())
        .collect();
    assert_eq!(
        order_set, unpinned,
        "{context}: eviction order vs unpinned entries"
    );
    // Snapshot pinned flags agree with the pin set.
    for e in &snap {
        assert_eq!(
            store.is_pinned(&e.key),
            e.pinned,
            "{context}: pinned flag of {:?}",
            e.key
        );
    }
}

/// xorshift64*: a fast, seeded random source (never seed it with 0).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
