//! The results as markdown: machine, targets, then one section per
//! workload with how it was measured.

use std::fmt::Write;

use crate::instructions::Ic;
use crate::machine::Machine;
use crate::stats::{median, percentile};
use crate::targets::Target;
use crate::w1_throughput::{self as w1, W1};
use crate::w2_hit_ratio::{self as w2, W2};
use crate::w2_libcachesim as lcs;
use crate::w3_memory::W3;
use crate::w4_pressure::W4;

pub struct Results<'a> {
    pub machine: &'a Machine,
    pub quick: bool,
    pub command: String,
    pub seconds: f64,
    pub w1: Option<&'a W1>,
    pub w2: Option<&'a W2>,
    pub w3: Option<&'a W3>,
    pub w4: Option<&'a W4>,
    pub ic: Option<&'a Ic>,
    pub targets: &'a [Target],
}

fn met(t: &Target, quick: bool) -> &'static str {
    match (quick, t.met) {
        (true, _) => "not judged (sanity run)",
        (false, true) => "met",
        (false, false) => "**missed**",
    }
}

/// The targets with their figures. A quick run judges none of them: its
/// sizes are small and its timings noisy, so a met or missed would mislead.
pub fn targets_table(targets: &[Target], quick: bool) -> String {
    let mut s = String::from("| target | measured | |\n|---|---|---|\n");
    for t in targets {
        let _ = writeln!(s, "| {} | {} | {} |", t.goal, t.measured, met(t, quick));
    }
    s
}

/// What a run prints at its end (before the sanity checks' verdict): a full
/// run, the targets table and how many are met; a quick run, that it is a
/// sanity run and judges no speed target.
pub fn closing(quick: bool, targets: &[Target], results: &str, seconds: f64) -> String {
    if quick {
        return format!(
            "\nQuick sanity run (small sizes, {seconds:.0} s): it checks that every workload runs and \
             gives sane numbers, and judges none of the {} speed targets of issue 5 (the full \
             run, `make bench`, does). Figures: {results}.\n",
            targets.len()
        );
    }
    let met = targets.iter().filter(|t| t.met).count();
    format!(
        "\nTargets of issue 5 (measured in this run):\n\n{}\n{met} of {} targets met. \
         Results: {results} (and latest.svg), {seconds:.0} s in all.\n",
        targets_table(targets, false),
        targets.len()
    )
}

pub fn markdown(r: &Results) -> String {
    let m = r.machine;
    let mut s = String::new();
    let _ = writeln!(s, "# nexus_store beside its peers\n");
    let _ = writeln!(
        s,
        "Measured by `{}` ({} run, {:.0} s) on {}. Every figure compares contenders \
         measured in this one run on this machine; absolute numbers move with the \
         machine, ratios much less.\n",
        r.command,
        if r.quick { "quick smoke" } else { "full" },
        r.seconds,
        m.date
    );
    let _ = writeln!(s, "| machine | |\n|---|---|");
    let _ = writeln!(s, "| CPU | {} |", m.cpu);
    let _ = writeln!(
        s,
        "| cores | {} (shared; runs are noisy, hence medians and in-round ratios) |",
        m.cores
    );
    let _ = writeln!(s, "| memory | {} |", m.memory);
    let _ = writeln!(s, "| OS | {} |", m.kernel);
    let _ = writeln!(s, "| compiler | {} |", m.rustc);
    let _ = writeln!(
        s,
        "| peers | moka 0.12 (sync), mini-moka 0.10, quick_cache 0.7, lru 0.19 behind parking_lot 0.13 Mutex |"
    );
    if r.quick {
        let _ = writeln!(
            s,
            "\n## Targets (issue 5): not judged in a quick sanity run\n"
        );
    } else {
        let _ = writeln!(s, "\n## Targets (issue 5)\n");
    }
    s.push_str(&targets_table(r.targets, r.quick));
    if let Some(w) = r.w1 {
        w1_section(&mut s, w);
    }
    if let Some(w) = r.w2 {
        w2_section(&mut s, w);
    }
    if let Some(w) = r.w3 {
        w3_section(&mut s, w);
    }
    if let Some(w) = r.w4 {
        w4_section(&mut s, w);
    }
    if let Some(ic) = r.ic {
        ic_section(&mut s, ic);
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n`cargo run --release -p nexus-store-bench --bin nexus-bench` \
         (full, a few minutes; writes `bench/results/latest.md` and `latest.svg`), or with \
         `-- --quick` (small sizes, about 20 s; writes to `target/bench-quick/`)."
    );
    s
}

fn w1_section(s: &mut String, w: &W1) {
    let _ = writeln!(
        s,
        "\n## W1 throughput\n\n{} key slots, a scrambled Zipf(0.99) key stream of {} ops per \
         thread (the same popular keys on every thread), caches filled first (every read \
         hits; checked); writes replace present keys. Keys are u64 or 24-byte strings (as \
         `Box<[u8]>` for every contender); values u64. nexus native is `Store<K, u64>` \
         charged 1 per entry; nexus 16 shards is the same with `shards: 16` (each shard \
         exact LRU over its part of the keys); nexus C ABI calls `nexus_store_get_copy` / `nexus_store_put` \
         with byte keys and 8-byte values (default estimator). Peers are sized for twice the \
         key slots. Each figure is the median of {} rounds; the contenders' order rotates \
         each round. Mops/s counts the ops of all threads over the wall time. \"At once\" \
         is the threads' CPU time over the wall time (median over the cell's runs): 2.0 when \
         the two threads ran side by side throughout, near 1.0 when they took turns on one \
         core (a busy machine), and then a 2-thread figure measures no contention.\n",
        w1::SLOTS,
        w.params.ops_per_thread,
        w.params.rounds
    );
    let _ = write!(s, "| keys | mix | threads | at once |");
    for c in w1::CONTENDERS {
        let _ = write!(s, " {c} |");
    }
    let _ = writeln!(
        s,
        "\n|---|---|---|---:|{}",
        "---:|".repeat(w1::CONTENDERS.len())
    );
    for c in &w.cells {
        let _ = write!(
            s,
            "| {} | {} | {} | {:.2} |",
            c.keys,
            c.mix.label(),
            c.threads,
            c.together()
        );
        for name in w1::CONTENDERS {
            let _ = write!(s, " {:.2} |", c.median(name));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nRatios of ours to each peer (median over rounds of the in-round ratio; > 1 means \
         nexus is faster):\n"
    );
    let _ = write!(s, "| keys | mix | threads | ours |");
    for p in w1::PEERS {
        let _ = write!(s, " / {p} |");
    }
    let _ = writeln!(s, "\n|---|---|---|---|{}", "---:|".repeat(w1::PEERS.len()));
    for c in &w.cells {
        for ours in w1::OURS {
            let _ = write!(
                s,
                "| {} | {} | {} | {ours} |",
                c.keys,
                c.mix.label(),
                c.threads
            );
            for p in w1::PEERS {
                let _ = write!(s, " {:.2}x |", c.ratio(ours, p));
            }
            let _ = writeln!(s);
        }
    }
}

fn w2_section(s: &mut String, w: &W2) {
    let _ = writeln!(
        s,
        "\n## W2 hit ratio\n\nSynthetic traces: {} keys, {} requests (scrambled Zipf; a loop \
         over a fifth of the keys; the scan mix: Zipf 0.99 plus a one-pass scan of as many new \
         keys as the cache holds every 100,000 requests; the shifting set: Zipf 0.99 whose hot \
         keys change every 200,000 requests; sized: Zipf 0.99 over keys of 4 KiB-2 MiB, \
         log-uniform). Real traces (when set up): libCacheSim's cloudPhysics block-I/O trace \
         and twitter cluster 52 (first 1M requests), by count and by bytes (an object's size \
         is the one of its first request). Caches of 1% and 10% of the keys (or of their \
         bytes: *bytes* rows give the byte hit ratio). Our budget is set so the working size \
         holds exactly the peers' capacity (entry counts checked at the end of count rows). \
         Get, then put on a miss; hits counted over the whole trace, cold start included. \
         Belady (OPT) is the offline optimum (MIN with bypass) on count rows; on byte rows the \
         bound shown is libCacheSim's Belady (not optimal for bytes). lru has no weights: \
         \"-\" on byte rows. Hit ratios in %.\n",
        w.params.keys, w.params.trace_len
    );
    let lcs_cols: &[&str] = if w.with_lcs { &lcs::ALGORITHMS } else { &[] };
    let _ = write!(s, "| trace | cache |");
    for p in w2::POLICIES {
        let _ = write!(s, " {p} |");
    }
    for a in lcs_cols {
        let _ = write!(s, " lcs {a} |");
    }
    let _ = writeln!(
        s,
        " TINY_LFU - best peer | TINY_LFU - best lcs |\n|---|---|{}---:|---:|",
        "---:|".repeat(w2::POLICIES.len() + lcs_cols.len())
    );
    let cell = |v: f64, bold: bool| {
        if !v.is_finite() {
            " - |".to_string()
        } else if bold {
            format!(" **{:.2}** |", v * 100.0)
        } else {
            format!(" {:.2} |", v * 100.0)
        }
    };
    for r in &w.rows {
        let _ = write!(s, "| {} | {}% ({}) |", r.trace, r.cache_pct, r.capacity);
        // Bold: the best online policy of the row (ours, peers', lcs').
        let best_online = w2::POLICIES
            .iter()
            .zip(&r.ratios)
            .filter(|(p, _)| **p != w2::BELADY)
            .map(|(_, &v)| v)
            .chain(
                lcs::ALGORITHMS
                    .iter()
                    .zip(&r.lcs)
                    .filter(|(a, _)| **a != "Belady")
                    .map(|(_, &v)| v),
            )
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        for (p, &v) in w2::POLICIES.iter().zip(&r.ratios) {
            s.push_str(&cell(v, *p != w2::BELADY && v == best_online));
        }
        for (a, &v) in lcs::ALGORITHMS.iter().zip(&r.lcs) {
            s.push_str(&cell(v, *a != "Belady" && v == best_online));
        }
        let tiny = r.ratio(w2::NEXUS_TINY_LFU);
        let (peer, best) = r.best_peer();
        let _ = write!(s, " {:+.2} ({peer}) |", (tiny - best) * 100.0);
        match r.best_lcs() {
            Some((a, v)) => {
                let _ = writeln!(s, " {:+.2} ({a}) |", (tiny - v) * 100.0);
            }
            None => {
                let _ = writeln!(s, " - |");
            }
        }
    }
    let _ = writeln!(
        s,
        "\nBold: the best online policy of the row (Belady excluded). lcs: libCacheSim 0.3.5's \
         own implementation (its Python wheel, run by bench/libcachesim/run_algorithms.py \
         on the same trace). Differences in points."
    );
}

fn ic_section(s: &mut String, ic: &Ic) {
    let _ = writeln!(
        s,
        "\n## Instructions per call\n\nCounted by callgrind (exact and repeatable, unlike \
         timings on this shared machine): `nexus-profile MODE {} STRATEGY` under `valgrind \
         --tool=callgrind --toggle-collect='nexus_profile::measured*'`, which counts only inside \
         the wrapper around each call (the fill and the loop left out). 32768 u64 keys (8-byte \
         keys through the C ABI), a skewed stream of hits or replaces of present keys.\n",
        ic.ops
    );
    let _ = writeln!(
        s,
        "| call | nexus-profile mode | strategy | instructions / call |\n|---|---|---|---:|"
    );
    for r in &ic.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} |",
            r.call, r.mode, r.strategy, r.per_call
        );
    }
}

fn w3_section(s: &mut String, w: &W3) {
    let _ = writeln!(
        s,
        "\n## W3 memory\n\n{} u64 -> u64 entries; heap bytes counted by a global allocator \
         (requested sizes, malloc's own headers not included) from before the cache is created \
         to after the last insert, divided by the entries held. Capacities are the entry count \
         (peers; quick_cache's shards may then hold a few fewer) or a budget that evicts \
         nothing (ours).\n",
        w.entries
    );
    let _ = writeln!(
        s,
        "| cache | entries held | heap bytes / entry | beyond key + value (16 B) |\n|---|---:|---:|---:|"
    );
    for r in &w.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} |",
            r.name,
            r.entries,
            r.bytes_per_entry,
            r.overhead()
        );
    }
}

fn w4_section(s: &mut String, w: &W4) {
    let p = &w.params;
    let _ = writeln!(
        s,
        "\n## W4 pressure\n\n{} entries charged 256 B - 1 KiB (uniform; {:.0} MiB in all); \
         values are `u32` charges with no heap block of that size (for every contender), so \
         these are bookkeeping costs. Each repeat sheds {:.0} MiB (timed), then the cache is \
         restored untimed. nexus sheds by a MODERATE signal (keep set to shed that much) or by \
         `evict(n)` with the count the signal evicted; lru+Mutex by `resize(len - n)` (same \
         count; lru has no weights; its resize also shrinks the map); quick_cache, weighted by \
         charge, by `set_capacity(weight - {:.0} MiB)`. ns per evicted entry over {} quiet \
         repeats (p99 by nearest rank: with fewer than 100 repeats, the slowest); then {} repeats with a reader thread doing random gets, whose per-get \
         latency is recorded while a shed runs. The per-get percentiles undercount a long \
         stall (a reader blocked 10 ms issues one get in that time); the time-weighted p99 \
         weights each get by its latency: what a get arriving at a random instant of the \
         shed waits; \"per shed\" is that computed within each shed, median over sheds (robust \
         to a rare preemption of the reader on this shared machine). Every cache is read \
         once in a random order after filling, so no recency order follows allocation \
         order.\n",
        p.entries,
        w.total_bytes as f64 / (1 << 20) as f64,
        p.shed_bytes as f64 / (1 << 20) as f64,
        p.shed_bytes as f64 / (1 << 20) as f64,
        p.repeats,
        p.reader_repeats
    );
    let _ = writeln!(
        s,
        "| shed by | evicted | MiB shed | ns/entry p50 | ns/entry p99 | ns/entry p50, reader on | reader get p50 | p99 | p99.9 | max | time-weighted p99 | per shed | gets |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &w.shed {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            median(&r.evicted),
            median(&r.shed_bytes) / (1 << 20) as f64,
            r.p50(),
            r.p99(),
            median(&r.ns_per_entry_reader),
            ns(r.reader.p50),
            ns(r.reader.p99),
            ns(r.reader.p999),
            ns(r.reader.max),
            ns(r.reader.p99_time),
            ns(r.reader.p99_time_per_shed),
            r.reader.samples
        );
    }
    let _ = writeln!(
        s,
        "\nClearing all but 1% ({} repeats; the kept keys are the same for both):\n\n| clear by | entries removed | ms p50 | ms max | ns/entry p50 |\n|---|---:|---:|---:|---:|",
        p.clear_repeats
    );
    for r in &w.clear {
        let m = median(&r.ms);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {:.0} |",
            r.name,
            r.removed,
            m,
            percentile(&r.ms, 100.0),
            m * 1e6 / r.removed as f64
        );
    }
}

/// A latency in ns, in a readable unit.
fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} us", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        vec![
            Target {
                goal: "fast".into(),
                measured: "2.0x".into(),
                met: true,
            },
            Target {
                goal: "faster".into(),
                measured: "0.5x".into(),
                met: false,
            },
        ]
    }

    #[test]
    fn a_quick_run_says_it_is_a_sanity_run_and_judges_nothing() {
        let out = closing(true, &targets(), "target/bench-quick/latest.md", 42.0);
        assert!(out.contains("Quick sanity run"), "{out}");
        assert!(out.contains("judges none of the 2 speed targets"), "{out}");
        assert!(!out.contains("missed") && !out.contains("met"), "{out}");
        let table = targets_table(&targets(), true);
        assert!(!table.contains("missed"), "{table}");
        assert_eq!(
            table.matches("not judged (sanity run)").count(),
            2,
            "{table}"
        );
    }

    #[test]
    fn a_full_run_lists_every_target_met_or_missed() {
        let out = closing(false, &targets(), "bench/results/latest.md", 300.0);
        assert!(out.contains("| fast | 2.0x | met |"), "{out}");
        assert!(out.contains("| faster | 0.5x | **missed** |"), "{out}");
        assert!(out.contains("1 of 2 targets met."), "{out}");
        assert!(!out.contains("sanity run"), "{out}");
    }
}
