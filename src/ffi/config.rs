//! `NexusMemoryConfig`: its defaults, and reading it across versions
//! (`struct_size`) into the core's `MemoryConfig`.

use std::mem::{align_of, offset_of, size_of};

use super::foreign::{ForeignCtx, ForeignEstimator};
use super::types::*;
use super::versioned::{
    FieldSpan, MAX_STRUCT_SIZE, check_not_torn, field_spans, never_initialized, read_over_defaults,
    size_ending_at,
};
use crate::{Error, ErrorKind, EvictionStrategy, MemoryConfig};

/// The defaults of `nexus_memory_config_init`.
pub(crate) fn default_config() -> NexusMemoryConfig {
    let d = MemoryConfig::default();
    NexusMemoryConfig {
        struct_size: size_of::<NexusMemoryConfig>(),
        max_cache_bytes: d.max_cache_bytes,
        moderate_threshold: d.moderate_threshold,
        critical_threshold: d.critical_threshold,
        eviction_batch_size: d.eviction_batch_size,
        strategy: d.strategy as u32,
        size_estimator: None,
        size_estimator_ctx: std::ptr::null_mut(),
        size_estimator_destroy: None,
        event_queue_capacity: d.event_queue_capacity,
        signal_moderate_keep: d.signal_moderate_keep,
        signal_critical_keep: d.signal_critical_keep,
        signal_decay_ms: d.signal_decay_ms,
        shards: d.shards,
        lfu_history: d.lfu_history,
        max_entries: d.max_entries,
        ttl_ms: d.ttl_ms,
        tti_ms: d.tti_ms,
    }
}

/// `NexusMemoryConfig`'s size in the first header (0.1), whose last field
/// is `tti_ms`: what `nexus_memory_config_init` writes for good. A field
/// appended later does not change it (programs built against this header
/// call that function); `nexus_memory_config_init_sized` writes the rest.
pub(crate) const MEMORY_CONFIG_SIZE_0_1: usize = size_ending_at(
    offset_of!(NexusMemoryConfig, tti_ms) + size_of::<u64>(),
    align_of::<NexusMemoryConfig>(),
);

/// `NexusMemoryConfig`'s fields after `struct_size`, in order: the sizes
/// an older header may pass end at one of them (`versioned`).
pub(crate) fn config_fields() -> [FieldSpan; 17] {
    let c = default_config();
    field_spans!(c, NexusMemoryConfig;
        max_cache_bytes, moderate_threshold, critical_threshold, eviction_batch_size, strategy,
        size_estimator, size_estimator_ctx, size_estimator_destroy, event_queue_capacity,
        signal_moderate_keep, signal_critical_keep, signal_decay_ms, shards, lfu_history,
        max_entries, ttl_ms, tti_ms)
}

/// Reads the fields that lie wholly within `struct_size` bytes; the rest
/// keep their defaults (`versioned::read_over_defaults`).
///
/// # Safety
/// `ptr` must be non-NULL and point to at least `min(struct_size,
/// sizeof(NexusMemoryConfig))` readable bytes, where `struct_size` is the
/// first field's value.
pub(crate) unsafe fn read_config(ptr: *const NexusMemoryConfig) -> (NexusMemoryConfig, usize) {
    // SAFETY: the caller's contract; every field but `lfu_history` (passed
    // as a bool) is an integer, a float, a raw or a nullable fn pointer.
    unsafe {
        read_over_defaults(
            ptr,
            default_config(),
            &config_fields(),
            &[offset_of!(NexusMemoryConfig, lfu_history)],
        )
    }
}

/// Converts a config read by `read_config`. The estimator's ctx is owned by
/// the returned estimator, or destroyed at once when the config is invalid;
/// except for a config never initialized (a `struct_size` no header has,
/// over fields that are no valid config either), whose function pointers
/// are garbage: refused without calling any.
pub(crate) fn convert(
    c: &NexusMemoryConfig,
    struct_size: usize,
) -> Result<(MemoryConfig, ForeignEstimator), Error> {
    check_initialized(c, struct_size)?;
    let estimator = ForeignEstimator::new(
        c.size_estimator,
        ForeignCtx::new(c.size_estimator_ctx, c.size_estimator_destroy),
    );
    Ok((check(c, struct_size)?, estimator))
}

/// `INVALID_ARGUMENT` for a config never initialized: a `struct_size` no
/// header has over fields that are no valid config either (stack garbage,
/// whose function pointers are garbage too: nothing in it may be called).
pub(crate) fn check_initialized(c: &NexusMemoryConfig, struct_size: usize) -> Result<(), Error> {
    if struct_size > MAX_STRUCT_SIZE && check(c, size_of::<NexusMemoryConfig>()).is_err() {
        return Err(never_initialized(
            struct_size,
            "NexusMemoryConfig",
            "nexus_memory_config_init",
        ));
    }
    Ok(())
}

/// Every rule `nexus_store_new` applies to a config read by `read_config`
/// (the estimator's ctx is not touched): what `nexus_memory_config_validate`
/// reports, and what `convert` enforces.
pub(crate) fn check(c: &NexusMemoryConfig, struct_size: usize) -> Result<MemoryConfig, Error> {
    if struct_size > size_of::<NexusMemoryConfig>() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "struct_size {struct_size} is larger than this library's NexusMemoryConfig ({} bytes): \
                 the header is newer than the library",
                size_of::<NexusMemoryConfig>()
            ),
        ));
    }
    if struct_size < size_of::<usize>() + size_of::<u64>() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("struct_size {struct_size} is too small: call nexus_memory_config_init first"),
        ));
    }
    check_not_torn(struct_size, "NexusMemoryConfig", &config_fields())?;
    let config = MemoryConfig {
        max_cache_bytes: c.max_cache_bytes,
        moderate_threshold: c.moderate_threshold,
        critical_threshold: c.critical_threshold,
        eviction_batch_size: c.eviction_batch_size,
        strategy: EvictionStrategy::try_from(c.strategy)?,
        event_queue_capacity: c.event_queue_capacity,
        signal_moderate_keep: c.signal_moderate_keep,
        signal_critical_keep: c.signal_critical_keep,
        signal_decay_ms: c.signal_decay_ms,
        shards: c.shards,
        lfu_history: c.lfu_history,
        max_entries: c.max_entries,
        ttl_ms: c.ttl_ms,
        tti_ms: c.tti_ms,
    };
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_headers_size_is_this_ones() {
        // Fails once a field is appended: then keep MEMORY_CONFIG_SIZE_0_1
        // (what nexus_memory_config_init writes) and change this test.
        assert_eq!(
            super::MEMORY_CONFIG_SIZE_0_1,
            size_of::<super::NexusMemoryConfig>()
        );
    }

    #[test]
    fn the_field_list_has_every_field() {
        super::super::versioned::assert_lists_every_field(
            &super::config_fields(),
            size_of::<super::NexusMemoryConfig>(),
        );
    }
}
