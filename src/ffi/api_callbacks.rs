//! Callbacks (fn, ctx, destroy) and the loader behind `get_or_load`.

use std::ffi::{c_char, c_void};

use super::boundary::{c_str_arg, entry, key_arg, kind_of, null_arg, owned_bytes_arg};
use super::calls::{with_store, with_store_out};
use super::foreign::{self, ForeignCtx, check_object_cost, object_value, sink_fail, sink_put};
use super::sinks::{SinkState, with_sink};
use super::types::*;
use super::value::{FfiValue, Putting};
use crate::{Error, ErrorKind, Loaded};

/// Registers the event callback (`cb` NULL unregisters). While one is
/// registered, events go to it instead of the queue: on the thread whose
/// call produced them, after the store's locks are released (across threads,
/// or when the callback calls into the store and that call's events are
/// delivered inside it, they may arrive out of sequence). It may call back
/// into the store.
///
/// Ownership: `ctx` belongs to the store from now on; `destroy(ctx)` (may
/// be NULL) runs exactly once, after the callback's last call returned:
/// when it is replaced or unregistered, when the store is freed, or before
/// this call returns if it fails (also when `cb` is NULL). Replacing or
/// unregistering returns after calls of the old callback on other threads
/// have ended; from inside any callback (of any store) it returns at once,
/// and `destroy` runs when the old callback's last call returns, on that
/// call's thread (waiting there could deadlock two threads that each
/// replace a callback the other is inside). The callback must not unwind (no C++ exceptions, no longjmp) across the library.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_set_event_callback(
    store: *mut NexusStore,
    cb: NexusEventFn,
    ctx: *mut c_void,
    destroy: NexusDestroyFn,
) -> NexusStatus {
    // Owned before anything can fail: destroyed if registration does.
    let owned = ForeignCtx::new(ctx, destroy);
    with_store(store, move |s| {
        s.set_event_callback(cb.map(|f| foreign::event_callback(f, owned)));
        Ok(())
    })
}

/// Registers the eviction listener (`cb` NULL unregisters): called once per
/// entry a call of the store removes (not for the entries still present
/// when the store is freed: those are released without it), with its key
/// (valid for the call), reason (a `NEXUS_EVICTION_REASON_*`: `CAPACITY`,
/// `PRESSURE`, `MANUAL`, `REPLACED`, `REMOVED`, `GOVERNOR`, `EXPIRED`) and
/// charge, on the thread whose call removed it, after the store's locks are
/// released and before the value is released. It may call back into the store.
///
/// Ownership and threading of `ctx` and `destroy`: as for
/// `nexus_store_set_event_callback`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_set_eviction_listener(
    store: *mut NexusStore,
    cb: NexusEvictionListenerFn,
    ctx: *mut c_void,
    destroy: NexusDestroyFn,
) -> NexusStatus {
    // Owned before anything can fail: destroyed if registration does.
    let owned = ForeignCtx::new(ctx, destroy);
    with_store(store, move |s| {
        s.set_eviction_listener(cb.map(|f| foreign::eviction_listener(f, owned)));
        Ok(())
    })
}

/// Registers the loader (`loader` NULL unregisters) that
/// `nexus_store_get_or_load` calls on a miss, outside every lock, once per
/// key however many threads miss it at the same time (single flight). The
/// loader gives its value through `sink` exactly once and returns
/// `NEXUS_STATUS_OK`; returning OK without a value makes the call
/// `ERR_CALLBACK`; any other status it returns (`NOT_FOUND` included)
/// reaches every waiter and caches nothing (a value it gave before failing
/// is released), except a value that is no `NEXUS_STATUS_*`, which reaches
/// them as `ERR_CALLBACK` ("the loader returned status N").
///
/// The sink is a handle (like a store's, not a pointer to memory), valid
/// only during that loader call. While the loader runs, the sink may be
/// used from any thread (e.g. one the loader hands the work to and waits
/// for): calls on one sink are serialised, never concurrent. Once the
/// loader has returned, every call on its sink, from any thread and
/// whether or not its store still exists, is `ERR_INVALID_HANDLE` and
/// changes nothing; so is a value that was never a sink (a sink would
/// have to outlive 2^43 later loads, 2^19 on 32-bit targets, to alias one).
/// A call racing the loader's return either lands before it or is
/// `ERR_INVALID_HANDLE`.
///
/// Ownership and threading of `ctx` and `destroy`: as for
/// `nexus_store_set_event_callback`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_set_loader(
    store: *mut NexusStore,
    loader: NexusLoaderFn,
    ctx: *mut c_void,
    destroy: NexusDestroyFn,
) -> NexusStatus {
    // Owned before anything can fail: destroyed if registration does.
    let owned = ForeignCtx::new(ctx, destroy);
    with_store(store, move |s| {
        let objects_need_cost = !s.has_foreign_estimator();
        s.set_loader(loader.map(|f| foreign::loader(f, owned, objects_need_cost)));
        Ok(())
    })
}

/// Gives the loader's value as a copy of `value_len` bytes (NULL with
/// length 0 is an empty value). Call it once, while the loader runs, on
/// the sink the loader received (from any thread: see
/// `nexus_store_set_loader`). A loader that returns this call's failure
/// status as its own (`return nexus_load_sink_put_bytes(...)`) fails the
/// load with this call's message too.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: a value was already given, or a
///   length beyond PTRDIFF_MAX
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: sink NULL, value NULL with a non-zero
///   length
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: the sink's loader has returned, or
///   it is no sink; nothing is given
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe (calls on one sink are serialised).
#[unsafe(no_mangle)]
pub extern "C" fn nexus_load_sink_put_bytes(
    sink: *mut NexusLoadSink,
    value: *const u8,
    value_len: usize,
) -> NexusStatus {
    entry(|| {
        with_sink(non_null_sink(sink)?, |sink| {
            remember_refusal(sink, |sink| {
                // SAFETY: the caller passes `value_len` readable bytes.
                let value = unsafe { owned_bytes_arg(value, value_len, "value") }?;
                sink_put(sink, Loaded::new(FfiValue::Bytes(value)))
            })
        })?
    })
}

/// Gives the loader's value as an object charged `cost` bytes (0: ask the
/// size estimator; with none registered, `cost` 0 is
/// `ERR_INVALID_ARGUMENT`, as for `nexus_store_put_object`). On success the store owns the object exactly as with
/// `nexus_store_put_object` (its release runs once, when the value is gone
/// and unread; also if the loader then fails, or the value is not cached
/// and the last handle is released). On failure it takes no ownership. A
/// loader that returns this call's failure status as its own fails the load
/// with this call's message too.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: a value or a failure was already
///   given, or `cost` 0 with no size estimator registered
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: sink NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: the sink's loader has returned, or
///   it is no sink; the object is still the caller's
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the object is
///   still the caller's
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe (calls on one sink are serialised).
#[unsafe(no_mangle)]
pub extern "C" fn nexus_load_sink_put_object(
    sink: *mut NexusLoadSink,
    object: *mut c_void,
    cost: usize,
    release: NexusReleaseFn,
    release_ctx: *mut c_void,
) -> NexusStatus {
    entry(|| {
        with_sink(non_null_sink(sink)?, |sink| {
            remember_refusal(sink, |sink| {
                check_object_cost(cost, !sink.objects_need_cost)?;
                // A failed allocation unwinding from here leaves the object
                // the caller's (as for nexus_store_put_object).
                let _putting = Putting::new(object);
                let value = object_value(object, release, release_ctx);
                let loaded = if cost == 0 {
                    Loaded::new(value)
                } else {
                    Loaded::with_charge(value, cost as u64)
                };
                sink_put(sink, loaded)
            })
        })?
    })
}

/// `sink`, or `NULL_ARGUMENT`.
fn non_null_sink(sink: *mut NexusLoadSink) -> Result<*mut NexusLoadSink, Error> {
    if sink.is_null() {
        return Err(null_arg("sink"));
    }
    Ok(sink)
}

/// Runs a sink put, keeping its refusal in the sink (`SinkState::refused`).
fn remember_refusal(
    sink: &mut SinkState,
    put: impl FnOnce(&mut SinkState) -> Result<(), Error>,
) -> Result<(), Error> {
    let result = put(sink);
    if let Err(e) = &result {
        sink.refused = Some(e.clone());
    }
    result
}

/// Fails the load, saying why: every thread waiting on it (the caller of
/// `nexus_store_get_or_load` that ran the loader and the ones that joined
/// it) gets `status` and, from `nexus_last_error_message()`, `message`.
/// Nothing is cached. Call it while the loader runs, on the sink the loader
/// received (from any thread: see `nexus_store_set_loader`); the loader's
/// own return value is then ignored. A value given
/// to the sink before is released (as when a loader returns a failure
/// status). This is how a wrapper passes an exception's message across the
/// C library.
///
/// `status`: any status but `OK` (`NOT_FOUND` included). `message`: a
/// NUL-terminated string, copied (invalid UTF-8 is replaced); NULL gives a
/// default message naming the status.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: the sink already holds a failure, or
///   `status` is `OK` or no status; nothing is recorded
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: sink NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: the sink's loader has returned, or
///   it is no sink; nothing is recorded
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe (calls on one sink are serialised).
#[unsafe(no_mangle)]
pub extern "C" fn nexus_load_sink_fail(
    sink: *mut NexusLoadSink,
    status: NexusStatus,
    message: *const c_char,
) -> NexusStatus {
    entry(|| {
        let sink = non_null_sink(sink)?;
        let Some(kind) = kind_of(status) else {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("nexus_load_sink_fail needs a failure status, not {status}"),
            ));
        };
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let text = match unsafe { c_str_arg(message) } {
            Some(m) => m,
            None => format!("the loader failed ({})", kind.as_str()),
        };
        let failure = Error::new(kind, text);
        // A value given before is released here, after the sink's unlock.
        let _given = with_sink(sink, |sink| sink_fail(sink, failure))??;
        Ok(())
    })
}

/// Gives up the load without failing the key, for a loader whose caller
/// was cancelled (a Swift task, a Kotlin coroutine, a request the app
/// dropped): the caller of `nexus_store_get_or_load` that ran the loader
/// gets `NEXUS_STATUS_ERR_CALLBACK` and, from `nexus_last_error_message()`,
/// `message`; every thread that joined the load looks the key up again
/// instead (one of them runs its own loader), where
/// `nexus_load_sink_fail` would give them the failure. Nothing is cached.
/// Call it while the loader runs, on the sink the loader received (from
/// any thread: see `nexus_store_set_loader`); the loader's own return value
/// is then ignored. A value given to the sink before is released, as with
/// `nexus_load_sink_fail`. The store's
/// `load_failure_count` counts the call.
///
/// `message`: a NUL-terminated string, copied (invalid UTF-8 is replaced);
/// NULL gives "the loader abandoned the load".
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: the sink already holds a failure
///   (or an abandonment); nothing is recorded
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: sink NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: the sink's loader has returned, or
///   it is no sink; nothing is recorded
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe (calls on one sink are serialised).
#[unsafe(no_mangle)]
pub extern "C" fn nexus_load_sink_abandon(
    sink: *mut NexusLoadSink,
    message: *const c_char,
) -> NexusStatus {
    entry(|| {
        let sink = non_null_sink(sink)?;
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let text = unsafe { c_str_arg(message) }
            .unwrap_or_else(|| "the loader abandoned the load".to_owned());
        let failure = Error::load_abandoned(text);
        // A value given before is released here, after the sink's unlock.
        let _given = with_sink(sink, |sink| sink_fail(sink, failure))??;
        Ok(())
    })
}

/// Reads `key`; on a miss with a loader registered, calls it (outside
/// every lock; once for all concurrent callers missing the key), caches
/// and returns what it gives. A put or remove of the key during the load
/// wins: waiters get the loaded value, which is not cached. A loaded value
/// that cannot be cached (e.g. under EMERGENCY) is still returned with OK.
/// A loader's failure reaches every caller that joined the load, except
/// an abandonment (`nexus_load_sink_abandon`): only the caller that ran
/// the loader gets it, and the others look the key up again.
/// Without a loader it is `nexus_store_get`.
///
/// Ownership: on success `*out` is a new `NexusValue` the caller owns
/// (release it with `nexus_value_release`); written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: no loader and absent, or the loader said so
/// - any other status the loader returned
/// - `NEXUS_STATUS_ERR_CALLBACK`: the loader returned OK without a value, or
///   a value that is no status
/// - `NEXUS_STATUS_ERR_BUSY`: called from inside the loader of the same key
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL, key NULL with a
///   non-zero length
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed, or 2^20 loads
///   (2^12 on 32-bit targets) are in progress at once, over every store
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_get_or_load(
    store: *mut NexusStore,
    key: *const u8,
    key_len: usize,
    out: *mut *mut NexusValue,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        // SAFETY: the caller passes `key_len` readable bytes.
        Ok(NexusValue::new_raw(
            s.get_or_load(unsafe { key_arg(key, key_len) }?)?,
        ))
    })
}
