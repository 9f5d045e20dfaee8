//! libCacheSim's algorithms as extra W2 columns. libCacheSim (GPL) is never
//! a dependency of the library: `make bench-setup` installs the libcachesim
//! wheel into the bench's own venv (bench/.data/venv, git-ignored); here
//! each trace is written in libCacheSim's oracleGeneral format (24-byte
//! records: time u32, object id u64, size u32, next access i64) and
//! bench/libcachesim/run_algorithms.py runs the algorithms on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::w2_traces::Trace;

/// The algorithms, in column order (the runner's names).
pub const ALGORITHMS: [&str; 8] = [
    "LRU",
    "ARC",
    "LIRS",
    "2Q",
    "W-TinyLFU",
    "S3-FIFO",
    "SIEVE",
    "Belady",
];

fn data_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".data")
}

fn python() -> PathBuf {
    data_root().join("venv/bin/python")
}

/// Whether the bench's venv with libcachesim is set up.
pub fn available() -> bool {
    python().is_file()
}

/// Writes `trace` in oracleGeneral format (sizes 1 for a count-sized
/// trace) under bench/.data/traces/; returns the path.
pub fn write_trace(trace: &Trace, file: &str) -> std::io::Result<PathBuf> {
    let dir = data_root().join("traces");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{file}.oracleGeneral.bin"));
    let mut next = vec![-1i64; trace.ids.len()];
    let mut last = vec![-1i64; trace.keys];
    for (t, &k) in trace.ids.iter().enumerate().rev() {
        next[t] = last[k as usize];
        last[k as usize] = t as i64;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for (t, &k) in trace.ids.iter().enumerate() {
        out.write_all(&(t as u32).to_le_bytes())?;
        out.write_all(&(u64::from(k) + 1).to_le_bytes())?;
        out.write_all(&(trace.size_of(k) as u32).to_le_bytes())?;
        out.write_all(&next[t].to_le_bytes())?;
    }
    out.flush()?;
    Ok(path)
}

/// Hit ratios (byte hit ratios for a sized trace) of every algorithm on
/// the trace at `path` with a cache of `capacity` (entries or bytes), in
/// `ALGORITHMS` order; NaN for an algorithm that failed.
pub fn run(path: &Path, capacity: u64, sized: bool) -> Vec<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("libcachesim/run_algorithms.py");
    // One process for every algorithm (each line names its algorithm).
    let out = Command::new(python())
        .arg(&script)
        .arg(path)
        .arg(capacity.to_string())
        .args(ALGORITHMS)
        .output();
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => {
            eprintln!("W2: cannot run libCacheSim: {e}");
            String::new()
        }
    };
    ALGORITHMS
        .iter()
        .map(|alg| {
            text.lines()
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    (cols.first() == Some(alg))
                        .then(|| cols.get(if sized { 2 } else { 1 })?.parse().ok())
                        .flatten()
                })
                .next()
                .unwrap_or(f64::NAN)
        })
        .collect()
}
