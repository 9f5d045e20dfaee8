//! Metrics and the event queue.

use std::ffi::c_char;

use super::boundary::{c_string_out_args, write_c_string};
use super::calls::{with_store, with_store_out};
use super::types::*;
use crate::{Error, ErrorKind, EventMask};

/// Writes a snapshot of the metrics to `*out` (written only on success).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_memory_metrics(
    store: *mut NexusStore,
    out: *mut NexusMemoryMetrics,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| Ok(s.metrics().into()))
}

/// Writes the metrics as one JSON object (keys are the
/// `NexusMemoryMetrics` field names; the level is an integer), NUL
/// terminated, into `buf`, and its size including the NUL to `*out_len`.
///
/// Size query: with `buf_len` too small (e.g. `buf` NULL, `buf_len` 0) it
/// returns `ERR_BUFFER_TOO_SMALL` and writes the size needed, NUL included,
/// to `*out_len`; `buf` is left alone. The caller owns `buf`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_BUFFER_TOO_SMALL`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out_len NULL, buf NULL with a
///   non-zero buf_len
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_metrics_json(
    store: *mut NexusStore,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> NexusStatus {
    with_store(store, |s| {
        c_string_out_args(buf, buf_len, out_len)?;
        // SAFETY: checked just above; the caller's contract for the rest.
        unsafe { write_c_string(&s.metrics_json(), buf, buf_len, out_len, "JSON") }
    })
}

/// Zeroes the counters (evictions, evicted bytes, hits, misses, inserts,
/// loads, load failures) and sets the peak to the current usage.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_reset_metrics(store: *mut NexusStore) -> NexusStatus {
    with_store(store, |s| {
        s.reset_metrics();
        Ok(())
    })
}

/// Takes the oldest queued event into `*out` (written only on success).
/// Events queue only while no event callback is registered; a full queue
/// drops new events and keeps one `DROPPED` marker counting them.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_EMPTY`: no event
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_poll_event(
    store: *mut NexusStore,
    out: *mut NexusEvent,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| {
        let event = s
            .poll_event()
            .ok_or_else(|| Error::new(ErrorKind::Empty, "no event is queued"))?;
        Ok(NexusEvent::from(&event))
    })
}

/// Chooses which kinds of event the store delivers from now on, to its
/// event callback or its queue: `mask` is an OR of `NEXUS_EVENT_MASK_*`
/// (`1 << NEXUS_EVENT_KIND_*`). Events of other kinds are not delivered and
/// take no sequence number, so a gap still means only a loss. DROPPED
/// markers always come (its bit is accepted and ignored). The default is
/// `NEXUS_EVENT_MASK_DEFAULT`; for a poller that wants only what the OS
/// said, `NEXUS_EVENT_MASK_SIGNAL_CHANGED`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: a bit that names no event kind
///   (nothing changed)
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe; calls in flight on other threads may still deliver under
/// the old mask.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_set_event_mask(store: *mut NexusStore, mask: u32) -> NexusStatus {
    with_store(store, |s| {
        let mask = EventMask::from_bits(mask).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("event mask {mask:#x} has bits beyond NEXUS_EVENT_MASK_ALL"),
            )
        })?;
        s.set_event_mask(mask);
        Ok(())
    })
}
