//! Eviction on demand, pressure signals, the budget.

use super::boundary::{entry, enum_arg};
use super::calls::{with_store, with_store_out};
use super::types::*;
use crate::{MemoryPressureLevel, signal_pressure_all};

/// Evicts up to `count` evictable entries (not pinned, not held by a read
/// handle), least recently used first whatever the strategy, and writes how
/// many to `*evicted`. One eviction run (one EVICTION event), reason
/// `MANUAL`. O(n) when the strategy is not LRU. With `shards` > 1: least
/// recently used within each shard, an equal part of `count` from each
/// first, then the rest from any shard that has more; each shard's part is
/// a run of its own, so there is an EVICTION event per part (a shard asked
/// for the rest reports a second one).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or evicted NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_evict_lru(
    store: *mut NexusStore,
    count: usize,
    evicted: *mut usize,
) -> NexusStatus {
    with_store_out(store, evicted, "evicted", |s| Ok(s.evict_lru(count)))
}

/// Evicts up to `count` evictable entries in the configured strategy's
/// order and writes how many to `*evicted`. Reason `MANUAL` (an expired
/// entry no call has removed yet may be among them: `nexus_store_sweep_expired`
/// first removes those as `EXPIRED`). With `shards` > 1, shards are asked
/// for parts as by `nexus_store_evict_lru`, each part its own EVICTION
/// event.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or evicted NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_evict(
    store: *mut NexusStore,
    count: usize,
    evicted: *mut usize,
) -> NexusStatus {
    with_store_out(store, evicted, "evicted", |s| Ok(s.evict(count)))
}

/// Evicts every evictable entry and writes how many to `*evicted`. Reason
/// `MANUAL`; expired entries leave first (reason `EXPIRED`) and are not
/// counted. Pinned entries and entries held by read handles stay. With
/// the LRU or SIZE strategy, when every entry that stays is pinned, it is
/// one pass over the entries (each shard's lock held for its pass, about
/// 30 ns per entry; the eviction listener sees the victims in storage
/// order); otherwise it runs in chunks of 128 entries per hold of the lock,
/// like a signal's shedding. One EVICTION event per shard for the evicted
/// entries, and one per shard that had expired entries (reason `EXPIRED`).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or evicted NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_clear_unpinned(
    store: *mut NexusStore,
    evicted: *mut usize,
) -> NexusStatus {
    with_store_out(store, evicted, "evicted", |s| Ok(s.clear_unpinned()))
}

/// Signals a pressure level to this store (what an OS hook calls). At or
/// above the signalled level in force it sheds: MODERATE and CRITICAL evict
/// down to keep x the usage at the signal (and the held budget) and hold
/// the budget at keep x the working size until the signal ends; EMERGENCY
/// evicts every evictable entry and refuses puts of unpinned keys; a
/// repeated signal sheds again. A lower level only changes the held
/// budget; NONE restores the configured budget. Shedding evicts at most 128
/// entries per hold of the store's lock, handing it over in between, so
/// other threads' calls wait at most one chunk; one EVICTION event reports
/// the whole run (with `shards` > 1: the shards shed one after another,
/// one EVICTION event each). Two signals given at once on two threads leave
/// every shard at the later one (see `nexus_signal_pressure_all`).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: level out of range
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_signal_pressure(
    store: *mut NexusStore,
    level: NexusPressureLevel,
) -> NexusStatus {
    with_store(store, |s| {
        s.signal_pressure(enum_arg(level)?);
        Ok(())
    })
}

/// Signals a pressure level to every live store, and makes it the starting
/// level of stores created later. Each store reacts on this thread, one
/// after the other, with no library-wide lock held while it does.
///
/// Signals are numbered as they are given (this function's and
/// `nexus_store_signal_pressure`'s, on any thread): a store, and each shard
/// of one, applies a signal only if it applied no later one, and a shed
/// in progress stops when a later signal arrives (which then sheds itself,
/// even when lower). So two signals given at once on two threads leave
/// every store at the later one's level, within its budget, the level a
/// store created afterwards starts at.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: level out of range
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_signal_pressure_all(level: NexusPressureLevel) -> NexusStatus {
    entry(|| {
        let level: MemoryPressureLevel = enum_arg(level)?;
        signal_pressure_all(level);
        Ok(())
    })
}

/// Writes the reported level (the higher of the usage level and the
/// signalled level) to `*out`. `*out` is written only on success.
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
pub extern "C" fn nexus_store_pressure_level(
    store: *mut NexusStore,
    out: *mut NexusPressureLevel,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| Ok(s.pressure_level() as u32))
}

/// Writes the signalled level alone to `*out`: the last level signalled to
/// the store (`nexus_store_signal_pressure`, `nexus_signal_pressure_all`,
/// an OS hook), NONE once it ended or decayed; `nexus_store_pressure_level`
/// is the higher of it and the usage level. `*out` is written only on
/// success.
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
pub extern "C" fn nexus_store_signalled_level(
    store: *mut NexusStore,
    out: *mut NexusPressureLevel,
) -> NexusStatus {
    with_store_out(store, out, "out", |s| Ok(s.signalled_level() as u32))
}

/// Changes the configured budget (0 = unbounded) at run time, evicting down
/// to the budget in force (reason `CAPACITY`; expired entries go first, as
/// `EXPIRED`). A store of N shards gives
/// each shard an equal share (`max_cache_bytes / N`) and changes all or
/// none.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_OVER_BUDGET`: pinned and in-use entries alone exceed
///   `max_cache_bytes` (with shards: those of any one shard exceed its
///   share, which depends on where their keys fall); nothing changed
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: a bounded budget smaller than the
///   store's `shards`: each shard needs at least one byte; nothing changed
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: an allocation failed; the call may
///   have done part of its work (usage still equals the charges of what
///   is present)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_set_max_bytes(
    store: *mut NexusStore,
    max_cache_bytes: u64,
) -> NexusStatus {
    with_store(store, |s| s.set_max_bytes(max_cache_bytes))
}
