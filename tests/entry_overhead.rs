//! Measures the heap the store allocates per entry beyond key and value
//! bytes, and checks that `ENTRY_OVERHEAD_BYTES` (what the default byte
//! estimator charges per entry) tells the truth about it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use nexus_store::ENTRY_OVERHEAD_BYTES;
use nexus_store::ffi::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes per entry beyond key and value, over `n` entries of 16-byte
/// keys and 32-byte values put through the C ABI (what the default
/// estimator charges for), one test thread (nothing else allocates).
fn measured_overhead(n: usize) -> f64 {
    let mut config = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(config.as_mut_ptr());
    // SAFETY: initialized just above.
    let config = unsafe { config.assume_init() };
    let mut store = std::ptr::null_mut();
    assert_eq!(nexus_store_new(&config, &mut store), NEXUS_STATUS_OK);
    let keys: Vec<[u8; 16]> = (0..n)
        .map(|i| format!("{i:016}").into_bytes().try_into().unwrap())
        .collect();
    let value = [7u8; 32];
    let before = LIVE.load(Ordering::Relaxed);
    for k in &keys {
        let status = nexus_store_put(store, k.as_ptr(), 16, value.as_ptr(), 32);
        assert_eq!(status, NEXUS_STATUS_OK);
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per_entry = (after - before) as f64 / n as f64;
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
    per_entry - 16.0 - 32.0
}

#[test]
fn entry_overhead_matches_measured_heap() {
    // The table and slab grow in powers of two: average over sizes spread
    // across a doubling so the constant is not one lucky point.
    let sizes = [70_000, 85_000, 100_000, 115_000, 130_000];
    let measured: Vec<f64> = sizes.iter().map(|&n| measured_overhead(n)).collect();
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    eprintln!("measured per-entry overhead (bytes): {measured:?}, mean {mean:.1}");
    let constant = ENTRY_OVERHEAD_BYTES as f64;
    assert!(
        (mean - constant).abs() <= 0.15 * mean,
        "ENTRY_OVERHEAD_BYTES = {constant} but the measured mean is {mean:.1}"
    );
}
