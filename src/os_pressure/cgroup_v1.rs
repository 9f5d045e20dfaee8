//! cgroup v1: the process's memory cgroup (from `/proc/self/cgroup`'s
//! `N:...memory...:path` line), `memory.usage_in_bytes` against
//! `memory.limit_in_bytes`, and the kernel's `memory.pressure_level`
//! notifications through eventfds registered in `cgroup.event_control`:
//! `low` reads MODERATE, `medium` CRITICAL, `critical` EMERGENCY (the
//! kernel's own words for it: "about to out of memory"), as does a rise of
//! `oom_kill` in `memory.oom_control`. Usage is the working set: usage
//! minus the inactive file cache of `memory.stat`.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::files::{
    ReadError, keyed_u64, open_regular, own_cgroup, read_text, read_u64, under, working_set,
};
use super::{CgroupConfig, SourceKind, SourceState, SourceStatus, level_at_or_above};
use crate::MemoryPressureLevel;

/// A v1 limit at or above this is "unlimited" (the kernel writes
/// `PAGE_COUNTER_MAX` pages rounded down, about 2^63).
const UNLIMITED: u64 = 1 << 62;

/// The memory cgroup v1 path of the process, from `/proc/self/cgroup`.
pub(crate) fn own_path(fs_root: &Path) -> Result<String, ReadError> {
    let file = under(fs_root, "/proc/self/cgroup");
    let text = read_text(&file)?;
    text.lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .ok_or(ReadError::NoLine(file))
}

const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;

fn is_cgroupfs(path: &Path) -> bool {
    let Ok(f) = open_regular(path) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid out-buffer; the fd is open.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes only into `s`.
    let rc = unsafe { libc::fstatfs(f.as_raw_fd(), &mut s) };
    rc == 0 && s.f_type as i64 == CGROUP_SUPER_MAGIC
}

/// The cgroup v1 source.
pub struct CgroupV1Source {
    dir: Option<PathBuf>,
    config: CgroupConfig,
    eventfds: Vec<(OwnedFd, MemoryPressureLevel)>,
    fired: MemoryPressureLevel,
    oom_kills: Option<u64>,
    status: SourceStatus,
}

impl CgroupV1Source {
    /// Finds the process's memory cgroup below `fs_root`
    /// (`/sys/fs/cgroup/memory/<path>`) and registers the pressure_level
    /// eventfds where the kernel offers them.
    pub fn open(fs_root: &Path, config: &CgroupConfig) -> Self {
        let mut s = CgroupV1Source {
            dir: None,
            config: config.clone(),
            eventfds: Vec::new(),
            fired: MemoryPressureLevel::None,
            oom_kills: None,
            status: SourceStatus {
                kind: SourceKind::CgroupV1,
                ..SourceStatus::default()
            },
        };
        let Some(rel) = own_cgroup(
            fs_root,
            config.enabled,
            own_path,
            "no memory controller line in /proc/self/cgroup",
            &mut s.status.detail,
        ) else {
            return s;
        };
        let dir = under(fs_root, "/sys/fs/cgroup/memory").join(rel.trim_start_matches('/'));
        if !dir.join("memory.usage_in_bytes").exists() {
            s.status.detail = format!(
                "memory cgroup v1 {rel:?} not mounted here (no {})",
                dir.join("memory.usage_in_bytes").display()
            );
            return s;
        }
        s.status.state = SourceState::Active;
        let notes = match s.register(&dir) {
            Ok(()) => "pressure_level eventfds registered".to_string(),
            Err(why) => {
                // Closing an eventfd unregisters it from the kernel.
                s.eventfds.clear();
                format!("no pressure_level notifications ({why}); usage polled")
            }
        };
        s.status.detail = format!("{}: {notes}", dir.display());
        s.dir = Some(dir);
        s
    }

    fn register(&mut self, dir: &Path) -> Result<(), String> {
        let control = dir.join("cgroup.event_control");
        let pressure = dir.join("memory.pressure_level");
        if !pressure.exists() || !control.exists() {
            return Err("memory.pressure_level or cgroup.event_control missing".into());
        }
        if !is_cgroupfs(&pressure) {
            return Err("not the kernel's cgroupfs".into());
        }
        let pressure_file =
            File::open(&pressure).map_err(|e| format!("opening memory.pressure_level: {e}"))?;
        for (name, level) in [
            ("low", MemoryPressureLevel::Moderate),
            ("medium", MemoryPressureLevel::Critical),
            ("critical", MemoryPressureLevel::Emergency),
        ] {
            // SAFETY: eventfd takes no pointers; a non-negative result is a
            // new fd that we own.
            let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if raw < 0 {
                return Err(format!("eventfd: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: `raw` is a fresh fd owned by nobody else.
            let efd = unsafe { OwnedFd::from_raw_fd(raw) };
            let line = format!("{} {} {name}", efd.as_raw_fd(), pressure_file.as_raw_fd());
            std::fs::OpenOptions::new()
                .write(true)
                .open(&control)
                .and_then(|mut c| c.write_all(line.as_bytes()))
                .map_err(|e| format!("writing cgroup.event_control: {e}"))?;
            self.eventfds.push((efd, level));
        }
        // The kernel holds its own reference to memory.pressure_level.
        Ok(())
    }

    pub(crate) fn poll_fds(&self) -> Vec<RawFd> {
        self.eventfds.iter().map(|(f, _)| f.as_raw_fd()).collect()
    }

    /// An eventfd fired: drain it; its level counts at the next sample.
    pub(crate) fn on_ready(&mut self, fd: RawFd) -> bool {
        let Some((_, level)) = self.eventfds.iter().find(|(f, _)| f.as_raw_fd() == fd) else {
            return false;
        };
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into `count` from an eventfd we own.
        let n = unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
        if n == 8 {
            self.fired = self.fired.max(*level);
            self.status.events = self.status.events.saturating_add(count);
        }
        true
    }

    /// Reads usage and limit; returns the level of this reading and of any
    /// notification since the last one.
    pub fn sample(&mut self, _now_ns: u64) -> MemoryPressureLevel {
        let fired = std::mem::replace(&mut self.fired, MemoryPressureLevel::None);
        let Some(dir) = self.dir.clone() else {
            return MemoryPressureLevel::None;
        };
        let read = read_u64(&dir.join("memory.usage_in_bytes"))
            .and_then(|u| Ok((u, read_u64(&dir.join("memory.limit_in_bytes"))?)));
        let level = match read {
            Ok((usage, limit)) => {
                if self.status.state == SourceState::Failed {
                    self.status.state = SourceState::Active;
                    self.status.detail = format!("{}: readable again", dir.display());
                }
                let limit = if limit >= UNLIMITED { 0 } else { limit };
                let usage = working_set(&dir, usage);
                self.status.usage_bytes = usage;
                self.status.limit_bytes = limit;
                let by_usage = if limit > 0 {
                    level_at_or_above(usage as f64 / limit as f64, &self.config.usage)
                } else {
                    MemoryPressureLevel::None
                };
                by_usage.max(fired).max(self.oom_killed(&dir))
            }
            Err(e) => {
                self.status.state = SourceState::Failed;
                self.status.detail = e.to_string();
                fired
            }
        };
        self.status.level = level;
        level
    }

    /// EMERGENCY when `oom_kill` of memory.oom_control rose since the
    /// last sample (kernels before 4.13 have no such line: never).
    fn oom_killed(&mut self, dir: &Path) -> MemoryPressureLevel {
        let now = read_text(&dir.join("memory.oom_control"))
            .ok()
            .and_then(|t| keyed_u64(&t, "oom_kill"));
        let before = std::mem::replace(&mut self.oom_kills, now);
        match (before, now) {
            (Some(b), Some(n)) if n > b => MemoryPressureLevel::Emergency,
            _ => MemoryPressureLevel::None,
        }
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

    const CG: &str = "sys/fs/cgroup/memory/process_api/abc";

    fn tree(usage: u64, limit: u64) -> TempTree {
        let t = TempTree::new();
        t.write(
            "proc/self/cgroup",
            "9:name=systemd:/\n5:cpu,cpuacct:/\n4:memory:/process_api/abc\n0::/\n",
        );
        write_usage(&t, usage, limit);
        t
    }

    fn write_usage(t: &TempTree, usage: u64, limit: u64) {
        t.write(
            &format!("{CG}/memory.usage_in_bytes"),
            &format!("{usage}\n"),
        );
        t.write(
            &format!("{CG}/memory.limit_in_bytes"),
            &format!("{limit}\n"),
        );
    }

    #[test]
    fn the_memory_line_is_found_among_joined_controllers() {
        let t = TempTree::new();
        t.write("proc/self/cgroup", "3:cpu,memory:/a/b\n");
        assert_eq!(own_path(t.root()), Ok("/a/b".to_string()));
        t.write("proc/self/cgroup", "3:memoryx:/a\n0::/\n");
        assert!(own_path(t.root()).unwrap_err().is_missing());
    }

    /// A cgroup-v2-only host: the file is there, without a memory line,
    /// and the detail says so (not that the file is missing).
    #[test]
    fn a_host_without_a_memory_line_is_told_apart_from_a_missing_file() {
        let t = TempTree::new();
        t.write("proc/self/cgroup", "0::/user.slice\n");
        let s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert_eq!(
            s.status().detail,
            "no memory controller line in /proc/self/cgroup"
        );
        let empty = TempTree::new();
        let s = CgroupV1Source::open(empty.root(), &CgroupConfig::default());
        assert!(s.status().detail.ends_with("/proc/self/cgroup is missing)"));
    }

    #[test]
    fn usage_against_the_limit_and_unlimited() {
        let t = tree(10 << 20, 100 << 20);
        let mut s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Active);
        assert!(
            s.status().detail.contains("missing"),
            "{}",
            s.status().detail
        );
        assert_eq!(s.sample(0), None);
        write_usage(&t, 81 << 20, 100 << 20);
        assert_eq!(s.sample(1), Moderate);
        write_usage(&t, 91 << 20, 100 << 20);
        assert_eq!(s.sample(2), Critical);
        write_usage(&t, 98 << 20, 100 << 20);
        assert_eq!(s.sample(3), Emergency);
        assert_eq!(s.status().usage_bytes, 98 << 20);
        write_usage(&t, 98 << 20, 9_223_372_036_854_771_712);
        assert_eq!(s.sample(4), None);
        assert_eq!(s.status().limit_bytes, 0, "unlimited reads as no limit");
    }

    #[test]
    fn working_set_and_oom_kills() {
        let t = tree(95 << 20, 100 << 20);
        t.write(
            &format!("{CG}/memory.stat"),
            &format!("cache 1\ntotal_inactive_file {}\n", 40u64 << 20),
        );
        t.write(
            &format!("{CG}/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        let mut s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.sample(0), None, "55 MiB of working set");
        assert_eq!(s.status().usage_bytes, 55 << 20);
        t.write(
            &format!("{CG}/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        assert_eq!(s.sample(1), Emergency, "a kill in the cgroup");
        assert_eq!(s.sample(2), None);
    }

    #[test]
    fn absent_without_the_controller_or_its_files() {
        let t = TempTree::new();
        let s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        t.write("proc/self/cgroup", "4:memory:/x\n");
        let mut s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert!(
            s.status().detail.contains("not mounted"),
            "{}",
            s.status().detail
        );
        assert_eq!(s.sample(0), None);
    }

    #[test]
    fn a_fake_tree_gets_no_notifications_and_says_why() {
        let t = tree(1, 2);
        t.write(&format!("{CG}/memory.pressure_level"), "");
        t.write(&format!("{CG}/cgroup.event_control"), "");
        let s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        assert!(s.poll_fds().is_empty());
        assert!(
            s.status().detail.contains("not the kernel's cgroupfs"),
            "{}",
            s.status().detail
        );
    }

    #[test]
    fn malformed_and_unreadable_fail_then_recover() {
        let t = tree(1, 100);
        let mut s = CgroupV1Source::open(t.root(), &CgroupConfig::default());
        t.write(&format!("{CG}/memory.limit_in_bytes"), "-1\n");
        assert_eq!(s.sample(0), None);
        assert_eq!(s.status().state, SourceState::Failed);
        assert!(
            s.status().detail.contains("malformed"),
            "{}",
            s.status().detail
        );
        t.unreadable(&format!("{CG}/memory.usage_in_bytes"));
        assert_eq!(s.sample(1), None);
        assert!(
            s.status().detail.contains("cannot be read"),
            "{}",
            s.status().detail
        );
        t.remove(&format!("{CG}/memory.usage_in_bytes"));
        write_usage(&t, 95, 100);
        assert_eq!(s.sample(2), Critical);
        assert_eq!(s.status().state, SourceState::Active);
    }

    #[test]
    fn the_real_cgroup_is_read_where_the_host_has_v1() {
        let mut s = CgroupV1Source::open(Path::new("/"), &CgroupConfig::default());
        if s.status().state == SourceState::Absent {
            println!("skipped: no memory cgroup v1 here: {}", s.status().detail);
            return;
        }
        s.sample(0);
        assert_eq!(
            s.status().state,
            SourceState::Active,
            "{}",
            s.status().detail
        );
        assert!(s.status().usage_bytes > 0);
        println!("cgroup v1 here: {}", s.status().detail);
    }
}
