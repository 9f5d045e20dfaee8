//! Expiry: time to live per store and per put, time to idle per store, on a
//! manual clock, rule by rule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_store::{ErrorKind, EventKind, EvictionReason, ManualClock, MemoryConfig, Store};

type Charged = Store<String, u64>;

fn store(ttl_ms: u64, tti_ms: u64) -> (Charged, Arc<ManualClock>) {
    store_with(MemoryConfig {
        ttl_ms,
        tti_ms,
        ..MemoryConfig::default()
    })
}

/// A store of `config`, charged its values, on a manual clock at 1 s.
fn store_with(config: MemoryConfig) -> (Charged, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let s = Store::builder(config, |_: &String, v: &u64| *v)
        .clock(clock.clone())
        .build()
        .unwrap();
    (s, clock)
}

fn put(s: &Charged, key: &str, charge: u64) {
    s.put(key.to_string(), charge).unwrap();
}

type Heard = Arc<Mutex<Vec<(String, EvictionReason)>>>;

fn listen(s: &Charged) -> Heard {
    let heard: Heard = Arc::default();
    let h = Arc::clone(&heard);
    s.set_eviction_listener(Some(Arc::new(move |k: &String, r, _| {
        h.lock().unwrap().push((k.clone(), r));
    })));
    heard
}

#[test]
fn an_entry_expires_at_its_ttl_and_is_never_returned_after() {
    let (s, clock) = store(100, 0);
    let heard = listen(&s);
    put(&s, "a", 5);
    clock.advance_ms(99);
    assert_eq!(s.get_cloned("a"), Some(5), "alive 1 ms before its end");
    clock.advance_ms(1);
    assert_eq!(s.get_cloned("a"), None, "expired at 100 ms");
    assert!(!s.contains("a"));
    assert!(s.get("a").is_none());
    // The read saw it; the next call removed it, reason EXPIRED.
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("a".to_string(), EvictionReason::Expired)]
    );
    assert_eq!(s.metrics().current_usage, 0);
    assert_eq!(
        s.metrics().miss_count,
        2,
        "get_cloned and get; contains is no read"
    );
}

#[test]
fn a_put_starts_the_time_again_and_per_put_ttls_override_the_stores() {
    let (s, clock) = store(100, 0);
    put(&s, "a", 1);
    clock.advance_ms(60);
    put(&s, "a", 2); // replaced: a new 100 ms
    s.put_with_ttl("short".to_string(), 3, Duration::from_millis(10))
        .unwrap();
    s.put_with_ttl("long".to_string(), 4, Duration::from_secs(10))
        .unwrap();
    clock.advance_ms(60);
    assert_eq!(s.get_cloned("a"), Some(2));
    assert_eq!(s.get_cloned("short"), None);
    clock.advance_ms(1_000);
    assert_eq!(s.get_cloned("a"), None);
    assert_eq!(s.get_cloned("long"), Some(4), "its own 10 s");
    assert_eq!(
        s.put_with_ttl("z".to_string(), 1, Duration::ZERO)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_store_without_a_ttl_expires_only_what_put_with_ttl_says() {
    let (s, clock) = store(0, 0);
    put(&s, "forever", 1);
    s.put_with_ttl("brief".to_string(), 2, Duration::from_millis(5))
        .unwrap();
    put(&s, "forever-too", 3); // after expiry was turned on: still no TTL
    clock.advance_ms(3_600_000);
    assert_eq!(s.get_cloned("forever"), Some(1));
    assert_eq!(s.get_cloned("forever-too"), Some(3));
    assert_eq!(s.get_cloned("brief"), None);
}

#[test]
fn time_to_idle_runs_from_the_last_hit_and_a_ttl_still_caps_it() {
    let (s, clock) = store(0, 50);
    put(&s, "hot", 1);
    put(&s, "cold", 1);
    for _ in 0..5 {
        clock.advance_ms(40);
        assert_eq!(
            s.get_cloned("hot"),
            Some(1),
            "each hit starts the idle time again"
        );
    }
    assert_eq!(s.get_cloned("cold"), None, "200 ms without a read");
    let (t, clock) = store(100, 50);
    put(&t, "hot", 1);
    for _ in 0..2 {
        clock.advance_ms(40);
        assert_eq!(t.get_cloned("hot"), Some(1));
    }
    clock.advance_ms(20);
    assert_eq!(t.get_cloned("hot"), None, "the TTL caps the idle time");
}

#[test]
fn pinned_entries_expire_only_once_unpinned() {
    let (s, clock) = store(10, 0);
    let heard = listen(&s);
    put(&s, "p", 1);
    s.pin("p");
    clock.advance_ms(1_000);
    assert_eq!(s.get_cloned("p"), Some(1));
    assert_eq!(s.sweep_expired(), 0);
    s.unpin("p").unwrap();
    assert_eq!(s.get_cloned("p"), None);
    s.sweep_expired();
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("p".to_string(), EvictionReason::Expired)]
    );
}

#[test]
fn the_sweep_removes_every_expired_entry_with_one_event() {
    let (s, clock) = store(100, 0);
    let heard = listen(&s);
    for k in 0..10 {
        put(&s, &format!("k{k}"), 10);
    }
    clock.advance_ms(50);
    for k in 10..15 {
        put(&s, &format!("k{k}"), 10);
    }
    clock.advance_ms(60);
    std::iter::from_fn(|| s.poll_event()).for_each(drop);
    assert_eq!(s.sweep_expired(), 10);
    assert_eq!(s.metrics().entry_count, 5);
    assert_eq!(s.metrics().current_usage, 50);
    assert_eq!(heard.lock().unwrap().len(), 10);
    let ev: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter(|e| e.kind == EventKind::Eviction)
        .collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].reason, ev[0].count, ev[0].bytes),
        (EvictionReason::Expired, 10, 100)
    );
    assert_eq!(s.sweep_expired(), 0);
}

#[test]
fn a_read_handle_keeps_the_value_but_not_the_entry() {
    let (s, clock) = store(10, 0);
    put(&s, "a", 7);
    let h = s.get("a").unwrap();
    clock.advance_ms(20);
    assert_eq!(s.sweep_expired(), 1);
    assert_eq!(*h, 7, "the handle still reads its value");
    assert!(!s.contains("a"));
}

#[test]
fn expiry_on_a_sharded_store_and_a_slot_reused_starts_clean() {
    let (s, clock) = store_with(MemoryConfig {
        ttl_ms: 10,
        shards: 4,
        ..MemoryConfig::default()
    });
    for k in 0..40 {
        put(&s, &format!("k{k}"), 1);
    }
    clock.advance_ms(10);
    assert_eq!(s.sweep_expired(), 40);
    // The freed slots are reused by new entries, with their own time.
    for k in 0..40 {
        put(&s, &format!("n{k}"), 1);
    }
    clock.advance_ms(9);
    assert_eq!(s.sweep_expired(), 0);
    assert_eq!(s.metrics().entry_count, 40);
}

#[test]
fn a_sweep_counts_the_expired_entries_reads_had_found() {
    let (s, clock) = store(100, 0);
    let heard = listen(&s);
    for k in ["a", "b", "c"] {
        put(&s, k, 10);
    }
    clock.advance_ms(150);
    // The read finds "a" expired (a miss); the sweep's own call removes it
    // before it sweeps, and counts it with "b" and "c".
    assert!(s.get("a").is_none());
    assert_eq!(heard.lock().unwrap().len(), 0, "a read removes nothing");
    assert_eq!(s.sweep_expired(), 3);
    assert_eq!(heard.lock().unwrap().len(), 3);
    assert_eq!(s.metrics().entry_count, 0);
    assert_eq!(s.sweep_expired(), 0);
}

/// An expired entry is absent to every call, not only to reads: a put of
/// its key makes a new entry and the old one leaves as EXPIRED (not
/// REPLACED), and a remove finds nothing (NotFound) while the entry still
/// leaves as EXPIRED, whether or not a read saw it first (audit 10).
#[test]
fn a_put_or_remove_of_an_expired_key_finds_it_gone() {
    let (s, clock) = store(100, 0);
    let heard = listen(&s);
    put(&s, "re-put", 5);
    put(&s, "removed", 7);
    put(&s, "pinned", 9);
    s.pin("pinned");
    clock.advance_ms(100);
    put(&s, "re-put", 6);
    assert_eq!(
        s.remove("removed").map_err(|e| e.kind()),
        Err(ErrorKind::NotFound)
    );
    // A pinned entry expires only once unpinned: replaced as usual.
    put(&s, "pinned", 10);
    assert_eq!(
        *heard.lock().unwrap(),
        vec![
            ("re-put".to_string(), EvictionReason::Expired),
            ("removed".to_string(), EvictionReason::Expired),
            ("pinned".to_string(), EvictionReason::Replaced),
        ]
    );
    assert_eq!(
        s.get_cloned("re-put"),
        Some(6),
        "the new entry, with a TTL of its own"
    );
    let m = s.metrics();
    assert_eq!(m.current_usage, 6 + 10);
    assert_eq!(
        m.eviction_count, 0,
        "an expired entry's removal is no eviction, as when a read's next call removes it"
    );
    assert_eq!(m.entry_count, 2);
    clock.advance_ms(99);
    assert_eq!(
        s.get_cloned("re-put"),
        Some(6),
        "its TTL started at the new put"
    );
}

/// A put of an expired key that fails (OVER_BUDGET, TOO_LARGE) changes
/// nothing: the expired entry leaves only with a put that succeeds (audit 12:
/// it left as EXPIRED, usage and count fell, inside a call that failed).
#[test]
fn a_failed_put_of_an_expired_key_leaves_it_in_place() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 1_000,
        ttl_ms: 100,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    s.pin("pinned");
    put(&s, "pinned", 800);
    put(&s, "old", 100);
    clock.advance_ms(100);
    let unchanged = |what: &str| {
        let m = s.metrics();
        assert_eq!((m.current_usage, m.entry_count), (900, 2), "{what}");
        assert!(
            heard.lock().unwrap().is_empty(),
            "{what}: {:?}",
            heard.lock().unwrap()
        );
    };
    for (charge, kind) in [(400, ErrorKind::OverBudget), (2_000, ErrorKind::TooLarge)] {
        let e = s.put("old".to_string(), charge).unwrap_err();
        assert_eq!(e.kind(), kind);
        unchanged(&format!("after the failed put of {charge}"));
    }
    assert_eq!(s.get_cloned("old"), None, "still expired, so still absent");
    put(&s, "old", 150);
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("old".to_string(), EvictionReason::Expired)]
    );
    assert_eq!(s.metrics().current_usage, 950);
    assert_eq!(s.get_cloned("old"), Some(150));
}

/// Pinning a key whose entry has expired finds it gone: the entry leaves as
/// EXPIRED and the pin waits for the next put (audit 14: the pin made the
/// expired entry live again, and reads returned it).
#[test]
fn a_pin_of_an_expired_entry_does_not_bring_it_back() {
    let (s, clock) = store(100, 0);
    let heard = listen(&s);
    put(&s, "k", 5);
    clock.advance_ms(100);
    s.pin("k");
    assert!(s.is_pinned("k"));
    assert_eq!(s.get_cloned("k"), None);
    assert!(!s.contains("k"));
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("k".to_string(), EvictionReason::Expired)]
    );
    let m = s.metrics();
    assert_eq!((m.entry_count, m.pinned_count, m.current_usage), (0, 0, 0));
    // The pin waits for the key's next put, which it then keeps.
    put(&s, "k", 7);
    clock.advance_ms(1_000);
    assert_eq!(s.get_cloned("k"), Some(7));
    assert_eq!(s.metrics().pinned_count, 1);
}

/// `sweep_expired` (and the sweep `clear` starts with) removes in storage
/// order, the same for the same calls (audit 12: the order came from a
/// per-store seeded hash map, so two runs of one sequence differed).
#[test]
fn a_sweep_removes_in_the_same_order_every_time() {
    let expected: Vec<(String, EvictionReason)> = (0..16)
        .map(|i| (format!("k{i}"), EvictionReason::Expired))
        .collect();
    for clear_all in [false, true] {
        let (s, clock) = store(100, 0);
        let heard = listen(&s);
        for i in 0..16 {
            put(&s, &format!("k{i}"), 1);
        }
        clock.advance_ms(100);
        if clear_all {
            assert_eq!(s.clear(), 0, "only expired entries");
        } else {
            assert_eq!(s.sweep_expired(), 16);
        }
        assert_eq!(*heard.lock().unwrap(), expected, "clear: {clear_all}");
    }
}

/// `clear` and `clear_unpinned` take expired entries out first, as EXPIRED,
/// and count only the live ones they removed (audit 10: they counted the
/// expired entries as REMOVED or MANUAL).
#[test]
fn clear_and_clear_unpinned_take_expired_entries_out_first() {
    for clear_all in [true, false] {
        let (s, clock) = store(100, 0);
        let heard = listen(&s);
        put(&s, "old", 5);
        put(&s, "pinned", 7);
        s.pin("pinned");
        clock.advance_ms(100);
        put(&s, "live", 9);
        let n = if clear_all {
            s.clear()
        } else {
            s.clear_unpinned()
        };
        let reasons = heard.lock().unwrap().clone();
        if clear_all {
            assert_eq!(
                n, 2,
                "live and pinned (a pinned entry expires once unpinned)"
            );
            assert_eq!(
                reasons,
                vec![
                    ("old".to_string(), EvictionReason::Expired),
                    ("pinned".to_string(), EvictionReason::Removed),
                    ("live".to_string(), EvictionReason::Removed),
                ]
            );
        } else {
            assert_eq!(n, 1, "live");
            assert_eq!(
                reasons,
                vec![
                    ("old".to_string(), EvictionReason::Expired),
                    ("live".to_string(), EvictionReason::Manual),
                ]
            );
        }
    }
}

/// Keys the listener heard, with their reasons, then forgets them.
fn heard_now(heard: &Heard) -> Vec<(String, EvictionReason)> {
    std::mem::take(&mut *heard.lock().unwrap())
}

fn expired(keys: &[&str]) -> Vec<(String, EvictionReason)> {
    keys.iter()
        .map(|k| (k.to_string(), EvictionReason::Expired))
        .collect()
}

/// A new key into a full store takes the place of an expired entry, not of
/// the least recently used live one (before: the live one was evicted and
/// the expired one, read recently, kept its place).
#[test]
fn a_put_into_a_full_store_takes_the_place_of_an_expired_entry_first() {
    let (s, clock) = store_with(MemoryConfig {
        max_entries: 3,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    s.put_with_ttl("short".to_string(), 1, Duration::from_millis(10))
        .unwrap();
    put(&s, "x", 1);
    put(&s, "y", 1);
    clock.advance_ms(5);
    assert_eq!(s.get_cloned("short"), Some(1), "read: now the most recent");
    clock.advance_ms(10);
    put(&s, "z", 1);
    assert_eq!(heard_now(&heard), expired(&["short"]));
    for k in ["x", "y", "z"] {
        assert!(s.contains(k), "{k} is live and stays");
    }
    assert_eq!(s.metrics().eviction_count, 0, "nothing live was evicted");
}

/// The same with the byte budget: expired bytes go first, and live entries
/// are evicted (in strategy order) only for what is still missing.
#[test]
fn a_put_that_needs_bytes_takes_expired_bytes_first() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 1_000,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    put(&s, "live1", 200);
    s.put_with_ttl("old".to_string(), 300, Duration::from_millis(10))
        .unwrap();
    put(&s, "live2", 150);
    assert_eq!(
        s.get_cloned("live1"),
        Some(200),
        "live1 is now the most recent"
    );
    clock.advance_ms(10);
    // 650 + 400 = 1050: past the budget; the expired 300 bytes go, and then
    // usage (750) is past the working size (700): one live entry more, the
    // least recently used (live2).
    put(&s, "new", 400);
    assert_eq!(
        heard_now(&heard),
        vec![
            ("old".to_string(), EvictionReason::Expired),
            ("live2".to_string(), EvictionReason::Capacity)
        ]
    );
    assert_eq!(s.metrics().current_usage, 600);
    assert!(s.contains("live1") && s.contains("new"));
}

/// A put refused after taking the expired entries into account changes
/// nothing (they stay, still absent to reads), and the next put that needs
/// room finds them again.
#[test]
fn a_refused_put_leaves_the_expired_entries_for_the_next_one() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 1_000,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    s.pin("p");
    put(&s, "p", 600);
    s.put_with_ttl("old".to_string(), 300, Duration::from_millis(10))
        .unwrap();
    clock.advance_ms(10);
    let e = s.put("big".to_string(), 500).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OverBudget, "600 pinned + 500 > 1000");
    assert!(
        heard_now(&heard).is_empty(),
        "a refused put changes nothing"
    );
    let m = s.metrics();
    assert_eq!((m.current_usage, m.entry_count), (900, 2));
    put(&s, "small", 350);
    assert_eq!(heard_now(&heard), expired(&["old"]));
    assert_eq!(s.metrics().current_usage, 950);
}

/// A pressure signal's shed takes expired entries first: here they alone
/// bring usage to the signal's target, so no live entry goes.
#[test]
fn a_signal_sheds_expired_entries_first() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 10_000,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    for i in 0..10 {
        put(&s, &format!("live{i}"), 100);
    }
    s.put_with_ttl("old".to_string(), 1_000, Duration::from_millis(10))
        .unwrap();
    clock.advance_ms(10);
    // MODERATE keeps 75% of 2,000 bytes: the expired 1,000 are enough.
    s.signal_pressure(nexus_store::MemoryPressureLevel::Moderate);
    assert_eq!(heard_now(&heard), expired(&["old"]));
    assert_eq!(s.metrics().current_usage, 1_000);
    assert_eq!(s.metrics().eviction_count, 0);
}

/// The budget's restore when a pin ends or the last read handle goes takes
/// expired entries first, as a signal's shed does (audit 16: it evicted a
/// live entry while an expired one could give the room, and an expired
/// entry it took was reported as PRESSURE and counted).
#[test]
fn the_restore_after_an_unpin_or_a_release_takes_expired_entries_first() {
    use nexus_store::MemoryPressureLevel::Critical;
    for by_handle in [false, true] {
        let (s, clock) = store_with(MemoryConfig {
            max_cache_bytes: 1_000,
            ..MemoryConfig::default()
        });
        let heard = listen(&s);
        s.pin("p");
        put(&s, "p", 340);
        s.put_with_ttl("x".to_string(), 20, Duration::from_millis(10))
            .unwrap();
        put(&s, "live", 10);
        // Protect x and live through the signal: a pin of x, or handles
        // on both.
        let mut handles = Vec::new();
        if by_handle {
            handles.push(s.get("live").unwrap());
            handles.push(s.get("x").unwrap());
        } else {
            s.pin("x");
        }
        // CRITICAL holds 350 bytes: 340 + 20 (+ 10 held) stay above it.
        s.signal_pressure(Critical);
        let evicted_by_signal = s.metrics().eviction_count;
        heard_now(&heard);
        assert!(s.metrics().current_usage > 350, "protected entries hold it");
        clock.advance_ms(10);
        if by_handle {
            // live's handle goes last: usage 370 is above 350, and the
            // expired x gives the room, not live.
            handles.pop();
            handles.pop();
        } else {
            s.unpin("x").unwrap();
        }
        assert_eq!(heard_now(&heard), expired(&["x"]), "by handle: {by_handle}");
        assert!(s.contains("p"));
        if by_handle {
            assert!(s.contains("live"), "the live entry stays");
        }
        assert_eq!(
            s.metrics().eviction_count,
            evicted_by_signal,
            "an expiry is no eviction"
        );
        assert!(s.metrics().current_usage <= 350);
    }
}

/// A budget governor's pass removes its members' expired entries before it
/// sheds (audit 16: it evicted live entries while expired ones stayed, and
/// took expired ones as GOVERNOR evictions, counted).
#[test]
fn a_governor_takes_expired_entries_before_it_sheds_live_ones() {
    use nexus_store::{Governor, GovernorConfig, MemberConfig};
    let governor = Governor::new(GovernorConfig::with_budget(1_000)).unwrap();
    let (low, clock) = store_with(MemoryConfig::default());
    let (high, _) = store_with(MemoryConfig::default());
    let member = |priority| MemberConfig {
        priority,
        floor_bytes: 0,
        ceiling_bytes: None,
    };
    governor.join(&low, member(1)).unwrap();
    governor.join(&high, member(2)).unwrap();
    let heard = listen(&low);
    put(&low, "live-old", 100);
    for i in 0..4 {
        low.put_with_ttl(format!("x{i}"), 100, Duration::from_millis(10))
            .unwrap();
    }
    put(&high, "h", 400);
    clock.advance_ms(10);
    // 900 + 300 = 1,200: over by 200; the 400 expired bytes give it.
    put(&high, "h2", 300);
    assert_eq!(heard_now(&heard), expired(&["x0", "x1", "x2", "x3"]));
    assert!(low.contains("live-old"), "no live entry was shed");
    assert!(high.contains("h") && high.contains("h2"));
    assert_eq!(
        low.metrics().eviction_count,
        0,
        "expiries are not evictions"
    );
    assert_eq!(governor.metrics().total_usage, 800);
}

/// With a time to idle, a read restarts the clock of an entry without
/// touching the queue: the put that needs room takes only the entries idle
/// past the TTI; a pinned expired entry stays until unpinned, and is then
/// taken by the next put that needs room.
#[test]
fn room_is_taken_only_from_entries_idle_past_their_tti_and_unpinned() {
    let (s, clock) = store_with(MemoryConfig {
        max_entries: 4,
        tti_ms: 10,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    for k in ["a", "b", "c", "p"] {
        put(&s, k, 1);
    }
    s.pin("p");
    clock.advance_ms(8);
    assert_eq!(s.get_cloned("a"), Some(1));
    assert_eq!(s.get_cloned("b"), Some(1));
    clock.advance_ms(4); // c and p idle 12 ms, a and b 4 ms
    put(&s, "d", 1);
    assert_eq!(heard_now(&heard), expired(&["c"]), "p is pinned");
    s.unpin("p").unwrap();
    put(&s, "e", 1);
    assert_eq!(heard_now(&heard), expired(&["p"]));
    clock.advance_ms(7); // a and b idle 11 ms, d and e 7 ms
    put(&s, "f", 1);
    assert_eq!(
        heard_now(&heard),
        expired(&["a", "b"]),
        "every expired entry"
    );
    for k in ["d", "e", "f"] {
        assert!(s.contains(k));
    }
    assert_eq!(s.metrics().eviction_count, 0);
}

/// Many puts of the same keys leave stale items in the deadline queue,
/// which is rebuilt from the deadlines as they pile up; the expired entries
/// are still all found, and only they.
#[test]
fn expired_entries_are_found_after_many_replacing_puts() {
    let (s, clock) = store_with(MemoryConfig {
        max_entries: 20,
        ttl_ms: 50,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    for round in 0..2_000u64 {
        put(&s, &format!("k{}", round % 20), round);
        if round % 100 == 0 {
            clock.advance_ms(1);
        }
    }
    // Rounds 1980-1999 put all 20 in the same millisecond; put k10..k19
    // again later, so that k0..k9 expire alone.
    clock.advance_ms(30);
    for i in 10..20 {
        put(&s, &format!("k{i}"), 1);
    }
    clock.advance_ms(25); // k0..k9: 55 ms since their put; k10..k19: 25 ms
    assert!(
        heard_now(&heard)
            .iter()
            .all(|(_, r)| *r == EvictionReason::Replaced),
        "only replacements so far"
    );
    put(&s, "new", 1);
    let names: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut got = heard_now(&heard);
    got.sort();
    let mut want = expired(&names);
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.metrics().entry_count, 11);
}

/// A smaller budget (`set_max_bytes`) takes expired entries before live
/// ones, and a refused one changes nothing.
#[test]
fn set_max_bytes_takes_expired_entries_first_and_a_refused_one_changes_nothing() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 10_000,
        ..MemoryConfig::default()
    });
    let heard = listen(&s);
    put(&s, "live1", 300);
    s.put_with_ttl("old".to_string(), 500, Duration::from_millis(10))
        .unwrap();
    put(&s, "live2", 300);
    assert_eq!(s.get_cloned("live1"), Some(300));
    s.pin("p");
    put(&s, "p", 400);
    clock.advance_ms(10);
    // 1,500 bytes; a budget of 300 cannot hold the pinned 400: refused.
    let e = s.set_max_bytes(300).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OverBudget);
    assert!(
        heard_now(&heard).is_empty(),
        "a refused change changes nothing"
    );
    assert_eq!(s.metrics().current_usage, 1_500);
    // 1,000 bytes: the expired 500 go and the live entries stay.
    s.set_max_bytes(1_000).unwrap();
    assert_eq!(heard_now(&heard), expired(&["old"]));
    assert_eq!(s.metrics().current_usage, 1_000);
    assert_eq!(s.metrics().eviction_count, 0);
}

/// A put that makes room from expired entries reports the level once, at
/// its end: not a drop while the expired entries leave and a rise when the
/// new one goes in (audit 15).
#[test]
fn a_put_that_takes_expired_entries_reports_only_the_level_at_its_end() {
    let (s, clock) = store_with(MemoryConfig {
        max_cache_bytes: 10_000,
        ..MemoryConfig::default()
    });
    s.set_event_mask(nexus_store::EventMask::ALL);
    // Read handles keep the entries from being evicted: 7,500 bytes hold
    // the store at MODERATE (the working size is 7,000).
    let mut held = Vec::new();
    for k in 0..75 {
        let key = format!("k{k}");
        s.put_with_ttl(key.clone(), 100, Duration::from_millis(5))
            .unwrap();
        held.push(s.get(&key).unwrap());
    }
    assert_eq!(
        s.pressure_level(),
        nexus_store::MemoryPressureLevel::Moderate
    );
    while s.poll_event().is_some() {}
    clock.advance_ms(10);
    put(&s, "big", 7_000);
    let changes: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter(|e| e.kind == EventKind::PressureChanged)
        .map(|e| (e.previous_level, e.level))
        .collect();
    assert!(changes.is_empty(), "MODERATE before and after: {changes:?}");
    assert_eq!(s.metrics().current_usage, 7_000);
    assert_eq!(
        s.pressure_level(),
        nexus_store::MemoryPressureLevel::Moderate
    );
    drop(held);
}
