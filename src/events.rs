//! What the store reports: level changes, eviction runs and lost events.

use crate::c_enum::c_enum;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;

c_enum! {
    /// The kind of an [`Event`].
    #[derive(PartialOrd, Ord)]
    pub enum EventKind ("event kind") {
        /// The reported level (the higher of the usage level and the
        /// signalled level) changed from `previous_level` to `level`.
        PressureChanged = 0 => "PRESSURE_CHANGED",
        /// One eviction run ended: `count` entries, `bytes` charged bytes, for
        /// `reason`.
        Eviction = 1 => "EVICTION",
        /// `count` events were lost because the queue was full. The marker
        /// carries the latest loss's sequence number; the other losses it
        /// counts are the numbers missing since the marker before it.
        Dropped = 2 => "DROPPED",
        /// The signalled level (the last one signalled, or NONE after it
        /// decayed) changed from `previous_level` to `level`: what the OS
        /// said, without the usage level's flips. Delivered only when the
        /// event mask asks for it ([`EventMask::SIGNAL_CHANGED`]).
        SignalChanged = 3 => "SIGNAL_CHANGED",
    }
}

/// Which kinds of event a store hands on (to its callback or its queue).
/// Events of other kinds are not delivered and take no sequence number.
/// DROPPED markers are always delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventMask(u32);

impl EventMask {
    /// PRESSURE_CHANGED events.
    pub const PRESSURE_CHANGED: EventMask = EventMask(1 << EventKind::PressureChanged as u32);
    /// EVICTION events.
    pub const EVICTION: EventMask = EventMask(1 << EventKind::Eviction as u32);
    /// SIGNAL_CHANGED events.
    pub const SIGNAL_CHANGED: EventMask = EventMask(1 << EventKind::SignalChanged as u32);
    /// What a store delivers unless told otherwise: PRESSURE_CHANGED and
    /// EVICTION (and DROPPED).
    pub const DEFAULT: EventMask = EventMask(Self::PRESSURE_CHANGED.0 | Self::EVICTION.0);
    /// Every kind.
    pub const ALL: EventMask = EventMask(Self::DEFAULT.0 | Self::SIGNAL_CHANGED.0);

    /// The mask of these bits (`1 << kind` each); `None` if a bit names no
    /// maskable kind.
    pub fn from_bits(bits: u32) -> Option<EventMask> {
        let dropped = 1 << EventKind::Dropped as u32;
        (bits & !(Self::ALL.0 | dropped) == 0).then_some(EventMask(bits & !dropped))
    }

    /// The bits (`1 << kind` each).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether events of `kind` are delivered.
    pub fn contains(self, kind: EventKind) -> bool {
        kind == EventKind::Dropped || self.0 & (1 << kind as u32) != 0
    }
}

impl Default for EventMask {
    fn default() -> Self {
        EventMask::DEFAULT
    }
}

impl std::ops::BitOr for EventMask {
    type Output = EventMask;

    fn bitor(self, other: EventMask) -> EventMask {
        EventMask(self.0 | other.0)
    }
}

c_enum! {
    /// Why an entry left the store.
    #[derive(PartialOrd, Ord)]
    pub enum EvictionReason ("eviction reason") {
        /// The budget: a put that had to make room or crossed a threshold, or
        /// `set_max_bytes`.
        Capacity = 0 => "CAPACITY",
        /// A pressure signal.
        Pressure = 1 => "PRESSURE",
        /// `evict`, `evict_lru` or `clear_unpinned`.
        Manual = 2 => "MANUAL",
        /// A put of the same key replaced it (eviction listener only).
        Replaced = 3 => "REPLACED",
        /// `remove` or `clear` (eviction listener only).
        Removed = 4 => "REMOVED",
        /// A budget governor took memory from the store (see
        /// [`crate::Governor`]).
        Governor = 5 => "GOVERNOR",
        /// Its time to live or time to idle ran out (`MemoryConfig::ttl_ms`,
        /// `tti_ms`, `Store::put_with_ttl`): removed when a read saw it, by
        /// the next call after that, or by `Store::sweep_expired`.
        Expired = 6 => "EXPIRED",
    }
}

/// One event. A flat record (the C struct has the same fields); the fields
/// that do not apply to a kind are zero (`reason` is `Capacity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Per store, from 1, assigned as the event is handed on (to the
    /// callback, or to the queue), under the queue's lock: the queue holds
    /// events in sequence order and a gap in it means only lost events.
    /// Across threads, callbacks may see them out of order (the highest
    /// number is the latest). In sequence order the `PressureChanged`
    /// events form one chain (each `previous_level` the `level` of the one
    /// before, lost ones included) that ends at the store's level once the
    /// calls have returned; a change handed on after a later one is left
    /// out, so changes made at once on several threads may merge. Changes
    /// made while the mask leaves `PressureChanged` out are followed too:
    /// the first one delivered after goes on from the store's level then.
    pub sequence: u64,
    /// The store's reported level after the event; for SIGNAL_CHANGED, the
    /// signalled level after the change.
    pub level: MemoryPressureLevel,
    /// PRESSURE_CHANGED: the reported level before; SIGNAL_CHANGED: the
    /// signalled level before. Otherwise equal to `level` (with shards too:
    /// the store's level, not the evicting shard's).
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
