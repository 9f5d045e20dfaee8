//! The C ABI: the only module with `extern "C"`, raw pointers and
//! `catch_unwind`. `include/nexus_store.h` is generated from it by cbindgen.
//!
//! Every entry point runs its body through `boundary::entry` (panics
//! become `NEXUS_STATUS_ERR_PANIC`, errors a status plus a thread-local
//! message), checks each pointer argument on its own, writes out-params
//! only on success, and converts every enum with a checked conversion.
//! Store handles go through a generation-checked table (`handles`);
//! value handles and key lists are plain owned pointers.

// The entry points take raw pointers from C and check each one (NULL,
// length); what no check can see (a dangling pointer, a buffer shorter than
// its length) is the caller's contract, stated in the header. Marking them
// `unsafe fn` would change nothing for C callers.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// The API modules are declared in the order the header lists them (cbindgen
// follows it; a blank line between them keeps rustfmt from sorting them):
// version, statuses and config; the store's lifecycle and its entries;
// values and key lists; pins; pressure and the OS monitor; callbacks and the
// loader; events and metrics; the budget governor; the testing aid.
mod api_meta;

mod api_store;

mod api_expiry;

mod api_values;

mod api_pins;

mod api_pressure;

#[cfg(target_os = "linux")]
mod api_monitor;

mod api_callbacks;

mod api_metrics;

mod api_governor;

mod api_debug;

pub(crate) mod asymmetric_fence;
mod boundary;
mod calls;
mod config;
mod foreign;
mod governor;
mod handles;
mod key;
mod short_bytes;
mod sinks;
mod store;
mod types;
mod value;
mod value_bytes;
mod versioned;

pub use api_callbacks::*;
pub use api_debug::*;
pub use api_expiry::*;
pub use api_governor::*;
pub use api_meta::*;
pub use api_metrics::*;
#[cfg(target_os = "linux")]
pub use api_monitor::*;
pub use api_pins::*;
pub use api_pressure::*;
pub use api_store::*;
pub use api_values::*;
pub use governor::{
    NEXUS_GOVERNOR_EVENT_KIND_JOINED, NEXUS_GOVERNOR_EVENT_KIND_LEFT,
    NEXUS_GOVERNOR_EVENT_KIND_LEVEL_CHANGED, NEXUS_GOVERNOR_EVENT_KIND_SHED,
    NEXUS_GOVERNOR_EVENT_KIND_UNMET, NEXUS_SHED_CAUSE_CEILING, NEXUS_SHED_CAUSE_OVER_BUDGET,
    NEXUS_SHED_CAUSE_PRESSURE, NexusGovernor, NexusGovernorConfig, NexusGovernorEvent,
    NexusGovernorEventFn, NexusGovernorEventKind, NexusGovernorMember, NexusGovernorMemberMetrics,
    NexusGovernorMetrics, NexusShedCause,
};
pub use types::*;
