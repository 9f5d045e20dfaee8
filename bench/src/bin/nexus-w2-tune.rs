//! `nexus-w2-tune`: W2's hit ratios for a few policies alone (default: nexus
//! TINY_LFU), on the same traces and budgets as `nexus-bench --only W2`,
//! without the peers and libCacheSim: a quick loop for tuning a strategy.
//!
//! ```text
//! cargo run --release -p nexus-store-bench --bin nexus-w2-tune -- [ROW-FILTER] [POLICY...]
//! ```
//!
//! ROW-FILTER keeps the rows whose trace name contains it (`all`: every
//! row); each POLICY is a W2 column name ("nexus TINY_LFU", "nexus LRU", ...).
//! Prints one tab-separated line per row: trace, cache %, then each ratio.
//! With `NEXUS_W2_HITS=DIR`, also writes each of our policies' outcome at
//! every request (one byte, 1 for a hit) to DIR/ROW_PCT_POLICY.hits, to
//! compare policies request by request (a trace's requests are in
//! bench/.data/traces/, libCacheSim's oracleGeneral format).

#![allow(dead_code)]

#[path = "../progress.rs"]
mod progress;
#[path = "../rng.rs"]
mod rng;
#[path = "../w2_hit_ratio.rs"]
mod w2_hit_ratio;
#[path = "../w2_libcachesim.rs"]
mod w2_libcachesim;
#[path = "../w2_traces.rs"]
mod w2_traces;

use crate::rng::mix64;
use crate::w2_hit_ratio::{NEXUS_TINY_LFU, Params, measure, nexus_hits, traces};

fn main() {
    let mut args = std::env::args().skip(1);
    let filter = args.next().unwrap_or_else(|| "all".into());
    let mut policies: Vec<String> = args.collect();
    if policies.is_empty() {
        policies.push(NEXUS_TINY_LFU.into());
    }
    let params = Params {
        keys: 100_000,
        trace_len: 1_000_000,
        extended: true,
    };
    let all = traces(&params);
    if !all.iter().any(|(t, _)| t.name.starts_with("cloudPhysics")) {
        eprintln!(
            "note: the real traces' rows (cloudPhysics, twitter) are left out: their data is not \
             set up (make bench-setup)"
        );
    }
    let mut rows = 0;
    for (trace, pct) in all {
        if filter != "all" && !trace.name.contains(filter.as_str()) {
            continue;
        }
        rows += 1;
        let keys: Vec<u64> = (0..trace.keys as u64).map(|i| mix64(i + 0xABCD)).collect();
        let capacity = trace.capacity(pct);
        let mut line = format!("{}\t{pct}", trace.name);
        for p in &policies {
            let (r, _) = measure(p, &trace, &keys, capacity);
            line.push_str(&format!("\t{:.4}", r * 100.0));
            if let Some(dir) = std::env::var_os("NEXUS_W2_HITS")
                && let Some(hits) = nexus_hits(p, &trace, &keys, capacity)
            {
                let name: String = format!("{}_{pct}_{p}", trace.name)
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let path = std::path::Path::new(&dir).join(format!("{name}.hits"));
                std::fs::write(&path, hits).expect("writing the hits");
            }
        }
        println!("{line}");
    }
    if rows == 0 {
        eprintln!(
            "no row's trace name contains {filter:?}: the first argument filters rows by trace \
             name (\"all\" for every row), the policies follow it"
        );
        std::process::exit(2);
    }
}
