//! The governor behind a C handle, its handle table (the store's
//! machinery, `handles::HandleTable`), and its C types.

use std::ffi::c_void;
use std::mem::size_of;

use super::handles::{HandleTable, HandleTarget};
use super::types::NexusPressureLevel;
use super::versioned::{FieldSpan, check_not_torn, field_spans, read_over_defaults};
use crate::{
    Error, ErrorKind, Governor, GovernorConfig, GovernorEvent, GovernorMetrics, MemberConfig,
    MemberMetrics,
};

/// An opaque governor handle: a generation-checked slot number like a
/// store's, so a freed handle is detected (`NEXUS_STATUS_ERR_INVALID_HANDLE`).
pub struct NexusGovernor {
    _opaque: [u8; 0],
}

impl super::handles::HandleKind for NexusGovernor {
    const KIND: usize = 1;
}

/// Why a governor took memory from a store.
pub type NexusShedCause = u32;
/// The members' total was above the governor's budget.
pub const NEXUS_SHED_CAUSE_OVER_BUDGET: NexusShedCause = 0;
/// A pressure signal to the governor (or the lower budget it holds while
/// the signal lasts).
pub const NEXUS_SHED_CAUSE_PRESSURE: NexusShedCause = 1;
/// The store was above its own ceiling.
pub const NEXUS_SHED_CAUSE_CEILING: NexusShedCause = 2;

/// The kind of a `NexusGovernorEvent`.
pub type NexusGovernorEventKind = u32;
/// The governor took `bytes` (`count` entries) from store `store_id`, for
/// `cause`.
pub const NEXUS_GOVERNOR_EVENT_KIND_SHED: NexusGovernorEventKind = 0;
/// The total stayed `bytes` above the target after the governor took all
/// it could (floors, pinned and in-use entries hold the rest); reported
/// once until the total is back within the target.
pub const NEXUS_GOVERNOR_EVENT_KIND_UNMET: NexusGovernorEventKind = 1;
/// Store `store_id` joined.
pub const NEXUS_GOVERNOR_EVENT_KIND_JOINED: NexusGovernorEventKind = 2;
/// Store `store_id` left (`nexus_governor_leave`, or the store was freed).
pub const NEXUS_GOVERNOR_EVENT_KIND_LEFT: NexusGovernorEventKind = 3;
/// The governor's signalled level changed from `previous_level` to `level`.
pub const NEXUS_GOVERNOR_EVENT_KIND_LEVEL_CHANGED: NexusGovernorEventKind = 4;

/// A governor's configuration. Initialize with `nexus_governor_config_init`,
/// then set fields; `struct_size` lets the struct grow as `NexusMemoryConfig`
/// does (fields are only appended; fields beyond a caller's `struct_size`
/// keep their defaults).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NexusGovernorConfig {
    /// `sizeof(NexusGovernorConfig)` as the caller knows it.
    pub struct_size: usize,
    /// The budget the members share, in charged bytes. >= 1, and at least
    /// the members' floors.
    pub budget_bytes: u64,
    /// A MODERATE signal to the governor sheds the members' total to this
    /// fraction of itself and holds the budget at this fraction. Default 0.75.
    pub signal_moderate_keep: f64,
    /// The same for CRITICAL. Default 0.5. 0 < critical_keep <= moderate_keep
    /// <= 1. EMERGENCY takes every member down to its floor.
    pub signal_critical_keep: f64,
    /// Events kept for `nexus_governor_poll_event` while no callback is
    /// registered (the oldest is dropped beyond). >= 1. Default 1024.
    pub event_queue_capacity: usize,
}

/// A member's terms. Initialize with `nexus_governor_member_init` (priority
/// 0, no floor, no ceiling), then set fields; versioned by `struct_size` as
/// `NexusGovernorConfig`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NexusGovernorMember {
    /// `sizeof(NexusGovernorMember)` as the caller knows it.
    pub struct_size: usize,
    /// Higher is kept longer: the governor takes from the lowest first.
    pub priority: u32,
    /// Charged bytes the governor never takes the store below.
    pub floor_bytes: u64,
    /// The store is shed down to this whenever above it; 0 = no ceiling.
    /// At least `floor_bytes`.
    pub ceiling_bytes: u64,
}

/// One governor event; fields that do not apply to its kind are 0.
/// The library writes this struct, so it never grows (it has no
/// `struct_size`: a larger one written by a later library would overrun a
/// caller's older struct); figures added later come as new functions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusGovernorEvent {
    /// A `NEXUS_GOVERNOR_EVENT_KIND_*`.
    pub kind: NexusGovernorEventKind,
    /// Per governor, from 1.
    pub sequence: u64,
    /// The store concerned (`nexus_store_id`); 0 for UNMET, LEVEL_CHANGED.
    pub store_id: u64,
    /// SHED, UNMET: a `NEXUS_SHED_CAUSE_*`.
    pub cause: NexusShedCause,
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
    /// The governor's signalled level (a `NEXUS_PRESSURE_LEVEL_*`).
    pub level: NexusPressureLevel,
    /// LEVEL_CHANGED: the level before; otherwise equal to `level`.
    pub previous_level: NexusPressureLevel,
    /// When it happened, in nanoseconds on the clock of
    /// `NexusEvent.timestamp_ns` (the OS's monotonic clock).
    pub timestamp_ns: u64,
}

/// A governor's figures (see `nexus_governor_metrics`).
/// The library writes this struct, so it never grows (it has no
/// `struct_size`: a larger one written by a later library would overrun a
/// caller's older struct); figures added later come as new functions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusGovernorMetrics {
    /// The configured budget.
    pub budget_bytes: u64,
    /// The budget in force (lower while a signal lasts).
    pub budget_in_force: u64,
    /// The signalled level (a `NEXUS_PRESSURE_LEVEL_*`).
    pub level: NexusPressureLevel,
    /// The members' total usage, each read in turn.
    pub total_usage: u64,
    /// Charged bytes taken from members since creation.
    pub shed_bytes: u64,
    /// Entries taken from members since creation.
    pub shed_entries: u64,
    /// Bytes the total stayed above the target after the last check.
    pub unmet_bytes: u64,
    /// Members now.
    pub member_count: u64,
}

/// One member's figures (see `nexus_governor_member_metrics`).
/// The library writes this struct, so it never grows (it has no
/// `struct_size`: a larger one written by a later library would overrun a
/// caller's older struct); figures added later come as new functions.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusGovernorMemberMetrics {
    /// The store (`nexus_store_id`).
    pub store_id: u64,
    /// Its priority.
    pub priority: u32,
    /// Its floor.
    pub floor_bytes: u64,
    /// Its ceiling (0 = none).
    pub ceiling_bytes: u64,
    /// Its usage.
    pub usage_bytes: u64,
    /// Its entries.
    pub entry_count: u64,
    /// Charged bytes taken from it since it joined, cause OVER_BUDGET.
    pub shed_bytes_over_budget: u64,
    /// The same, cause PRESSURE.
    pub shed_bytes_pressure: u64,
    /// The same, cause CEILING.
    pub shed_bytes_ceiling: u64,
    /// Entries taken from it since it joined.
    pub shed_entries: u64,
}

/// Told of each governor event.
pub type NexusGovernorEventFn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, event: *const NexusGovernorEvent)>;

/// What a governor handle owns.
pub(crate) struct FfiGovernor {
    pub governor: Governor,
}

impl HandleTarget for FfiGovernor {
    fn is_inside_own_callback(&self) -> bool {
        self.governor.is_inside_own_callback()
    }

    fn wait_until_sole_user(&self) {
        self.governor.wait_until_sole_user();
    }

    /// Its handle is invalid: its members are in no governor from now on,
    /// also while the calls in flight that a free waits for run (a listener
    /// of theirs may join a member to another governor).
    fn retire(&self) {
        self.governor.retire();
    }
}

/// The governor handles.
pub(crate) static GOVERNORS: HandleTable<FfiGovernor, NexusGovernor> = HandleTable::new("governor");

/// Runs `body` on the governor behind `handle`.
pub(crate) fn with_governor<R>(
    handle: *const NexusGovernor,
    body: impl FnOnce(&Governor) -> Result<R, Error>,
) -> Result<R, Error> {
    GOVERNORS.with(handle, |g| body(&g.governor))
}

pub(crate) fn default_config() -> NexusGovernorConfig {
    let d = GovernorConfig::with_budget(0);
    NexusGovernorConfig {
        struct_size: size_of::<NexusGovernorConfig>(),
        budget_bytes: 0,
        signal_moderate_keep: d.signal_moderate_keep,
        signal_critical_keep: d.signal_critical_keep,
        event_queue_capacity: d.event_queue_capacity,
    }
}

/// `NexusGovernorConfig`'s fields after `struct_size`, in order.
pub(crate) fn config_fields() -> [FieldSpan; 4] {
    let c = default_config();
    field_spans!(c, NexusGovernorConfig;
        budget_bytes, signal_moderate_keep, signal_critical_keep, event_queue_capacity)
}

/// `NexusGovernorMember`'s fields after `struct_size`, in order.
pub(crate) fn member_fields() -> [FieldSpan; 3] {
    let m = default_member();
    field_spans!(m, NexusGovernorMember; priority, floor_bytes, ceiling_bytes)
}

pub(crate) fn default_member() -> NexusGovernorMember {
    NexusGovernorMember {
        struct_size: size_of::<NexusGovernorMember>(),
        priority: 0,
        floor_bytes: 0,
        ceiling_bytes: 0,
    }
}

/// Reads the first `min(struct_size, sizeof(T))` bytes of a versioned
/// struct (first field `struct_size`) over `defaults`; refuses a
/// `struct_size` larger than this library's `T`, smaller than its first
/// two fields, or ending inside one of `fields` (`versioned`).
///
/// # Safety
/// `ptr` non-NULL, with `struct_size` (its first field) readable bytes;
/// `T` plain data (every bit pattern of its fields valid).
pub(crate) unsafe fn read_versioned<T: Copy>(
    ptr: *const T,
    defaults: T,
    name: &str,
    min_size: usize,
    fields: &[FieldSpan],
) -> Result<T, Error> {
    // SAFETY: the first field is always present (the caller's contract).
    let struct_size = unsafe { ptr.cast::<usize>().read_unaligned() };
    if struct_size > size_of::<T>() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "struct_size {struct_size} is larger than this library's {name} ({} bytes)",
                size_of::<T>()
            ),
        ));
    }
    if struct_size < min_size {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("struct_size {struct_size} is too small: initialize the {name} first"),
        ));
    }
    check_not_torn(struct_size, name, fields)?;
    // SAFETY: the caller's contract (`struct_size` readable bytes, `T`
    // plain data without bools).
    Ok(unsafe { read_over_defaults(ptr, defaults, fields, &[]) }.0)
}

pub(crate) fn convert_config(c: &NexusGovernorConfig) -> GovernorConfig {
    GovernorConfig {
        budget_bytes: c.budget_bytes,
        signal_moderate_keep: c.signal_moderate_keep,
        signal_critical_keep: c.signal_critical_keep,
        event_queue_capacity: c.event_queue_capacity,
    }
}

pub(crate) fn convert_member(m: &NexusGovernorMember) -> MemberConfig {
    MemberConfig {
        priority: m.priority,
        floor_bytes: m.floor_bytes,
        ceiling_bytes: (m.ceiling_bytes != 0).then_some(m.ceiling_bytes),
    }
}

impl From<&GovernorEvent> for NexusGovernorEvent {
    fn from(e: &GovernorEvent) -> Self {
        NexusGovernorEvent {
            kind: e.kind as u32,
            sequence: e.sequence,
            store_id: e.store_id,
            cause: e.cause as u32,
            bytes: e.bytes,
            count: e.count,
            store_usage: e.store_usage,
            total_usage: e.total_usage,
            budget_in_force: e.budget_in_force,
            level: e.level as u32,
            previous_level: e.previous_level as u32,
            timestamp_ns: e.timestamp_ns,
        }
    }
}

impl From<&GovernorMetrics> for NexusGovernorMetrics {
    fn from(m: &GovernorMetrics) -> Self {
        NexusGovernorMetrics {
            budget_bytes: m.budget_bytes,
            budget_in_force: m.budget_in_force,
            level: m.level as u32,
            total_usage: m.total_usage,
            shed_bytes: m.shed_bytes,
            shed_entries: m.shed_entries,
            unmet_bytes: m.unmet_bytes,
            member_count: m.members.len() as u64,
        }
    }
}

impl From<&MemberMetrics> for NexusGovernorMemberMetrics {
    fn from(m: &MemberMetrics) -> Self {
        let [over_budget, pressure, ceiling] = m.shed_bytes_by_cause;
        NexusGovernorMemberMetrics {
            store_id: m.store_id,
            priority: m.priority,
            floor_bytes: m.floor_bytes,
            ceiling_bytes: m.ceiling_bytes,
            usage_bytes: m.usage_bytes,
            entry_count: m.entry_count,
            shed_bytes_over_budget: over_budget,
            shed_bytes_pressure: pressure,
            shed_bytes_ceiling: ceiling,
            shed_entries: m.shed_entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::versioned::assert_lists_every_field;
    use super::*;

    #[test]
    fn the_field_lists_have_every_field() {
        assert_lists_every_field(&config_fields(), size_of::<NexusGovernorConfig>());
        assert_lists_every_field(&member_fields(), size_of::<NexusGovernorMember>());
    }
}
