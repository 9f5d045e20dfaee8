//! Headroom: `MemAvailable` of `/proc/meminfo`, or the cgroup's remaining
//! room when that is lower, as a fraction of `MemTotal` (or of the cgroup
//! limit when lower). Optionally proposes a budget: `max(floor, fraction x
//! available)`.

use std::path::{Path, PathBuf};

use super::files::{ReadError, keyed_u64, malformed, read_text, under};
use super::{HeadroomConfig, SourceKind, SourceState, SourceStatus};
use crate::MemoryPressureLevel;

fn parse_meminfo(path: &Path, text: &str) -> Result<(u64, u64), ReadError> {
    let kib = |k: &str| {
        keyed_u64(text, k)
            .map(|v| v.saturating_mul(1024))
            .ok_or_else(|| malformed(path, format!("no `{k} N kB` line")))
    };
    let total = kib("MemTotal:")?;
    // No kernel says 0: a fraction of nothing would read as no memory
    // left at all (EMERGENCY, every store shedding all it can).
    if total == 0 {
        return Err(malformed(path, "MemTotal is 0"));
    }
    Ok((kib("MemAvailable:")?, total))
}

/// The headroom source.
pub struct HeadroomSource {
    path: PathBuf,
    config: HeadroomConfig,
    status: SourceStatus,
}

impl HeadroomSource {
    /// Absent without `/proc/meminfo` (or a `MemAvailable` line) or when
    /// disabled.
    pub fn open(fs_root: &Path, config: &HeadroomConfig) -> Self {
        let path = under(fs_root, "/proc/meminfo");
        let mut s = HeadroomSource {
            path: path.clone(),
            config: config.clone(),
            status: SourceStatus {
                kind: SourceKind::Headroom,
                ..SourceStatus::default()
            },
        };
        if !config.enabled {
            s.status.detail = "disabled".into();
            return s;
        }
        match read_text(&path) {
            Err(e) if e.is_missing() => s.status.detail = e.to_string(),
            Ok(t) if !t.contains("MemAvailable:") => {
                s.status.detail = format!("{} has no MemAvailable (kernel < 3.14)", path.display())
            }
            _ => {
                s.status.state = SourceState::Active;
                s.status.detail = path.display().to_string();
            }
        }
        s
    }

    /// Reads `/proc/meminfo`; `cgroup` is the cgroup's (usage, limit) when
    /// it has a limit. Returns the level of this reading.
    pub fn sample(&mut self, _now_ns: u64, cgroup: Option<(u64, u64)>) -> MemoryPressureLevel {
        if self.status.state == SourceState::Absent {
            return MemoryPressureLevel::None;
        }
        let (mut available, mut total) =
            match read_text(&self.path).and_then(|t| parse_meminfo(&self.path, &t)) {
                Ok(v) => v,
                Err(e) => {
                    self.status.state = SourceState::Failed;
                    self.status.detail = e.to_string();
                    self.status.level = MemoryPressureLevel::None;
                    return MemoryPressureLevel::None;
                }
            };
        if self.status.state == SourceState::Failed {
            self.status.state = SourceState::Active;
            self.status.detail = self.path.display().to_string();
        }
        if let Some((usage, limit)) = cgroup.filter(|(_, l)| *l > 0) {
            available = available.min(limit.saturating_sub(usage));
            total = total.min(limit);
        }
        let t = &self.config.available;
        let fraction = if total == 0 {
            0.0
        } else {
            available as f64 / total as f64
        };
        let level = if fraction <= t.emergency {
            MemoryPressureLevel::Emergency
        } else if fraction <= t.critical {
            MemoryPressureLevel::Critical
        } else if fraction <= t.moderate {
            MemoryPressureLevel::Moderate
        } else {
            MemoryPressureLevel::None
        };
        let s = &mut self.status;
        s.available_bytes = available;
        s.total_bytes = total;
        s.budget_bytes = if self.config.budget_fraction > 0.0 {
            ((available as f64 * self.config.budget_fraction) as u64)
                .max(self.config.budget_floor_bytes)
        } else {
            0
        };
        s.level = level;
        level
    }

    /// The last reading.
    pub fn status(&self) -> &SourceStatus {
        &self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os_pressure::testing::TempTree;
    use MemoryPressureLevel::{Critical, Emergency, Moderate};

    fn meminfo(t: &TempTree, available_kib: u64, total_kib: u64) {
        t.write(
            "proc/meminfo",
            &format!(
                "MemTotal:       {total_kib} kB\nMemFree:        1 kB\nMemAvailable:   {available_kib} kB\n"
            ),
        );
    }

    #[test]
    fn available_fraction_maps_to_levels() {
        let t = TempTree::new();
        meminfo(&t, 500_000, 1_000_000);
        let mut s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        assert_eq!(s.status().state, SourceState::Active);
        assert_eq!(s.sample(0, None), MemoryPressureLevel::None);
        assert_eq!(s.status().available_bytes, 500_000 * 1024);
        meminfo(&t, 100_000, 1_000_000);
        assert_eq!(s.sample(1, None), Moderate);
        meminfo(&t, 50_000, 1_000_000);
        assert_eq!(s.sample(2, None), Critical);
        meminfo(&t, 20_000, 1_000_000);
        assert_eq!(s.sample(3, None), Emergency);
    }

    #[test]
    fn a_total_of_zero_is_malformed_not_emergency() {
        let t = TempTree::new();
        meminfo(&t, 0, 0);
        let mut s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        assert_eq!(s.sample(0, None), MemoryPressureLevel::None);
        assert_eq!(s.status().state, SourceState::Failed);
        assert!(s.status().detail.contains("MemTotal is 0"));
        meminfo(&t, 500_000, 1_000_000);
        assert_eq!(s.sample(1, None), MemoryPressureLevel::None);
        assert_eq!(s.status().state, SourceState::Active);
    }

    #[test]
    fn the_cgroup_room_counts_when_lower() {
        let t = TempTree::new();
        meminfo(&t, 900_000, 1_000_000);
        let mut s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        // 100 MiB limit, 96 MiB used: 4% room left.
        assert_eq!(s.sample(0, Some((96 << 20, 100 << 20))), Critical);
        assert_eq!(s.status().available_bytes, 4 << 20);
        assert_eq!(s.status().total_bytes, 100 << 20);
        // A limit of 0 (none) is ignored.
        assert_eq!(s.sample(1, Some((96 << 20, 0))), MemoryPressureLevel::None);
    }

    #[test]
    fn budget_follows_headroom_above_the_floor() {
        let t = TempTree::new();
        meminfo(&t, 400_000, 1_000_000);
        let config = HeadroomConfig {
            budget_fraction: 0.25,
            budget_floor_bytes: 64 << 20,
            ..HeadroomConfig::default()
        };
        let mut s = HeadroomSource::open(t.root(), &config);
        s.sample(0, None);
        assert_eq!(s.status().budget_bytes, 100_000 * 1024);
        meminfo(&t, 100_000, 1_000_000);
        s.sample(1, None);
        assert_eq!(s.status().budget_bytes, 64 << 20, "never below the floor");
    }

    #[test]
    fn missing_malformed_and_old_kernels() {
        let t = TempTree::new();
        let s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        t.write("proc/meminfo", "MemTotal: 10 kB\n");
        let s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert!(s.status().detail.contains("no MemAvailable"));
        meminfo(&t, 1, 10);
        let mut s = HeadroomSource::open(t.root(), &HeadroomConfig::default());
        t.write("proc/meminfo", "MemTotal: 10 kB\nMemAvailable: x kB\n");
        assert_eq!(s.sample(0, None), MemoryPressureLevel::None);
        assert_eq!(s.status().state, SourceState::Failed);
        assert!(
            s.status().detail.contains("malformed"),
            "{}",
            s.status().detail
        );
        meminfo(&t, 1, 1000);
        assert_eq!(s.sample(1, None), Emergency);
        assert_eq!(s.status().state, SourceState::Active);
    }
}
