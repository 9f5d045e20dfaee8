//! cgroup v2: the process's own cgroup (from `/proc/self/cgroup`'s `0::`
//! line), its `memory.events` counters and `memory.current` against
//! `memory.high` / `memory.max`.
//!
//! A rise of `oom` or `oom_kill` since the last sample reads EMERGENCY, of
//! `max` CRITICAL, of `high` MODERATE; usage against the lower limit reads
//! as the usage thresholds say. The monitor polls `memory.events` for
//! `POLLPRI` (the kernel notifies a change), so a counter rising wakes it
//! at once.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use super::files::{
    ReadError, keyed_u64, malformed, open_regular, own_cgroup, read_limit, read_text, read_u64,
    under, working_set,
};
use super::{CgroupConfig, SourceKind, SourceState, SourceStatus, level_at_or_above};
use crate::MemoryPressureLevel;

/// The `memory.events` counters that read as a level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    high: u64,
    max: u64,
    oom: u64,
    oom_kill: u64,
}

fn parse_events(path: &Path, text: &str) -> Result<Counters, ReadError> {
    let get = |k| keyed_u64(text, k).ok_or_else(|| malformed(path, format!("no `{k} N` line")));
    Ok(Counters {
        high: get("high")?,
        max: get("max")?,
        oom: get("oom")?,
        // Older kernels have no oom_kill line.
        oom_kill: keyed_u64(text, "oom_kill").unwrap_or(0),
    })
}

/// The cgroup v2 path of the process, from `/proc/self/cgroup`.
pub(crate) fn own_path(fs_root: &Path) -> Result<String, ReadError> {
    let file = under(fs_root, "/proc/self/cgroup");
    let text = read_text(&file)?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .ok_or(ReadError::NoLine(file))
}

/// The cgroup v2 source.
pub struct CgroupV2Source {
    dir: Option<PathBuf>,
    config: CgroupConfig,
    events_file: Option<File>,
    previous: Option<Counters>,
    status: SourceStatus,
}

impl CgroupV2Source {
    /// Finds the process's cgroup below `fs_root` (under `/sys/fs/cgroup`,
    /// or `/sys/fs/cgroup/unified` on a hybrid host); absent when the
    /// process has no v2 cgroup or it has no memory controller.
    pub fn open(fs_root: &Path, config: &CgroupConfig) -> Self {
        let mut s = CgroupV2Source {
            dir: None,
            config: config.clone(),
            events_file: None,
            previous: None,
            status: SourceStatus {
                kind: SourceKind::CgroupV2,
                ..SourceStatus::default()
            },
        };
        let Some(rel) = own_cgroup(
            fs_root,
            config.enabled,
            own_path,
            "no cgroup v2 line (0::) in /proc/self/cgroup",
            &mut s.status.detail,
        ) else {
            return s;
        };
        let candidates = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .map(|m| under(fs_root, m).join(rel.trim_start_matches('/')));
        let Some(dir) = candidates
            .iter()
            .find(|d| d.join("memory.current").exists())
        else {
            s.status.detail = format!(
                "cgroup v2 {rel:?} has no memory controller here (no memory.current in {})",
                candidates.map(|c| c.display().to_string()).join(" or ")
            );
            return s;
        };
        s.events_file = open_regular(&dir.join("memory.events")).ok();
        s.status.state = SourceState::Active;
        s.status.detail = dir.display().to_string();
        s.dir = Some(dir.clone());
        s
    }

    pub(crate) fn poll_fds(&self) -> Vec<RawFd> {
        self.events_file.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// `memory.events` changed: read it through the polled fd (which
    /// re-arms the notification). Returns whether `fd` was this source's.
    pub(crate) fn on_ready(&mut self, fd: RawFd) -> bool {
        let Some(f) = self.events_file.as_mut().filter(|f| f.as_raw_fd() == fd) else {
            return false;
        };
        let mut sink = String::new();
        let _ = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_string(&mut sink));
        true
    }

    /// Reads the files; returns the level of this reading.
    pub fn sample(&mut self, _now_ns: u64) -> MemoryPressureLevel {
        let Some(dir) = self.dir.clone() else {
            return MemoryPressureLevel::None;
        };
        match self.read(&dir) {
            Ok(level) => {
                if self.status.state == SourceState::Failed {
                    self.status.state = SourceState::Active;
                    self.status.detail = dir.display().to_string();
                }
                self.status.level = level;
                level
            }
            Err(e) => {
                self.status.state = SourceState::Failed;
                self.status.detail = e.to_string();
                self.status.level = MemoryPressureLevel::None;
                MemoryPressureLevel::None
            }
        }
    }

    fn read(&mut self, dir: &Path) -> Result<MemoryPressureLevel, ReadError> {
        let events_path = dir.join("memory.events");
        let counters = parse_events(&events_path, &read_text(&events_path)?)?;
        let usage = working_set(dir, read_u64(&dir.join("memory.current"))?);
        let high = read_limit(&dir.join("memory.high"))?;
        let max = read_limit(&dir.join("memory.max"))?;
        let limit = match (high, max) {
            (Some(h), Some(m)) => Some(h.min(m)),
            (h, m) => h.or(m),
        };
        let mut level = MemoryPressureLevel::None;
        if let Some(prev) = self.previous {
            if counters.oom > prev.oom || counters.oom_kill > prev.oom_kill {
                level = MemoryPressureLevel::Emergency;
            } else if counters.max > prev.max {
                level = MemoryPressureLevel::Critical;
            } else if counters.high > prev.high {
                level = MemoryPressureLevel::Moderate;
            }
        }
        self.previous = Some(counters);
        if let Some(limit) = limit.filter(|l| *l > 0) {
            level = level.max(level_at_or_above(
                usage as f64 / limit as f64,
                &self.config.usage,
            ));
        }
        let s = &mut self.status;
        s.usage_bytes = usage;
        s.limit_bytes = limit.unwrap_or(0);
        s.events = counters
            .high
            .saturating_add(counters.max)
            .saturating_add(counters.oom)
            .saturating_add(counters.oom_kill);
        Ok(level)
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
    use MemoryPressureLevel::*;

    const CG: &str = "sys/fs/cgroup/app.slice/game";

    fn tree_with_cgroup() -> TempTree {
        let t = TempTree::new();
        t.write("proc/self/cgroup", "0::/app.slice/game\n");
        set(
            &t,
            [0, 0, 0, 0],
            10 << 20,
            "max",
            &(100u64 << 20).to_string(),
        );
        t
    }

    /// Writes the cgroup's files: `[high, max, oom, oom_kill]` counters,
    /// memory.current, memory.high, memory.max.
    fn set(t: &TempTree, counters: [u64; 4], cur: u64, hi: &str, mx: &str) {
        let [high, max, oom, kill] = counters;
        t.write(
            &format!("{CG}/memory.events"),
            &format!("low 0\nhigh {high}\nmax {max}\noom {oom}\noom_kill {kill}\n"),
        );
        t.write(&format!("{CG}/memory.current"), &format!("{cur}\n"));
        t.write(&format!("{CG}/memory.high"), &format!("{hi}\n"));
        t.write(&format!("{CG}/memory.max"), &format!("{mx}\n"));
    }

    #[test]
    fn absent_without_a_v2_line_or_memory_controller() {
        let t = TempTree::new();
        let s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        t.write("proc/self/cgroup", "4:memory:/x\n");
        let s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert!(s.status().detail.contains("0::"), "{}", s.status().detail);
        t.write("proc/self/cgroup", "0::/\n");
        let s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert!(
            s.status().detail.contains("no memory controller"),
            "{}",
            s.status().detail
        );
    }

    #[test]
    fn usage_against_the_lower_limit() {
        let t = tree_with_cgroup();
        let mut s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Active);
        assert_eq!(s.sample(0), None);
        assert_eq!(s.status().usage_bytes, 10 << 20);
        assert_eq!(s.status().limit_bytes, 100 << 20);
        set(
            &t,
            [0, 0, 0, 0],
            80 << 20,
            "max",
            &(100u64 << 20).to_string(),
        );
        assert_eq!(s.sample(1), Moderate);
        // memory.high below memory.max is the limit that counts.
        set(
            &t,
            [0, 0, 0, 0],
            80 << 20,
            &(85u64 << 20).to_string(),
            &(100u64 << 20).to_string(),
        );
        assert_eq!(s.sample(2), Critical, "80 of 85 MiB is 0.94");
        assert_eq!(s.status().limit_bytes, 85 << 20);
        // No limit at all: usage alone says nothing.
        set(&t, [0, 0, 0, 0], 80 << 20, "max", "max");
        assert_eq!(s.sample(3), None);
        assert_eq!(s.status().limit_bytes, 0);
    }

    /// Counters near u64::MAX (a fake tree; no kernel gets there) add up
    /// without overflow: the total saturates (a debug build used to panic
    /// and end the monitor thread).
    #[test]
    fn huge_counters_saturate() {
        let t = tree_with_cgroup();
        let mut s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        set(&t, [u64::MAX, u64::MAX, 0, 1], 1 << 20, "max", "max");
        assert_eq!(s.sample(0), None);
        assert_eq!(s.status().events, u64::MAX);
    }

    #[test]
    fn rising_counters_read_as_levels_once() {
        let t = tree_with_cgroup();
        let mut s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        set(&t, [5, 2, 1, 1], 1 << 20, "max", "max");
        assert_eq!(s.sample(0), None, "the first sample is the baseline");
        set(&t, [6, 2, 1, 1], 1 << 20, "max", "max");
        assert_eq!(s.sample(1), Moderate);
        assert_eq!(s.sample(2), None, "no rise since");
        set(&t, [7, 3, 1, 1], 1 << 20, "max", "max");
        assert_eq!(s.sample(3), Critical);
        set(&t, [7, 3, 1, 2], 1 << 20, "max", "max");
        assert_eq!(s.sample(4), Emergency);
        assert_eq!(s.status().events, 7 + 3 + 1 + 2);
    }

    #[test]
    fn malformed_missing_and_unreadable_files_fail_then_recover() {
        let t = tree_with_cgroup();
        let mut s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        t.write(&format!("{CG}/memory.current"), "lots\n");
        assert_eq!(s.sample(0), None);
        assert_eq!(s.status().state, SourceState::Failed);
        assert!(s.status().detail.contains("malformed"));
        t.write(&format!("{CG}/memory.events"), "low 0\n");
        assert_eq!(s.sample(1), None);
        assert!(
            s.status().detail.contains("no `high N` line"),
            "{}",
            s.status().detail
        );
        t.unreadable(&format!("{CG}/memory.events"));
        assert_eq!(s.sample(2), None);
        assert!(
            s.status().detail.contains("cannot be read"),
            "{}",
            s.status().detail
        );
        t.remove(&format!("{CG}/memory.events"));
        assert_eq!(s.sample(3), None);
        assert!(
            s.status().detail.contains("missing"),
            "{}",
            s.status().detail
        );
        set(
            &t,
            [0, 0, 0, 0],
            95 << 20,
            "max",
            &(100u64 << 20).to_string(),
        );
        assert_eq!(s.sample(4), Critical);
        assert_eq!(s.status().state, SourceState::Active);
    }

    #[test]
    fn inactive_file_cache_is_not_counted() {
        let t = tree_with_cgroup();
        set(
            &t,
            [0, 0, 0, 0],
            95 << 20,
            "max",
            &(100u64 << 20).to_string(),
        );
        t.write(
            &format!("{CG}/memory.stat"),
            &format!("anon 1\ninactive_file {}\n", 30u64 << 20),
        );
        let mut s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(
            s.sample(0),
            None,
            "65 of 100 MiB once 30 MiB of cache is left out"
        );
        assert_eq!(s.status().usage_bytes, 65 << 20);
    }

    #[test]
    fn the_hybrid_layout_is_found() {
        let t = TempTree::new();
        t.write("proc/self/cgroup", "0::/svc\n");
        t.write("sys/fs/cgroup/unified/svc/memory.current", "1\n");
        let s = CgroupV2Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Active);
        assert!(
            s.status().detail.ends_with("unified/svc"),
            "{}",
            s.status().detail
        );
    }
}
