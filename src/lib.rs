//! nexus_store: a memory-pressure-aware cache.
//!
//! A [`Store`] keeps its entries under a byte budget, sheds memory in steps
//! when pressure is signalled ([`signal_pressure_all`], or a store's own
//! [`Store::signal_pressure`]), never evicts what the app pinned or holds
//! through a read handle, and reports what it did (events, an eviction
//! listener, metrics).
//!
//! ```
//! use nexus_store::{ByteSizeEstimator, MemoryConfig, MemoryPressureLevel, Store};
//!
//! let config = MemoryConfig::with_max_bytes(1 << 20);
//! let store: Store<String, Vec<u8>> = Store::with_estimator(config, ByteSizeEstimator)?;
//! store.put("logo".to_string(), vec![0u8; 4096])?;
//! store.pin("logo");
//! store.put("frame".to_string(), vec![1u8; 8192])?;
//! store.signal_pressure(MemoryPressureLevel::Emergency);
//! assert!(store.contains("logo"));           // pinned: never evicted
//! assert!(!store.contains("frame"));         // shed
//! assert_eq!(store.get("logo").unwrap().len(), 4096);
//! # Ok::<(), nexus_store::Error>(())
//! ```
//!
//! The C ABI lives in [`ffi`] and is the only place with `extern "C"`.

#![warn(missing_docs)]

mod c_enum;
mod callbacks;
mod clock;
mod entry_snapshot;
mod entry_table;
mod error;
mod event_queue;
mod events;
mod eviction_order;
mod eviction_strategy;
pub mod ffi;
mod frequency_sketch;
mod governor;
mod held_panic;
mod key_hasher;
mod lfu_history;
mod loader;
mod memory_config;
mod memory_manager;
mod memory_metrics;
#[cfg(target_os = "linux")]
pub mod os_pressure;
mod pin_set;
mod pressure;
mod size_estimator;
mod store;
mod sync;
#[cfg(test)]
mod test_rng;
mod thread_number;
mod value_handle;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use entry_snapshot::EntrySnapshot;
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, EventKind, EventMask, EvictionReason};
pub use eviction_strategy::EvictionStrategy;
pub use governor::{
    Governor, GovernorConfig, GovernorEvent, GovernorEventCallback, GovernorEventKind,
    GovernorMetrics, MemberConfig, MemberMetrics, ShedCause,
};
pub use loader::{Loaded, LoaderFn};
pub use memory_config::{MAX_SHARDS, MemoryConfig};
pub use memory_metrics::MemoryMetrics;
pub use pressure::memory_pressure_handler::{
    BudgetPressure, MemoryPressureHandler, signal_pressure_all,
};
pub use pressure::memory_pressure_level::MemoryPressureLevel;
pub use size_estimator::{
    ByteSizeEstimator, ENTRY_OVERHEAD_BYTES, JsonSizeEstimator, SizeEstimator,
};
pub use store::{EventCallback, EvictionListener, Store, StoreBuilder};
pub use value_handle::ValueHandle;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
