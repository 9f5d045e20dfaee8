//! The two shapes of an entry point on a store, written once: the body runs
//! through [`entry`] (no panic crosses, errors become a status and a
//! message) on the live store behind the handle ([`handles::with`]), and an
//! out-parameter is checked before the body runs and written only when it
//! succeeds.

use super::boundary::{entry, entry_status, failed, out_arg};
use super::handles;
use super::store::CoreStore;
use super::types::{NexusStatus, NexusStore};
use crate::Error;

/// Runs `body` on the store behind `store`.
#[inline]
pub(crate) fn with_store(
    store: *const NexusStore,
    body: impl FnOnce(&CoreStore) -> Result<(), Error>,
) -> NexusStatus {
    entry(|| handles::with(store, |s| body(&s.store)))
}

/// [`with_store`] for a call that runs user code only inside the store's
/// own callback scope: `get_copy` (a read that finds time-based state to
/// bring up to date delivers its effects: the listener, events, expired
/// values released) and the byte `put` (its effects, and a governor pass,
/// which runs inside the store's scope); see
/// `handles::HandleTable::with_own_callbacks_only`.
#[inline]
pub(crate) fn with_store_own_callbacks(
    store: *const NexusStore,
    body: impl FnOnce(&CoreStore) -> Result<(), Error>,
) -> NexusStatus {
    entry(|| handles::with_own_callbacks_only(store, |s| body(&s.store)))
}

/// [`with_store_own_callbacks`] for a body that makes its own status
/// (errors through `boundary::failed`): what crosses the end of the call
/// (the shard's unlock, the count's release, the panic guard) is a `u32`,
/// not a `Result` held in memory and tested again.
#[inline]
pub(crate) fn with_store_own_callbacks_status(
    store: *const NexusStore,
    body: impl FnOnce(&CoreStore) -> NexusStatus,
) -> NexusStatus {
    entry_status(|| handles::with_own_callbacks_only_status(store, |s| body(&s.store), failed))
}

/// Runs `body` on the store behind `store` and writes what it returns to
/// `*out` (named `name` in the NULL message), only on success.
#[inline]
pub(crate) fn with_store_out<T>(
    store: *const NexusStore,
    out: *mut T,
    name: &str,
    body: impl FnOnce(&CoreStore) -> Result<T, Error>,
) -> NexusStatus {
    entry(|| {
        handles::with(store, |s| {
            // SAFETY: `out` is NULL or writable for a `T` (the header's
            // contract for every out-parameter).
            let out = unsafe { out_arg(out, name) }?;
            out.set(body(&s.store)?);
            Ok(())
        })
    })
}
