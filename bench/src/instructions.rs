//! IC: instructions per call, counted by callgrind (which repeats exactly on
//! a noisy machine, where timings do not). Runs `nexus-profile` (built
//! beside `nexus-bench`) under `valgrind --tool=callgrind`, counting only
//! inside its `measured` wrapper: one call per op, the store's fill and the
//! loop left out. 32768 u64 keys, every call a hit or a replace of a
//! present key, on a skewed key stream.

use std::path::PathBuf;
use std::process::Command;

use crate::progress::Progress;

pub struct Row {
    /// What is counted.
    pub call: &'static str,
    /// `nexus-profile` mode and strategy.
    pub mode: &'static str,
    pub strategy: &'static str,
    pub per_call: f64,
}

pub struct Ic {
    pub ops: usize,
    pub rows: Vec<Row>,
}

impl Ic {
    pub fn row(&self, mode: &str, strategy: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.mode == mode && r.strategy == strategy)
    }
}

pub const CALLS: [(&str, &str, &str); 10] = [
    (
        "nexus_store_get_copy hit (C ABI, 8-byte key and value)",
        "get-copy",
        "lru",
    ),
    (
        "nexus_store_get_copy hit (C ABI, 24-byte key as W1's str24, 8-byte value)",
        "get-copy-str24",
        "lru",
    ),
    (
        "nexus_store_put replacing a present key (C ABI, 8-byte key and value, default estimator)",
        "put-copy",
        "lru",
    ),
    (
        "Store::get_cloned hit (native u64 -> u64), LRU",
        "get",
        "lru",
    ),
    (
        "Store::put replacing a present key (native), LRU",
        "put",
        "lru",
    ),
    (
        "Store::get_cloned hit (native), TINY_LFU",
        "get",
        "tiny_lfu",
    ),
    (
        "Store::put replacing a present key (native), TINY_LFU",
        "put",
        "tiny_lfu",
    ),
    (
        "Store::put of a new key into a full store (evicts one), LRU",
        "put-new",
        "lru",
    ),
    (
        "lru::LruCache::get behind a parking_lot::Mutex",
        "lru-get",
        "lru",
    ),
    (
        "lru::LruCache::get behind a parking_lot::Mutex, 24-byte `Box<[u8]>` keys",
        "lru-get-str24",
        "lru",
    ),
];

fn profiler() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.with_file_name("nexus-profile");
    p.exists().then_some(p)
}

/// Counts one mode; `None` if valgrind fails.
fn count(profile: &PathBuf, mode: &str, strategy: &str, ops: usize) -> Option<f64> {
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--toggle-collect=nexus_profile::measured*",
        ])
        .arg(profile)
        .args([mode, &ops.to_string(), strategy])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let collected: u64 = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))?
        .trim()
        .parse()
        .ok()?;
    Some(collected as f64 / ops as f64)
}

/// `None` (with a note on stderr) when valgrind or `nexus-profile` is
/// missing: `make bench` builds both bench binaries, and `make bench-setup`
/// / the test tools install valgrind.
pub fn run(ops: usize) -> Option<Ic> {
    let Some(profile) = profiler() else {
        eprintln!(
            "IC: skipped: nexus-profile is not built beside nexus-bench (make bench builds it)"
        );
        return None;
    };
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("IC: skipped: valgrind is not installed");
        return None;
    }
    let mut progress = Progress::new("IC", CALLS.len());
    let mut rows = Vec::new();
    for (call, mode, strategy) in CALLS {
        match count(&profile, mode, strategy, ops) {
            Some(per_call) => rows.push(Row {
                call,
                mode,
                strategy,
                per_call,
            }),
            None => eprintln!("IC: {mode} {strategy}: callgrind failed"),
        }
        progress.step(mode);
    }
    Some(Ic { ops, rows })
}
