//! Helpers for the tests of stores keyed by `String`: what the eviction
//! listener heard, the queued events, the present keys.

use std::sync::{Arc, Mutex};

use nexus_store::{Event, EvictionReason, Store};

/// What the eviction listener heard: (key, reason, charge), in order.
pub type Log = Arc<Mutex<Vec<(String, EvictionReason, u64)>>>;

/// Records every entry that leaves the store (key, reason, charge).
pub fn listen<V: Send + Sync + 'static>(s: &Store<String, V>) -> Log {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    s.set_eviction_listener(Some(Arc::new(
        move |k: &String, reason: EvictionReason, bytes: u64| {
            sink.lock().unwrap().push((k.clone(), reason, bytes));
        },
    )));
    log
}

/// The keys that left since the last call, with their reason and charge.
pub fn take(log: &Log) -> Vec<(String, EvictionReason, u64)> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// What `take` returns when `keys` left for `reason`, each charged `bytes`.
pub fn evicted(
    keys: &[&str],
    reason: EvictionReason,
    bytes: u64,
) -> Vec<(String, EvictionReason, u64)> {
    keys.iter()
        .map(|k| (k.to_string(), reason, bytes))
        .collect()
}

/// Every queued event, oldest first.
pub fn events<V: Send + Sync + 'static>(s: &Store<String, V>) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The present keys, sorted.
pub fn present<V: Send + Sync + 'static>(s: &Store<String, V>) -> Vec<String> {
    let mut keys: Vec<String> = s.entries_snapshot().into_iter().map(|e| e.key).collect();
    keys.sort();
    keys
}
