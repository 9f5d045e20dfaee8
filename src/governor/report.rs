//! What a governor reports: its events (who gave up how much, and why) and
//! its metrics, overall and per member.

use std::collections::VecDeque;

use crate::c_enum::c_enum;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;

c_enum! {
    /// Why a governor took memory from a store.
    #[derive(PartialOrd, Ord)]
    pub enum ShedCause ("shed cause") {
        /// The members' total usage was above the governor's budget.
        OverBudget = 0 => "OVER_BUDGET",
        /// A pressure signal to the governor (its shedding, or the lower
        /// budget it holds while the signal lasts).
        Pressure = 1 => "PRESSURE",
        /// The store was above its own ceiling.
        Ceiling = 2 => "CEILING",
    }
}

c_enum! {
    /// The kind of a [`GovernorEvent`].
    #[derive(PartialOrd, Ord)]
    pub enum GovernorEventKind ("governor event kind") {
        /// The governor took `bytes` charged bytes (`count` entries) from
        /// store `store_id`, for `cause`.
        Shed = 0 => "SHED",
        /// The members' total stayed `bytes` above the target after the
        /// governor took all it could (floors, pinned and in-use entries
        /// hold the rest). Reported once until the total is back within
        /// the target.
        Unmet = 1 => "UNMET",
        /// Store `store_id` joined.
        Joined = 2 => "JOINED",
        /// Store `store_id` left (`leave`, or the store was dropped or
        /// freed).
        Left = 3 => "LEFT",
        /// The governor's signalled level changed from `previous_level` to
        /// `level`.
        LevelChanged = 4 => "LEVEL_CHANGED",
    }
}

/// One governor event. A flat record (the C struct has the same fields);
/// fields that do not apply to a kind are zero (`cause` is `OverBudget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GovernorEvent {
    /// What happened.
    pub kind: GovernorEventKind,
    /// Per governor, from 1, in the order events are handed on.
    pub sequence: u64,
    /// The store concerned (`Store::id`); 0 for UNMET and LEVEL_CHANGED.
    pub store_id: u64,
    /// SHED and UNMET: why.
    pub cause: ShedCause,
    /// SHED: charged bytes taken; UNMET: bytes still above the target.
    pub bytes: u64,
    /// SHED: entries taken.
    pub count: u64,
    /// SHED, JOINED: the store's usage after the event.
    pub store_usage: u64,
    /// The members' total usage as the governor's last pass read it (each
    /// pass reads every member). A JOINED or LEFT event does not read it
    /// again: it still counts a member that left, and not yet one that
    /// joined, until the next pass (`metrics` reads it now).
    pub total_usage: u64,
    /// The budget in force after the event.
    pub budget_in_force: u64,
    /// The governor's signalled level after the event.
    pub level: MemoryPressureLevel,
    /// LEVEL_CHANGED: the level before; otherwise equal to `level`.
    pub previous_level: MemoryPressureLevel,
    /// The governor clock's time, in nanoseconds.
    pub timestamp_ns: u64,
}

/// One member's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberMetrics {
    /// The store (`Store::id`).
    pub store_id: u64,
    /// Its priority (higher is kept longer).
    pub priority: u32,
    /// Its floor, in charged bytes.
    pub floor_bytes: u64,
    /// Its ceiling, in charged bytes (0 = none).
    pub ceiling_bytes: u64,
    /// Its usage, as read for this snapshot.
    pub usage_bytes: u64,
    /// Its entries, as read for this snapshot.
    pub entry_count: u64,
    /// Charged bytes the governor took from it since it joined, by cause
    /// (indexed by [`ShedCause`]).
    pub shed_bytes_by_cause: [u64; 3],
    /// Entries the governor took from it since it joined.
    pub shed_entries: u64,
}

impl MemberMetrics {
    /// Charged bytes the governor took from it since it joined.
    pub fn shed_bytes(&self) -> u64 {
        self.shed_bytes_by_cause.iter().sum()
    }
}

/// A governor's figures at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GovernorMetrics {
    /// The configured budget.
    pub budget_bytes: u64,
    /// The budget in force (lower while a signal lasts).
    pub budget_in_force: u64,
    /// The signalled level.
    pub level: MemoryPressureLevel,
    /// The members' total usage, each read in turn.
    pub total_usage: u64,
    /// Charged bytes taken from members, in all, since creation.
    pub shed_bytes: u64,
    /// Entries taken from members, in all, since creation.
    pub shed_entries: u64,
    /// Bytes the total stayed above the target after the last check (0 when
    /// it was met).
    pub unmet_bytes: u64,
    /// Each member, in join order.
    pub members: Vec<MemberMetrics>,
}

/// The events waiting for `poll_event` (while no callback is registered):
/// at most `capacity`; when full, the oldest is dropped and counted.
pub(super) struct GovernorQueue {
    capacity: usize,
    events: VecDeque<GovernorEvent>,
    pub(super) dropped: u64,
}

impl GovernorQueue {
    pub(super) fn new(capacity: usize) -> Self {
        GovernorQueue {
            capacity,
            events: VecDeque::new(),
            dropped: 0,
        }
    }

    pub(super) fn push(&mut self, e: GovernorEvent) {
        if self.events.len() >= self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(e);
    }

    pub(super) fn pop(&mut self) -> Option<GovernorEvent> {
        self.events.pop_front()
    }
}
