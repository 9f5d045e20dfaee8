//! The synchronization primitives of the handle table (`ffi/handles.rs`),
//! the callback slots (`callbacks.rs`) and the event queue's numbering
//! (`event_queue.rs`), named in one place so that
//! tests/schedules.rs can compile those files against shuttle's
//! model-checked versions instead (it includes them with `#[path]` next to
//! its own `sync` module). Nothing here but re-exports.

pub(crate) use parking_lot::Mutex;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, OnceLock};
pub(crate) use std::thread::{sleep, yield_now};
pub(crate) use std::thread_local;

/// The handle table's heavy and light sides of its asymmetric fences.
pub(crate) use crate::ffi::asymmetric_fence as asymmetric;
