//! Allocation failure where the code path can handle it: the C layer copies
//! keys and values with fallible allocations, so a failed allocation is
//! `NEXUS_STATUS_ERR_OUT_OF_MEMORY` with nothing changed, not an abort.
//! A global allocator fails the allocations of one chosen size, once
//! (transient) or until disarmed (persistent).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nexus_store::ffi::*;

struct FailingAlloc;

/// Allocations of this size fail while armed (0 = none).
static FAIL_SIZE: AtomicUsize = AtomicUsize::new(0);
/// Disarm after the first failure.
static TRANSIENT: AtomicBool = AtomicBool::new(false);
static FAILURES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, or returns NULL (a valid
// "allocation failed" answer) for the chosen size.
unsafe impl GlobalAlloc for FailingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = FAIL_SIZE.load(Ordering::SeqCst);
        if size != 0 && layout.size() == size {
            FAILURES.fetch_add(1, Ordering::SeqCst);
            if TRANSIENT.load(Ordering::SeqCst) {
                FAIL_SIZE.store(0, Ordering::SeqCst);
            }
            return ptr::null_mut();
        }
        // SAFETY: the caller's layout contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: `p` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(p, layout) }
    }
}

#[global_allocator]
static ALLOC: FailingAlloc = FailingAlloc;

/// A size no other allocation in these tests has.
const ODD: usize = 7919;

fn arm(transient: bool) {
    FAILURES.store(0, Ordering::SeqCst);
    TRANSIENT.store(transient, Ordering::SeqCst);
    FAIL_SIZE.store(ODD, Ordering::SeqCst);
}

fn disarm() {
    FAIL_SIZE.store(0, Ordering::SeqCst);
}

fn new_store() -> *mut NexusStore {
    let mut config = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(config.as_mut_ptr());
    // SAFETY: initialized by nexus_memory_config_init.
    let mut config = unsafe { config.assume_init() };
    config.max_cache_bytes = 1 << 20;
    let mut store = ptr::null_mut();
    assert_eq!(nexus_store_new(&config, &mut store), NEXUS_STATUS_OK);
    store
}

fn metrics(store: *mut NexusStore) -> NexusMemoryMetrics {
    let mut m = NexusMemoryMetrics::default();
    assert_eq!(nexus_store_memory_metrics(store, &mut m), NEXUS_STATUS_OK);
    m
}

fn put(store: *mut NexusStore, key: &[u8], value: &[u8]) -> NexusStatus {
    nexus_store_put(store, key.as_ptr(), key.len(), value.as_ptr(), value.len())
}

fn message() -> String {
    // SAFETY: the library returns a valid NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(nexus_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

// The allocator is process-global: the two scenarios run in one test.
#[test]
fn failed_copies_are_out_of_memory_and_change_nothing() {
    let store = new_store();
    assert_eq!(put(store, b"kept", b"value"), NEXUS_STATUS_OK);
    let before = metrics(store);
    let big = vec![1u8; ODD];

    // Transient: the value copy fails once, the retry succeeds.
    arm(true);
    assert_eq!(put(store, b"big", &big), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    assert!(message().contains("could not allocate"), "{}", message());
    assert_eq!(FAILURES.load(Ordering::SeqCst), 1);
    let after = metrics(store);
    assert_eq!(
        (after.entry_count, after.current_usage, after.insert_count),
        (
            before.entry_count,
            before.current_usage,
            before.insert_count
        )
    );
    assert_eq!(put(store, b"big", &big), NEXUS_STATUS_OK);
    assert_eq!(metrics(store).entry_count, 2);

    // Persistent: every attempt fails (a value copy, key copies),
    // the store stays usable and keeps what it had.
    arm(false);
    assert_eq!(put(store, b"big2", &big), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    assert_eq!(put(store, &big, b"v"), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    assert_eq!(
        nexus_store_put_object(
            store,
            big.as_ptr(),
            big.len(),
            ptr::null_mut(),
            1,
            None,
            ptr::null_mut()
        ),
        NEXUS_STATUS_ERR_OUT_OF_MEMORY
    );
    assert!(FAILURES.load(Ordering::SeqCst) >= 3);
    let mut present = false;
    assert_eq!(
        nexus_store_contains(store, b"big".as_ptr(), 3, &mut present),
        NEXUS_STATUS_OK
    );
    assert!(present);
    assert_eq!(put(store, b"small", b"ok"), NEXUS_STATUS_OK);
    disarm();

    assert_eq!(metrics(store).entry_count, 3);
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
}
