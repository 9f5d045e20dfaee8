//! Adapters from C callbacks (fn, ctx, destroy) to the core's Rust
//! callbacks. A [`ForeignCtx`] owns a ctx and destroys it exactly once,
//! when the last holder drops it: after the callback's last call returned,
//! or at once when registration fails.

// The core's callbacks take `&K`, and the C layer's key type is `Bytes` (a small-inline byte string).
#![allow(clippy::borrowed_box)]

use std::ffi::c_void;
use std::sync::Arc;

use super::boundary::kind_of;
use super::key::Key;
use super::sinks::{LiveSink, SinkState};
use super::store::CoreStore;
use super::types::*;
use super::value::{FfiValue, ForeignObject, Putting};
use crate::{
    ENTRY_OVERHEAD_BYTES, Error, ErrorKind, Event, EventCallback, EvictionListener, EvictionReason,
    Loaded, LoaderFn, SizeEstimator,
};

/// A callback's ctx with its destroy function.
pub(crate) struct ForeignCtx {
    ctx: *mut c_void,
    destroy: NexusDestroyFn,
}

// SAFETY: the header requires ctx and callbacks to be usable from any
// thread (callbacks run on whichever thread's call produced them); the
// library never dereferences ctx.
unsafe impl Send for ForeignCtx {}
// SAFETY: as above.
unsafe impl Sync for ForeignCtx {}

impl ForeignCtx {
    pub fn new(ctx: *mut c_void, destroy: NexusDestroyFn) -> Self {
        ForeignCtx { ctx, destroy }
    }

    pub fn ptr(&self) -> *mut c_void {
        self.ctx
    }
}

impl Drop for ForeignCtx {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy {
            // SAFETY: the caller gave `destroy` for this ctx; Drop runs once.
            unsafe { destroy(self.ctx) };
        }
    }
}

/// The C size estimator, or the default one when `f` is NULL.
pub(crate) struct ForeignEstimator {
    f: NexusSizeEstimatorFn,
    ctx: ForeignCtx,
}

impl ForeignEstimator {
    pub fn new(f: NexusSizeEstimatorFn, ctx: ForeignCtx) -> Self {
        ForeignEstimator { f, ctx }
    }

    /// Whether estimating calls C code (a registered estimator), rather
    /// than the default estimator.
    pub fn is_foreign(&self) -> bool {
        self.f.is_some()
    }
}

impl SizeEstimator<Key, FfiValue> for ForeignEstimator {
    fn estimate(&self, key: &Key, value: &FfiValue) -> u64 {
        let Some(f) = self.f else {
            return default_charge(key, value);
        };
        let (ptr, len) = match value {
            FfiValue::Bytes(b) => (b.as_ptr().cast::<c_void>(), b.len()),
            FfiValue::Object(o) => (o.object.cast_const(), 0),
        };
        // SAFETY: the caller registered `f` with this ctx; key and value
        // point to live memory for the duration of the call.
        let size = unsafe { f(self.ctx.ptr(), key.as_ptr(), key.len(), ptr, len) };
        if size == NEXUS_CHARGE_DEFAULT {
            return default_charge(key, value);
        }
        size as u64
    }
}

/// What the default estimator charges: key length + value length (0 for an
/// object) + `ENTRY_OVERHEAD_BYTES`.
#[inline]
pub(crate) fn default_charge(key: &Key, value: &FfiValue) -> u64 {
    default_charge_of(key.len(), value)
}

/// [`default_charge`] for a key of `key_len` bytes.
#[inline]
pub(crate) fn default_charge_of(key_len: usize, value: &FfiValue) -> u64 {
    default_charge_of_lengths(key_len, value.bytes().map_or(0, <[u8]>::len))
}

/// [`default_charge`] for a key and a byte value of these lengths.
#[inline]
pub(crate) fn default_charge_of_lengths(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64)
        .saturating_add(value_len as u64)
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

pub(crate) fn event_callback(
    f: unsafe extern "C" fn(*mut c_void, *const NexusEvent),
    ctx: ForeignCtx,
) -> Arc<EventCallback> {
    Arc::new(move |e: &Event| {
        let event = NexusEvent::from(e);
        // SAFETY: registered fn with its ctx; `event` lives for the call.
        unsafe { f(ctx.ptr(), &event) };
    })
}

pub(crate) fn eviction_listener(
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize, NexusEvictionReason, u64),
    ctx: ForeignCtx,
) -> Arc<EvictionListener<Key>> {
    Arc::new(move |key: &Key, reason: EvictionReason, bytes: u64| {
        // SAFETY: registered fn with its ctx; the key lives for the call.
        unsafe { f(ctx.ptr(), key.as_ptr(), key.len(), reason as u32, bytes) };
    })
}

pub(crate) fn loader(
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut NexusLoadSink) -> NexusStatus,
    ctx: ForeignCtx,
    objects_need_cost: bool,
) -> Arc<LoaderFn<Key, FfiValue>> {
    Arc::new(move |key: &Key| {
        let live = LiveSink::open(objects_need_cost)?;
        // SAFETY: registered fn with its ctx; the key lives for the call;
        // the sink is a handle, checked by every sink call.
        let status = unsafe { f(ctx.ptr(), key.as_ptr(), key.len(), live.handle()) };
        // The sink is retired here: a call on it from now on, from any
        // thread, is INVALID_HANDLE.
        let sink = live.finish();
        match (status, sink.outcome) {
            // A failure given through `nexus_load_sink_fail` wins, whatever
            // the loader returned.
            (_, Some(Err(failure))) => Err(failure),
            (NEXUS_STATUS_OK, Some(Ok(loaded))) => Ok(loaded),
            (NEXUS_STATUS_OK, None) => Err(Error::new(
                ErrorKind::Callback,
                "the loader returned NEXUS_STATUS_OK without giving a value to its sink",
            )),
            (status, loaded) => {
                // A value given before a failure is ours: release it.
                drop(loaded);
                let kind = kind_of(status).unwrap_or(ErrorKind::Callback);
                Err(match sink.refused {
                    // The loader passed on the status of a value its sink
                    // refused: say why it was refused.
                    Some(refused) if refused.kind() == kind => Error::new(
                        kind,
                        format!(
                            "the loader returned status {status}: its sink refused its value: {}",
                            refused.message()
                        ),
                    ),
                    _ => Error::new(kind, format!("the loader returned status {status}")),
                })
            }
        }
    })
}

fn sink_taken() -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "the loader already gave this sink a value or a failure",
    )
}

/// Puts a loaded value into a sink: `INVALID_ARGUMENT` (and the value is
/// given back, not released) if it already holds an outcome.
pub(crate) fn sink_put(sink: &mut SinkState, loaded: Loaded<FfiValue>) -> Result<(), Error> {
    if sink.outcome.is_some() {
        loaded.value.disown();
        return Err(sink_taken());
    }
    sink.outcome = Some(Ok(loaded));
    Ok(())
}

/// Records a loader's failure in its sink: `INVALID_ARGUMENT` if it
/// already holds a failure. A value given before is returned, for the
/// caller to drop (its release runs then, on this thread, outside every
/// lock: the sink's too), as when a loader returns a failure status.
#[must_use = "a value given before the failure is returned to be released"]
pub(crate) fn sink_fail(
    sink: &mut SinkState,
    failure: Error,
) -> Result<Option<Loaded<FfiValue>>, Error> {
    if let Some(Err(_)) = sink.outcome {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "the loader already gave this sink a failure",
        ));
    }
    match sink.outcome.replace(Err(failure)) {
        Some(Ok(given)) => Ok(Some(given)),
        _ => Ok(None),
    }
}

/// `INVALID_ARGUMENT` for an object put with cost 0 where no size estimator
/// is registered: nothing could size it, and a silent default charge would
/// make the byte budget fiction.
pub(crate) fn check_object_cost(cost: usize, has_estimator: bool) -> Result<(), Error> {
    if cost == 0 && !has_estimator {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "an object's cost is 0 and the store has no size estimator to size it: pass the \
             object's size in bytes as `cost` (or register a size estimator in NexusMemoryConfig)",
        ));
    }
    Ok(())
}

/// The body of `nexus_store_put_object` and `nexus_store_put_object_ttl`
/// (`ttl`: the entry's own time to live, not zero): the cost checked, the
/// object wrapped and put; on failure the object is given back unreleased
/// (a failed put takes no ownership), also when the put unwinds.
pub(crate) fn put_object(
    s: &CoreStore,
    key: Key,
    object: *mut c_void,
    cost: usize,
    release: NexusReleaseFn,
    release_ctx: *mut c_void,
    ttl: Option<std::time::Duration>,
) -> Result<(), Error> {
    check_object_cost(cost, s.has_foreign_estimator())?;
    if ttl.is_some_and(|t| t.is_zero()) {
        // Refused before the object is wrapped (and before an estimator
        // could be called for it).
        return Err(Error::invalid(
            "a time to live of zero: use nexus_store_put_object for the store's own",
        ));
    }
    let _putting = Putting::new(object);
    let value = object_value(object, release, release_ctx);
    let put = match (ttl, cost) {
        (None, 0) => s.try_put(key, value),
        (None, cost) => s.try_put_charged(key, value, cost as u64),
        (Some(ttl), 0) => s.try_put_with_ttl(key, value, ttl),
        (Some(ttl), cost) => s.try_put_charged_with_ttl(key, value, cost as u64, ttl),
    };
    put.map_err(|(e, value)| {
        value.disown();
        e
    })
}

pub(crate) fn object_value(
    object: *mut c_void,
    release: NexusReleaseFn,
    release_ctx: *mut c_void,
) -> FfiValue {
    FfiValue::Object(Box::new(ForeignObject::new(object, release, release_ctx)))
}
