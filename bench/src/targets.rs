//! The targets of issue 5, each with the figure measured in this run and
//! whether it is met. Misses are listed like hits.

use crate::instructions::Ic;
use crate::w1_throughput::{self as w1, W1};
use crate::w2_hit_ratio::{self as w2, W2};
use crate::w3_memory::{self as w3, W3};
use crate::w4_pressure::{self as w4, W4};

pub struct Target {
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

fn throughput(w1: &W1, out: &mut Vec<Target>) {
    let hits = w1::MIXES[0];
    for keys in w1::KEY_KINDS {
        let c = w1.cell(keys, hits, 1);
        for (peer, need) in [(w1::LRU, 1.0), (w1::QUICK_CACHE, 0.8)] {
            let r = c.ratio(w1::NEXUS_C, peer);
            out.push(Target {
                goal: format!(
                    "1 thread, get hits through the C ABI ({keys} keys) >= {need:.1}x {peer}"
                ),
                measured: format!(
                    "{r:.2}x ({:.1} vs {:.1} Mops/s)",
                    c.median(w1::NEXUS_C),
                    c.median(peer)
                ),
                met: r >= need,
            });
        }
    }
    for keys in w1::KEY_KINDS {
        for mix in w1::MIXES {
            let c = w1.cell(keys, mix, 2);
            let r = c.ratio(w1::NEXUS_SHARDED, w1::LRU);
            out.push(Target {
                goal: format!(
                    "2 threads total, native {} shards ({keys} keys, {} mix) >= 1.5x lru+Mutex",
                    w1::SHARDS,
                    mix.label()
                ),
                measured: format!(
                    "{r:.2}x ({:.1} vs {:.1} Mops/s; 1 shard {:.2}x; threads at once {:.2})",
                    c.median(w1::NEXUS_SHARDED),
                    c.median(w1::LRU),
                    c.ratio(w1::NEXUS, w1::LRU),
                    c.together()
                ),
                met: r >= 1.5,
            });
        }
    }
    // Issue 15: two threads through the C ABI, 16 shards, every mix.
    for mix in w1::MIXES {
        let c = w1.cell("u64", mix, 2);
        let r = c.ratio(w1::NEXUS_C_SHARDED, w1::LRU);
        out.push(Target {
            goal: format!(
                "2 threads total, C ABI with {} shards (u64 keys, {} mix) >= 1.5x lru+Mutex",
                w1::SHARDS,
                mix.label()
            ),
            measured: format!(
                "{r:.2}x ({:.1} vs {:.1} Mops/s; threads at once {:.2})",
                c.median(w1::NEXUS_C_SHARDED),
                c.median(w1::LRU),
                c.together()
            ),
            met: r >= 1.5,
        });
    }
}

fn hit_ratio(w2: &W2, out: &mut Vec<Target>) {
    for row in w2.rows.iter().filter(|r| r.zipf().is_some()) {
        let (peer, best) = row.best_peer();
        // The better of nexus's LFU configurations, named in the row.
        let (config, lfu) = row.best_nexus_lfu();
        let points = (lfu - best) * 100.0;
        out.push(Target {
            goal: format!(
                "LFU hit ratio within 1 point of the best peer ({}, cache {}%), \
                 best nexus LFU configuration: {config}",
                row.trace, row.cache_pct
            ),
            measured: format!(
                "{points:+.2} points ({config} {:.2}% vs {peer} {:.2}%; plain nexus LFU {:.2}%)",
                lfu * 100.0,
                best * 100.0,
                row.ratio(w2::NEXUS_LFU) * 100.0
            ),
            met: points >= -1.0,
        });
    }
}

/// Issue 16's targets for TINY_LFU, row by row.
fn tiny_lfu(w2: &W2, out: &mut Vec<Target>) {
    use crate::w2_traces::Kind;
    for row in &w2.rows {
        let tiny = row.ratio(w2::NEXUS_TINY_LFU);
        let (peer, best) = row.best_peer();
        let at = format!("{}, cache {}%", row.trace, row.cache_pct);
        let vs_peer = (tiny - best) * 100.0;
        let peer_text = format!(
            "{vs_peer:+.2} vs {peer} ({:.2}% vs {:.2}%)",
            tiny * 100.0,
            best * 100.0
        );
        match row.kind {
            Kind::Zipf(_) => {
                let lcs = row.best_lcs();
                let vs_lcs = lcs.map(|(_, v)| (tiny - v) * 100.0);
                out.push(Target {
                    goal: format!(
                        "TINY_LFU >= the best peer and >= libCacheSim's best - 0.5 ({at})"
                    ),
                    measured: match lcs {
                        Some((a, v)) => format!(
                            "{peer_text}; {:+.2} vs libCacheSim {a} ({:.2}%)",
                            vs_lcs.unwrap_or(f64::NAN),
                            v * 100.0
                        ),
                        None => format!("{peer_text}; libCacheSim not run"),
                    },
                    met: vs_peer >= 0.0 && vs_lcs.is_some_and(|d| d >= -0.5),
                });
            }
            Kind::Loop => {
                let opt = row.belady();
                out.push(Target {
                    goal: format!("TINY_LFU >= the best peer and within 1 point of Belady ({at})"),
                    measured: format!("{peer_text}; Belady {:.2}%", opt * 100.0),
                    met: vs_peer >= 0.0 && (opt - tiny) * 100.0 <= 1.0,
                });
            }
            Kind::ScanMix | Kind::Shifting | Kind::Sized => {
                out.push(Target {
                    goal: format!("TINY_LFU >= the best peer ({at})"),
                    measured: peer_text,
                    met: vs_peer >= 0.0,
                });
            }
            Kind::Real => {
                let w = row.lcs_ratio("W-TinyLFU");
                let s3 = row.lcs_ratio("S3-FIFO");
                let best = row.best_lcs();
                out.push(Target {
                    goal: format!(
                        "TINY_LFU >= libCacheSim's W-TinyLFU and S3-FIFO, within 1 point of \
                         its best ({at})"
                    ),
                    measured: match best {
                        Some((a, b)) => format!(
                            "{:.2}% vs W-TinyLFU {:.2}%, S3-FIFO {:.2}%, best {a} {:.2}%",
                            tiny * 100.0,
                            w * 100.0,
                            s3 * 100.0,
                            b * 100.0
                        ),
                        None => "libCacheSim not run".into(),
                    },
                    met: best
                        .is_some_and(|(_, b)| tiny >= w && tiny >= s3 && (b - tiny) * 100.0 <= 1.0),
                });
            }
        }
    }
}

fn memory(w3: &W3, out: &mut Vec<Target>) {
    // The native stores (issue 5) and, issue 15, the C ABI store.
    for name in [w3::NEXUS_LRU, w3::NEXUS_LFU, w3::NEXUS_C] {
        let row = w3.row(name);
        out.push(Target {
            goal: format!("Per-entry overhead beyond key and value <= 64 B, {name}"),
            measured: format!(
                "{:.1} B ({:.1} B per u64 -> u64 entry)",
                row.overhead(),
                row.bytes_per_entry
            ),
            met: row.overhead() <= 64.0,
        });
    }
    // Issue 16: TINY_LFU's bytes per entry within 16 B of LRU's.
    let (tiny, lru) = (w3.row(w3::NEXUS_TINY_LFU), w3.row(w3::NEXUS_LRU));
    let extra = tiny.bytes_per_entry - lru.bytes_per_entry;
    out.push(Target {
        goal: "TINY_LFU bytes per entry within 16 B of LRU's".into(),
        measured: format!(
            "{extra:+.1} B ({:.1} vs {:.1} B per entry)",
            tiny.bytes_per_entry, lru.bytes_per_entry
        ),
        met: extra <= 16.0,
    });
}

fn pressure(w4: &W4, out: &mut Vec<Target>) {
    let lru = w4.shed_row(w4::LRU_RESIZE).p50();
    for name in [w4::NEXUS_SIGNAL, w4::NEXUS_EVICT] {
        let ours = w4.shed_row(name).p50();
        let r = ours / lru;
        out.push(Target {
            goal: format!("Shedding per evicted entry <= 0.5x lru resize, {name}"),
            measured: format!("{r:.2}x ({ours:.0} vs {lru:.0} ns/entry, p50)"),
            met: r <= 0.5,
        });
    }
    let ours = crate::stats::median(&w4.clear_row(w4::NEXUS_CLEAR).ms);
    let theirs = crate::stats::median(&w4.clear_row(w4::QC_RETAIN).ms);
    out.push(Target {
        goal: "clear_unpinned (1% pinned) <= 1.0x quick_cache retain".to_string(),
        measured: format!("{:.2}x ({ours:.1} vs {theirs:.1} ms)", ours / theirs),
        met: ours <= theirs,
    });
    let reader = &w4.shed_row(w4::NEXUS_SIGNAL).reader;
    out.push(Target {
        goal: "A concurrent reader's p99 stall during a shed < 1 ms (time-weighted, median over sheds)"
            .to_string(),
        measured: format!(
            "{:.2} ms (pooled {:.2} ms; per-get p99 {:.1} us, max {:.2} ms, {} gets)",
            reader.p99_time_per_shed / 1e6,
            reader.p99_time / 1e6,
            reader.p99 / 1e3,
            reader.max / 1e6,
            reader.samples
        ),
        met: reader.p99_time_per_shed < 1e6,
    });
}

/// Issue 15's instruction-count targets.
fn instructions(ic: &Ic, out: &mut Vec<Target>) {
    for (mode, strategy, goal, limit) in [
        (
            "get-copy",
            "lru",
            "instructions per nexus_store_get_copy hit (8-byte key and value)",
            200.0,
        ),
        (
            "get",
            "lru",
            "instructions per native get_cloned hit",
            120.0,
        ),
        (
            "put-copy",
            "lru",
            "instructions per C ABI put replacing a present key (8-byte key and value)",
            400.0,
        ),
    ] {
        let Some(r) = ic.row(mode, strategy) else {
            continue;
        };
        out.push(Target {
            goal: format!("{goal} <= {limit:.0}"),
            measured: format!("{:.0}", r.per_call),
            met: r.per_call <= limit,
        });
    }
    // Issue 16: TINY_LFU's hit and replacing put within 1.3x of LRU's.
    for (mode, what) in [("get", "get_cloned hit"), ("put", "put replacing a key")] {
        let (Some(tiny), Some(lru)) = (ic.row(mode, "tiny_lfu"), ic.row(mode, "lru")) else {
            continue;
        };
        let r = tiny.per_call / lru.per_call;
        out.push(Target {
            goal: format!("TINY_LFU {what} instructions <= 1.3x LRU's"),
            measured: format!("{r:.2}x ({:.0} vs {:.0})", tiny.per_call, lru.per_call),
            met: r <= 1.3,
        });
    }
}

pub fn evaluate(
    w1: Option<&W1>,
    w2: Option<&W2>,
    w3: Option<&W3>,
    w4: Option<&W4>,
    ic: Option<&Ic>,
) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(w) = w1 {
        throughput(w, &mut out);
    }
    if let Some(w) = w2 {
        hit_ratio(w, &mut out);
        tiny_lfu(w, &mut out);
    }
    if let Some(w) = w3 {
        memory(w, &mut out);
    }
    if let Some(w) = w4 {
        pressure(w, &mut out);
    }
    if let Some(ic) = ic {
        instructions(ic, &mut out);
    }
    out
}
