//! What the store reports: level changes, eviction runs and lost events.

use crate::error::Error;
use crate::memory_pressure_level::MemoryPressureLevel;

/// The kind of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum EventKind {
    /// The reported level (the higher of the usage level and the signalled
    /// level) changed from `previous_level` to `level`.
    PressureChanged = 0,
    /// One eviction run ended: `count` entries, `bytes` charged bytes, for
    /// `reason`.
    Eviction = 1,
    /// `count` events were lost because the queue was full.
    Dropped = 2,
}

/// Why an entry left the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum EvictionReason {
    /// The budget: a put that had to make room or crossed a threshold, or
    /// `set_max_bytes`.
    Capacity = 0,
    /// A pressure signal.
    Pressure = 1,
    /// `evict`, `evict_lru` or `clear_unpinned`.
    Manual = 2,
    /// A put of the same key replaced it (eviction listener only).
    Replaced = 3,
    /// `remove` or `clear` (eviction listener only).
    Removed = 4,
}

impl EvictionReason {
    /// Every reason, in C enum order.
    pub const ALL: [EvictionReason; 5] = [
        EvictionReason::Capacity,
        EvictionReason::Pressure,
        EvictionReason::Manual,
        EvictionReason::Replaced,
        EvictionReason::Removed,
    ];
}

impl TryFrom<u32> for EvictionReason {
    type Error = Error;

    fn try_from(value: u32) -> Result<Self, Error> {
        Self::ALL
            .get(value as usize)
            .copied()
            .ok_or_else(|| Error::invalid(format!("eviction reason {value} is out of range 0..=4")))
    }
}

/// One event. A flat record (the C struct has the same fields); the fields
/// that do not apply to a kind are zero (`reason` is `Capacity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Per store, from 1, assigned as the event is handed on (to the
    /// callback, or to the queue under its lock): the queue holds events in
    /// sequence order and a gap in it means only lost events. Across
    /// threads, callbacks may see them out of order.
    pub sequence: u64,
    /// The reported level after the event.
    pub level: MemoryPressureLevel,
    /// PRESSURE_CHANGED: the level before. Otherwise equal to `level`.
    pub previous_level: MemoryPressureLevel,
    /// EVICTION: why the run happened.
    pub reason: EvictionReason,
    /// EVICTION: entries evicted; DROPPED: events lost.
    pub count: u64,
    /// EVICTION: charged bytes evicted.
    pub bytes: u64,
    /// Current usage after the event.
    pub usage_bytes: u64,
    /// The store clock's monotonic time, in nanoseconds.
    pub timestamp_ns: u64,
}
