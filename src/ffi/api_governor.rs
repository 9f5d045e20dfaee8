//! The budget governor: one budget shared by several stores, each with a
//! priority, a floor and an optional ceiling (see docs/DESIGN.md, "Budget
//! governor").

use std::ffi::{c_char, c_void};
use std::mem::{align_of, offset_of, size_of};

use super::versioned::{init_prefix, size_ending_at};
use std::sync::Arc;

use super::boundary::{entry, entry_value, enum_arg, null_arg, out_arg};
use super::calls::with_store_out;
use super::foreign::ForeignCtx;
use super::governor::*;
use super::handles;
use super::store::CoreStore;
use super::types::*;
use crate::{
    Error, ErrorKind, Governor, GovernorEvent, GovernorEventKind, MemberConfig, ShedCause,
};

/// Fills `*config` with the defaults: `struct_size` = sizeof(NexusGovernorConfig),
/// budget 0 (set one: a governor needs a budget of at least 1 byte), keeps
/// 0.75 and 0.5, a queue of 1024 events. NULL: does nothing. It writes the
/// struct as this header (the first, 0.1) declares it, and never more,
/// whatever version of the library runs it;
/// `nexus_governor_config_init_sized(config, sizeof *config)` fills a later
/// header's fields too.
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_config_init(config: *mut NexusGovernorConfig) {
    nexus_governor_config_init_sized(config, GOVERNOR_CONFIG_SIZE_0_1);
}

/// Fills the first `size` bytes of `*config` with the defaults and sets
/// `struct_size` to `size`, as `nexus_memory_config_init_sized` does for
/// its struct (pass `sizeof *config`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_config_init_sized(config: *mut NexusGovernorConfig, size: usize) {
    entry_value((), || {
        // SAFETY: the caller passes NULL or `size` writable bytes.
        unsafe { init_prefix(config, default_config(), size, &config_fields()) }
    })
}

/// Fills `*member` with the defaults: `struct_size` =
/// sizeof(NexusGovernorMember), priority 0, no floor, no ceiling. NULL: does
/// nothing. It writes the struct as this header (the first, 0.1) declares
/// it, and never more, whatever version of the library runs it;
/// `nexus_governor_member_init_sized(member, sizeof *member)` fills a later
/// header's fields too.
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_member_init(member: *mut NexusGovernorMember) {
    nexus_governor_member_init_sized(member, GOVERNOR_MEMBER_SIZE_0_1);
}

/// Fills the first `size` bytes of `*member` with the defaults and sets
/// `struct_size` to `size`, as `nexus_memory_config_init_sized` does for
/// its struct (pass `sizeof *member`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_member_init_sized(member: *mut NexusGovernorMember, size: usize) {
    entry_value((), || {
        // SAFETY: the caller passes NULL or `size` writable bytes.
        unsafe { init_prefix(member, default_member(), size, &member_fields()) }
    })
}

/// The first header's (0.1) sizes of the governor's structs, whose last
/// fields are `event_queue_capacity` and `ceiling_bytes`: what the init
/// functions without a size write for good (see `MEMORY_CONFIG_SIZE_0_1`).
const GOVERNOR_CONFIG_SIZE_0_1: usize = size_ending_at(
    offset_of!(NexusGovernorConfig, event_queue_capacity) + size_of::<usize>(),
    align_of::<NexusGovernorConfig>(),
);
const GOVERNOR_MEMBER_SIZE_0_1: usize = size_ending_at(
    offset_of!(NexusGovernorMember, ceiling_bytes) + size_of::<u64>(),
    align_of::<NexusGovernorMember>(),
);

/// Creates a governor with no members.
///
/// Ownership: on success `*out` is a new governor handle; free it with
/// `nexus_governor_free`. The config is copied. `*out` is written only on
/// success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: config or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: struct_size larger than this library
///   knows, too small, or ending inside a field, budget 0, keeps not
///   0 < critical_keep <= moderate_keep <= 1, queue capacity 0
/// - `NEXUS_STATUS_ERR_OUT_OF_MEMORY`: too many live governors
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_new(
    config: *const NexusGovernorConfig,
    out: *mut *mut NexusGovernor,
) -> NexusStatus {
    entry(|| {
        if config.is_null() {
            return Err(null_arg("config"));
        }
        // SAFETY: non-NULL; the caller passes an initialized config of at
        // least `struct_size` bytes; every field is plain data.
        let c = unsafe {
            read_versioned(
                config,
                default_config(),
                "NexusGovernorConfig",
                offset_of!(NexusGovernorConfig, signal_moderate_keep),
                &config_fields(),
            )
        }?;
        // SAFETY: the caller passes NULL or a writable pointer.
        let out = unsafe { out_arg(out, "out") }?;
        let governor = Governor::new(convert_config(&c))?;
        out.set(GOVERNORS.insert(FfiGovernor { governor })?);
        Ok(())
    })
}

/// Frees a governor: the handle is invalid at once; the call returns after
/// calls in flight on other threads have ended (including a member's put
/// that is enforcing the budget); its members stay stores, in no governor
/// (already while it waits: a callback those calls run may join a member
/// to another governor, and the governor starts taking from none of them:
/// only a shed already under way ends); the event callback's ctx is
/// destroyed.
///
/// `governor` NULL: does nothing and returns `OK`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: already freed, or not a governor
/// - `NEXUS_STATUS_ERR_BUSY`: called from inside the governor's own event
///   callback, or from a callback a member store runs while the governor takes
///   memory from it or reads its usage (which drops its expired entries:
///   their listener runs), on whatever thread (or from more than 64 nested
///   callbacks, as `nexus_store_free`)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_free(governor: *mut NexusGovernor) -> NexusStatus {
    if governor.is_null() {
        return NEXUS_STATUS_OK;
    }
    entry(|| GOVERNORS.free(governor))
}

/// Frees a governor without ever waiting (for finalizers and garbage-collected
/// hosts, and C++ destructors that may run inside a callback): the handle is
/// invalid at once, and the governor is freed when its last call in flight
/// ends, on the thread that ends it (here, if none is in flight). Never
/// `ERR_BUSY`. Members stay stores, in no governor from the moment it
/// returns: each may join another governor at once, and while a call in
/// flight keeps the governor alive it starts taking from none of them (a
/// shed already under way ends).
///
/// `governor` NULL: does nothing and returns `OK`.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: already freed, or not a governor
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_free_deferred(governor: *mut NexusGovernor) -> NexusStatus {
    if governor.is_null() {
        return NEXUS_STATUS_OK;
    }
    // The free retires the governor at once (`FfiGovernor::retire`).
    entry(|| GOVERNORS.free_deferred(governor))
}

/// Adds `store` to the governor with `member`'s terms, then enforces the
/// budget at once (the store's usage may take the total over it). A store
/// is in at most one governor; it leaves when it is freed.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor, store or member NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: struct_size larger than this library
///   knows, too small, or ending inside a field, ceiling below the floor, the
///   members' floors would exceed the budget
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: governor or store freed
/// - `NEXUS_STATUS_ERR_BUSY`: the store is in a governor already (this or
///   another)
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_join(
    governor: *mut NexusGovernor,
    store: *mut NexusStore,
    member: *const NexusGovernorMember,
) -> NexusStatus {
    with_member(governor, store, member, Governor::join)
}

/// Changes a member's terms, then enforces the budget at once.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: the store is not a member of this governor
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor, store or member NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: as for `nexus_governor_join`
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: governor or store freed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_set_member(
    governor: *mut NexusGovernor,
    store: *mut NexusStore,
    member: *const NexusGovernorMember,
) -> NexusStatus {
    with_member(governor, store, member, Governor::set_member)
}

/// The body of `nexus_governor_join` and `nexus_governor_set_member`: the
/// member's terms read (and checked) first, then `f` on the live governor
/// and store.
fn with_member(
    governor: *mut NexusGovernor,
    store: *mut NexusStore,
    member: *const NexusGovernorMember,
    f: fn(&Governor, &CoreStore, MemberConfig) -> Result<(), Error>,
) -> NexusStatus {
    entry(|| {
        let m = read_member(member)?;
        with_governor(governor, |g| {
            handles::with(store, |s| f(g, &s.store, convert_member(&m)))
        })
    })
}

/// Removes `store` from the governor; the store is governed no more.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: the store is not a member of this governor
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor or store NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: governor or store freed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_leave(
    governor: *mut NexusGovernor,
    store: *mut NexusStore,
) -> NexusStatus {
    entry(|| with_governor(governor, |g| handles::with(store, |s| g.leave(&s.store))))
}

/// Changes the budget, then enforces it at once.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: 0, or below the members' floors
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_set_budget(
    governor: *mut NexusGovernor,
    budget_bytes: u64,
) -> NexusStatus {
    entry(|| with_governor(governor, |g| g.set_budget(budget_bytes)))
}

/// A pressure signal to the governor: a level at or above the one in force
/// sheds the members' total to its keep fraction (MODERATE, CRITICAL) or
/// every member to its floor (EMERGENCY), lowest priority first, and holds
/// the budget at that fraction (0 under EMERGENCY) until NONE. The members'
/// own levels do not change (a signal to a store itself still sheds it below
/// its floor).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor NULL
/// - `NEXUS_STATUS_ERR_INVALID_ARGUMENT`: level out of range
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_signal_pressure(
    governor: *mut NexusGovernor,
    level: NexusPressureLevel,
) -> NexusStatus {
    entry(|| {
        with_governor(governor, |g| {
            g.signal_pressure(enum_arg(level)?);
            Ok(())
        })
    })
}

/// Checks the budget and the ceilings now (a member changed by other means,
/// such as its own `nexus_store_set_max_bytes`, is otherwise seen at its next
/// put).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_enforce(governor: *mut NexusGovernor) -> NexusStatus {
    entry(|| {
        with_governor(governor, |g| {
            g.enforce();
            Ok(())
        })
    })
}

/// Writes the governor's figures to `*out` (written only on success).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_metrics(
    governor: *mut NexusGovernor,
    out: *mut NexusGovernorMetrics,
) -> NexusStatus {
    entry(|| {
        with_governor(governor, |g| {
            // SAFETY: the caller passes NULL or a writable pointer.
            let out = unsafe { out_arg(out, "out") }?;
            out.set((&g.metrics()).into());
            Ok(())
        })
    })
}

/// Writes one member's figures to `*out` (written only on success): its
/// terms, usage, and what the governor took from it, by cause.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_NOT_FOUND`: the store is not a member of this governor
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor, store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`: governor or store freed
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_member_metrics(
    governor: *mut NexusGovernor,
    store: *mut NexusStore,
    out: *mut NexusGovernorMemberMetrics,
) -> NexusStatus {
    entry(|| {
        with_governor(governor, |g| {
            let id = handles::with(store, |s| Ok(s.store.id()))?;
            // SAFETY: the caller passes NULL or a writable pointer.
            let out = unsafe { out_arg(out, "out") }?;
            let m = g.metrics();
            let member = m.members.iter().find(|m| m.store_id == id).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("store {id} is not a member of this governor"),
                )
            })?;
            out.set(member.into());
            Ok(())
        })
    })
}

/// Pops the oldest queued governor event into `*out`. Events are queued
/// only while no event callback is registered; when the queue is full the
/// oldest is dropped.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_EMPTY`: no event queued (`*out` untouched)
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_poll_event(
    governor: *mut NexusGovernor,
    out: *mut NexusGovernorEvent,
) -> NexusStatus {
    entry(|| {
        with_governor(governor, |g| {
            // SAFETY: the caller passes NULL or a writable pointer.
            let out = unsafe { out_arg(out, "out") }?;
            let e = g
                .poll_event()
                .ok_or_else(|| Error::new(ErrorKind::Empty, "no governor event queued"))?;
            out.set((&e).into());
            Ok(())
        })
    })
}

/// Registers the governor's event callback (`cb` NULL unregisters). While
/// one is registered, events go to it instead of the queue, on the thread
/// whose call produced them (a member's put, a signal, a join), with no lock
/// of the governor or of any store held. It may call into the governor and
/// its stores (freeing the governor from there is `ERR_BUSY`).
///
/// Ownership and threading of `ctx` and `destroy`: as for
/// `nexus_store_set_event_callback` (destroyed once, after the last call;
/// also when the governor is freed, or before this returns if it fails).
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: governor NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_set_event_callback(
    governor: *mut NexusGovernor,
    cb: NexusGovernorEventFn,
    ctx: *mut c_void,
    destroy: NexusDestroyFn,
) -> NexusStatus {
    // Owned before anything can fail: destroyed if registration does.
    let owned = ForeignCtx::new(ctx, destroy);
    entry(move || {
        with_governor(governor, move |g| {
            g.set_event_callback(cb.map(|f| {
                Arc::new(move |e: &GovernorEvent| {
                    let event = NexusGovernorEvent::from(e);
                    // SAFETY: registered fn with its ctx; `event` lives for
                    // the call.
                    unsafe { f(owned.ptr(), &event) };
                }) as Arc<crate::GovernorEventCallback>
            }));
            Ok(())
        })
    })
}

/// Writes the store's id to `*out`: unique in the process, the `store_id`
/// of governor events and member metrics. Written only on success.
///
/// Returns:
/// - `NEXUS_STATUS_OK`
/// - `NEXUS_STATUS_ERR_NULL_ARGUMENT`: store or out NULL
/// - `NEXUS_STATUS_ERR_INVALID_HANDLE`
/// - `NEXUS_STATUS_ERR_PANIC`
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_store_id(store: *mut NexusStore, out: *mut u64) -> NexusStatus {
    with_store_out(store, out, "out", |s| Ok(s.id()))
}

/// The name of a shed cause: "OVER_BUDGET", "PRESSURE", "CEILING";
/// "UNKNOWN" for a value no cause has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_shed_cause_str(cause: NexusShedCause) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        ShedCause::from_u32(cause)
            .map_or("UNKNOWN\0", ShedCause::c_name)
            .as_ptr()
            .cast()
    })
}

/// The name of a governor event kind: "SHED", "UNMET", "JOINED", "LEFT",
/// "LEVEL_CHANGED"; "UNKNOWN" for a value no kind has.
///
/// Returns a static string (never free it; never NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_governor_event_kind_str(kind: NexusGovernorEventKind) -> *const c_char {
    entry_value(c"UNKNOWN".as_ptr(), || {
        GovernorEventKind::from_u32(kind)
            .map_or("UNKNOWN\0", GovernorEventKind::c_name)
            .as_ptr()
            .cast()
    })
}

fn read_member(member: *const NexusGovernorMember) -> Result<NexusGovernorMember, Error> {
    if member.is_null() {
        return Err(null_arg("member"));
    }
    // SAFETY: non-NULL; the caller passes an initialized member of at least
    // `struct_size` bytes; every field is plain data.
    unsafe {
        read_versioned(
            member,
            default_member(),
            "NexusGovernorMember",
            offset_of!(NexusGovernorMember, priority) + size_of::<u32>(),
            &member_fields(),
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_headers_sizes_are_this_ones() {
        // Fails once a field is appended: then keep the *_SIZE_0_1 constants
        // (what the init functions without a size write) and change this test.
        assert_eq!(
            super::GOVERNOR_CONFIG_SIZE_0_1,
            size_of::<super::NexusGovernorConfig>()
        );
        assert_eq!(
            super::GOVERNOR_MEMBER_SIZE_0_1,
            size_of::<super::NexusGovernorMember>()
        );
    }
}
