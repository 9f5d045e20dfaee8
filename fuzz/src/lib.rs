//! What the fuzz targets share: a reader that turns fuzz bytes into
//! choices, the reference model (the same file tests/model.rs uses), and
//! small helpers over the C ABI.

#![allow(clippy::missing_safety_doc)]

#[path = "../../tests/reference_model/mod.rs"]
pub mod reference_model;

use std::mem::MaybeUninit;

use nexus_store::ffi::*;
use nexus_store::{ErrorKind, MemoryMetrics, MemoryPressureLevel};

/// Reads choices from the fuzz input; past its end every read is 0, so
/// every input is a valid program (libFuzzer's mutations stay meaningful).
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32())) | (u64::from(self.u32()) << 32)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        u32::from(self.u8()) % n
    }
}

/// A config from `nexus_memory_config_init`.
pub fn default_config() -> NexusMemoryConfig {
    let mut config = MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(config.as_mut_ptr());
    // SAFETY: nexus_memory_config_init writes every field.
    unsafe { config.assume_init() }
}

/// The kind a status names (`None` for OK).
pub fn kind_of(status: NexusStatus) -> Option<ErrorKind> {
    if status == NEXUS_STATUS_OK {
        None
    } else {
        Some(ErrorKind::try_from(status).unwrap_or_else(|_| panic!("unknown status {status}")))
    }
}

pub fn last_message() -> String {
    // SAFETY: the library returns a valid NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(nexus_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// A store's metrics through the C ABI, as the Rust struct.
pub fn metrics(store: *mut NexusStore) -> MemoryMetrics {
    let mut m = NexusMemoryMetrics::default();
    let status = nexus_store_memory_metrics(store, &mut m);
    assert_eq!(status, NEXUS_STATUS_OK, "metrics: {}", last_message());
    MemoryMetrics {
        current_usage: m.current_usage,
        max_usage: m.max_usage,
        eviction_count: m.eviction_count,
        pressure_level: MemoryPressureLevel::try_from(m.pressure_level).expect("a level"),
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

/// Every queued event, checking that sequence numbers go up by one from
/// `last_sequence` and that nothing was dropped.
pub fn poll_all(store: *mut NexusStore, last_sequence: &mut u64) -> Vec<NexusEvent> {
    let mut out = Vec::new();
    loop {
        let mut e = NexusEvent::default();
        match nexus_store_poll_event(store, &mut e) {
            NEXUS_STATUS_OK => {}
            NEXUS_STATUS_EMPTY => return out,
            s => panic!("poll_event: status {s}: {}", last_message()),
        }
        assert_ne!(e.kind, NEXUS_EVENT_KIND_DROPPED, "an event was dropped");
        assert_eq!(
            e.sequence,
            *last_sequence + 1,
            "sequence numbers go up by 1"
        );
        *last_sequence = e.sequence;
        out.push(e);
    }
}

/// The keys of a key list, freeing it.
pub fn take_keys(list: *mut NexusKeyList) -> Vec<Vec<u8>> {
    let n = nexus_key_list_len(list);
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let mut len = 0usize;
        let p = nexus_key_list_get(list, i, &mut len);
        assert!(!p.is_null(), "key {i} of {n}");
        // SAFETY: the list owns `len` bytes at `p` until it is freed.
        keys.push(unsafe { std::slice::from_raw_parts(p, len) }.to_vec());
    }
    nexus_key_list_free(list);
    keys
}
