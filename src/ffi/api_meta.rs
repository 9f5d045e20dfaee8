//! Version, status strings, the last error message, config defaults.

use std::ffi::c_char;

use super::boundary::{entry, entry_value, last_error_ptr, null_arg, status_str};
use super::config::{
    MEMORY_CONFIG_SIZE_0_1, check, check_initialized, config_fields, default_config, read_config,
};
use super::types::*;
use super::versioned::init_prefix;
use crate::{EventKind, EvictionReason, EvictionStrategy, MemoryPressureLevel};

/// The library's version as "MAJOR.MINOR.PATCH", equal to the
/// `NEXUS_VERSION_*` macros of the header it was built with.
///
/// Returns a static string (never free it). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// A short English description of `status` ("ok", "not found", ...;
/// "unknown status" for a value no status has).
///
/// Returns a static string (never free it). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_status_str(status: NexusStatus) -> *const c_char {
    entry_value(c"unknown status".as_ptr(), || status_str(status).as_ptr())
}

/// The name of the value `T` has for `value` (as the header spells it,
/// without the prefix), or "UNKNOWN": a static, NUL-terminated string.
/// Allocates nothing (`from_u32`), so it works when allocations fail.
fn name_of<T>(
    value: u32,
    from_u32: fn(u32) -> Option<T>,
    name: fn(T) -> &'static str,
) -> *const c_char {
    let text = from_u32(value).map_or("UNKNOWN\0", name);
    text.as_ptr().cast()
}

/// The name of a pressure level: "NONE", "MODERATE", "CRITICAL",
/// "EMERGENCY"; "UNKNOWN" for a value no level has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_pressure_level_str(level: NexusPressureLevel) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        name_of(
            level,
            MemoryPressureLevel::from_u32,
            MemoryPressureLevel::c_name,
        )
    })
}

/// The name of an eviction strategy: "LRU", "LFU", "SIZE",
/// "TINY_LFU"; "UNKNOWN" for a
/// value no strategy has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_eviction_strategy_str(strategy: NexusEvictionStrategy) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        name_of(
            strategy,
            EvictionStrategy::from_u32,
            EvictionStrategy::c_name,
        )
    })
}

/// The name of an eviction reason: "CAPACITY", "PRESSURE", "MANUAL",
/// "REPLACED", "REMOVED", "GOVERNOR", "EXPIRED"; "UNKNOWN" for a value no
/// reason has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_eviction_reason_str(reason: NexusEvictionReason) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        name_of(reason, EvictionReason::from_u32, EvictionReason::c_name)
    })
}

/// The name of an event kind: "PRESSURE_CHANGED", "EVICTION", "DROPPED",
/// "SIGNAL_CHANGED"; "UNKNOWN" for a value no kind has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_event_kind_str(kind: NexusEventKind) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        name_of(kind, EventKind::from_u32, EventKind::c_name)
    })
}

/// The message of the last failed call on this thread ("" before the
/// first failure). Successful calls leave it unchanged, like `errno`. At
/// most 1023 bytes: a longer message (a loader's own, through
/// `nexus_load_sink_fail`) is cut at a UTF-8 character boundary.
///
/// Returns a thread-local string owned by the library: valid until the next
/// call into the library on this thread; never free it. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_last_error_message() -> *const c_char {
    entry_value(c"".as_ptr(), last_error_ptr)
}

/// Fills `*config` with the defaults: `struct_size` = sizeof(NexusMemoryConfig),
/// `max_cache_bytes` 0 (unbounded), moderate 0.7, critical 0.9, batch 10,
/// strategy LRU, size_estimator NULL (the default estimator),
/// event_queue_capacity 1024, keeps 0.75 and 0.5, signal_decay_ms 0,
/// shards 1, lfu_history false, max_entries 0 (no entry-count limit),
/// ttl_ms and tti_ms 0 (no expiry).
///
/// `config` NULL: does nothing. It writes the struct as this header (the
/// first, 0.1) declares it, and never more, whatever version of the library
/// runs it: a program built against this header may call it on a later
/// library. To fill a later header's fields too, a program (or a binding)
/// calls `nexus_memory_config_init_sized(config, sizeof *config)`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_memory_config_init(config: *mut NexusMemoryConfig) {
    nexus_memory_config_init_sized(config, MEMORY_CONFIG_SIZE_0_1);
}

/// Fills the first `size` bytes of `*config` with the defaults (as
/// `nexus_memory_config_init`) and sets `struct_size` to `size`: pass
/// `sizeof *config` as the caller's header has it, so that a library
/// newer than the header never writes past the caller's struct. A `size`
/// beyond this library's struct (a header newer than the library) leaves
/// the fields it does not know unwritten, and `nexus_store_new` refuses
/// the struct; `size` smaller than `sizeof(size_t)` or `config` NULL:
/// writes nothing. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_memory_config_init_sized(config: *mut NexusMemoryConfig, size: usize) {
    entry_value((), || {
        // SAFETY: the caller passes NULL or `size` writable bytes.
        unsafe { init_prefix(config, default_config(), size, &config_fields()) }
    })
}

/// Checks `*config` exactly as `nexus_store_new` does, every rule included
/// (`struct_size`, thresholds, keeps, batch, queue capacity, strategy,
/// shards, and a bounded budget of at least one byte per shard), without
/// making a store. Nothing is owned or called: the size estimator's ctx is
/// not destroyed. Wrappers call it to report a bad config before they
/// hand over any ctx.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: config NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: the rule the config breaks is in
///   `nexus_last_error_message()`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_memory_config_validate(config: *const NexusMemoryConfig) -> NexusStatus {
    entry(|| {
        if config.is_null() {
            return Err(null_arg("config"));
        }
        // SAFETY: non-NULL; the caller passes an initialized config of at
        // least `struct_size` bytes (or this header's size).
        let (c, struct_size) = unsafe { read_config(config) };
        check_initialized(&c, struct_size)?;
        check(&c, struct_size).map(|_| ())
    })
}
