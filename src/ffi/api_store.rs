//! Creating and freeing stores; putting, reading and removing entries.

use std::ffi::c_void;

use super::boundary::{
    check_len, check_null_with_len, entry, failed, key_arg, null_arg, out_arg, owned_bytes_arg,
    owned_bytes_arg_other, owned_key_arg, short_bytes_arg, status_of_result,
};
use super::calls::{
    with_store, with_store_out, with_store_own_callbacks, with_store_own_callbacks_status,
};
use super::config::{convert, read_config};
use super::foreign::{default_charge_of, default_charge_of_lengths, put_object};
use super::handles;
use super::key::KeyBytes;
use super::short_bytes::{INLINE, copy_out};
use super::store::{CoreStore, FfiStore};
use super::types::*;
use super::value::FfiValue;
use crate::{Error, ErrorKind, Store};

/// Creates a store. `config` NULL is `ERR_NULL_ARGUMENT` (initialize one
/// with `nexus_memory_config_init`). The store starts at the last level
/// given to `nexus_signal_pressure_all`.
///
/// Ownership: on success `*out` is a new store handle; free it with
/// `nexus_store_free`. The config is copied; the size estimator's ctx is
/// owned by the store from now on, and its destroy runs once: when the store
/// is freed, or before this call returns if it fails (fields beyond
/// `struct_size` are never read, so a ctx there is not destroyed). One
/// exception: a config never initialized (a struct_size beyond 4096 bytes,
/// which no header has, over fields that are no valid config either: stack
/// garbage) is refused without calling anything in it, its destroy
/// included. `*out` is written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: config or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: struct_size larger than this library
///   knows, too small, or ending inside a field (no header's size), a
///   config never initialized (see above),
///   thresholds not 0 < moderate < critical <= 1 or not finite, keeps not
///   0 < critical_keep <= moderate_keep <= 1, batch 0, queue capacity 0,
///   strategy out of range, shards not 1..=NEXUS_MAX_SHARDS, a
///   bounded budget smaller than `shards` bytes; `nexus_memory_config_validate`
///   checks the same rules without making a store
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: too many live stores
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_new(
    config: *const NexusMemoryConfig,
    out: *mut *mut NexusStore,
) -> NexusStatus {
    entry(|| {
        if config.is_null() {
            return Err(null_arg("config"));
        }
        // SAFETY: non-NULL; the caller passes an initialized config of at
        // least `struct_size` bytes (or this header's size).
        let (c, struct_size) = unsafe { read_config(config) };
        // Convert first so the estimator ctx is owned (and destroyed on
        // failure) whatever fails next.
        let converted = convert(&c, struct_size);
        // SAFETY: the caller passes NULL or a writable pointer.
        let out = unsafe { out_arg(out, "out") }?;
        let (config, estimator) = converted?;
        // A C estimator runs C code: the store tracks it as a callback.
        let foreign = estimator.is_foreign();
        let mut builder = Store::builder(config, estimator);
        if foreign {
            builder = builder.foreign_estimator();
        }
        let store = builder.build()?;
        out.set(handles::insert(FfiStore { store })?);
        Ok(())
    })
}

/// Frees a store: the handle is invalid at once; the call returns after
/// calls in flight on other threads have ended; then every remaining value
/// is released (object release callbacks run on this thread) and every
/// registered callback's ctx is destroyed. Value handles obtained from the
/// store stay valid until released.
///
/// `store` NULL: does nothing and returns `OK`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: already freed, or not a store
/// - `NEXUS_STATUS_ERR_BUSY`: called from inside one of this store's own
///   callbacks, where it would wait for itself: use `nexus_store_free_deferred`
///   there; also from more than 64 callbacks nested on this thread (of any
///   stores: each store call a callback makes and the callback it runs take
///   one each), where the thread's record of them ends and the free is
///   refused rather than risk waiting for itself
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe; freeing the same store from two threads frees it once (the
/// other call gets `ERR_INVALID_HANDLE`).
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_free(store: *mut NexusStore) -> NexusStatus {
    if store.is_null() {
        return NEXUS_STATUS_OK;
    }
    entry(|| handles::free(store))
}

/// Frees a store without ever waiting, for garbage-collected hosts (a
/// finalizer, a Swift `deinit`, a Java `Cleaner`), like `sqlite3_close_v2`.
/// The handle is invalid at once (every later call with it, this one
/// included, is `ERR_INVALID_HANDLE`). The store is freed when its last call
/// in flight ends, on the thread that ends it: here, before this returns, if
/// no call is in flight; otherwise on return of the last one (possibly on
/// another thread, possibly on the return path of the callback this was
/// called from). Freeing is what `nexus_store_free` does: remaining values
/// released, every callback ctx destroyed (each after its callback's last
/// call returned). Value handles stay valid until released.
///
/// Never blocks, never `ERR_BUSY`: it may be called from any thread,
/// including inside any of the store's own callbacks (estimator, loader,
/// release, eviction listener, event callback, a ctx's destroy).
/// `nexus_store_free` keeps its blocking contract.
///
/// `store` NULL: does nothing and returns `OK`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: already freed, or not a store
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe; of two frees of one store (deferred or not) one succeeds and
/// the other gets `ERR_INVALID_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_free_deferred(store: *mut NexusStore) -> NexusStatus {
    if store.is_null() {
        return NEXUS_STATUS_OK;
    }
    entry(|| handles::free_deferred(store))
}

/// Inserts or replaces `key` with a copy of `value_len` bytes at `value`,
/// charged what the size estimator returns (called once, on this thread,
/// outside every internal lock). A put that would exceed the budget in
/// force first evicts, in strategy order, just enough to fit. A put that
/// leaves usage at or above the working size (`moderate_threshold` x the
/// budget) then evicts toward it: at MODERATE at most
/// `eviction_batch_size` entries, at CRITICAL until usage is below it; so
/// a store that is filled settles just under its working size (README,
/// "Levels and reactions").
///
/// NULL with length 0 is an empty key or value. The bytes are copied: the
/// caller keeps ownership of its buffers.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL, or key/value NULL with a
///   non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: a length beyond PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_TOO_LARGE`: charge above the configured budget, or usage
///   would overflow
/// - `NEXUS_STATUS_ERR_OVER_BUDGET`: cannot fit even after evicting every
///   evictable entry, or an EMERGENCY signal refuses unpinned keys
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: the copy could not be allocated: the
///   allocation is made before the bytes are read
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// On failure nothing changed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_put(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> NexusStatus {
    with_store_own_callbacks(store, |s| {
        if s.has_foreign_estimator() || key_len > INLINE {
            return put_owned_key(s, key, key_len, value, value_len);
        }
        // A short key, looked up borrowed.
        // SAFETY: the caller passes `key_len` readable bytes.
        let key = unsafe { key_arg(key, key_len) }?;
        // SAFETY (both): the caller passes `value_len` readable bytes.
        let value = FfiValue::Bytes(match unsafe { short_bytes_arg(value, value_len) } {
            Some(short) => short,
            None => {
                if value_len > CHECKED_BEFORE_COPY {
                    fits_the_budget(s, value.is_null(), value_len, key_len)?;
                }
                unsafe { owned_bytes_arg_other(value, value_len, "value") }?
            }
        });
        // What the default estimator charges, without the call through the
        // store's estimator; the key is copied only if it is not present.
        let charge = default_charge_of_lengths(key_len, value_len);
        s.try_put_borrowed(
            key,
            value,
            charge,
            KeyBytes::try_to_owned,
            FfiValue::drop_bytes,
        )
        .map_err(|(e, _bytes)| e)
    })
}

/// `nexus_store_put` with a key copied before the put: the estimator sees
/// it, and a key longer than the inline size is allocated before its bytes
/// are read (so an absurd length is OUT_OF_MEMORY, not a read past the
/// caller's buffer). Out of line: it keeps the short path small enough for
/// the compiler to inline the probe into it.
#[inline(never)]
fn put_owned_key(
    s: &CoreStore,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> Result<(), Error> {
    if !s.has_foreign_estimator() && key_len.saturating_add(value_len) > CHECKED_BEFORE_COPY {
        check_null_with_len(key.is_null(), key_len, "key")?;
        check_len(key_len, "key")?;
        fits_the_budget(s, value.is_null(), value_len, key_len)?;
    }
    // SAFETY: the caller passes `key_len` readable bytes.
    let key = unsafe { owned_key_arg(key, key_len) }?;
    // SAFETY: the caller passes `value_len` readable bytes.
    let value = FfiValue::Bytes(unsafe { owned_bytes_arg(value, value_len, "value") }?);
    if s.has_foreign_estimator() {
        return s.put(key, value);
    }
    let charge = default_charge_of(key_len, &value);
    s.put_charged(key, value, charge)
}

/// Lengths above which a put checks the default charge against the budget
/// before it copies (below, the copy costs less than the check's lock).
const CHECKED_BEFORE_COPY: usize = 64 << 10;

/// Before a long key or value is copied (default estimator: the charge
/// follows from the lengths): `TOO_LARGE` for an entry whose charge is above
/// the whole budget, as the put would find after the copy, so that an
/// absurd length is refused without an allocation of that size. The value's
/// argument rules come first, in the documented order (the key's were
/// checked by the caller).
#[cold]
#[inline(never)]
fn fits_the_budget(
    s: &CoreStore,
    value_is_null: bool,
    value_len: usize,
    key_len: usize,
) -> Result<(), Error> {
    check_null_with_len(value_is_null, value_len, "value")?;
    check_len(value_len, "value")?;
    let charge = default_charge_of_lengths(key_len, value_len);
    let max = s.config().max_cache_bytes;
    if max != 0 && charge > max {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("an entry charged {charge} bytes exceeds the budget of {max} bytes"),
        ));
    }
    Ok(())
}

/// Inserts or replaces `key` with an opaque object (a texture, a retained
/// Swift object, a JNI global ref), charged `cost` bytes: what the object
/// really holds, so that the byte budget stays true. `cost` 0 asks the size
/// estimator registered in the config (it sees `value` = object and
/// `value_len` = 0); with no estimator registered, nothing can size an
/// object and `cost` 0 is `ERR_INVALID_ARGUMENT`. It evicts as
/// `nexus_store_put` does (to fit, then toward the working size).
///
/// Ownership: on success the store owns the object and calls
/// `release(release_ctx, object)` exactly once, when the entry is gone and
/// no read handle holds it (inside the call that ended it: remove, the put
/// that replaced it, an eviction, the last `nexus_value_release`, or
/// `nexus_store_free`), on that call's thread, never under an internal
/// lock. `release` may be NULL (nothing to release). On failure the store
/// takes no ownership: `release` is never called for it.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL, key NULL with a non-zero
///   length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: `cost` 0 with no size estimator
///   registered, or a key length beyond PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_TOO_LARGE`
/// - `NEXUS_STATUS_ERR_OVER_BUDGET`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// On failure nothing changed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_put_object(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    object: *mut c_void,
    cost: usize,
    release: NexusReleaseFn,
    release_ctx: *mut c_void,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        let key = unsafe { owned_key_arg(key, key_len) }?;
        put_object(s, key, object, cost, release, release_ctx, None)
    })
}

/// Reads `key`. A hit is an access; it returns a read handle: the bytes
/// (or object) stay valid until the handle is released, even if the entry
/// is removed or the store is freed meanwhile, and while it is held the
/// entry is never evicted.
///
/// Ownership: on success `*out` is a new `NexusValue` the caller owns;
/// release it exactly once with `nexus_value_release` (using it after that
/// is undefined, like `free`). `*out` is written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: absent; counted as a miss
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL, key NULL with a
///   non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_get(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    out: *mut *mut NexusValue,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        let key = unsafe { key_arg(key, key_len) }?;
        let handle = s
            .get(key)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no entry with this key"))?;
        Ok(NexusValue::new_raw(handle))
    })
}

/// Copies the bytes of `key`'s value into `buf` and writes their length to
/// `*out_len`; no handle is created. A hit is an access.
///
/// Size query: with `buf_len` too small (e.g. `buf` NULL and `buf_len` 0)
/// it returns `ERR_BUFFER_TOO_SMALL` and writes the length needed to
/// `*out_len` (the one out-param written on failure); that is not an
/// access and not a hit. The caller owns `buf`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: a miss
/// - `NEXUS_STATUS_ERR_BUFFER_TOO_SMALL`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: the value is an object, or a length
///   beyond PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out_len NULL, key or buf NULL
///   with a non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_get_copy(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> NexusStatus {
    with_store_own_callbacks_status(store, |s| {
        // A well-formed call passes non-NULL pointers (a NULL is legal only
        // with a zero length) and lengths up to PTRDIFF_MAX: one test; the
        // cold path sorts out which rule, if any, a NULL broke, in the
        // documented order, and a legal NULL becomes a dangling pointer.
        let (key, buf) = if key.is_null()
            | out_len.is_null()
            | buf.is_null()
            | ((key_len | buf_len) > isize::MAX as usize)
        {
            if let Some(e) = get_copy_argument_error(key, key_len, out_len, buf, buf_len) {
                return failed(e);
            }
            (
                non_null_or_dangling(key.cast_mut()).cast_const(),
                non_null_or_dangling(buf),
            )
        } else {
            (key, buf)
        };
        // SAFETY: non-NULL (a NULL with a zero length was made dangling,
        // which a zero-length slice allows), `key_len <= isize::MAX`, and
        // the caller passes `key_len` readable bytes for the call.
        let key = KeyBytes::new(unsafe { std::slice::from_raw_parts(key, key_len) });
        s.read_with(
            key,
            move |value| {
                if let Some((n, first, last)) = value.inline_words() {
                    if n > buf_len {
                        // SAFETY: checked non-NULL above; the caller passes
                        // a writable, aligned pointer.
                        unsafe { out_len.write(n) };
                        return Err(buffer_too_small(n, buf_len));
                    }
                    // SAFETY: `buf_len >= n >= 8`, so `buf` is non-NULL
                    // (checked above) and bytes 0..8 and n-8..n lie within
                    // the `buf_len` writable bytes the caller guarantees,
                    // which do not overlap the store's memory; unaligned
                    // writes need no alignment. Then the length, as below.
                    unsafe {
                        buf.cast::<u64>().write_unaligned(first);
                        buf.add(n - 8).cast::<u64>().write_unaligned(last);
                        out_len.write(n);
                    }
                    return Ok(());
                }
                let Some(bytes) = value.bytes() else {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        "the value is an object: read it with nexus_store_get",
                    ));
                };
                // The length is written on success and, as the length needed,
                // on BUFFER_TOO_SMALL; after the copy (`out_len` may point into
                // `buf`: the length is what the caller reads last).
                // Written through the raw pointer: no `&mut` to memory that the
                // copy may also write.
                if bytes.len() > buf_len {
                    // SAFETY: checked non-NULL above; the caller passes a
                    // writable, aligned pointer.
                    unsafe { out_len.write(bytes.len()) };
                    return Err(buffer_too_small(bytes.len(), buf_len));
                }
                // SAFETY: `buf_len >= len`, so `buf` is non-NULL when len > 0
                // (checked above), and the caller guarantees `buf_len` writable
                // bytes that do not overlap the store's own memory.
                unsafe { copy_out(bytes, buf) };
                // SAFETY: as above.
                unsafe { out_len.write(bytes.len()) };
                Ok(())
            },
            // The status under the lock: no `Result` crosses the unlock.
            status_of_result,
        )
    })
}

#[cold]
#[inline(never)]
fn buffer_too_small(len: usize, buf_len: usize) -> Error {
    Error::new(
        ErrorKind::BufferTooSmall,
        format!("the value has {len} bytes; the buffer has {buf_len}"),
    )
}

/// Which of `nexus_store_get_copy`'s argument rules a call broke, checked
/// in the documented order (the key, `out_len`, then the buffer); `None`
/// when its NULLs came with zero lengths, which is legal.
#[cold]
#[inline(never)]
fn get_copy_argument_error(
    key: *const u8,
    key_len: usize,
    out_len: *mut usize,
    buf: *mut u8,
    buf_len: usize,
) -> Option<Error> {
    let check = || -> Result<(), Error> {
        check_null_with_len(key.is_null(), key_len, "key")?;
        check_len(key_len, "key")?;
        if out_len.is_null() {
            return Err(null_arg("out_len"));
        }
        check_null_with_len(buf.is_null(), buf_len, "buf")?;
        check_len(buf_len, "buf")
    };
    check().err()
}

/// `p`, or a dangling (non-NULL, aligned) pointer where `p` is NULL: what a
/// zero-length slice or copy needs.
#[cold]
fn non_null_or_dangling<T>(p: *mut T) -> *mut T {
    if p.is_null() {
        std::ptr::NonNull::dangling().as_ptr()
    } else {
        p
    }
}

/// Writes whether `key` is present to `*out`. Not an access: no hit, no
/// miss, no change of order. `*out` is written only on success.
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
pub extern "C" fn nexus_store_contains(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    out: *mut bool,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        Ok(s.contains(unsafe { key_arg(key, key_len) }?))
    })
}

/// Removes `key`, pinned or not (its pin stays and waits for the key's
/// next put). Not an eviction: the eviction listener hears `REMOVED`. An
/// object value is released here unless a read handle still holds it.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: absent, or expired (the expired entry then
///   leaves with reason `EXPIRED`)
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_remove(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
) -> NexusStatus {
    with_store(store, |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        s.remove(unsafe { key_arg(key, key_len) }?)
    })
}

/// Removes every entry, pinned ones too (pins stay), and writes how many to
/// `*removed`. Not an eviction (listener reason `REMOVED`). Expired entries
/// leave first (reason `EXPIRED`) and are not counted.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or removed NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_clear(store: *mut NexusStore, removed: *mut usize) -> NexusStatus {
    with_store_out(store, removed, "removed", |s| Ok(s.clear()))
}
