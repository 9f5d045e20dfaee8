//! The C types: status and enum constants (every enum crosses the ABI as
//! `uint32_t`), the config, metrics and event structs, and the opaque
//! handle types.

use std::ffi::c_void;

use super::key::Key;
use crate::{Event, MemoryMetrics};

/// A call's outcome. `NEXUS_STATUS_OK` is 0; every other value is a failure
/// whose message `nexus_last_error_message()` gives.
pub type NexusStatus = u32;
/// Success.
pub const NEXUS_STATUS_OK: NexusStatus = 0;
/// The key is absent (or, for `nexus_store_unpin`, not pinned).
pub const NEXUS_STATUS_NOT_FOUND: NexusStatus = 1;
/// Nothing to return (`nexus_store_poll_event` on an empty queue).
pub const NEXUS_STATUS_EMPTY: NexusStatus = 2;
/// A required pointer was NULL (or NULL with a non-zero length).
pub const NEXUS_STATUS_ERR_NULL_ARGUMENT: NexusStatus = 3;
/// A value is out of range: an enum, a threshold, a keep, a size, a
/// `struct_size`.
pub const NEXUS_STATUS_ERR_INVALID_ARGUMENT: NexusStatus = 4;
/// A store handle that was freed (or never was one).
pub const NEXUS_STATUS_ERR_INVALID_HANDLE: NexusStatus = 5;
/// The entry's charge exceeds the configured budget, or a sum overflows.
pub const NEXUS_STATUS_ERR_TOO_LARGE: NexusStatus = 6;
/// The entry cannot fit even after evicting every evictable entry (or an
/// EMERGENCY signal refuses unpinned puts); nothing changed.
pub const NEXUS_STATUS_ERR_OVER_BUDGET: NexusStatus = 7;
/// A callback broke its contract (a loader returned OK without a value).
pub const NEXUS_STATUS_ERR_CALLBACK: NexusStatus = 8;
/// The buffer is too short; the size needed was written to `*out_len`.
pub const NEXUS_STATUS_ERR_BUFFER_TOO_SMALL: NexusStatus = 9;
/// The call would deadlock or destroy what is in use (freeing a store from
/// its own callback; `get_or_load` of a key from inside its own loader).
pub const NEXUS_STATUS_ERR_BUSY: NexusStatus = 10;
/// An allocation failed.
pub const NEXUS_STATUS_ERR_OUT_OF_MEMORY: NexusStatus = 11;
/// A Rust panic was caught at the boundary; the store stays usable. Its
/// message is `nexus_last_error_message()`; Rust's panic hook also prints
/// it to stderr (the process's hook: a Rust host may replace it with
/// `std::panic::set_hook`). Every panic is a library bug: please report it.
pub const NEXUS_STATUS_ERR_PANIC: NexusStatus = 12;

/// A pressure level, `NONE < MODERATE < CRITICAL < EMERGENCY`.
pub type NexusPressureLevel = u32;
/// No pressure.
pub const NEXUS_PRESSURE_LEVEL_NONE: NexusPressureLevel = 0;
/// Usage at or above the working size (`moderate_threshold` x the budget,
/// rounded up), or the OS warned.
pub const NEXUS_PRESSURE_LEVEL_MODERATE: NexusPressureLevel = 1;
/// Usage at or above the critical threshold (`critical_threshold` x the
/// budget, rounded up), or the OS is critical.
pub const NEXUS_PRESSURE_LEVEL_CRITICAL: NexusPressureLevel = 2;
/// Shed everything that can go; refuse unpinned puts until it ends.
pub const NEXUS_PRESSURE_LEVEL_EMERGENCY: NexusPressureLevel = 3;

/// The eviction order.
pub type NexusEvictionStrategy = u32;
/// Least recently used first.
pub const NEXUS_EVICTION_STRATEGY_LRU: NexusEvictionStrategy = 0;
/// Fewest accesses first, ties by least recently used.
pub const NEXUS_EVICTION_STRATEGY_LFU: NexusEvictionStrategy = 1;
/// Largest charged size first, ties by least recently used.
pub const NEXUS_EVICTION_STRATEGY_SIZE: NexusEvictionStrategy = 2;
/// W-TinyLFU: a small LRU window, then admission to a segmented LRU main
/// region only for keys a frequency sketch has seen more often than the
/// victim (scan-resistant, frequency-aware; deterministic).
pub const NEXUS_EVICTION_STRATEGY_TINY_LFU: NexusEvictionStrategy = 3;

/// The kind of a `NexusEvent`.
pub type NexusEventKind = u32;
/// The reported level changed from `previous_level` to `level`. In
/// sequence order these events form one chain: each `previous_level` is
/// the `level` of the PRESSURE_CHANGED before it (lost ones counted in a
/// DROPPED marker included), and the last one's `level` is the store's
/// level once the calls that changed it have returned, also under
/// concurrent calls. A change handed on after a later one is left out (the
/// later one already starts from the level before both), so changes made
/// at once on several threads may merge into one event or none. While the
/// event mask leaves PRESSURE_CHANGED out its changes are still followed:
/// the first one delivered after goes on from the level the store was at,
/// not from the last one delivered. A poller sees the chain as queued:
/// after a gap in `sequence` the next one may go on from a lost change's
/// level, and the DROPPED marker with that level comes later when events
/// queued in between (it is where the latest loss was); follow the level
/// from it, or from `nexus_store_pressure_level`.
pub const NEXUS_EVENT_KIND_PRESSURE_CHANGED: NexusEventKind = 0;
/// One eviction run: `count` entries, `bytes` bytes, for `reason`.
pub const NEXUS_EVENT_KIND_EVICTION: NexusEventKind = 1;
/// `count` events were lost because the queue was full. There is at most
/// one marker, at the place of the latest loss, and its `sequence` is that
/// loss's number: a loss after events that queued behind the marker moves
/// it behind them. So the numbers missing between the marker polled before
/// (or the first event) and this one are the other `count - 1` losses it
/// counts. Its `level` is the store's level as the events handed on, lost
/// ones included, tell it.
pub const NEXUS_EVENT_KIND_DROPPED: NexusEventKind = 2;
/// The signalled level (what the OS or the app last signalled; NONE once it
/// decayed) changed from `previous_level` to `level`. Only delivered when
/// the event mask includes `NEXUS_EVENT_MASK_SIGNAL_CHANGED`. Unlike
/// PRESSURE_CHANGED these are not chained across threads: signals given
/// at once on several threads may hand theirs on in another order than
/// they applied them, so follow the highest `sequence`, or read
/// `nexus_store_signalled_level`.
pub const NEXUS_EVENT_KIND_SIGNAL_CHANGED: NexusEventKind = 3;

/// Bits of `nexus_store_set_event_mask`: `1 << NEXUS_EVENT_KIND_*`.
pub const NEXUS_EVENT_MASK_PRESSURE_CHANGED: u32 = 1 << NEXUS_EVENT_KIND_PRESSURE_CHANGED;
/// EVICTION events.
pub const NEXUS_EVENT_MASK_EVICTION: u32 = 1 << NEXUS_EVENT_KIND_EVICTION;
/// SIGNAL_CHANGED events.
pub const NEXUS_EVENT_MASK_SIGNAL_CHANGED: u32 = 1 << NEXUS_EVENT_KIND_SIGNAL_CHANGED;
/// What a store delivers until told otherwise: PRESSURE_CHANGED and
/// EVICTION (DROPPED markers always come).
pub const NEXUS_EVENT_MASK_DEFAULT: u32 =
    NEXUS_EVENT_MASK_PRESSURE_CHANGED | NEXUS_EVENT_MASK_EVICTION;
/// Every kind.
pub const NEXUS_EVENT_MASK_ALL: u32 = NEXUS_EVENT_MASK_DEFAULT | NEXUS_EVENT_MASK_SIGNAL_CHANGED;

/// Why entries left the store.
pub type NexusEvictionReason = u32;
/// The budget: a put that made room or crossed a threshold, `set_max_bytes`.
pub const NEXUS_EVICTION_REASON_CAPACITY: NexusEvictionReason = 0;
/// A pressure signal.
pub const NEXUS_EVICTION_REASON_PRESSURE: NexusEvictionReason = 1;
/// `evict`, `evict_lru`, `clear_unpinned`.
pub const NEXUS_EVICTION_REASON_MANUAL: NexusEvictionReason = 2;
/// A put of the same key replaced it (eviction listener only).
pub const NEXUS_EVICTION_REASON_REPLACED: NexusEvictionReason = 3;
/// `remove` or `clear` (eviction listener only).
pub const NEXUS_EVICTION_REASON_REMOVED: NexusEvictionReason = 4;
/// A budget governor took memory from the store (`nexus_governor_*`).
pub const NEXUS_EVICTION_REASON_GOVERNOR: NexusEvictionReason = 5;
/// Its time to live or time to idle ran out (eviction listener, and EVICTION
/// events of the removals).
pub const NEXUS_EVICTION_REASON_EXPIRED: NexusEvictionReason = 6;

/// The library's version, equal to `nexus_version()` and Cargo.toml's.
pub const NEXUS_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const NEXUS_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const NEXUS_VERSION_PATCH: u32 = 0;

/// Computes an entry's charge in bytes. Called once per insertion, outside
/// every internal lock, on the inserting thread; it may call into the store.
/// For an object entry `value` is the object and `value_len` is 0. Returning
/// `NEXUS_CHARGE_DEFAULT` charges what the default estimator would.
pub type NexusSizeEstimatorFn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const u8,
        key_len: usize,
        value: *const c_void,
        value_len: usize,
    ) -> usize,
>;

/// Destroys a callback's `ctx`. Runs exactly once, after the last call of
/// its callback returned.
pub type NexusDestroyFn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// Releases an object value. Runs exactly once, when the entry is gone and
/// no read handle holds it, never under an internal lock.
pub type NexusReleaseFn = Option<unsafe extern "C" fn(ctx: *mut c_void, object: *mut c_void)>;

/// Receives an event, on the thread whose call produced it, after the
/// store's locks are released.
pub type NexusEventFn = Option<unsafe extern "C" fn(ctx: *mut c_void, event: *const NexusEvent)>;

/// Told of every entry a call of the store removes (evicted, expired,
/// removed, replaced): its key, why, and its charge. Not told of the entries
/// still present when the store is freed.
pub type NexusEvictionListenerFn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const u8,
        key_len: usize,
        reason: NexusEvictionReason,
        bytes: u64,
    ),
>;

/// Loads a missing key: gives the value through `sink` exactly once
/// (`nexus_load_sink_put_bytes` or `nexus_load_sink_put_object`) and returns
/// `NEXUS_STATUS_OK`, or returns another status that every waiter gets.
pub type NexusLoaderFn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const u8,
        key_len: usize,
        sink: *mut NexusLoadSink,
    ) -> NexusStatus,
>;

/// A store's configuration. Initialize with `nexus_memory_config_init`, then
/// set fields. `struct_size` lets the struct grow: a smaller value (from an
/// older header) means the missing trailing fields take their defaults. A
/// value that ends inside a field is no header's size: `INVALID_ARGUMENT`,
/// naming the field (the same for every versioned struct of this header).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NexusMemoryConfig {
    /// `sizeof(NexusMemoryConfig)` as the caller knows it.
    pub struct_size: usize,
    /// The budget in charged bytes; 0 = unbounded.
    pub max_cache_bytes: u64,
    /// MODERATE at or above this fraction of the budget (the working size).
    /// Default 0.7.
    pub moderate_threshold: f64,
    /// CRITICAL at or above this fraction. Default 0.9.
    /// 0 < moderate < critical <= 1.
    pub critical_threshold: f64,
    /// Most entries a put evicts when it leaves usage at MODERATE. >= 1.
    /// Default 10.
    pub eviction_batch_size: usize,
    /// A `NEXUS_EVICTION_STRATEGY_*`. Default LRU.
    pub strategy: NexusEvictionStrategy,
    /// NULL = the default estimator: key length + value length +
    /// `NEXUS_ENTRY_OVERHEAD_BYTES` (objects: key length + overhead).
    pub size_estimator: NexusSizeEstimatorFn,
    /// Passed to `size_estimator`.
    pub size_estimator_ctx: *mut c_void,
    /// Destroys `size_estimator_ctx` once, when the store is freed or
    /// `nexus_store_new` fails. May be NULL.
    pub size_estimator_destroy: NexusDestroyFn,
    /// Events queued while no event callback is registered (plus one
    /// DROPPED marker). >= 1. Default 1024.
    pub event_queue_capacity: usize,
    /// MODERATE signal: shed to this fraction of usage, hold the budget at
    /// `floor(keep x moderate_threshold x max_cache_bytes)` (this fraction
    /// of the working size, rounded down and computed from the unrounded
    /// product, so it may be 1 byte below `keep x` the rounded-up working
    /// size; with shards, of each shard's share, summed). Default 0.75.
    pub signal_moderate_keep: f64,
    /// The same for CRITICAL (and EMERGENCY's held budget). Default 0.5.
    /// 0 < critical_keep <= moderate_keep <= 1.
    pub signal_critical_keep: f64,
    /// A signal not repeated within this many ms falls back to NONE; 0 = it
    /// lasts until replaced. Default 0. A store created after a signal
    /// (which it starts at) counts from when it was given.
    pub signal_decay_ms: u64,
    /// Independent parts (each with its own lock and an equal share of the
    /// budget) for more threads at once. 1..=`NEXUS_MAX_SHARDS`. Default 1:
    /// one exact eviction order; with more, the order is exact within each
    /// shard, and a put can only evict from (and fit into) its own shard's
    /// share; the README's "Shards" section lists every difference.
    pub shards: u32,
    /// LFU only (ignored for LRU, SIZE and TINY_LFU): a key evicted recently
    /// (CAPACITY, PRESSURE, MANUAL or GOVERNOR; not removed, cleared,
    /// replaced or expired)
    /// that is inserted again starts at its remembered access count + 1
    /// instead of 1. The store remembers a 64-bit hash of the key and the
    /// count of at most max(64, entries present) evicted keys, oldest
    /// forgotten first. Default false: counts start at 1 on insert.
    pub lfu_history: bool,
    /// The most entries the store holds, beside the byte budget (like
    /// NSCache's countLimit); 0 = no limit (the default). Pinned and in-use
    /// entries count and are never evicted; a put of a new key into a full
    /// store evicts in strategy order (reason CAPACITY), or is
    /// `ERR_OVER_BUDGET` when pinned and in-use entries alone fill it. With
    /// shards, each has an equal share: 0 or at least `shards`. Appended:
    /// read only when `struct_size` covers it.
    pub max_entries: u64,
    /// Time to live of every entry, in ms, on the store's clock; 0 = none
    /// (the default). `nexus_store_put_ttl` sets an entry's own. An expired
    /// entry is never returned (a read of it is a miss, a remove is
    /// `NOT_FOUND`, a put of its key makes a new entry); it is removed
    /// (reason `NEXUS_EVICTION_REASON_EXPIRED`) by the next call after a
    /// read saw it (with shards: the next call that reaches its shard), by
    /// a put that needs room, a pressure signal's shed, a smaller
    /// `nexus_store_set_max_bytes`, the budget's restore when a pin ends or
    /// the last read handle goes, or a budget governor's pass over its
    /// members (expired entries go before any live one, once the call
    /// cannot fail), or by
    /// `nexus_store_sweep_expired`. A pinned entry
    /// expires only once unpinned; a pin of an entry that already expired
    /// finds it gone (it leaves, EXPIRED; the pin waits for the key's next
    /// put). Appended, like `max_entries`.
    pub ttl_ms: u64,
    /// Time to idle, in ms: an entry not read for this long expires (each
    /// hit starts it again; a TTL still caps it); 0 = none (the default).
    pub tti_ms: u64,
}

/// A snapshot of a store's metrics (see `nexus_store_memory_metrics`).
/// The library writes this struct, so it never grows (it has no
/// `struct_size`: a larger one written by a later library would overrun a
/// caller's older struct); figures added later come as new functions or as fields of
/// `nexus_store_metrics_json`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusMemoryMetrics {
    /// Charged bytes of the present entries.
    pub current_usage: u64,
    /// Highest `current_usage` since creation or `nexus_store_reset_metrics`.
    pub max_usage: u64,
    /// Entries evicted (not removals, replacements or expirations: an
    /// EVICTION event of reason EXPIRED is not counted here, as Caffeine
    /// counts expirations apart).
    pub eviction_count: u64,
    /// The reported level (a `NEXUS_PRESSURE_LEVEL_*`).
    pub pressure_level: NexusPressureLevel,
    /// Present entries.
    pub entry_count: u64,
    /// Present pinned entries.
    pub pinned_count: u64,
    /// Charged bytes of present pinned entries.
    pub pinned_bytes: u64,
    /// Charged bytes of every value a live `NexusValue` holds, present or not.
    pub in_use_bytes: u64,
    /// Reads that found the key.
    pub hit_count: u64,
    /// Reads that did not.
    pub miss_count: u64,
    /// Successful puts (replacements included) and cached loads.
    pub insert_count: u64,
    /// Charged bytes evicted (as `eviction_count`: expirations not counted).
    pub evicted_bytes: u64,
    /// Loader calls.
    pub load_count: u64,
    /// Loader calls that gave no value: the loader failed (or panicked),
    /// abandoned the load, or reported the key absent (NOT_FOUND), as Caffeine counts them.
    pub load_failure_count: u64,
    /// The configured budget (0 = unbounded).
    pub max_cache_bytes: u64,
    /// The budget in force (lower under a signal). 0 = unbounded when
    /// `max_cache_bytes` is 0; in a bounded store 0 is a held budget that
    /// rounded down to 0 bytes (a tiny budget or keep fraction): then only
    /// pinned and in-use entries stay, and puts of unpinned keys are
    /// refused.
    pub effective_budget: u64,
}

/// One event. Fields that do not apply to a kind are 0.
/// The library writes this struct, so it never grows (it has no
/// `struct_size`: a larger one written by a later library would overrun a
/// caller's older struct); figures added later come as new functions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusEvent {
    /// A `NEXUS_EVENT_KIND_*`.
    pub kind: NexusEventKind,
    /// Per store, from 1. `nexus_store_poll_event` returns events in
    /// sequence order, and a gap means only lost events (see DROPPED); an
    /// event callback runs on the thread of the call that made the event,
    /// so on several threads, or when the callback itself calls into the
    /// store (the events of that nested call are delivered first), it may
    /// see them out of order (the highest number is the latest).
    pub sequence: u64,
    /// The store's reported level (after the change, for PRESSURE_CHANGED);
    /// for SIGNAL_CHANGED, the signalled level after the change.
    pub level: NexusPressureLevel,
    /// PRESSURE_CHANGED: the reported level before; SIGNAL_CHANGED: the
    /// signalled level before; otherwise equal to `level` (with shards too:
    /// the store's level, not the evicting shard's).
    pub previous_level: NexusPressureLevel,
    /// EVICTION: a `NEXUS_EVICTION_REASON_*`.
    pub reason: NexusEvictionReason,
    /// EVICTION: entries evicted; DROPPED: events lost.
    pub count: u64,
    /// EVICTION: charged bytes evicted.
    pub bytes: u64,
    /// Usage after the event.
    pub usage_bytes: u64,
    /// When it happened, in nanoseconds of the OS's monotonic clock:
    /// `CLOCK_MONOTONIC` on Linux and Android (compare with the app's own
    /// `clock_gettime(CLOCK_MONOTONIC)`), `CLOCK_UPTIME_RAW` on Apple
    /// platforms (`clock_gettime_nsec_np(CLOCK_UPTIME_RAW)`); elsewhere
    /// from the library's first clock reading in the process.
    pub timestamp_ns: u64,
}

/// An opaque store handle: not a pointer to memory, but a generation-checked
/// slot number, so a freed handle is detected (`NEXUS_STATUS_ERR_INVALID_HANDLE`).
pub struct NexusStore {
    _opaque: [u8; 0],
}

/// A read handle on a value (see `nexus_store_get`). A plain owned pointer:
/// release it once with `nexus_value_release`.
pub struct NexusValue {
    pub(crate) handle: crate::ValueHandle<super::value::FfiValue>,
}

impl NexusValue {
    /// A new C value handle owning `handle` (released by `nexus_value_release`).
    pub(crate) fn new_raw(handle: crate::ValueHandle<super::value::FfiValue>) -> *mut NexusValue {
        Box::into_raw(Box::new(NexusValue { handle }))
    }
}

/// A list of keys (see `nexus_store_pinned_ids`). A plain owned pointer:
/// free it once with `nexus_key_list_free`.
pub struct NexusKeyList {
    pub(crate) keys: Vec<Key>,
}

/// Where a loader puts the value it loaded, or why it failed: an opaque
/// sink handle, valid only during the loader call that received it. Not a
/// pointer to memory but a generation-checked slot number (as a store
/// handle is), so a sink used after its loader returned, on any thread, or
/// a value that was never a sink, is `NEXUS_STATUS_ERR_INVALID_HANDLE`.
pub struct NexusLoadSink {
    _opaque: [u8; 0],
}

impl From<MemoryMetrics> for NexusMemoryMetrics {
    fn from(m: MemoryMetrics) -> Self {
        NexusMemoryMetrics {
            current_usage: m.current_usage,
            max_usage: m.max_usage,
            eviction_count: m.eviction_count,
            pressure_level: m.pressure_level as u32,
            entry_count: m.entry_count,
            pinned_count: m.pinned_count,
            pinned_bytes: m.pinned_bytes,
            in_use_bytes: m.in_use_bytes,
            hit_count: m.hit_count,
            miss_count: m.miss_count,
            insert_count: m.insert_count,
            evicted_bytes: m.evicted_bytes,
            load_count: m.load_count,
            load_failure_count: m.load_failure_count,
            max_cache_bytes: m.max_cache_bytes,
            effective_budget: m.effective_budget,
        }
    }
}

impl From<&Event> for NexusEvent {
    fn from(e: &Event) -> Self {
        NexusEvent {
            kind: e.kind as u32,
            sequence: e.sequence,
            level: e.level as u32,
            previous_level: e.previous_level as u32,
            reason: e.reason as u32,
            count: e.count,
            bytes: e.bytes,
            usage_bytes: e.usage_bytes,
            timestamp_ns: e.timestamp_ns,
        }
    }
}

/// What the default estimator adds to key and value length per entry (the
/// store's measured per-entry bookkeeping; equal to the Rust
/// `ENTRY_OVERHEAD_BYTES`).
pub const NEXUS_ENTRY_OVERHEAD_BYTES: u64 = 81;

/// What a size estimator returns to have an entry charged what the default
/// estimator charges. The header defines it as `SIZE_MAX` (cbindgen.toml's
/// `after_includes`, where its doc is), which cbindgen cannot write from
/// `usize::MAX`.
pub const NEXUS_CHARGE_DEFAULT: usize = usize::MAX;

/// The most shards a store may have (`NexusMemoryConfig.shards`).
pub const NEXUS_MAX_SHARDS: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ENTRY_OVERHEAD_BYTES, ErrorKind, EventKind, EvictionReason, EvictionStrategy,
        MemoryPressureLevel,
    };

    #[test]
    fn version_macros_match_cargo_toml() {
        let v = |s: &str| s.parse::<u32>().unwrap();
        assert_eq!(NEXUS_VERSION_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(NEXUS_VERSION_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(NEXUS_VERSION_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
        assert_eq!(NEXUS_ENTRY_OVERHEAD_BYTES, ENTRY_OVERHEAD_BYTES);
        assert_eq!(NEXUS_MAX_SHARDS, crate::MAX_SHARDS);
    }

    #[test]
    fn c_constants_match_the_core_enums() {
        let statuses = [
            NEXUS_STATUS_NOT_FOUND,
            NEXUS_STATUS_EMPTY,
            NEXUS_STATUS_ERR_NULL_ARGUMENT,
            NEXUS_STATUS_ERR_INVALID_ARGUMENT,
            NEXUS_STATUS_ERR_INVALID_HANDLE,
            NEXUS_STATUS_ERR_TOO_LARGE,
            NEXUS_STATUS_ERR_OVER_BUDGET,
            NEXUS_STATUS_ERR_CALLBACK,
            NEXUS_STATUS_ERR_BUFFER_TOO_SMALL,
            NEXUS_STATUS_ERR_BUSY,
            NEXUS_STATUS_ERR_OUT_OF_MEMORY,
            NEXUS_STATUS_ERR_PANIC,
        ];
        for (k, s) in ErrorKind::ALL.iter().zip(statuses) {
            assert_eq!(*k as u32, s);
        }
        let levels = [
            NEXUS_PRESSURE_LEVEL_NONE,
            NEXUS_PRESSURE_LEVEL_MODERATE,
            NEXUS_PRESSURE_LEVEL_CRITICAL,
            NEXUS_PRESSURE_LEVEL_EMERGENCY,
        ];
        for (l, c) in MemoryPressureLevel::ALL.iter().zip(levels) {
            assert_eq!(*l as u32, c);
        }
        let strategies = [
            NEXUS_EVICTION_STRATEGY_LRU,
            NEXUS_EVICTION_STRATEGY_LFU,
            NEXUS_EVICTION_STRATEGY_SIZE,
            NEXUS_EVICTION_STRATEGY_TINY_LFU,
        ];
        assert_eq!(EvictionStrategy::ALL.len(), strategies.len());
        for (s, c) in EvictionStrategy::ALL.iter().zip(strategies) {
            assert_eq!(*s as u32, c);
        }
        let reasons = [
            NEXUS_EVICTION_REASON_CAPACITY,
            NEXUS_EVICTION_REASON_PRESSURE,
            NEXUS_EVICTION_REASON_MANUAL,
            NEXUS_EVICTION_REASON_REPLACED,
            NEXUS_EVICTION_REASON_REMOVED,
            NEXUS_EVICTION_REASON_GOVERNOR,
            NEXUS_EVICTION_REASON_EXPIRED,
        ];
        assert_eq!(EvictionReason::ALL.len(), reasons.len());
        for (r, c) in EvictionReason::ALL.iter().zip(reasons) {
            assert_eq!(*r as u32, c);
        }
        assert_eq!(
            EventKind::PressureChanged as u32,
            NEXUS_EVENT_KIND_PRESSURE_CHANGED
        );
        assert_eq!(EventKind::Eviction as u32, NEXUS_EVENT_KIND_EVICTION);
        assert_eq!(EventKind::Dropped as u32, NEXUS_EVENT_KIND_DROPPED);
        assert_eq!(
            EventKind::SignalChanged as u32,
            NEXUS_EVENT_KIND_SIGNAL_CHANGED
        );
        assert_eq!(crate::EventMask::DEFAULT.bits(), NEXUS_EVENT_MASK_DEFAULT);
        assert_eq!(crate::EventMask::ALL.bits(), NEXUS_EVENT_MASK_ALL);
    }
}
