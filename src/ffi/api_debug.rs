//! A testing aid: a deliberate panic, to show that none crosses the boundary.

use super::calls::with_store;
use super::types::*;

/// Testing aid: panics inside the library while holding the store's lock,
/// to show that a Rust panic never crosses the C boundary: the call returns
/// `NEXUS_STATUS_ERR_PANIC` with a message, and the store stays usable.
///
/// Returns:
/// - `NEXUS_STATUS_ERR_PANIC`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_debug_panic(store: *mut NexusStore) -> NexusStatus {
    with_store(store, |s| {
        s.panic_under_lock();
        Ok(())
    })
}
