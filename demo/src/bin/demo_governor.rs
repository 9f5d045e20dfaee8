//! The budget governor demo (`make demo-governor`): three caches of one app
//! share a 48 MiB budget through a [`Governor`], and the app goes through a
//! pressure sequence. It prints a timeline (one line per simulated second),
//! a text chart of each store's usage, and a summary that checks the two
//! promises: the lowest-priority store gives first, and floors hold.
//!
//! Deterministic: the workload is a fixed schedule and every entry's charge
//! is explicit, so every run prints the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use nexus_store::{
    Governor, GovernorConfig, GovernorEvent, GovernorEventKind, MemberConfig, MemoryConfig,
    MemoryPressureLevel, ShedCause, Store,
};

const MIB: u64 = 1 << 20;
const BUDGET: u64 = 48 * MIB;
const SECONDS: u64 = 36;

/// One cache of the app: its terms and what it puts each second.
struct Cache {
    name: &'static str,
    symbol: char,
    member: MemberConfig,
    /// Entries put per second, and each one's charge.
    per_second: u64,
    entry_bytes: u64,
}

const fn cache(
    name: &'static str,
    symbol: char,
    priority: u32,
    floor: u64,
    ceiling: Option<u64>,
    per_second: u64,
    entry_bytes: u64,
) -> Cache {
    Cache {
        name,
        symbol,
        member: MemberConfig {
            priority,
            floor_bytes: floor,
            ceiling_bytes: ceiling,
        },
        per_second,
        entry_bytes,
    }
}

const CACHES: [Cache; 3] = [
    cache("thumbnails", 'T', 1, 4 * MIB, None, 12, 256 * 1024),
    cache("audio", 'A', 2, 8 * MIB, None, 2, MIB),
    cache("glyphs", 'G', 3, 6 * MIB, Some(16 * MIB), 8, 256 * 1024),
];

/// What the app is told, and when (simulated seconds).
const PRESSURE: [(u64, MemoryPressureLevel); 4] = [
    (16, MemoryPressureLevel::Moderate),
    (22, MemoryPressureLevel::Critical),
    (27, MemoryPressureLevel::Emergency),
    (31, MemoryPressureLevel::None),
];

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

struct Second {
    t: u64,
    level: MemoryPressureLevel,
    budget_in_force: u64,
    usage: [u64; 3],
    shed: [u64; 3],
}

fn main() -> Result<(), nexus_store::Error> {
    let governor = Governor::new(GovernorConfig::with_budget(BUDGET))?;
    let stores: Vec<Store<u64, ()>> = CACHES
        .iter()
        .map(|_| Store::with_estimator(MemoryConfig::default(), |_: &u64, _: &()| 0))
        .collect::<Result<_, _>>()?;
    let ids: Vec<u64> = stores.iter().map(Store::id).collect();
    for (store, c) in stores.iter().zip(&CACHES) {
        governor.join(store, c.member)?;
    }
    // Shed bytes per store in the current second, from the governor's events.
    let shed_now: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let shed_log: Arc<Mutex<Vec<GovernorEvent>>> = Arc::default();
    // Sheds (for the budget or a signal) taken from a store while a store
    // of lower priority still held more than its floor: there must be none.
    let out_of_order: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let (now, log, bad) = (
            Arc::clone(&shed_now),
            Arc::clone(&shed_log),
            Arc::clone(&out_of_order),
        );
        let stores = stores.clone();
        let ids = ids.clone();
        governor.set_event_callback(Some(Arc::new(move |e: &GovernorEvent| {
            if e.kind != GovernorEventKind::Shed {
                return;
            }
            *now.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(e.store_id)
                .or_default() += e.bytes;
            log.lock().unwrap_or_else(PoisonError::into_inner).push(*e);
            let i = ids.iter().position(|&id| id == e.store_id).unwrap_or(0);
            if e.cause == ShedCause::Ceiling {
                return;
            }
            // The callback runs with no lock held: it may read the stores.
            for (j, c) in CACHES.iter().enumerate() {
                let usage = stores[j].metrics().current_usage;
                if c.member.priority < CACHES[i].member.priority && usage > c.member.floor_bytes {
                    bad.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(format!(
                            "{} gave while {} held {:.1} MiB above its floor",
                            CACHES[i].name,
                            c.name,
                            mib(usage - c.member.floor_bytes)
                        ));
                }
            }
        })));
    }

    println!(
        "nexus_store budget governor demo: three caches share {} MiB",
        mib(BUDGET)
    );
    for c in &CACHES {
        println!(
            "  {} {:<10} priority {}  floor {:>4.1} MiB  ceiling {:<8}  puts {:>2} x {:>4} KiB / s",
            c.symbol,
            c.name,
            c.member.priority,
            mib(c.member.floor_bytes),
            c.member
                .ceiling_bytes
                .map_or("none".to_string(), |b| format!("{:.0} MiB", mib(b))),
            c.per_second,
            c.entry_bytes / 1024
        );
    }
    println!("\nTimeline (usage in MiB; shed this second in brackets)");
    println!(
        "   t  level      budget   {:>16} {:>16} {:>16}   total",
        CACHES[0].name, CACHES[1].name, CACHES[2].name
    );

    let mut next_key = 0u64;
    let mut seconds = Vec::new();
    for t in 1..=SECONDS {
        if let Some(&(_, level)) = PRESSURE.iter().find(|(at, _)| *at == t) {
            governor.signal_pressure(level);
        }
        for (store, c) in stores.iter().zip(&CACHES) {
            for _ in 0..c.per_second {
                next_key += 1;
                store.put_charged(next_key, (), c.entry_bytes)?;
            }
        }
        let m = governor.metrics();
        let shed = std::mem::take(&mut *shed_now.lock().unwrap_or_else(PoisonError::into_inner));
        let s = Second {
            t,
            level: m.level,
            budget_in_force: m.budget_in_force,
            usage: [0, 1, 2].map(|i| m.members[i].usage_bytes),
            shed: [0, 1, 2].map(|i| shed.get(&ids[i]).copied().unwrap_or(0)),
        };
        let cell = |i: usize| {
            let shed = if s.shed[i] > 0 {
                format!("[-{:.1}]", mib(s.shed[i]))
            } else {
                String::new()
            };
            format!("{:>6.1} {:<9}", mib(s.usage[i]), shed)
        };
        println!(
            "{:>4}s {:<10} {:>5.1}  {} {} {}  {:>5.1}",
            s.t,
            s.level.as_str(),
            mib(s.budget_in_force),
            cell(0),
            cell(1),
            cell(2),
            mib(m.total_usage)
        );
        seconds.push(s);
    }

    chart(&seconds);
    governor.set_event_callback(None);
    let bad = std::mem::take(&mut *out_of_order.lock().unwrap_or_else(PoisonError::into_inner));
    let log = std::mem::take(&mut *shed_log.lock().unwrap_or_else(PoisonError::into_inner));
    summary(&governor, &seconds, &log, &bad)
}

/// One row per second: each store's usage as its letter, one column per MiB,
/// lowercase above its floor and uppercase within it; `|` marks the budget
/// in force.
fn chart(seconds: &[Second]) {
    println!(
        "\nChart (one column = 1 MiB; UPPERCASE = within the floor, lowercase = above it; | = budget in force)"
    );
    for s in seconds {
        let mut row = String::new();
        for (i, c) in CACHES.iter().enumerate() {
            let cols = (s.usage[i] / MIB) as usize;
            let floor_cols = (c.member.floor_bytes / MIB) as usize;
            for col in 0..cols {
                row.push(if col < floor_cols {
                    c.symbol
                } else {
                    c.symbol.to_ascii_lowercase()
                });
            }
        }
        let limit = (s.budget_in_force / MIB) as usize;
        let mut line: Vec<char> = row.chars().collect();
        while line.len() < limit.max(48) + 1 {
            line.push(' ');
        }
        if limit < line.len() {
            line.insert(limit, '|');
        }
        let line: String = line.into_iter().collect();
        println!("{:>4}s {:<9} {}", s.t, s.level.as_str(), line.trim_end());
    }
}

/// What the governor took from whom and why, and the two checks.
fn summary(
    governor: &Governor,
    seconds: &[Second],
    log: &[GovernorEvent],
    out_of_order: &[String],
) -> Result<(), nexus_store::Error> {
    println!("\nWhat the governor took (MiB, by cause)");
    println!(
        "  {:<10} {:>11} {:>9} {:>8} {:>8}",
        "store", "over budget", "pressure", "ceiling", "entries"
    );
    let m = governor.metrics();
    for (i, c) in CACHES.iter().enumerate() {
        let mm = &m.members[i];
        let [o, p, ce] = mm.shed_bytes_by_cause;
        println!(
            "  {:<10} {:>11.1} {:>9.1} {:>8.1} {:>8}",
            c.name,
            mib(o),
            mib(p),
            mib(ce),
            mm.shed_entries
        );
    }
    let count = |cause: ShedCause| log.iter().filter(|e| e.cause == cause).count();
    println!(
        "  {} shed events: {} for the budget, {} for pressure, {} for a ceiling",
        log.len(),
        count(ShedCause::OverBudget),
        count(ShedCause::Pressure),
        count(ShedCause::Ceiling)
    );
    let first = |i: usize| {
        seconds
            .iter()
            .find(|s| s.shed[i] > 0)
            .map_or("never".to_string(), |s| format!("{}s", s.t))
    };
    println!(
        "  first shed (any cause): {} at {}, {} at {}, {} at {}",
        CACHES[0].name,
        first(0),
        CACHES[1].name,
        first(1),
        CACHES[2].name,
        first(2)
    );
    // Check 1: checked at every shed, in the event callback.
    for line in out_of_order.iter().take(5) {
        println!("  {line}");
    }
    let order_ok = out_of_order.is_empty();
    // Check 2: every store stayed at or above its floor once it reached it.
    let floors_ok = CACHES.iter().enumerate().all(|(i, c)| {
        let reached = seconds
            .iter()
            .position(|s| s.usage[i] >= c.member.floor_bytes);
        reached.is_none_or(|r| {
            seconds[r..]
                .iter()
                .all(|s| s.usage[i] >= c.member.floor_bytes)
        })
    });
    println!(
        "\n{} lowest priority first: no store gave for the budget or a signal while a lower one \
         held more than its floor ({} sheds checked)",
        if order_ok { "ok:" } else { "FAILED:" },
        log.len() - count(ShedCause::Ceiling)
    );
    println!(
        "{} floors held: every store stayed at or above its floor once it reached it (EMERGENCY included)",
        if floors_ok { "ok:" } else { "FAILED:" }
    );
    if !(order_ok && floors_ok) {
        std::process::exit(1);
    }
    Ok(())
}
