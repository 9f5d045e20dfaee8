//! `nexus-bench`: nexus_store side by side with moka, mini-moka,
//! quick_cache and lru+Mutex in one run (issue 5).
//!
//! `nexus-bench` runs the full benchmark and writes `bench/results/latest.md`
//! and `latest.svg`; `nexus-bench --quick` runs small sizes (a smoke run that
//! asserts nothing about speed, only that every workload ran and gave sane
//! numbers) and writes to `target/bench-quick/`. At the end a full run prints
//! each target of the issue with the measured figure and whether it is met; a
//! quick run says it is a sanity run and judges no target.

mod alloc;
mod cabi;
mod instructions;
mod machine;
mod progress;
mod report;
mod rng;
mod stats;
mod svg;
mod targets;
mod w1_throughput;
mod w2_hit_ratio;
mod w2_libcachesim;
mod w2_traces;
mod w3_memory;
mod w4_pressure;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const USAGE: &str = "usage: nexus-bench [--quick] [--out DIR] [--only W1,W2,W3,W4,IC]

  --quick   small sizes (about 20 s); checks only that every workload
            ran and produced sane numbers; writes to target/bench-quick/
  --out     where to write latest.md and latest.svg
            (default: bench/results, or target/bench-quick with --quick)
  --only    run only these workloads (IC: instructions per call, under
            callgrind; needs valgrind and nexus-profile built beside)";

struct Options {
    quick: bool,
    out: PathBuf,
    only: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut quick = false;
    let mut out = None;
    let mut only = vec![
        "W1".into(),
        "W2".into(),
        "W3".into(),
        "W4".into(),
        "IC".into(),
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?)),
            "--only" => {
                only = args
                    .next()
                    .ok_or("--only needs a list")?
                    .split(',')
                    .map(|w| w.trim().to_uppercase())
                    .collect();
                if let Some(bad) = only
                    .iter()
                    .find(|w| !["W1", "W2", "W3", "W4", "IC"].contains(&w.as_str()))
                {
                    return Err(format!("unknown workload {bad}"));
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = out.unwrap_or_else(|| {
        if quick {
            manifest.join("..").join("target").join("bench-quick")
        } else {
            manifest.join("results")
        }
    });
    Ok(Options { quick, out, only })
}

/// Problems with the numbers themselves (not with speed).
fn sanity(
    w1: Option<&w1_throughput::W1>,
    w2: Option<&w2_hit_ratio::W2>,
    w3: Option<&w3_memory::W3>,
    w4: Option<&w4_pressure::W4>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if let Some(w) = w1 {
        for c in &w.cells {
            if c.misses != 0 || c.failures != 0 {
                bad.push(format!(
                    "W1 {}: {} read misses, {} failed writes",
                    c.label(),
                    c.misses,
                    c.failures
                ));
            }
            // CPU time cannot exceed the threads' share of the wall time
            // (a little slack for the clocks' granularity).
            let limit = c.threads as f64 * 1.05 + 0.05;
            if !c.together.iter().all(|&v| positive(v) && v <= limit) {
                bad.push(format!(
                    "W1 {}: threads at once {:?}, not in (0, {limit}]",
                    c.label(),
                    c.together
                ));
            }
            for (name, runs) in w1_throughput::CONTENDERS.iter().zip(&c.mops) {
                if runs.len() != w.params.rounds || !runs.iter().all(|&v| positive(v)) {
                    bad.push(format!("W1 {} {name}: bad throughput {runs:?}", c.label()));
                }
            }
        }
    }
    if let Some(w) = w2 {
        for r in &w.rows {
            let opt = r.belady();
            let ours_and_peers = w2_hit_ratio::POLICIES.iter().zip(&r.ratios);
            let theirs = w2_libcachesim::ALGORITHMS.iter().zip(&r.lcs);
            for (p, &v) in ours_and_peers.chain(theirs) {
                if v.is_nan() && (r.sized || !w2_hit_ratio::PEERS.contains(p)) {
                    continue; // does not apply (count-only policy on a sized trace)
                }
                if !(0.0..=1.0).contains(&v) {
                    bad.push(format!(
                        "W2 {} {}%: {p} hit ratio {v} not in [0, 1]",
                        r.trace, r.cache_pct
                    ));
                }
                // Belady is the bound for count traces; with sizes it is not
                // the optimum for bytes.
                if !r.sized && *p != "Belady" && opt.is_finite() && v > opt + 1e-12 {
                    bad.push(format!(
                        "W2 {} {}%: {p} ({v}) beats Belady ({opt})",
                        r.trace, r.cache_pct
                    ));
                }
            }
            if !r.sized && r.nexus_entries.iter().any(|&n| n != r.capacity) {
                bad.push(format!(
                    "W2 {} {}%: our stores held {:?} entries, not {}",
                    r.trace, r.cache_pct, r.nexus_entries, r.capacity
                ));
            }
        }
    }
    if let Some(w) = w3 {
        for r in &w.rows {
            if !(r.bytes_per_entry.is_finite() && r.bytes_per_entry >= 16.0)
                || r.entries * 100 < w.entries as u64 * 99
            {
                bad.push(format!(
                    "W3 {}: {} bytes/entry with {} of {} entries held",
                    r.name, r.bytes_per_entry, r.entries, w.entries
                ));
            }
        }
    }
    if let Some(w) = w4 {
        for r in &w.shed {
            let all = r.ns_per_entry.iter().chain(&r.ns_per_entry_reader);
            if !all.copied().all(positive) || r.reader.samples == 0 || !positive(r.reader.max) {
                bad.push(format!("W4 {}: missing or bad figures", r.name));
            }
        }
        let ours = w.shed_row(w4_pressure::NEXUS_SIGNAL);
        if ours
            .shed_bytes
            .iter()
            .any(|&b| b < w.params.shed_bytes as f64)
        {
            bad.push(format!(
                "W4: the signal shed less than {} bytes: {:?}",
                w.params.shed_bytes, ours.shed_bytes
            ));
        }
        for r in &w.clear {
            if !r.ms.iter().copied().all(positive) || r.ms.len() != w.params.clear_repeats {
                bad.push(format!("W4 {}: bad timings {:?}", r.name, r.ms));
            }
        }
    }
    bad
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("nexus-bench: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let started = Instant::now();
    let machine = machine::Machine::detect();
    let q = opts.quick;
    let runs = |w: &str| opts.only.iter().any(|o| o == w);
    eprintln!(
        "nexus-bench ({}): {} on {} cores, {}",
        if q { "quick" } else { "full" },
        machine.cpu,
        machine.cores,
        machine.rustc
    );

    let w1 = runs("W1").then(|| {
        w1_throughput::run(w1_throughput::Params {
            ops_per_thread: if q { 1 << 16 } else { 1 << 18 },
            rounds: if q { 2 } else { 9 },
        })
    });
    let w2 = runs("W2").then(|| {
        w2_hit_ratio::run(w2_hit_ratio::Params {
            keys: if q { 10_000 } else { 100_000 },
            trace_len: if q { 100_000 } else { 1_000_000 },
            extended: !q,
        })
    });
    let w3 = runs("W3").then(|| w3_memory::run(if q { 100_000 } else { 1_000_000 }));
    let w4 = runs("W4").then(|| {
        let entries = if q { 100_000 } else { 1_000_000 };
        w4_pressure::run(w4_pressure::Params {
            entries,
            // 64 MiB per million entries.
            shed_bytes: (64u64 << 20) * entries as u64 / 1_000_000,
            repeats: if q { 10 } else { 30 },
            reader_repeats: if q { 5 } else { 10 },
            clear_repeats: if q { 2 } else { 5 },
        })
    });

    let ic = if runs("IC") {
        instructions::run(if q { 20_000 } else { 100_000 })
    } else {
        None
    };

    let targets = targets::evaluate(
        w1.as_ref(),
        w2.as_ref(),
        w3.as_ref(),
        w4.as_ref(),
        ic.as_ref(),
    );
    let results = report::Results {
        machine: &machine,
        quick: q,
        command: if q {
            "nexus-bench --quick".into()
        } else {
            "nexus-bench".into()
        },
        seconds: started.elapsed().as_secs_f64(),
        w1: w1.as_ref(),
        w2: w2.as_ref(),
        w3: w3.as_ref(),
        w4: w4.as_ref(),
        ic: ic.as_ref(),
        targets: &targets,
    };
    let md = report::markdown(&results);
    let svg = svg::chart(w1.as_ref(), w2.as_ref());
    let written = std::fs::create_dir_all(&opts.out)
        .and_then(|()| std::fs::write(opts.out.join("latest.md"), &md))
        .and_then(|()| std::fs::write(opts.out.join("latest.svg"), &svg));
    if let Err(e) = written {
        eprintln!("nexus-bench: cannot write to {}: {e}", opts.out.display());
        return ExitCode::FAILURE;
    }

    print!(
        "{}",
        report::closing(
            q,
            &targets,
            &opts.out.join("latest.md").display().to_string(),
            started.elapsed().as_secs_f64()
        )
    );

    let bad = sanity(w1.as_ref(), w2.as_ref(), w3.as_ref(), w4.as_ref());
    if bad.is_empty() {
        println!("Sanity checks: every workload that ran produced sane numbers.");
        ExitCode::SUCCESS
    } else {
        for b in &bad {
            eprintln!("SANITY FAILURE: {b}");
        }
        ExitCode::FAILURE
    }
}
