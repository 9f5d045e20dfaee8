//! Raw bytes as a `NexusMemoryConfig` (every field, `struct_size` included;
//! NaN, infinities, negative and inverted thresholds, zero sizes, out-of-range
//! enums and shard counts). Checked against the rules written in the header,
//! restated here independently: `nexus_memory_config_validate` and
//! `nexus_store_new` agree with them and with each other (never a panic, a
//! message on failure); the estimator's ctx is destroyed exactly once by a
//! failed `nexus_store_new` and never by `validate`; a store made from an
//! accepted config takes puts, reads, signals and a budget change, keeps usage
//! equal to the sum of its charges, and frees cleanly.

#![no_main]

use std::ffi::c_void;
use std::mem::{offset_of, size_of, size_of_val};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use nexus_store::ffi::*;
use nexus_store_fuzz::{Input, default_config, last_message, metrics};

static DESTROYED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn destroy(_ctx: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn estimator(
    _ctx: *mut c_void,
    _key: *const u8,
    _key_len: usize,
    _value: *const c_void,
    value_len: usize,
) -> usize {
    value_len
}

/// The rules of the header's NexusMemoryConfig docs, for the fields as read
/// (fields past `struct_size` have their defaults).
fn expected_valid(c: &NexusMemoryConfig, struct_size: usize) -> bool {
    let (m, cr) = (c.moderate_threshold, c.critical_threshold);
    let (mk, ck) = (c.signal_moderate_keep, c.signal_critical_keep);
    struct_size <= size_of::<NexusMemoryConfig>()
        && struct_size >= offset_of!(NexusMemoryConfig, moderate_threshold)
        && 0.0 < m
        && m < cr
        && cr <= 1.0
        && 0.0 < ck
        && ck <= mk
        && mk <= 1.0
        && c.eviction_batch_size >= 1
        && c.event_queue_capacity >= 1
        && (c.strategy as usize) < nexus_store::EvictionStrategy::ALL.len()
        && (1..=NEXUS_MAX_SHARDS).contains(&c.shards)
        && (c.max_cache_bytes == 0 || c.max_cache_bytes >= u64::from(c.shards))
        && (c.max_entries == 0 || c.max_entries >= u64::from(c.shards))
}

fn f64_of(input: &mut Input) -> f64 {
    match input.below(8) {
        0 => f64::from_bits(input.u64()),
        1 => [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
        ][input.below(8) as usize],
        _ => f64::from(input.u8()) / 200.0,
    }
}

fn u64_of(input: &mut Input) -> u64 {
    match input.below(4) {
        0 => input.u64(),
        1 => [0, 1, u64::MAX, u64::MAX / 2, 1 << 32][input.below(5) as usize],
        _ => u64::from(input.u16()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let full = size_of::<NexusMemoryConfig>();
    let mut c = default_config();
    let struct_size = match input.below(6) {
        0 => input.below(full as u32 + 16) as usize,
        1 => input.u64() as usize,
        _ => full,
    };
    c.struct_size = struct_size;
    c.max_cache_bytes = u64_of(&mut input);
    c.moderate_threshold = f64_of(&mut input);
    c.critical_threshold = f64_of(&mut input);
    c.eviction_batch_size = u64_of(&mut input) as usize;
    c.strategy = if input.bool() {
        input.u32()
    } else {
        input.below(4)
    };
    c.event_queue_capacity = u64_of(&mut input) as usize;
    c.signal_moderate_keep = f64_of(&mut input);
    c.signal_critical_keep = f64_of(&mut input);
    c.signal_decay_ms = u64_of(&mut input);
    c.shards = if input.bool() {
        input.u32()
    } else {
        input.below(70)
    };
    c.lfu_history = input.bool();
    c.max_entries = if input.bool() { 0 } else { u64_of(&mut input) };
    if input.bool() {
        c.size_estimator = Some(estimator);
    }
    c.size_estimator_destroy = Some(destroy);

    // What the library reads: the fields wholly within struct_size bytes;
    // the others keep their defaults. A struct_size that ends inside a
    // field is no header's size, and refused.
    let mut seen = default_config();
    let readable = struct_size.min(full);
    let mut torn = false;
    macro_rules! within {
        ($($f:ident),*) => {$(
            let (start, end) = (
                offset_of!(NexusMemoryConfig, $f),
                offset_of!(NexusMemoryConfig, $f) + size_of_val(&c.$f),
            );
            if end <= readable {
                seen.$f = c.$f;
            }
            torn |= start < struct_size && struct_size < end;
        )*};
    }
    within!(
        max_cache_bytes,
        moderate_threshold,
        critical_threshold,
        eviction_batch_size,
        strategy,
        size_estimator,
        size_estimator_ctx,
        size_estimator_destroy,
        event_queue_capacity,
        signal_moderate_keep,
        signal_critical_keep,
        signal_decay_ms,
        shards,
        lfu_history,
        max_entries,
        ttl_ms,
        tti_ms
    );
    let expected = !torn && expected_valid(&seen, struct_size);
    // The destroy runs only if it lies within struct_size, and not for a
    // config never initialized: a struct_size beyond 4096 bytes (no
    // header's) over fields that are no valid config either.
    let never_initialized =
        struct_size > 4096 && !expected_valid(&seen, size_of::<NexusMemoryConfig>());
    let destroys = usize::from(seen.size_estimator_destroy.is_some() && !never_initialized);

    let before = DESTROYED.load(Ordering::SeqCst);
    let validated = nexus_memory_config_validate(&c);
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst),
        before,
        "validate destroyed the ctx"
    );
    assert!(
        validated == NEXUS_STATUS_OK || validated == NEXUS_STATUS_ERR_INVALID_ARGUMENT,
        "validate: status {validated}: {}",
        last_message()
    );
    if validated != NEXUS_STATUS_OK {
        assert!(!last_message().is_empty());
    }
    assert_eq!(
        validated == NEXUS_STATUS_OK,
        expected,
        "validate disagrees with the header's rules: {}",
        last_message()
    );

    let mut store = ptr::null_mut();
    let created = nexus_store_new(&c, &mut store);
    assert_eq!(
        created,
        validated,
        "new and validate disagree: {}",
        last_message()
    );
    if created != NEXUS_STATUS_OK {
        assert!(store.is_null(), "out written on failure");
        assert_eq!(
            DESTROYED.load(Ordering::SeqCst),
            before + destroys,
            "ctx destroyed once"
        );
        return;
    }

    // The store works.
    for k in 0..input.below(16) as u8 {
        let len = input.below(64) as usize;
        let value = vec![k; len];
        match nexus_store_put(store, &k, 1, value.as_ptr(), len) {
            NEXUS_STATUS_OK | NEXUS_STATUS_ERR_TOO_LARGE | NEXUS_STATUS_ERR_OVER_BUDGET => {}
            s => panic!("put: status {s}: {}", last_message()),
        }
        let mut v = ptr::null_mut();
        match nexus_store_get(store, &k, 1, &mut v) {
            NEXUS_STATUS_OK => {
                assert_eq!(nexus_value_len(v), len);
                nexus_value_release(v);
            }
            NEXUS_STATUS_NOT_FOUND => {}
            s => panic!("get: status {s}: {}", last_message()),
        }
        if input.bool() {
            let level = input.below(5);
            let s = nexus_store_signal_pressure(store, level);
            assert_eq!(
                s == NEXUS_STATUS_OK,
                level < 4,
                "signal {level}: {}",
                last_message()
            );
        }
        let mut level = 0;
        assert_eq!(
            nexus_store_pressure_level(store, &mut level),
            NEXUS_STATUS_OK
        );
    }
    if input.bool() {
        let max = u64_of(&mut input);
        match nexus_store_set_max_bytes(store, max) {
            NEXUS_STATUS_OK | NEXUS_STATUS_ERR_OVER_BUDGET | NEXUS_STATUS_ERR_INVALID_ARGUMENT => {}
            s => panic!("set_max_bytes({max}): status {s}: {}", last_message()),
        }
    }
    let m = metrics(store);
    if m.max_cache_bytes != 0 {
        assert!(
            m.current_usage <= m.max_cache_bytes,
            "usage above the budget"
        );
    }
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst),
        before + destroys,
        "ctx destroyed once by free"
    );
});
