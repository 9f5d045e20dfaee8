//! The process-wide OS pressure monitor (Linux): PSI, cgroup v2, cgroup
//! v1 and the memory headroom, read by one thread that signals every store
//! as `nexus_signal_pressure_all` does.

use std::ffi::{CStr, c_char, c_void};
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::sync::Arc;

use super::boundary::{c_string_out_args, entry, entry_value, null_arg, out_arg, write_c_string};
use super::foreign::ForeignCtx;
use super::types::*;
use super::versioned::{
    FieldSpan, MAX_STRUCT_SIZE, check_not_torn, field_spans, init_prefix, never_initialized,
    read_over_defaults, size_ending_at,
};
use crate::os_pressure::{
    self, LevelThresholds, MonitorConfig, MonitorStatus, PsiTrigger, SourceKind, SourceStatus,
    StallKind,
};
use crate::{Error, ErrorKind};

/// Which stall a PSI trigger counts.
pub type NexusPsiStall = u32;
/// Some task stalled on memory.
pub const NEXUS_PSI_STALL_SOME: NexusPsiStall = 0;
/// Every non-idle task stalled at once.
pub const NEXUS_PSI_STALL_FULL: NexusPsiStall = 1;

/// A monitor source (the index of `NexusMonitorStatus.sources`).
pub type NexusMonitorSourceKind = u32;
/// `/proc/pressure/memory`.
pub const NEXUS_MONITOR_SOURCE_PSI: NexusMonitorSourceKind = 0;
/// The process's cgroup v2 (`memory.events`, `memory.current`).
pub const NEXUS_MONITOR_SOURCE_CGROUP_V2: NexusMonitorSourceKind = 1;
/// The process's cgroup v1 memory controller.
pub const NEXUS_MONITOR_SOURCE_CGROUP_V1: NexusMonitorSourceKind = 2;
/// `MemAvailable` and the cgroup's remaining room.
pub const NEXUS_MONITOR_SOURCE_HEADROOM: NexusMonitorSourceKind = 3;
/// How many sources there are.
pub const NEXUS_MONITOR_SOURCE_COUNT: usize = 4;

/// Whether a source works on this host.
pub type NexusMonitorSourceState = u32;
/// Not on this host, or disabled (`nexus_monitor_source_detail` says why).
pub const NEXUS_MONITOR_SOURCE_ABSENT: NexusMonitorSourceState = 0;
/// Read, and notified by the kernel where it can be.
pub const NEXUS_MONITOR_SOURCE_ACTIVE: NexusMonitorSourceState = 1;
/// Present but only polled (PSI whose triggers could not be written).
pub const NEXUS_MONITOR_SOURCE_POLLING: NexusMonitorSourceState = 2;
/// Present but unreadable or malformed; read again each sample.
pub const NEXUS_MONITOR_SOURCE_FAILED: NexusMonitorSourceState = 3;

/// A PSI trigger: `stall_us` of `stall` within any `window_us`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NexusPsiTrigger {
    /// A `NEXUS_PSI_STALL_*`.
    pub stall: NexusPsiStall,
    /// Stall time that fires it, microseconds. 1..=window_us.
    pub stall_us: u64,
    /// The window, microseconds: 500000..=10000000.
    pub window_us: u64,
}

/// Receives the headroom budget on the monitor thread, with no lock held
/// (it may call `nexus_store_set_max_bytes` on the app's stores). It counts
/// as a callback for the THREAD SAFETY rules: replacing or unregistering a
/// store's callback from it returns at once, without waiting for calls of
/// the old one on other threads.
pub type NexusBudgetFn = Option<unsafe extern "C" fn(ctx: *mut c_void, budget_bytes: u64)>;

/// The monitor's configuration. Initialize with `nexus_monitor_config_init`,
/// then set fields; `struct_size` lets the struct grow as the store's
/// config does.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NexusMonitorConfig {
    /// `sizeof(NexusMonitorConfig)` as the caller knows it.
    pub struct_size: usize,
    /// Where `/proc` and `/sys` are found (UTF-8, copied); NULL = "/".
    /// For tests against a fake tree. A relative path ("" included) is
    /// taken from the current directory at each read, not at the start.
    pub fs_root: *const c_char,
    /// How often every source is read besides kernel notifications.
    /// 10..=3600000. Default 1000.
    pub sample_interval_ms: u64,
    /// The least time a level is kept after its pressure was last read
    /// before stepping down (to the level read, NONE included).
    /// 0..=86400000 (a day). Default 5000.
    pub min_level_ms: u64,
    /// While pressure lasts, the level in force is signalled again this
    /// often (every store sheds again); 0 = never. 0..=86400000 (a day).
    /// Default 5000.
    pub resignal_ms: u64,
    /// Read `/proc/pressure/memory`. Default true.
    pub psi_enabled: bool,
    /// Do not write PSI triggers; poll the totals. Default false.
    pub psi_poll_only: bool,
    /// MODERATE. Default `some` 70 ms per 2 s.
    pub psi_moderate: NexusPsiTrigger,
    /// CRITICAL. Default `some` 100 ms per 2 s.
    pub psi_critical: NexusPsiTrigger,
    /// EMERGENCY. Default `full` 100 ms per 2 s.
    pub psi_emergency: NexusPsiTrigger,
    /// Read the process's cgroup (v2 or v1). Default true.
    pub cgroup_enabled: bool,
    /// Usage / limit at or above which MODERATE applies. Default 0.80.
    pub cgroup_moderate: f64,
    /// CRITICAL. Default 0.90.
    pub cgroup_critical: f64,
    /// EMERGENCY. Default 0.97. 0 < moderate < critical < emergency <= 1.
    pub cgroup_emergency: f64,
    /// Read `/proc/meminfo`. Default true.
    pub headroom_enabled: bool,
    /// Available / total at or below which MODERATE applies. Default 0.10.
    pub headroom_moderate: f64,
    /// CRITICAL. Default 0.05.
    pub headroom_critical: f64,
    /// EMERGENCY. Default 0.02. 1 >= moderate > critical > emergency > 0.
    pub headroom_emergency: f64,
    /// > 0: `budget_fn` receives `max(budget_floor_bytes, fraction x
    /// available)` each time it moves by more than 1/16. 0..=1. Default 0.
    pub budget_fraction: f64,
    /// The lowest budget proposed. Default 1 MiB.
    pub budget_floor_bytes: u64,
    /// May be NULL.
    pub budget_fn: NexusBudgetFn,
    /// Passed to `budget_fn`.
    pub budget_ctx: *mut c_void,
    /// Destroys `budget_ctx` once: after the monitor thread ended, or at
    /// once when `nexus_monitor_start` fails. Never runs when the process
    /// exits with the monitor running, nor when `struct_size` does not
    /// cover this field (fields beyond `struct_size` are never read: an
    /// older caller's struct may end before them). May be NULL.
    pub budget_ctx_destroy: NexusDestroyFn,
    /// With `budget_fraction` > 0: the monitor also sets every store's
    /// budget to the headroom budget each time it moves
    /// (`nexus_store_set_max_bytes`, on the monitor thread), so the cache
    /// follows the room the OS has left; a store created while the monitor
    /// runs starts with the last one. A store that cannot take it (pinned
    /// and in-use entries alone above it) keeps its own. Default false:
    /// only `budget_fn` hears it.
    pub budget_apply_to_stores: bool,
}

/// One source's last reading. Fields the source does not read are 0.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusMonitorSource {
    /// A `NEXUS_MONITOR_SOURCE_*` kind.
    pub kind: NexusMonitorSourceKind,
    /// A `NEXUS_MONITOR_SOURCE_ABSENT` .. `_FAILED` state.
    pub state: NexusMonitorSourceState,
    /// The level its last reading maps to.
    pub level: NexusPressureLevel,
    /// PSI: `some avg10` (percent).
    pub some_avg10: f64,
    /// PSI: `full avg10` (percent).
    pub full_avg10: f64,
    /// PSI: `some total` (microseconds of stall since boot).
    pub some_total_us: u64,
    /// PSI: `full total`.
    pub full_total_us: u64,
    /// cgroup: bytes charged to the process's cgroup less its inactive file
    /// cache (memory.stat): the working set.
    pub usage_bytes: u64,
    /// cgroup: its limit (v2: the lower of memory.high and memory.max); 0 = none.
    pub limit_bytes: u64,
    /// PSI: triggers fired; cgroup v2: high+max+oom+oom_kill counters;
    /// cgroup v1: pressure_level notifications.
    pub events: u64,
    /// Headroom: bytes still available (MemAvailable, or the cgroup's room
    /// when lower).
    pub available_bytes: u64,
    /// Headroom: what `available_bytes` is a fraction of.
    pub total_bytes: u64,
    /// Headroom with `budget_fraction` > 0: the proposed budget.
    pub budget_bytes: u64,
}

/// What the monitor saw last (see `nexus_monitor_status`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NexusMonitorStatus {
    /// In: `sizeof(NexusMonitorStatus)` as the caller knows it. Out: the
    /// bytes written.
    pub struct_size: usize,
    /// The monitor thread is running.
    pub running: bool,
    /// The level last signalled.
    pub level: NexusPressureLevel,
    /// The highest level the sources read at the last sample.
    pub raw_level: NexusPressureLevel,
    /// Signals sent to the stores since the start.
    pub signals: u64,
    /// Samples taken.
    pub samples: u64,
    /// Kernel notifications received.
    pub notifications: u64,
    /// When the last notification woke the monitor (monotonic ns, the
    /// clock of `NexusEvent.timestamp_ns`); 0 = none.
    pub last_notification_ns: u64,
    /// When the last signal was sent (same clock); 0 = none.
    pub last_signal_ns: u64,
    /// Indexed by `NEXUS_MONITOR_SOURCE_*`.
    pub sources: [NexusMonitorSource; NEXUS_MONITOR_SOURCE_COUNT],
    /// What each source read when the last signal was sent (which source
    /// caused it), indexed by `NEXUS_MONITOR_SOURCE_*`.
    pub signal_levels: [NexusPressureLevel; NEXUS_MONITOR_SOURCE_COUNT],
}

fn default_monitor_config() -> NexusMonitorConfig {
    let d = MonitorConfig::default();
    let trigger = |t: PsiTrigger| NexusPsiTrigger {
        stall: t.kind as u32,
        stall_us: t.stall_us,
        window_us: t.window_us,
    };
    NexusMonitorConfig {
        struct_size: size_of::<NexusMonitorConfig>(),
        fs_root: std::ptr::null(),
        sample_interval_ms: d.sample_interval_ms,
        min_level_ms: d.min_level_ms,
        resignal_ms: d.resignal_ms,
        psi_enabled: d.psi.enabled,
        psi_poll_only: d.psi.poll_only,
        psi_moderate: trigger(d.psi.moderate),
        psi_critical: trigger(d.psi.critical),
        psi_emergency: trigger(d.psi.emergency),
        cgroup_enabled: d.cgroup.enabled,
        cgroup_moderate: d.cgroup.usage.moderate,
        cgroup_critical: d.cgroup.usage.critical,
        cgroup_emergency: d.cgroup.usage.emergency,
        headroom_enabled: d.headroom.enabled,
        headroom_moderate: d.headroom.available.moderate,
        headroom_critical: d.headroom.available.critical,
        headroom_emergency: d.headroom.available.emergency,
        budget_fraction: d.headroom.budget_fraction,
        budget_floor_bytes: d.headroom.budget_floor_bytes,
        budget_fn: None,
        budget_ctx: std::ptr::null_mut(),
        budget_ctx_destroy: None,
        budget_apply_to_stores: d.headroom.apply_budget,
    }
}

/// Reads the caller's config: the first `min(struct_size, ours)` bytes over
/// the defaults, short of a field `struct_size` ends inside (never half a
/// pointer; `convert` refuses the call); every bool byte is normalized
/// before it is read as a bool (`versioned::read_over_defaults`).
///
/// # Safety
/// `ptr` non-NULL, with `struct_size` (its first field) readable bytes.
unsafe fn read_monitor_config(ptr: *const NexusMonitorConfig) -> (NexusMonitorConfig, usize) {
    let bools = [
        offset_of!(NexusMonitorConfig, psi_enabled),
        offset_of!(NexusMonitorConfig, psi_poll_only),
        offset_of!(NexusMonitorConfig, cgroup_enabled),
        offset_of!(NexusMonitorConfig, headroom_enabled),
        offset_of!(NexusMonitorConfig, budget_apply_to_stores),
    ];
    // SAFETY: the caller's contract; the fields not in `bools` are
    // integers, floats, pointers, nullable fn pointers and structs of
    // these.
    unsafe { read_over_defaults(ptr, default_monitor_config(), &monitor_fields(), &bools) }
}

/// `NexusMonitorConfig`'s fields after `struct_size`, in order
/// (`versioned`).
fn monitor_fields() -> [FieldSpan; 23] {
    let c = default_monitor_config();
    field_spans!(c, NexusMonitorConfig;
        fs_root, sample_interval_ms, min_level_ms, resignal_ms, psi_enabled, psi_poll_only,
        psi_moderate, psi_critical, psi_emergency, cgroup_enabled, cgroup_moderate,
        cgroup_critical, cgroup_emergency, headroom_enabled, headroom_moderate,
        headroom_critical, headroom_emergency, budget_fraction, budget_floor_bytes, budget_fn,
        budget_ctx, budget_ctx_destroy, budget_apply_to_stores)
}

fn status_fields() -> [FieldSpan; 10] {
    let s = NexusMonitorStatus::default();
    field_spans!(s, NexusMonitorStatus;
        running, level, raw_level, signals, samples, notifications, last_notification_ns,
        last_signal_ns, sources, signal_levels)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn trigger(t: &NexusPsiTrigger, name: &str) -> Result<PsiTrigger, Error> {
    let kind = match t.stall {
        NEXUS_PSI_STALL_SOME => StallKind::Some,
        NEXUS_PSI_STALL_FULL => StallKind::Full,
        other => {
            return Err(invalid(format!(
                "{name}.stall {other} is not a NEXUS_PSI_STALL_*"
            )));
        }
    };
    Ok(PsiTrigger::new(kind, t.stall_us, t.window_us))
}

/// Converts a config read by `read_monitor_config`. The budget ctx is
/// owned by the result, or destroyed at once on an error; except for a
/// config never initialized (a `struct_size` no header has, over fields
/// that are no valid config either), whose pointers are garbage: refused
/// without calling or reading through any.
fn convert(c: &NexusMonitorConfig, struct_size: usize) -> Result<MonitorConfig, Error> {
    if struct_size > MAX_STRUCT_SIZE {
        let fields_only = NexusMonitorConfig {
            fs_root: std::ptr::null(),
            budget_fn: None,
            budget_ctx: std::ptr::null_mut(),
            budget_ctx_destroy: None,
            ..*c
        };
        if convert(&fields_only, size_of::<NexusMonitorConfig>()).is_err() {
            return Err(never_initialized(
                struct_size,
                "NexusMonitorConfig",
                "nexus_monitor_config_init",
            ));
        }
    }
    let ctx = Arc::new(ForeignCtx::new(c.budget_ctx, c.budget_ctx_destroy));
    if struct_size > size_of::<NexusMonitorConfig>() {
        return Err(invalid(format!(
            "struct_size {struct_size} is larger than this library's NexusMonitorConfig ({} bytes): \
             the header is newer than the library",
            size_of::<NexusMonitorConfig>()
        )));
    }
    if struct_size < size_of::<usize>() + size_of::<*const c_char>() {
        return Err(invalid(format!(
            "struct_size {struct_size} is too small: call nexus_monitor_config_init first"
        )));
    }
    check_not_torn(struct_size, "NexusMonitorConfig", &monitor_fields())?;
    let fs_root = if c.fs_root.is_null() {
        PathBuf::from("/")
    } else {
        // SAFETY: a non-NULL fs_root is a NUL-terminated string (the
        // header's contract), read during this call only.
        let s = unsafe { CStr::from_ptr(c.fs_root) };
        PathBuf::from(
            s.to_str()
                .map_err(|_| invalid("fs_root is not UTF-8".to_string()))?,
        )
    };
    let mut config = MonitorConfig {
        fs_root,
        sample_interval_ms: c.sample_interval_ms,
        min_level_ms: c.min_level_ms,
        resignal_ms: c.resignal_ms,
        ..MonitorConfig::default()
    };
    config.psi.enabled = c.psi_enabled;
    config.psi.poll_only = c.psi_poll_only;
    config.psi.moderate = trigger(&c.psi_moderate, "psi_moderate")?;
    config.psi.critical = trigger(&c.psi_critical, "psi_critical")?;
    config.psi.emergency = trigger(&c.psi_emergency, "psi_emergency")?;
    config.cgroup.enabled = c.cgroup_enabled;
    config.cgroup.usage = LevelThresholds {
        moderate: c.cgroup_moderate,
        critical: c.cgroup_critical,
        emergency: c.cgroup_emergency,
    };
    config.headroom.enabled = c.headroom_enabled;
    config.headroom.available = LevelThresholds {
        moderate: c.headroom_moderate,
        critical: c.headroom_critical,
        emergency: c.headroom_emergency,
    };
    config.headroom.budget_fraction = c.budget_fraction;
    config.headroom.budget_floor_bytes = c.budget_floor_bytes;
    config.headroom.apply_budget = c.budget_apply_to_stores;
    if let Some(f) = c.budget_fn {
        config.on_budget = Some(Arc::new(move |bytes| {
            // SAFETY: the caller's callback with its own ctx, which lives
            // until `ctx` (owned by this closure) is dropped.
            unsafe { f(ctx.ptr(), bytes) }
        }));
    } else if c.budget_ctx_destroy.is_some() {
        // No callback, but a ctx with a destroy: it still lives until the
        // monitor thread ends, as documented (the closure owns it and does
        // nothing with the budgets it hears).
        config.on_budget = Some(Arc::new(move |_| {
            let _owned = &ctx;
        }));
    }
    Ok(config)
}

/// Fills `*config` with the defaults: `struct_size` = sizeof(NexusMonitorConfig),
/// fs_root NULL ("/"), sample 1000 ms, min_level 5000 ms, resignal 5000 ms,
/// PSI on with triggers `some` 70 ms / 2 s, `some` 100 ms / 2 s, `full`
/// 100 ms / 2 s; cgroup on at 0.80 / 0.90 / 0.97 of the limit; headroom on
/// at 0.10 / 0.05 / 0.02 available; no budget (fraction 0, floor 1 MiB,
/// budget_fn NULL).
///
/// `config` NULL: does nothing. It writes the struct as this header (the
/// first, 0.1) declares it, and never more, whatever version of the library
/// runs it; `nexus_monitor_config_init_sized(config, sizeof *config)` fills
/// a later header's fields too. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_config_init(config: *mut NexusMonitorConfig) {
    nexus_monitor_config_init_sized(config, MONITOR_CONFIG_SIZE_0_1);
}

/// Fills the first `size` bytes of `*config` with the defaults and sets
/// `struct_size` to `size`, as `nexus_memory_config_init_sized` does for
/// its struct (pass `sizeof *config`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_config_init_sized(config: *mut NexusMonitorConfig, size: usize) {
    entry_value((), || {
        // SAFETY: the caller passes NULL or `size` writable bytes.
        unsafe { init_prefix(config, default_monitor_config(), size, &monitor_fields()) }
    })
}

/// `NexusMonitorConfig`'s size in the first header (0.1), whose last field
/// is `budget_apply_to_stores`: what `nexus_monitor_config_init` writes for
/// good (see `MEMORY_CONFIG_SIZE_0_1`).
const MONITOR_CONFIG_SIZE_0_1: usize = size_ending_at(
    offset_of!(NexusMonitorConfig, budget_apply_to_stores) + size_of::<bool>(),
    align_of::<NexusMonitorConfig>(),
);

/// Starts the process-wide monitor thread (Linux). It reads every source
/// each `sample_interval_ms` and at once when the kernel notifies (a PSI
/// trigger, a cgroup v1 pressure_level eventfd, cgroup v2 memory.events),
/// and signals every live store (and the starting level of stores created
/// later) as `nexus_signal_pressure_all` does: a higher level at once, the
/// level in force again every `resignal_ms` while it lasts, a lower level
/// (NONE when the pressure ends) after `min_level_ms` without the higher
/// one. A level in force at the start (a previous run's, which its stop
/// leaves, or one the app signalled) counts as read when it was signalled:
/// it is stepped down likewise. Stores react on the monitor thread, with no library lock held;
/// their callbacks may call any function, `nexus_monitor_stop` included.
///
/// A source absent on this host is not an error: it is reported as
/// `NEXUS_MONITOR_SOURCE_ABSENT` by `nexus_monitor_status`. The config and
/// fs_root are copied. Process exit with the monitor running is safe: the
/// thread ends with the process (budget_ctx is then not destroyed).
///
/// Returns `OK`; `ERR_NULL_ARGUMENT` (config NULL); `ERR_INVALID_ARGUMENT`
/// (struct_size too small, larger than this library knows, or ending inside
/// a field, whose value is then never read; a config never initialized: a
/// struct_size beyond 4096 bytes, which no header has, over fields that are
/// no valid config either, whose budget_ctx is then not destroyed; a value
/// out of the ranges in
/// `NexusMonitorConfig`, fs_root not UTF-8); `ERR_BUSY` (a
/// monitor is already running: it keeps running, this config is unused and
/// its budget_ctx destroyed); `ERR_OUT_OF_MEMORY` (no thread or eventfd);
/// `ERR_PANIC`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_start(config: *const NexusMonitorConfig) -> NexusStatus {
    entry(|| {
        // SAFETY: the caller's contract for `config`.
        let config = unsafe { monitor_config_arg(config) }?;
        os_pressure::start_monitor(config)
    })
}

/// The monitor config behind `config`, read and converted (its budget ctx
/// owned by the result, or destroyed at once on an error).
///
/// # Safety
/// `config` is NULL or an initialized config of at least `struct_size`
/// bytes (or this header's size).
unsafe fn monitor_config_arg(config: *const NexusMonitorConfig) -> Result<MonitorConfig, Error> {
    if config.is_null() {
        return Err(null_arg("config"));
    }
    // SAFETY: non-NULL; the caller's contract for the rest.
    let (c, struct_size) = unsafe { read_monitor_config(config) };
    convert(&c, struct_size)
}

/// Stops the monitor. Returns after its thread has ended, except when
/// called on the monitor thread itself (from a store callback run by one
/// of its signals, or of the budgets it sets): then at once, and the thread
/// ends when that signal returns, with no further call of `budget_fn` or
/// store budget. Stores keep the level last signalled (signal NONE to lift
/// it).
/// The last readings stay readable through `nexus_monitor_status`. It waits
/// for a signal in progress, so do not call it while holding a lock that a
/// store callback (or budget_fn) takes.
///
/// Returns `OK` (it was running and is stopped); `NOT_FOUND` (no monitor
/// was running: nothing done, so stopping twice is harmless); `ERR_PANIC`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_stop() -> NexusStatus {
    entry(|| {
        if os_pressure::stop_monitor() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::NotFound, "no monitor is running"))
        }
    })
}

/// `nexus_monitor_start`, and on success writes the run's number to
/// `*out_run` (1 for the first run in the process, then counting up; never
/// 0). Give it to `nexus_monitor_stop_run` to stop this run only: an owner
/// (such as the C++ `nexus::Monitor`) whose run someone else may have
/// stopped, and someone restarted, then never stops the newer run.
///
/// `*out_run` is written only on success; `budget_ctx` is destroyed on
/// failure, as by `nexus_monitor_start`.
///
/// Returns `OK`; `ERR_NULL_ARGUMENT` (config or out_run NULL; the config's
/// budget_ctx is then destroyed when config is not NULL);
/// `ERR_INVALID_ARGUMENT`, `ERR_BUSY`, `ERR_OUT_OF_MEMORY`, `ERR_PANIC` as
/// for `nexus_monitor_start`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_start_run(
    config: *const NexusMonitorConfig,
    out_run: *mut u64,
) -> NexusStatus {
    entry(|| {
        // Converted first, so that its budget_ctx is owned (and destroyed
        // on any failure below).
        // SAFETY: the caller's contract for `config`.
        let config = unsafe { monitor_config_arg(config) }?;
        // SAFETY: `out_run` is NULL or writable for a u64 (the header's
        // contract for every out-parameter).
        let out = unsafe { out_arg(out_run, "out_run") }?;
        out.set(os_pressure::start_monitor_run(config)?);
        Ok(())
    })
}

/// `nexus_monitor_stop` if the running monitor is run `run` (from
/// `nexus_monitor_start_run`); otherwise nothing is done.
///
/// Returns `OK` (run `run` was running and is stopped); `NOT_FOUND` (no
/// monitor is running, or another run is: it keeps running); `ERR_PANIC`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_stop_run(run: u64) -> NexusStatus {
    entry(|| {
        if os_pressure::stop_monitor_run(run) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                format!("monitor run {run} is not running"),
            ))
        }
    })
}

impl From<&SourceStatus> for NexusMonitorSource {
    fn from(s: &SourceStatus) -> Self {
        NexusMonitorSource {
            kind: s.kind as u32,
            state: s.state as u32,
            level: s.level as u32,
            some_avg10: s.some_avg10,
            full_avg10: s.full_avg10,
            some_total_us: s.some_total_us,
            full_total_us: s.full_total_us,
            usage_bytes: s.usage_bytes,
            limit_bytes: s.limit_bytes,
            events: s.events,
            available_bytes: s.available_bytes,
            total_bytes: s.total_bytes,
            budget_bytes: s.budget_bytes,
        }
    }
}

fn to_c(s: &MonitorStatus) -> NexusMonitorStatus {
    let mut out = NexusMonitorStatus {
        struct_size: size_of::<NexusMonitorStatus>(),
        running: s.running,
        level: s.level as u32,
        raw_level: s.raw_level as u32,
        signals: s.signals,
        samples: s.samples,
        notifications: s.notifications,
        last_notification_ns: s.last_notification_ns,
        last_signal_ns: s.last_signal_ns,
        sources: Default::default(),
        signal_levels: s.signal_levels.map(|l| l as u32),
    };
    for (i, kind) in SourceKind::ALL.into_iter().enumerate() {
        out.sources[i] = s
            .source(kind)
            .map(Into::into)
            .unwrap_or(NexusMonitorSource {
                kind: kind as u32,
                ..NexusMonitorSource::default()
            });
    }
    out
}

/// Writes what the monitor saw last to `*out`: whether it runs, the level
/// last signalled, counts, and per source its state (absent, active,
/// polling, failed), level and last reading. Before the first start every
/// source reads ABSENT; after a stop, the last readings with `running`
/// false. Set `out->struct_size` first: only that many bytes are written
/// (an older header gets the fields it knows), and `out->struct_size` is
/// set to the bytes written.
///
/// Returns `OK`; `ERR_NULL_ARGUMENT` (out NULL); `ERR_INVALID_ARGUMENT`
/// (struct_size smaller than its own field, or ending inside a field: no
/// header's size; nothing written); `ERR_PANIC`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_status(out: *mut NexusMonitorStatus) -> NexusStatus {
    entry(|| {
        if out.is_null() {
            return Err(null_arg("out"));
        }
        // SAFETY: non-NULL; its first field is readable (the contract).
        let size = unsafe { out.cast::<usize>().read_unaligned() };
        if size < size_of::<usize>() {
            return Err(invalid(format!(
                "struct_size {size} is too small: set it to sizeof(NexusMonitorStatus)"
            )));
        }
        let n = size.min(size_of::<NexusMonitorStatus>());
        check_not_torn(n, "NexusMonitorStatus", &status_fields())?;
        let mut status = to_c(&os_pressure::monitor_status());
        status.struct_size = n;
        // SAFETY: the caller vouches for `size` >= `n` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const status).cast::<u8>(), out.cast::<u8>(), n)
        };
        Ok(())
    })
}

/// Writes one source's description, NUL terminated, into `buf` and its
/// size including the NUL to `*out_len`: the file it reads (and whether
/// kernel notifications are registered), or why it is absent, polled or
/// failed. "" before the first start.
///
/// Size query: with `buf_len` too small (e.g. `buf` NULL, `buf_len` 0) it
/// returns `ERR_BUFFER_TOO_SMALL` and writes the size needed, NUL included,
/// to `*out_len`; `buf` is left alone. The caller owns `buf`.
///
/// Returns `OK`; `ERR_BUFFER_TOO_SMALL`; `ERR_NULL_ARGUMENT` (out_len NULL,
/// buf NULL with a non-zero buf_len); `ERR_INVALID_ARGUMENT` (kind not a
/// `NEXUS_MONITOR_SOURCE_*`); `ERR_PANIC`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_monitor_source_detail(
    kind: NexusMonitorSourceKind,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> NexusStatus {
    entry(|| {
        c_string_out_args(buf, buf_len, out_len)?;
        let kind = *SourceKind::ALL
            .get(kind as usize)
            .ok_or_else(|| invalid(format!("source kind {kind} is out of range 0..=3")))?;
        let status = os_pressure::monitor_status();
        let detail = status
            .source(kind)
            .map(|s| s.detail.replace('\0', " "))
            .unwrap_or_default();
        // SAFETY: checked above; the caller's contract for the rest.
        unsafe { write_c_string(&detail, buf, buf_len, out_len, "description") }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_headers_size_is_this_ones() {
        // Fails once a field is appended: then keep MONITOR_CONFIG_SIZE_0_1
        // (what nexus_monitor_config_init writes) and change this test.
        assert_eq!(
            super::MONITOR_CONFIG_SIZE_0_1,
            size_of::<super::NexusMonitorConfig>()
        );
    }

    use super::*;

    #[test]
    fn the_field_list_has_every_field() {
        super::super::versioned::assert_lists_every_field(
            &monitor_fields(),
            size_of::<NexusMonitorConfig>(),
        );
        super::super::versioned::assert_lists_every_field(
            &status_fields(),
            size_of::<NexusMonitorStatus>(),
        );
    }

    #[test]
    fn c_constants_match_the_core() {
        assert_eq!(StallKind::Some as u32, NEXUS_PSI_STALL_SOME);
        assert_eq!(StallKind::Full as u32, NEXUS_PSI_STALL_FULL);
        let kinds = [
            NEXUS_MONITOR_SOURCE_PSI,
            NEXUS_MONITOR_SOURCE_CGROUP_V2,
            NEXUS_MONITOR_SOURCE_CGROUP_V1,
            NEXUS_MONITOR_SOURCE_HEADROOM,
        ];
        for (k, c) in SourceKind::ALL.iter().zip(kinds) {
            assert_eq!(*k as u32, c);
        }
        use crate::os_pressure::SourceState;
        let states = [
            (SourceState::Absent, NEXUS_MONITOR_SOURCE_ABSENT),
            (SourceState::Active, NEXUS_MONITOR_SOURCE_ACTIVE),
            (SourceState::Polling, NEXUS_MONITOR_SOURCE_POLLING),
            (SourceState::Failed, NEXUS_MONITOR_SOURCE_FAILED),
        ];
        for (s, c) in states {
            assert_eq!(s as u32, c);
        }
        assert_eq!(SourceKind::ALL.len(), NEXUS_MONITOR_SOURCE_COUNT);
    }

    #[test]
    fn an_older_struct_keeps_the_defaults_of_what_it_lacks() {
        let mut c = default_monitor_config();
        c.sample_interval_ms = 77;
        c.headroom_enabled = false;
        c.struct_size = std::mem::offset_of!(NexusMonitorConfig, min_level_ms);
        // SAFETY: a whole struct is readable.
        let (read, size) = unsafe { read_monitor_config(&c) };
        assert_eq!(size, c.struct_size);
        assert_eq!(read.sample_interval_ms, 77);
        assert!(read.headroom_enabled, "beyond struct_size: the default");
        let config = convert(&read, size).unwrap();
        assert_eq!(config.sample_interval_ms, 77);
        assert_eq!(config.fs_root, PathBuf::from("/"));
    }

    #[test]
    fn sizes_and_values_out_of_range_are_refused() {
        let mut c = default_monitor_config();
        c.struct_size = size_of::<NexusMonitorConfig>() + 8;
        assert!(
            convert(&c, c.struct_size)
                .unwrap_err()
                .message()
                .contains("newer")
        );
        c.struct_size = 4;
        assert!(convert(&c, 4).unwrap_err().message().contains("too small"));
        let mut c = default_monitor_config();
        c.psi_critical.stall = 7;
        let e = convert(&c, c.struct_size).unwrap_err();
        assert!(
            e.message().contains("psi_critical.stall"),
            "{}",
            e.message()
        );
    }
}
