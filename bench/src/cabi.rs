//! nexus_store through its C ABI: the `extern "C"` functions called
//! directly, exactly as a C program would call them (handle checks,
//! argument checks, panic containment and copies included).

use nexus_store::ffi::{
    NEXUS_STATUS_OK, NexusMemoryConfig, NexusMemoryMetrics, NexusStore, nexus_memory_config_init,
    nexus_store_free, nexus_store_get_copy, nexus_store_memory_metrics, nexus_store_new,
    nexus_store_put,
};

/// A store created with `nexus_store_new`, freed on drop.
pub struct CStore {
    handle: *mut NexusStore,
}

// SAFETY: the C ABI is thread-safe: every function may be called on a live
// handle from any thread (include/nexus_store.h).
unsafe impl Send for CStore {}
// SAFETY: as above.
unsafe impl Sync for CStore {}

impl CStore {
    /// A store with the default configuration and size estimator (key +
    /// value + NEXUS_ENTRY_OVERHEAD_BYTES) and the given budget.
    pub fn new(max_cache_bytes: u64) -> Self {
        Self::with_shards(max_cache_bytes, 1)
    }

    /// As [`CStore::new`], with `shards` locks (`NexusMemoryConfig.shards`).
    pub fn with_shards(max_cache_bytes: u64, shards: u32) -> Self {
        let mut config = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
        nexus_memory_config_init(config.as_mut_ptr());
        // SAFETY: nexus_memory_config_init wrote every field.
        let mut config = unsafe { config.assume_init() };
        config.max_cache_bytes = max_cache_bytes;
        config.shards = shards;
        let mut handle = std::ptr::null_mut();
        let status = nexus_store_new(&config, &mut handle);
        assert_eq!(status, NEXUS_STATUS_OK, "nexus_store_new failed");
        CStore { handle }
    }

    /// Copies the value of `key` into `buf`; true on a hit.
    #[inline]
    pub fn get_copy(&self, key: &[u8], buf: &mut [u8]) -> bool {
        let mut len = 0usize;
        nexus_store_get_copy(
            self.handle,
            key.as_ptr(),
            key.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        ) == NEXUS_STATUS_OK
    }

    /// Puts a copy of `value` under `key`; true on success.
    #[inline]
    pub fn put(&self, key: &[u8], value: &[u8]) -> bool {
        nexus_store_put(
            self.handle,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        ) == NEXUS_STATUS_OK
    }

    pub fn entry_count(&self) -> u64 {
        let mut m = NexusMemoryMetrics::default();
        let status = nexus_store_memory_metrics(self.handle, &mut m);
        assert_eq!(status, NEXUS_STATUS_OK);
        m.entry_count
    }
}

impl Drop for CStore {
    fn drop(&mut self) {
        nexus_store_free(self.handle);
    }
}
