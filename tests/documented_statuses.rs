//! Every status a C function returns is one its doc comment in
//! `include/nexus_store.h` lists.
//!
//! The header is parsed for each function's documented statuses; then every
//! status-returning function is called the way a careless or hostile caller
//! would (NULL, freed and made-up handles; NULL and oversized arguments;
//! out-of-range enums; full, pinned, sharded and signalled stores; from
//! inside its own callbacks) as well as correctly, and each status it
//! returns must be in its list. Every such function must be exercised.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_void};
use std::sync::Mutex;

use nexus_store::ffi::*;

/// (function, status) of every call made.
static SEEN: Mutex<Vec<(&'static str, NexusStatus)>> = Mutex::new(Vec::new());

macro_rules! call {
    ($f:ident ( $($arg:expr),* $(,)? )) => {{
        let status = $f($($arg),*);
        SEEN.lock().unwrap().push((stringify!($f), status));
        status
    }};
}

const STATUS_NAMES: [(&str, NexusStatus); 13] = [
    ("OK", NEXUS_STATUS_OK),
    ("NOT_FOUND", NEXUS_STATUS_NOT_FOUND),
    ("EMPTY", NEXUS_STATUS_EMPTY),
    ("ERR_NULL_ARGUMENT", NEXUS_STATUS_ERR_NULL_ARGUMENT),
    ("ERR_INVALID_ARGUMENT", NEXUS_STATUS_ERR_INVALID_ARGUMENT),
    ("ERR_INVALID_HANDLE", NEXUS_STATUS_ERR_INVALID_HANDLE),
    ("ERR_TOO_LARGE", NEXUS_STATUS_ERR_TOO_LARGE),
    ("ERR_OVER_BUDGET", NEXUS_STATUS_ERR_OVER_BUDGET),
    ("ERR_CALLBACK", NEXUS_STATUS_ERR_CALLBACK),
    ("ERR_BUFFER_TOO_SMALL", NEXUS_STATUS_ERR_BUFFER_TOO_SMALL),
    ("ERR_BUSY", NEXUS_STATUS_ERR_BUSY),
    ("ERR_OUT_OF_MEMORY", NEXUS_STATUS_ERR_OUT_OF_MEMORY),
    ("ERR_PANIC", NEXUS_STATUS_ERR_PANIC),
];

/// Function name -> the statuses its doc comment names, for every function
/// of the header that returns a `NexusStatus`.
fn documented() -> BTreeMap<String, BTreeSet<NexusStatus>> {
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/nexus_store.h"
    ))
    .expect("the header is readable");
    let mut out = BTreeMap::new();
    let mut doc = String::new();
    let mut in_doc = false;
    for line in header.lines() {
        let t = line.trim();
        if t.starts_with("/**") {
            in_doc = true;
            doc.clear();
        }
        if in_doc {
            doc.push_str(t);
            doc.push(' ');
            if t.ends_with("*/") {
                in_doc = false;
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("NexusStatus nexus_") {
            let name = format!("nexus_{}", rest.split('(').next().unwrap());
            let words: BTreeSet<&str> = doc
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(|w| w.strip_prefix("NEXUS_STATUS_").unwrap_or(w))
                .collect();
            let statuses = STATUS_NAMES
                .iter()
                .filter(|(n, _)| words.contains(n))
                .map(|&(_, s)| s)
                .collect();
            out.insert(name, statuses);
        }
    }
    out
}

fn default_config() -> NexusMemoryConfig {
    let mut c = std::mem::MaybeUninit::<NexusMemoryConfig>::zeroed();
    nexus_memory_config_init(c.as_mut_ptr());
    // SAFETY: nexus_memory_config_init wrote every field.
    unsafe { c.assume_init() }
}

fn live_store(max: u64, shards: u32) -> *mut NexusStore {
    let mut c = default_config();
    c.max_cache_bytes = max;
    c.shards = shards;
    let mut s = std::ptr::null_mut();
    assert_eq!(nexus_store_new(&c, &mut s), NEXUS_STATUS_OK);
    s
}

fn freed_store() -> *mut NexusStore {
    let s = live_store(0, 1);
    assert_eq!(nexus_store_free(s), NEXUS_STATUS_OK);
    s
}

fn made_up_store() -> *mut NexusStore {
    std::ptr::without_provenance_mut(0x7_0000_1234)
}

/// Key and value arguments a hostile caller passes: (pointer, length).
fn byte_args(buf: &[u8; 8]) -> Vec<(*const u8, usize)> {
    vec![
        (buf.as_ptr(), 3),
        (buf.as_ptr(), 0),
        (std::ptr::null(), 0),
        (std::ptr::null(), 1),
        (std::ptr::null(), usize::MAX),
        (buf.as_ptr(), usize::MAX),
        (buf.as_ptr(), isize::MAX as usize + 1),
    ]
}

unsafe extern "C" fn no_release(_ctx: *mut c_void, _object: *mut c_void) {}

/// Calls every key/value function with every argument mix on `s`.
fn hostile_calls(s: *mut NexusStore) {
    let buf = *b"abcdefgh";
    let mut out_buf = [0u8; 8];
    for (k, klen) in byte_args(&buf) {
        for (v, vlen) in byte_args(&buf)
            .into_iter()
            .chain([(buf.as_ptr(), 1usize << 62)])
        {
            call!(nexus_store_put(s, k, klen, v, vlen));
        }
        let mut obj = 0u8;
        let o = (&raw mut obj).cast::<c_void>();
        for cost in [0, 1, usize::MAX] {
            call!(nexus_store_put_object(
                s,
                k,
                klen,
                o,
                cost,
                Some(no_release),
                std::ptr::null_mut()
            ));
        }
        let mut value = std::ptr::null_mut();
        if call!(nexus_store_get(s, k, klen, &mut value)) == NEXUS_STATUS_OK {
            nexus_value_release(value);
        }
        call!(nexus_store_get(s, k, klen, std::ptr::null_mut()));
        if call!(nexus_store_get_or_load(s, k, klen, &mut value)) == NEXUS_STATUS_OK {
            nexus_value_release(value);
        }
        call!(nexus_store_get_or_load(s, k, klen, std::ptr::null_mut()));
        let mut n = 0usize;
        for (b, blen) in [
            (out_buf.as_mut_ptr(), 8usize),
            (out_buf.as_mut_ptr(), 0),
            (std::ptr::null_mut(), 0),
            (std::ptr::null_mut(), 5),
            (out_buf.as_mut_ptr(), usize::MAX),
        ] {
            call!(nexus_store_get_copy(s, k, klen, b, blen, &mut n));
            call!(nexus_store_get_copy(
                s,
                k,
                klen,
                b,
                blen,
                std::ptr::null_mut()
            ));
        }
        let mut flag = false;
        call!(nexus_store_contains(s, k, klen, &mut flag));
        call!(nexus_store_contains(s, k, klen, std::ptr::null_mut()));
        call!(nexus_store_is_pinned(s, k, klen, &mut flag));
        call!(nexus_store_is_pinned(s, k, klen, std::ptr::null_mut()));
        call!(nexus_store_pin(s, k, klen));
        call!(nexus_store_unpin(s, k, klen));
        call!(nexus_store_unpin(s, k, klen));
        call!(nexus_store_remove(s, k, klen));
        call!(nexus_store_remove(s, k, klen));
    }
}

/// Calls every whole-store function with every argument mix on `s`.
fn whole_store_calls(s: *mut NexusStore) {
    let mut n = 0usize;
    for count in [0, 1, usize::MAX] {
        call!(nexus_store_evict(s, count, &mut n));
        call!(nexus_store_evict_lru(s, count, &mut n));
    }
    call!(nexus_store_evict(s, 1, std::ptr::null_mut()));
    call!(nexus_store_evict_lru(s, 1, std::ptr::null_mut()));
    call!(nexus_store_clear_unpinned(s, &mut n));
    call!(nexus_store_clear_unpinned(s, std::ptr::null_mut()));
    call!(nexus_store_clear(s, std::ptr::null_mut()));
    let mut list = std::ptr::null_mut();
    if call!(nexus_store_pinned_ids(s, &mut list)) == NEXUS_STATUS_OK {
        nexus_key_list_free(list);
    }
    call!(nexus_store_pinned_ids(s, std::ptr::null_mut()));
    for level in [0, 1, 2, 3, 4, u32::MAX] {
        call!(nexus_store_signal_pressure(s, level));
    }
    call!(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    let mut level = 0;
    call!(nexus_store_pressure_level(s, &mut level));
    call!(nexus_store_pressure_level(s, std::ptr::null_mut()));
    call!(nexus_store_signalled_level(s, &mut level));
    call!(nexus_store_signalled_level(s, std::ptr::null_mut()));
    for mask in [
        0,
        NEXUS_EVENT_MASK_ALL,
        1 << 2,
        1 << 4,
        u32::MAX,
        NEXUS_EVENT_MASK_DEFAULT,
    ] {
        call!(nexus_store_set_event_mask(s, mask));
    }
    let mut m = NexusMemoryMetrics::default();
    call!(nexus_store_memory_metrics(s, &mut m));
    call!(nexus_store_memory_metrics(s, std::ptr::null_mut()));
    let mut json = [0 as c_char; 4096];
    for (b, blen) in [
        (json.as_mut_ptr(), json.len()),
        (json.as_mut_ptr(), 3),
        (std::ptr::null_mut(), 0),
        (std::ptr::null_mut(), 9),
    ] {
        call!(nexus_store_metrics_json(s, b, blen, &mut n));
        call!(nexus_store_metrics_json(s, b, blen, std::ptr::null_mut()));
    }
    call!(nexus_store_reset_metrics(s));
    let mut e = NexusEvent::default();
    while call!(nexus_store_poll_event(s, &mut e)) == NEXUS_STATUS_OK {}
    call!(nexus_store_poll_event(s, std::ptr::null_mut()));
    for max in [0u64, 1, 3, 100, 1 << 20, u64::MAX] {
        call!(nexus_store_set_max_bytes(s, max));
    }
    call!(nexus_store_set_event_callback(
        s,
        None,
        std::ptr::null_mut(),
        None
    ));
    call!(nexus_store_set_eviction_listener(
        s,
        None,
        std::ptr::null_mut(),
        None
    ));
    call!(nexus_store_set_loader(s, None, std::ptr::null_mut(), None));
    call!(nexus_store_debug_panic(s));
    call!(nexus_store_clear(s, &mut n));
}

/// Fills a bounded store with pinned entries: puts that need room fail.
fn pinned_full_store() -> *mut NexusStore {
    let s = live_store(2000, 1);
    for i in 0..10u8 {
        let k = [b'p', i];
        assert_eq!(nexus_store_pin(s, k.as_ptr(), 2), NEXUS_STATUS_OK);
        let v = [0u8; 40];
        assert_eq!(
            nexus_store_put(s, k.as_ptr(), 2, v.as_ptr(), v.len()),
            NEXUS_STATUS_OK
        );
    }
    s
}

// ---- callbacks that misuse the store and the sink ------------------------------

unsafe extern "C" fn loader_misuse(
    ctx: *mut c_void,
    key: *const u8,
    key_len: usize,
    sink: *mut NexusLoadSink,
) -> NexusStatus {
    let s = ctx.cast::<NexusStore>();
    let mut value = std::ptr::null_mut();
    // Its own key from inside its load: BUSY; freeing its store: BUSY.
    call!(nexus_store_get_or_load(s, key, key_len, &mut value));
    call!(nexus_store_free(s));
    let buf = *b"abcdefgh";
    let mut obj = 0u8;
    let o = (&raw mut obj).cast::<c_void>();
    match key_len {
        1 => {
            call!(nexus_load_sink_put_bytes(sink, buf.as_ptr(), 3));
            call!(nexus_load_sink_put_bytes(sink, buf.as_ptr(), 3));
            call!(nexus_load_sink_put_object(
                sink,
                o,
                5,
                Some(no_release),
                std::ptr::null_mut()
            ));
            call!(nexus_load_sink_fail(
                sink,
                NEXUS_STATUS_ERR_CALLBACK,
                std::ptr::null()
            ));
            // After a failure: refused.
            call!(nexus_load_sink_abandon(sink, std::ptr::null()));
            NEXUS_STATUS_OK
        }
        2 => {
            call!(nexus_load_sink_fail(
                sink,
                NEXUS_STATUS_OK,
                std::ptr::null()
            ));
            call!(nexus_load_sink_fail(sink, 999, std::ptr::null()));
            call!(nexus_load_sink_put_bytes(sink, std::ptr::null(), 1));
            call!(nexus_load_sink_put_bytes(sink, buf.as_ptr(), usize::MAX));
            call!(nexus_load_sink_fail(
                sink,
                NEXUS_STATUS_NOT_FOUND,
                c"gone".as_ptr()
            ));
            NEXUS_STATUS_OK
        }
        3 => {
            call!(nexus_load_sink_put_object(
                sink,
                o,
                0,
                Some(no_release),
                std::ptr::null_mut()
            ));
            call!(nexus_load_sink_put_bytes(
                std::ptr::null_mut(),
                buf.as_ptr(),
                1
            ));
            call!(nexus_load_sink_put_object(
                std::ptr::null_mut(),
                o,
                0,
                Some(no_release),
                std::ptr::null_mut()
            ));
            call!(nexus_load_sink_fail(
                std::ptr::null_mut(),
                NEXUS_STATUS_ERR_CALLBACK,
                std::ptr::null()
            ));
            call!(nexus_load_sink_abandon(std::ptr::null_mut(), c"x".as_ptr()));
            call!(nexus_load_sink_abandon(sink, c"gone".as_ptr()));
            NEXUS_STATUS_OK
        }
        // Returns OK without a value: ERR_CALLBACK.
        _ => NEXUS_STATUS_OK,
    }
}

unsafe extern "C" fn event_misuse(ctx: *mut c_void, _event: *const NexusEvent) {
    let s = ctx.cast::<NexusStore>();
    call!(nexus_store_free(s));
    call!(nexus_store_set_event_callback(
        s,
        None,
        std::ptr::null_mut(),
        None
    ));
}

fn callback_calls() {
    let s = live_store(1 << 20, 1);
    call!(nexus_store_set_loader(
        s,
        Some(loader_misuse),
        s.cast(),
        None
    ));
    for key in [&b"a"[..], b"bb", b"ccc", b"dddd"] {
        let mut value = std::ptr::null_mut();
        if call!(nexus_store_get_or_load(
            s,
            key.as_ptr(),
            key.len(),
            &mut value
        )) == NEXUS_STATUS_OK
        {
            nexus_value_release(value);
        }
    }
    call!(nexus_store_set_event_callback(
        s,
        Some(event_misuse),
        s.cast(),
        None
    ));
    call!(nexus_store_signal_pressure(
        s,
        NEXUS_PRESSURE_LEVEL_MODERATE
    ));
    call!(nexus_store_free(s));
}

/// Expiry: the put with a TTL and the sweep, hostile and correct.
fn expiry_calls() {
    let buf = *b"abcdefgh";
    let mut n = 0usize;
    let live = live_store(0, 1);
    for s in [std::ptr::null_mut(), freed_store(), made_up_store(), live] {
        for (k, klen) in byte_args(&buf) {
            for ttl in [0, 1, u64::MAX] {
                call!(nexus_store_put_ttl(s, k, klen, buf.as_ptr(), 3, ttl));
                let mut obj = 0u8;
                let o = (&raw mut obj).cast::<c_void>();
                for cost in [0, 1, usize::MAX] {
                    call!(nexus_store_put_object_ttl(
                        s,
                        k,
                        klen,
                        o,
                        cost,
                        Some(no_release),
                        std::ptr::null_mut(),
                        ttl
                    ));
                }
            }
        }
        call!(nexus_store_put_ttl(
            s,
            buf.as_ptr(),
            3,
            buf.as_ptr(),
            1usize << 62,
            5
        ));
        call!(nexus_store_sweep_expired(s, &mut n));
        call!(nexus_store_sweep_expired(s, std::ptr::null_mut()));
    }
    let full = live_store(64, 1);
    call!(nexus_store_put_ttl(
        full,
        buf.as_ptr(),
        3,
        buf.as_ptr(),
        8,
        1000
    ));
    call!(nexus_store_pin(full, buf.as_ptr(), 3));
    call!(nexus_store_put_ttl(
        full,
        buf.as_ptr(),
        2,
        buf.as_ptr(),
        8,
        1000
    ));
    call!(nexus_store_free(full));
    call!(nexus_store_free(live));
}

/// The budget governor: every function, with NULL, freed and made-up
/// handles, bad terms, and correctly.
fn governor_calls() {
    let mut gc: NexusGovernorConfig = unsafe { std::mem::zeroed() };
    nexus_governor_config_init(&mut gc);
    let mut out = std::ptr::null_mut();
    call!(nexus_governor_new(std::ptr::null(), &mut out));
    call!(nexus_governor_new(&gc, &mut out)); // budget 0
    gc.budget_bytes = 100;
    call!(nexus_governor_new(&gc, std::ptr::null_mut()));
    for bad in 0..4 {
        let mut b = gc;
        match bad {
            0 => b.struct_size = 1,
            1 => b.struct_size = usize::MAX,
            2 => b.signal_critical_keep = 2.0,
            _ => b.event_queue_capacity = 0,
        }
        call!(nexus_governor_new(&b, &mut out));
    }
    let mut g = std::ptr::null_mut();
    assert_eq!(call!(nexus_governor_new(&gc, &mut g)), NEXUS_STATUS_OK);
    let mut freed_g = std::ptr::null_mut();
    call!(nexus_governor_new(&gc, &mut freed_g));
    call!(nexus_governor_free(freed_g));
    let made_up_g: *mut NexusGovernor = std::ptr::without_provenance_mut(0x7_0000_4321);
    let store = live_store(0, 1);
    let store2 = live_store(0, 2);
    let mut m: NexusGovernorMember = unsafe { std::mem::zeroed() };
    nexus_governor_member_init(&mut m);
    let mut bad_m = m;
    bad_m.floor_bytes = 50;
    bad_m.ceiling_bytes = 10;
    let mut huge_floor = m;
    huge_floor.floor_bytes = 1000;
    let mut short = m;
    short.struct_size = 2;
    let mut metrics = NexusGovernorMetrics::default();
    let mut mm = NexusGovernorMemberMetrics::default();
    let mut ev = NexusGovernorEvent::default();
    let mut id = 0u64;
    let buf = *b"abcdefgh";
    for gv in [std::ptr::null_mut(), freed_g, made_up_g, g] {
        for s in [std::ptr::null_mut(), freed_store(), made_up_store(), store] {
            for mem in [
                std::ptr::null(),
                &m as *const _,
                &bad_m,
                &huge_floor,
                &short,
            ] {
                call!(nexus_governor_join(gv, s, mem));
                call!(nexus_governor_set_member(gv, s, mem));
            }
            call!(nexus_governor_member_metrics(gv, s, &mut mm));
            call!(nexus_governor_member_metrics(gv, s, std::ptr::null_mut()));
            call!(nexus_governor_leave(gv, s));
            call!(nexus_governor_leave(gv, s));
            call!(nexus_store_id(s, &mut id));
            call!(nexus_store_id(s, std::ptr::null_mut()));
        }
        call!(nexus_governor_join(gv, store2, &m));
        call!(nexus_store_put(store2, buf.as_ptr(), 3, buf.as_ptr(), 8));
        for budget in [0, 1, 100] {
            call!(nexus_governor_set_budget(gv, budget));
        }
        for level in [3, 0, 4, u32::MAX] {
            call!(nexus_governor_signal_pressure(gv, level));
        }
        call!(nexus_governor_enforce(gv));
        call!(nexus_governor_metrics(gv, &mut metrics));
        call!(nexus_governor_metrics(gv, std::ptr::null_mut()));
        while call!(nexus_governor_poll_event(gv, &mut ev)) == NEXUS_STATUS_OK {}
        call!(nexus_governor_poll_event(gv, std::ptr::null_mut()));
        call!(nexus_governor_set_event_callback(
            gv,
            None,
            std::ptr::null_mut(),
            None
        ));
    }
    // From inside its own event callback, freeing the governor is BUSY.
    unsafe extern "C" fn free_self(ctx: *mut c_void, _e: *const NexusGovernorEvent) {
        let g = ctx.cast::<NexusGovernor>();
        call!(nexus_governor_free(g));
    }
    call!(nexus_governor_set_event_callback(
        g,
        Some(free_self),
        g.cast(),
        None
    ));
    call!(nexus_governor_signal_pressure(
        g,
        NEXUS_PRESSURE_LEVEL_MODERATE
    ));
    call!(nexus_governor_set_event_callback(
        g,
        None,
        std::ptr::null_mut(),
        None
    ));
    call!(nexus_governor_free(g));
    call!(nexus_governor_free(g));
    call!(nexus_governor_free(made_up_g));
    let mut d = std::ptr::null_mut();
    call!(nexus_governor_new(&gc, &mut d));
    call!(nexus_governor_free_deferred(d));
    call!(nexus_governor_free_deferred(d));
    call!(nexus_governor_free_deferred(std::ptr::null_mut()));
    call!(nexus_store_free(store));
    call!(nexus_store_free(store2));
}

#[test]
/// The OS pressure monitor, against an empty root (every source absent,
/// so it never signals the stores of the other calls).
#[cfg(target_os = "linux")]
fn monitor_calls() {
    let mut c: NexusMonitorConfig = unsafe { std::mem::zeroed() };
    nexus_monitor_config_init(&mut c);
    let root = std::env::temp_dir().join(format!("nexus-documented-{}\0", std::process::id()));
    c.fs_root = root.to_str().unwrap().as_ptr().cast();
    call!(nexus_monitor_start(std::ptr::null()));
    for bad in 0..4 {
        let mut b = c;
        match bad {
            0 => b.struct_size = 1,
            1 => b.struct_size = usize::MAX,
            2 => b.sample_interval_ms = 0,
            _ => b.psi_moderate.stall = 7,
        }
        call!(nexus_monitor_start(&b));
    }
    call!(nexus_monitor_start(&c));
    call!(nexus_monitor_start(&c));
    let mut status: NexusMonitorStatus = unsafe { std::mem::zeroed() };
    call!(nexus_monitor_status(std::ptr::null_mut()));
    call!(nexus_monitor_status(&mut status));
    status.struct_size = std::mem::size_of::<NexusMonitorStatus>();
    call!(nexus_monitor_status(&mut status));
    let mut buf = [0 as c_char; 4];
    let mut len = 0usize;
    for kind in [0, 3, 4, u32::MAX] {
        call!(nexus_monitor_source_detail(
            kind,
            std::ptr::null_mut(),
            0,
            &mut len
        ));
        call!(nexus_monitor_source_detail(
            kind,
            buf.as_mut_ptr(),
            buf.len(),
            &mut len
        ));
    }
    call!(nexus_monitor_source_detail(
        0,
        std::ptr::null_mut(),
        4,
        &mut len
    ));
    call!(nexus_monitor_source_detail(
        0,
        buf.as_mut_ptr(),
        4,
        std::ptr::null_mut()
    ));
    call!(nexus_monitor_stop());
    call!(nexus_monitor_stop());
    let mut run = 0u64;
    call!(nexus_monitor_start_run(std::ptr::null(), &mut run));
    call!(nexus_monitor_start_run(&c, std::ptr::null_mut()));
    let mut b = c;
    b.sample_interval_ms = 0;
    call!(nexus_monitor_start_run(&b, &mut run));
    call!(nexus_monitor_start_run(&c, &mut run));
    call!(nexus_monitor_start_run(&c, &mut run));
    call!(nexus_monitor_stop_run(run + 1));
    call!(nexus_monitor_stop_run(run));
    call!(nexus_monitor_stop_run(run));
}

#[test]
fn the_header_reads_in_the_order_a_user_learns_it() {
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/nexus_store.h"
    ))
    .expect("the header is readable");
    // The line of a function's declaration (not of a doc comment).
    let at = |name: &str| {
        header
            .lines()
            .position(|l| !l.trim_start().starts_with('*') && l.contains(&format!("{name}(")))
            .unwrap_or_else(|| panic!("{name} is not declared"))
    };
    let order = [
        "nexus_version",
        "nexus_memory_config_init",
        "nexus_store_new",
        "nexus_store_free",
        "nexus_store_put",
        "nexus_store_get",
        "nexus_value_release",
        "nexus_store_pin",
        "nexus_store_signal_pressure",
        "nexus_store_set_event_callback",
        "nexus_store_get_or_load",
        "nexus_store_memory_metrics",
        "nexus_store_poll_event",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} should come before {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn every_status_returned_is_documented() {
    let docs = documented();
    assert!(
        docs.len() >= 30,
        "the header parse found {} functions",
        docs.len()
    );

    for s in [std::ptr::null_mut(), freed_store(), made_up_store()] {
        hostile_calls(s);
        whole_store_calls(s);
        call!(nexus_store_free(s));
        call!(nexus_store_free_deferred(s));
    }
    let stores = [
        live_store(0, 1),
        live_store(4096, 1),
        live_store(8192, 8),
        live_store(0, 4),
        pinned_full_store(),
    ];
    for &s in &stores {
        hostile_calls(s);
        whole_store_calls(s);
        call!(nexus_store_signal_pressure(
            s,
            NEXUS_PRESSURE_LEVEL_EMERGENCY
        ));
        hostile_calls(s);
        call!(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    }
    for (i, &s) in stores.iter().enumerate() {
        if i % 2 == 0 {
            call!(nexus_store_free(s));
        } else {
            call!(nexus_store_free_deferred(s));
        }
        call!(nexus_store_free(s));
        call!(nexus_store_free_deferred(s));
    }
    callback_calls();
    governor_calls();
    expiry_calls();
    #[cfg(target_os = "linux")]
    monitor_calls();

    // Config functions and the global signal.
    let c = default_config();
    let mut out = std::ptr::null_mut();
    call!(nexus_memory_config_validate(&c));
    call!(nexus_memory_config_validate(std::ptr::null()));
    call!(nexus_store_new(std::ptr::null(), &mut out));
    call!(nexus_store_new(&c, std::ptr::null_mut()));
    for bad in 0..6 {
        let mut b = c;
        match bad {
            0 => b.moderate_threshold = f64::NAN,
            1 => b.strategy = 9,
            2 => b.shards = 0,
            3 => (b.shards, b.max_cache_bytes) = (8, 3),
            4 => b.struct_size = usize::MAX,
            _ => b.event_queue_capacity = 0,
        }
        call!(nexus_memory_config_validate(&b));
        call!(nexus_store_new(&b, &mut out));
    }
    for level in [0, 3, 4, u32::MAX] {
        call!(nexus_signal_pressure_all(level));
    }
    call!(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));

    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    let mut undocumented = BTreeSet::new();
    let mut exercised = BTreeMap::<&str, BTreeSet<NexusStatus>>::new();
    for (name, status) in seen {
        let allowed = docs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a NexusStatus function of the header"));
        if !allowed.contains(&status) {
            undocumented.insert(format!(
                "{name} returned {status} ({})",
                status_name(status)
            ));
        }
        exercised.entry(name).or_default().insert(status);
    }
    assert!(
        undocumented.is_empty(),
        "statuses missing from the header docs:\n{}",
        undocumented.into_iter().collect::<Vec<_>>().join("\n")
    );
    let missing: Vec<_> = docs
        .keys()
        .filter(|n| !exercised.contains_key(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "functions never called here: {missing:?}"
    );
    // The hostile calls reached the interesting statuses, not only the
    // argument checks.
    let all: BTreeSet<NexusStatus> = exercised.values().flatten().copied().collect();
    for (name, status) in STATUS_NAMES {
        if status != NEXUS_STATUS_EMPTY {
            assert!(all.contains(&status), "no call returned {name}");
        }
    }
}

fn status_name(status: NexusStatus) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|&&(_, s)| s == status)
        .map_or("unknown", |&(n, _)| n)
}
