//! Size estimators returning what the fuzz input says: 0, 1, small numbers,
//! `NEXUS_CHARGE_DEFAULT` (SIZE_MAX), SIZE_MAX - 1, PTRDIFF_MAX, 2^62, the
//! budget, the budget + 1, any 64-bit number; for byte and object values, in
//! bounded and unbounded stores with 1 to 4 shards. After every call: the
//! status is OK, TOO_LARGE or OVER_BUDGET (TOO_LARGE whenever the charge is
//! above the budget); the listener reports each entry's charge as it was
//! charged; usage equals the exact (128-bit) sum of the charges of the
//! present entries (never a wrapped sum) and stays within a bounded budget;
//! the entry count matches.

#![no_main]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use nexus_store::ffi::*;
use nexus_store_fuzz::{Input, default_config, last_message, metrics};

thread_local! {
    /// What the estimator returns next.
    static NEXT: Cell<usize> = const { Cell::new(0) };
}

static REMOVED: Mutex<Vec<(u8, u32, u64)>> = Mutex::new(Vec::new());

unsafe extern "C" fn estimator(
    _ctx: *mut c_void,
    _key: *const u8,
    _key_len: usize,
    _value: *const c_void,
    _value_len: usize,
) -> usize {
    NEXT.get()
}

unsafe extern "C" fn listener(
    _ctx: *mut c_void,
    key: *const u8,
    _key_len: usize,
    reason: NexusEvictionReason,
    bytes: u64,
) {
    // SAFETY: one-byte keys, valid for the call.
    REMOVED
        .lock()
        .unwrap()
        .push((unsafe { *key }, reason, bytes));
}

fn estimate(input: &mut Input, max: u64) -> usize {
    match input.below(12) {
        0 => 0,
        1 => 1,
        2 => NEXUS_CHARGE_DEFAULT,
        3 => usize::MAX - 1,
        4 => isize::MAX as usize,
        5 => 1 << 62,
        6 => max as usize,
        7 => (max as usize).wrapping_add(1),
        8 => input.u64() as usize,
        9 => (u64::MAX / 3) as usize,
        _ => usize::from(input.u8()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let shards = 1 + input.below(4);
    let max = match input.below(3) {
        0 => 0,
        1 => u64::from(shards) + u64::from(input.u16()),
        _ => u64::MAX - u64::from(input.u8()),
    };
    let mut c = default_config();
    c.max_cache_bytes = max;
    c.shards = shards;
    c.size_estimator = Some(estimator);
    c.event_queue_capacity = 4;
    let mut store = ptr::null_mut();
    assert_eq!(
        nexus_store_new(&c, &mut store),
        NEXUS_STATUS_OK,
        "{}",
        last_message()
    );
    assert_eq!(
        nexus_store_set_eviction_listener(store, Some(listener), ptr::null_mut(), None),
        NEXUS_STATUS_OK
    );
    REMOVED.lock().unwrap().clear();
    let mut charges: BTreeMap<u8, u64> = BTreeMap::new();

    let mut step = 0;
    while !input.is_empty() && step < 100 {
        step += 1;
        let k = input.below(8) as u8;
        let op = input.below(8);
        let mut put_charge = None;
        let status = match op {
            0..=4 => {
                let est = estimate(&mut input, max);
                NEXT.set(est);
                let object = op == 4;
                let len = if object { 0 } else { input.below(32) as usize };
                let charge = if est == NEXUS_CHARGE_DEFAULT {
                    1 + len as u64 + NEXUS_ENTRY_OVERHEAD_BYTES as u64
                } else {
                    est as u64
                };
                put_charge = Some(charge);
                let s = if object {
                    // A static object: nothing to release.
                    nexus_store_put_object(
                        store,
                        &k,
                        1,
                        ptr::dangling_mut(),
                        0,
                        None,
                        ptr::null_mut(),
                    )
                } else {
                    let v = vec![k; len];
                    nexus_store_put(store, &k, 1, v.as_ptr(), len)
                };
                assert!(
                    matches!(
                        s,
                        NEXUS_STATUS_OK | NEXUS_STATUS_ERR_TOO_LARGE | NEXUS_STATUS_ERR_OVER_BUDGET
                    ),
                    "put of charge {charge}: status {s}: {}",
                    last_message()
                );
                if max != 0 && charge > max {
                    assert_eq!(s, NEXUS_STATUS_ERR_TOO_LARGE, "a charge above the budget");
                }
                s
            }
            5 => nexus_store_remove(store, &k, 1),
            6 => nexus_store_signal_pressure(store, input.below(4)),
            _ => {
                let mut n = 0;
                nexus_store_evict(store, input.below(4) as usize, &mut n)
            }
        };
        if status == NEXUS_STATUS_OK {
            if let Some(charge) = put_charge {
                // The replaced entry (if any) is reported below.
                let old = charges.insert(k, charge);
                let removed = REMOVED.lock().unwrap();
                if let Some(old) = old {
                    assert!(
                        removed.contains(&(k, NEXUS_EVICTION_REASON_REPLACED, old)),
                        "replacing key {k} (charge {old}) reported: {removed:?}"
                    );
                }
            }
        }
        for (key, reason, bytes) in std::mem::take(&mut *REMOVED.lock().unwrap()) {
            if reason == NEXUS_EVICTION_REASON_REPLACED {
                continue;
            }
            let charged = charges.remove(&key);
            assert_eq!(
                charged,
                Some(bytes),
                "key {key} left with charge {bytes} ({reason})"
            );
        }
        let m = metrics(store);
        let sum: u128 = charges.values().map(|&c| u128::from(c)).sum();
        assert_eq!(
            u128::from(m.current_usage),
            sum,
            "usage == the sum of the charges"
        );
        assert_eq!(m.entry_count, charges.len() as u64);
        if max != 0 {
            assert!(m.current_usage <= max, "usage above the budget");
        }
    }
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
});
