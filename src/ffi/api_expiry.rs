//! Expiry: a put with its own time to live, and the sweep
//! (`NexusMemoryConfig.ttl_ms`, `tti_ms`).

use std::time::Duration;

use std::ffi::c_void;

use super::boundary::{owned_bytes_arg, owned_key_arg};
use super::calls::{with_store, with_store_out};
use super::foreign::put_object;
use super::types::*;
use super::value::FfiValue;

/// `nexus_store_put` with this entry's own time to live of `ttl_ms`
/// milliseconds on the store's clock (instead of the config's `ttl_ms`).
/// Turns expiry on for the store if its config had none. A later put of the
/// key without a TTL gives it the store's own again.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL, or key/value NULL with a
///   non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: `ttl_ms` 0, a length beyond
///   PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_TOO_LARGE`: as for `nexus_store_put`
/// - `NEXUS_STATUS_ERR_OVER_BUDGET`: as for `nexus_store_put`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: the copy could not be allocated
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// On failure nothing changed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_put_ttl(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        let key = unsafe { owned_key_arg(key, key_len) }?;
        // SAFETY: the caller passes `value_len` readable bytes.
        let value = unsafe { owned_bytes_arg(value, value_len, "value") }?;
        s.put_with_ttl(key, FfiValue::Bytes(value), Duration::from_millis(ttl_ms))
    })
}

/// `nexus_store_put_object` with this entry's own time to live of `ttl_ms`
/// milliseconds on the store's clock (instead of the config's `ttl_ms`), as
/// `nexus_store_put_ttl` gives a bytes value. An expired object is released
/// like any other that leaves the store: exactly once, when the entry is
/// gone and no read handle holds it.
///
/// Ownership: as for `nexus_store_put_object`: on success the store owns
/// the object; on failure it takes none (`release` is never called for it).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL, key NULL with a non-zero
///   length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: `ttl_ms` 0, `cost` 0 with no size
///   estimator registered, or a key length beyond PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_TOO_LARGE`
/// - `NEXUS_STATUS_ERR_OVER_BUDGET`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// On failure nothing changed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_put_object_ttl(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    object: *mut c_void,
    cost: usize,
    release: NexusReleaseFn,
    release_ctx: *mut c_void,
    ttl_ms: u64,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        let key = unsafe { owned_key_arg(key, key_len) }?;
        let ttl = Duration::from_millis(ttl_ms);
        put_object(s, key, object, cost, release, release_ctx, Some(ttl))
    })
}

/// Removes every expired entry now (reason `NEXUS_EVICTION_REASON_EXPIRED`,
/// one EVICTION event per shard that removed any) and writes how many to
/// `*out_count` (written only on success): every expired entry this call
/// removed, including those a read had found expired that no call has
/// removed since (the store's next call removes those, with shards the
/// next call that reaches their shard, and counts them itself). Reads
/// never return an expired entry whether or not a sweep ran; the sweep
/// gives their memory back.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out_count NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_sweep_expired(
    store: *mut NexusStore,
    out_count: *mut usize,
) -> NexusStatus {
    with_store_out(store, out_count, "out_count", |s| Ok(s.sweep_expired()))
}
