//! Pins.

use super::boundary::key_arg;
use super::calls::{with_store, with_store_out};
use super::types::*;

/// Pins `key`, present or not (the pin waits for it). A pinned entry is
/// never evicted, by any pressure level or call, and still counts against
/// the budget. Pinning again is OK and keeps its place in
/// `nexus_store_pinned_ids`. Pins last across `remove` and `clear`. Not an
/// access.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL, key NULL with a non-zero
///   length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_pin(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        s.pin(unsafe { key_arg(key, key_len) }?);
        Ok(())
    })
}

/// Ends the pin of `key` (one unpin ends it, however often it was pinned).
/// The entry, if present, becomes evictable again as the most recently used
/// of its peers; if the pin was what kept usage above the budget in force
/// (under a signal), the store evicts down to it now. Not an access.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: not pinned
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_unpin(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        s.unpin(unsafe { key_arg(key, key_len) }?)
    })
}

/// Writes whether `key` is pinned (present or not) to `*out`. Not an
/// access. `*out` is written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL, key NULL with a
///   non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_is_pinned(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    out: *mut bool,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        Ok(s.is_pinned(unsafe { key_arg(key, key_len) }?))
    })
}

/// Every pinned key, present or not, in pin order (with `shards` > 1: shard
/// by shard, in pin order within each).
///
/// Ownership: on success `*out` is a new list the caller owns; free it
/// once with `nexus_key_list_free`. `*out` is written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_pinned_ids(
    store: *mut NexusStore,
    out: *mut *mut NexusKeyList,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        let keys = s.pinned_ids();
        Ok(Box::into_raw(Box::new(NexusKeyList { keys })))
    })
}
