//! Metrics and the event queue.

use std::ffi::c_char;

use super::boundary::{check_null_with_len, out_arg};
use super::calls::{with_store, with_store_out};
use super::types::*;
use crate::{Error, ErrorKind};

/// Writes a snapshot of the metrics to `*out` (written only on success).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
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
        // SAFETY: the caller passes NULL or a writable pointer.
        let out_len = unsafe { out_arg(out_len, "out_len") }?;
        check_null_with_len(buf.is_null(), buf_len, "buf")?;
        let json = s.metrics_json();
        let needed = json.len() + 1;
        *out_len = needed;
        if buf_len < needed {
            return Err(Error::new(
                ErrorKind::BufferTooSmall,
                format!("the JSON needs {needed} bytes with its NUL; the buffer has {buf_len}"),
            ));
        }
        // SAFETY: `buf` is non-NULL (buf_len >= needed > 0) and the caller
        // guarantees `buf_len` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf.cast::<u8>(), json.len());
            *buf.add(json.len()) = 0;
        }
        Ok(())
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
