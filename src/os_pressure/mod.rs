//! Pressure from the OS: Linux PSI, cgroup v2, cgroup v1 and the memory
//! headroom, read by one process-wide monitor thread that signals every
//! store as [`signal_pressure_all`](crate::signal_pressure_all) does.
//!
//! Each source maps its readings to a [`MemoryPressureLevel`]; the monitor
//! takes the highest, and a [`Hysteresis`] decides what to signal: a rise at
//! once, the same level again every `resignal_ms` while it lasts, a step down
//! only after `min_level_ms` without the higher level, and NONE when the
//! pressure ends. A source absent on the host is reported as absent, never
//! an error. Every path is read below a filesystem root (`/` by default), so
//! tests run the same code against a fake `/proc` and cgroup tree.
//!
//! ```no_run
//! use nexus_store::os_pressure::{self, MonitorConfig};
//!
//! os_pressure::start_monitor(MonitorConfig::default())?;
//! let status = os_pressure::monitor_status();
//! for s in &status.sources {
//!     println!("{:?}: {:?} {}", s.kind, s.state, s.detail);
//! }
//! os_pressure::stop_monitor();
//! # Ok::<(), nexus_store::Error>(())
//! ```

mod cgroup_v1;
mod cgroup_v2;
mod files;
mod headroom;
mod hysteresis;
mod monitor;
mod psi;
#[cfg(test)]
mod testing;

use std::path::PathBuf;

use crate::MemoryPressureLevel;
use crate::error::{Error, ErrorKind};

pub use cgroup_v1::CgroupV1Source;
pub use cgroup_v2::CgroupV2Source;
pub use headroom::HeadroomSource;
pub use hysteresis::Hysteresis;
pub use monitor::{
    monitor_status, start_monitor, start_monitor_run, stop_monitor, stop_monitor_run,
};
pub use psi::{PsiSource, PsiTrigger, StallKind};

/// Which source a status describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SourceKind {
    /// `/proc/pressure/memory`.
    #[default]
    Psi = 0,
    /// The process's cgroup v2 (`memory.events`, `memory.current`).
    CgroupV2 = 1,
    /// The process's cgroup v1 memory controller.
    CgroupV1 = 2,
    /// `MemAvailable` and the cgroup's remaining room.
    Headroom = 3,
}

impl SourceKind {
    /// Every kind, in the order of [`MonitorStatus::sources`].
    pub const ALL: [SourceKind; 4] = [
        SourceKind::Psi,
        SourceKind::CgroupV2,
        SourceKind::CgroupV1,
        SourceKind::Headroom,
    ];
}

/// Whether a source works on this host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SourceState {
    /// Not on this host (or disabled); `detail` says which file is missing.
    #[default]
    Absent = 0,
    /// Read, and notified by the kernel where it can be (PSI triggers,
    /// cgroup v1 pressure_level eventfds, cgroup v2 memory.events).
    Active = 1,
    /// Present, but only polled: PSI whose triggers could not be written
    /// (the averages are read instead); `detail` says why.
    Polling = 2,
    /// Present but unreadable or malformed (permission denied, bad
    /// numbers); its level counts as NONE and it is read again each sample.
    Failed = 3,
}

/// The last reading of one source. Fields a source does not read are 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStatus {
    /// Which source.
    pub kind: SourceKind,
    /// Whether it works here.
    pub state: SourceState,
    /// The level its last reading maps to.
    pub level: MemoryPressureLevel,
    /// The file it reads, or why it is absent, polled or failed.
    pub detail: String,
    /// PSI: `some avg10` (percent).
    pub some_avg10: f64,
    /// PSI: `full avg10` (percent).
    pub full_avg10: f64,
    /// PSI: `some total` (microseconds of stall since boot).
    pub some_total_us: u64,
    /// PSI: `full total`.
    pub full_total_us: u64,
    /// cgroup: the memory charged to the process's cgroup, less its
    /// inactive file cache (memory.stat): the working set.
    pub usage_bytes: u64,
    /// cgroup: the limit it is measured against (v2: the lower of
    /// memory.high and memory.max; v1: memory.limit_in_bytes); 0 = none.
    pub limit_bytes: u64,
    /// cgroup v2: `high + max + oom + oom_kill` of memory.events; cgroup v1:
    /// pressure_level notifications received; PSI: triggers fired.
    pub events: u64,
    /// Headroom: the bytes still available (the lower of `MemAvailable`
    /// and the cgroup's remaining room).
    pub available_bytes: u64,
    /// Headroom: what `available_bytes` is a fraction of (`MemTotal`, or
    /// the cgroup limit when lower).
    pub total_bytes: u64,
    /// Headroom with `budget_fraction` > 0: `max(floor, fraction x
    /// available_bytes)`; else 0.
    pub budget_bytes: u64,
}

/// PSI settings: three triggers, one per level.
#[derive(Clone, Debug, PartialEq)]
pub struct PsiConfig {
    /// Read PSI at all.
    pub enabled: bool,
    /// MODERATE. Default `some` 70 ms per 2 s.
    pub moderate: PsiTrigger,
    /// CRITICAL. Default `some` 100 ms per 2 s.
    pub critical: PsiTrigger,
    /// EMERGENCY. Default `full` 100 ms per 2 s.
    pub emergency: PsiTrigger,
    /// Do not write triggers; read the totals each sample (what happens
    /// anyway where writing is refused).
    pub poll_only: bool,
}

impl Default for PsiConfig {
    fn default() -> Self {
        PsiConfig {
            enabled: true,
            moderate: PsiTrigger::new(StallKind::Some, 70_000, 2_000_000),
            critical: PsiTrigger::new(StallKind::Some, 100_000, 2_000_000),
            emergency: PsiTrigger::new(StallKind::Full, 100_000, 2_000_000),
            poll_only: false,
        }
    }
}

/// Three ascending fractions: MODERATE, CRITICAL, EMERGENCY at or above
/// (usage ratios) or at or below (headroom fractions) each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelThresholds {
    /// MODERATE.
    pub moderate: f64,
    /// CRITICAL.
    pub critical: f64,
    /// EMERGENCY.
    pub emergency: f64,
}

/// cgroup settings (v1 and v2 alike).
#[derive(Clone, Debug, PartialEq)]
pub struct CgroupConfig {
    /// Read the process's cgroup at all.
    pub enabled: bool,
    /// Usage / limit at or above which each level applies. Default 0.80,
    /// 0.90, 0.97.
    pub usage: LevelThresholds,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        CgroupConfig {
            enabled: true,
            usage: LevelThresholds {
                moderate: 0.80,
                critical: 0.90,
                emergency: 0.97,
            },
        }
    }
}

/// Headroom settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadroomConfig {
    /// Read `/proc/meminfo` at all.
    pub enabled: bool,
    /// Available / total at or below which each level applies (descending:
    /// moderate > critical > emergency). Default 0.10, 0.05, 0.02.
    pub available: LevelThresholds,
    /// > 0: the monitor computes `max(budget_floor_bytes, fraction x
    /// available)` and gives it to `on_budget`. Default 0 (off).
    pub budget_fraction: f64,
    /// The lowest budget it proposes. Default 1 MiB.
    pub budget_floor_bytes: u64,
    /// With `budget_fraction` > 0: the monitor also sets every store's
    /// budget to it (`set_max_bytes`) each time it moves, so the cache
    /// follows the room the OS has left; a store created while the monitor
    /// runs starts with the last one. A store that cannot take it (pinned
    /// and in-use entries alone above it, or fewer bytes than its shards)
    /// keeps its budget. Default false (only `on_budget` hears it).
    pub apply_budget: bool,
}

impl Default for HeadroomConfig {
    fn default() -> Self {
        HeadroomConfig {
            enabled: true,
            available: LevelThresholds {
                moderate: 0.10,
                critical: 0.05,
                emergency: 0.02,
            },
            budget_fraction: 0.0,
            budget_floor_bytes: 1 << 20,
            apply_budget: false,
        }
    }
}

/// Called on the monitor thread, with no lock held, each time the headroom
/// budget moves by more than 1/16: the app sets its stores' budgets.
pub type BudgetCallback = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// The monitor's configuration.
#[derive(Clone)]
pub struct MonitorConfig {
    /// Where `/proc` and `/sys` are found. Default `/`.
    pub fs_root: PathBuf,
    /// How often every source is read (besides kernel notifications).
    /// Default 1000 ms; >= 10.
    pub sample_interval_ms: u64,
    /// The least time a level is kept after its pressure was last seen
    /// before stepping down. Default 5000 ms.
    pub min_level_ms: u64,
    /// While pressure lasts, the level in force is signalled again this
    /// often (each store sheds again); 0 = never. Default 5000 ms.
    pub resignal_ms: u64,
    /// PSI.
    pub psi: PsiConfig,
    /// cgroup v1 and v2.
    pub cgroup: CgroupConfig,
    /// Headroom.
    pub headroom: HeadroomConfig,
    /// Receives the headroom budget (see [`HeadroomConfig::budget_fraction`]),
    /// on the monitor thread, as a callback: replacing a store's callback
    /// from it returns at once (as from inside a store's own callbacks).
    pub on_budget: Option<BudgetCallback>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            fs_root: PathBuf::from("/"),
            sample_interval_ms: 1000,
            min_level_ms: 5000,
            resignal_ms: 5000,
            psi: PsiConfig::default(),
            cgroup: CgroupConfig::default(),
            headroom: HeadroomConfig::default(),
            on_budget: None,
        }
    }
}

impl std::fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("fs_root", &self.fs_root)
            .field("sample_interval_ms", &self.sample_interval_ms)
            .field("min_level_ms", &self.min_level_ms)
            .field("resignal_ms", &self.resignal_ms)
            .field("psi", &self.psi)
            .field("cgroup", &self.cgroup)
            .field("headroom", &self.headroom)
            .field("on_budget", &self.on_budget.is_some())
            .finish()
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

impl MonitorConfig {
    /// Checks every rule; `InvalidArgument` with a message naming the field
    /// (as Rust names it, and the C struct's name in parentheses where it
    /// differs) and the value given.
    pub fn validate(&self) -> Result<(), Error> {
        if self.sample_interval_ms < 10 || self.sample_interval_ms > 3_600_000 {
            return Err(invalid(format!(
                "sample_interval_ms {} is out of range 10..=3600000",
                self.sample_interval_ms
            )));
        }
        for (name, ms) in [
            ("min_level_ms", self.min_level_ms),
            ("resignal_ms", self.resignal_ms),
        ] {
            if ms > 86_400_000 {
                return Err(invalid(format!(
                    "{name} {ms} is out of range 0..=86400000 (a day)"
                )));
            }
        }
        let p = &self.psi;
        for (name, t) in [
            ("psi.moderate (psi_moderate)", &p.moderate),
            ("psi.critical (psi_critical)", &p.critical),
            ("psi.emergency (psi_emergency)", &p.emergency),
        ] {
            t.validate(name)?;
        }
        let ascending = |name: &str, t: &LevelThresholds| {
            let ok = t.moderate > 0.0
                && t.moderate < t.critical
                && t.critical < t.emergency
                && t.emergency <= 1.0;
            if ok {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{name}: need 0 < moderate < critical < emergency <= 1, got {} {} {}",
                    t.moderate, t.critical, t.emergency
                )))
            }
        };
        ascending(
            "cgroup.usage (cgroup_moderate, cgroup_critical, cgroup_emergency)",
            &self.cgroup.usage,
        )?;
        let h = &self.headroom.available;
        let descending = h.moderate <= 1.0
            && h.moderate > h.critical
            && h.critical > h.emergency
            && h.emergency > 0.0;
        if !descending {
            return Err(invalid(format!(
                "headroom.available (headroom_moderate, headroom_critical, headroom_emergency): \
                 need 1 >= moderate > critical > emergency > 0, got {} {} {}",
                h.moderate, h.critical, h.emergency
            )));
        }
        let f = self.headroom.budget_fraction;
        if !(0.0..=1.0).contains(&f) {
            return Err(invalid(format!(
                "headroom.budget_fraction (budget_fraction) {f} is out of range 0..=1"
            )));
        }
        Ok(())
    }
}

/// What the monitor saw last.
#[derive(Clone, Debug, Default)]
pub struct MonitorStatus {
    /// The monitor thread is running.
    pub running: bool,
    /// The level last signalled (NONE before the first).
    pub level: MemoryPressureLevel,
    /// The highest level the sources read at the last sample.
    pub raw_level: MemoryPressureLevel,
    /// Signals sent to the stores since the start.
    pub signals: u64,
    /// Samples taken since the start.
    pub samples: u64,
    /// Kernel notifications received (PSI triggers, eventfds, memory.events).
    pub notifications: u64,
    /// When the last notification woke the monitor ([`crate::MonotonicClock`]
    /// nanoseconds, the stores' event timestamps); 0 = none yet.
    pub last_notification_ns: u64,
    /// When the last signal was sent (same clock); 0 = none yet.
    pub last_signal_ns: u64,
    /// One per [`SourceKind`], in [`SourceKind::ALL`] order.
    pub sources: Vec<SourceStatus>,
    /// What each source read when the last signal was sent (which source
    /// caused it), in [`SourceKind::ALL`] order.
    pub signal_levels: [MemoryPressureLevel; 4],
}

impl MonitorStatus {
    /// The status of one source.
    pub fn source(&self, kind: SourceKind) -> Option<&SourceStatus> {
        self.sources.iter().find(|s| s.kind == kind)
    }
}

/// The level of `value` against ascending thresholds (at or above each).
pub(crate) fn level_at_or_above(value: f64, t: &LevelThresholds) -> MemoryPressureLevel {
    if value >= t.emergency {
        MemoryPressureLevel::Emergency
    } else if value >= t.critical {
        MemoryPressureLevel::Critical
    } else if value >= t.moderate {
        MemoryPressureLevel::Moderate
    } else {
        MemoryPressureLevel::None
    }
}
