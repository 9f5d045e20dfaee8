//! Linux PSI: `/proc/pressure/memory`.
//!
//! Where the kernel allows it, one trigger per level is written (`some
//! 70000 2000000` = 70 ms of stall within any 2 s) and the monitor polls
//! the trigger fds for `POLLPRI`. Each sample also reads the `total`
//! counters and projects the stall since the last sample onto each
//! trigger's window, which is the whole source where triggers cannot be
//! written (state POLLING, with the reason).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::files::{ReadError, malformed, read_text, under};
use super::{PsiConfig, SourceKind, SourceState, SourceStatus};
use crate::MemoryPressureLevel;
use crate::error::{Error, ErrorKind};

/// PSI's two stall kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StallKind {
    /// Some task stalled on memory.
    Some = 0,
    /// Every non-idle task stalled at once.
    Full = 1,
}

/// A PSI trigger: `stall_us` of `kind` stall within any `window_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsiTrigger {
    /// `some` or `full`.
    pub kind: StallKind,
    /// Stall time that fires it, microseconds.
    pub stall_us: u64,
    /// The window, microseconds: 500 ms ..= 10 s, as the kernel requires.
    pub window_us: u64,
}

impl PsiTrigger {
    /// A trigger.
    pub const fn new(kind: StallKind, stall_us: u64, window_us: u64) -> Self {
        PsiTrigger {
            kind,
            stall_us,
            window_us,
        }
    }

    pub(crate) fn validate(&self, name: &str) -> Result<(), Error> {
        if !(500_000..=10_000_000).contains(&self.window_us)
            || self.stall_us == 0
            || self.stall_us > self.window_us
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{name}: need 500000 <= window_us <= 10000000 and 0 < stall_us <= window_us, got {} / {}",
                    self.stall_us, self.window_us
                ),
            ));
        }
        Ok(())
    }

    /// The line written to the PSI file.
    fn line(&self) -> String {
        let kind = match self.kind {
            StallKind::Some => "some",
            StallKind::Full => "full",
        };
        format!("{kind} {} {}", self.stall_us, self.window_us)
    }
}

/// One read of the PSI file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct PsiReading {
    pub some_avg10: f64,
    pub full_avg10: f64,
    pub some_total_us: u64,
    pub full_total_us: u64,
}

/// Parses `some avg10=.. avg60=.. avg300=.. total=..` and the `full` line
/// (older kernels have no `full` line for memory: it reads as 0).
pub(crate) fn parse(path: &Path, text: &str) -> Result<PsiReading, ReadError> {
    let mut r = PsiReading::default();
    let mut saw_some = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let (avg10, total) = match kind {
            Some("some") => {
                saw_some = true;
                (&mut r.some_avg10, &mut r.some_total_us)
            }
            Some("full") => (&mut r.full_avg10, &mut r.full_total_us),
            _ => continue,
        };
        let (mut got_avg, mut got_total) = (false, false);
        for w in words {
            if let Some(v) = w.strip_prefix("avg10=") {
                // A percentage: "inf", "nan" or 1e300 parse as floats, and
                // would read as stall beyond the window (EMERGENCY).
                *avg10 = v
                    .parse()
                    .ok()
                    .filter(|a: &f64| (0.0..=100.0).contains(a))
                    .ok_or_else(|| malformed(path, format!("bad avg10 {v:?}")))?;
                got_avg = true;
            } else if let Some(v) = w.strip_prefix("total=") {
                *total = v
                    .parse()
                    .map_err(|_| malformed(path, format!("bad total {v:?}")))?;
                got_total = true;
            }
        }
        if !(got_avg && got_total) {
            return Err(malformed(
                path,
                format!("line {line:?} lacks avg10= or total="),
            ));
        }
    }
    if !saw_some {
        return Err(malformed(path, "no `some` line"));
    }
    Ok(r)
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

fn is_procfs(file: &File) -> bool {
    // SAFETY: an all-zero statfs is a valid out-buffer; the fd is open.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes only into `s`.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut s) };
    rc == 0 && s.f_type as i64 == PROC_SUPER_MAGIC
}

/// How far back the readings go: the longest window a trigger may have
/// (`PsiTrigger::validate`: 10 s). At the shortest sample interval (10 ms)
/// that is 1,000 readings.
const HISTORY_NS: u64 = 10_000_000_000;

/// The stall totals of one reading, and when it was taken.
struct Totals {
    at_ns: u64,
    some_us: u64,
    full_us: u64,
}

/// The PSI source.
pub struct PsiSource {
    path: PathBuf,
    triggers: [(PsiTrigger, MemoryPressureLevel); 3],
    trigger_files: Vec<(File, MemoryPressureLevel)>,
    /// The readings of the last [`HISTORY_NS`] (and the one before), oldest
    /// first: what a trigger's window of stall is measured over when
    /// polling (`projected_stall_us`).
    history: VecDeque<Totals>,
    fired: MemoryPressureLevel,
    status: SourceStatus,
}

impl PsiSource {
    /// Opens the source below `fs_root`: absent without the file (or when
    /// disabled), ACTIVE with its triggers written, POLLING where they
    /// cannot be.
    pub fn open(fs_root: &Path, config: &PsiConfig) -> Self {
        let path = under(fs_root, "/proc/pressure/memory");
        let mut s = PsiSource {
            path: path.clone(),
            triggers: [
                (config.moderate, MemoryPressureLevel::Moderate),
                (config.critical, MemoryPressureLevel::Critical),
                (config.emergency, MemoryPressureLevel::Emergency),
            ],
            trigger_files: Vec::new(),
            history: VecDeque::new(),
            fired: MemoryPressureLevel::None,
            status: SourceStatus {
                kind: SourceKind::Psi,
                ..SourceStatus::default()
            },
        };
        if !config.enabled {
            s.status.detail = "disabled".into();
            return s;
        }
        if let Err(e) = read_text(&path) {
            s.status.state = if e.is_missing() {
                SourceState::Absent
            } else {
                SourceState::Failed
            };
            s.status.detail = e.to_string();
            return s;
        }
        if config.poll_only {
            s.status.state = SourceState::Polling;
            s.status.detail = format!("{}: totals polled (poll_only set)", path.display());
            return s;
        }
        match s.write_triggers() {
            Ok(()) => {
                s.status.state = SourceState::Active;
                s.status.detail = format!("{}: 3 triggers written", path.display());
            }
            Err(why) => {
                s.trigger_files.clear();
                s.status.state = SourceState::Polling;
                s.status.detail = format!(
                    "{}: triggers not written ({why}); totals polled instead",
                    path.display()
                );
            }
        }
        s
    }

    fn write_triggers(&mut self) -> Result<(), String> {
        for (trigger, level) in self.triggers {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&self.path)
                .map_err(|e| format!("open for writing: {e}"))?;
            if !is_procfs(&f) {
                return Err("not the kernel's procfs".into());
            }
            let mut line = trigger.line().into_bytes();
            line.push(0);
            f.write_all(&line)
                .map_err(|e| format!("writing {:?}: {e}", trigger.line()))?;
            self.trigger_files.push((f, level));
        }
        Ok(())
    }

    /// The fds to poll for `POLLPRI`.
    pub(crate) fn poll_fds(&self) -> Vec<RawFd> {
        self.trigger_files
            .iter()
            .map(|(f, _)| f.as_raw_fd())
            .collect()
    }

    /// A trigger fd fired: its level counts at the next sample. Returns
    /// whether `fd` was one of this source's.
    pub(crate) fn on_ready(&mut self, fd: RawFd) -> bool {
        let hit = self.trigger_files.iter().find(|(f, _)| f.as_raw_fd() == fd);
        match hit {
            Some((_, level)) => {
                self.fired = self.fired.max(*level);
                self.status.events += 1;
                true
            }
            None => false,
        }
    }

    /// Reads the file at `now_ns`; returns the level of this reading (and
    /// of any trigger fired since the last one).
    pub fn sample(&mut self, now_ns: u64) -> MemoryPressureLevel {
        if self.status.state == SourceState::Absent {
            return MemoryPressureLevel::None;
        }
        let fired = std::mem::replace(&mut self.fired, MemoryPressureLevel::None);
        let reading = match read_text(&self.path).and_then(|t| parse(&self.path, &t)) {
            Ok(r) => r,
            Err(e) => {
                self.status.state = SourceState::Failed;
                self.status.detail = e.to_string();
                self.status.level = fired;
                self.history.clear();
                return fired;
            }
        };
        if self.status.state == SourceState::Failed {
            self.status.state = if self.trigger_files.is_empty() {
                SourceState::Polling
            } else {
                SourceState::Active
            };
            self.status.detail = format!("{}: readable again", self.path.display());
        }
        let mut level = fired;
        for (trigger, l) in self.triggers {
            if self.projected_stall_us(&trigger, &reading, now_ns) >= trigger.stall_us as f64 {
                level = level.max(l);
            }
        }
        self.remember(now_ns, &reading);
        let s = &mut self.status;
        s.some_avg10 = reading.some_avg10;
        s.full_avg10 = reading.full_avg10;
        s.some_total_us = reading.some_total_us;
        s.full_total_us = reading.full_total_us;
        s.level = level;
        level
    }

    /// The stall within the trigger's window that ends now, from the
    /// readings kept: the total now less the total when the window began
    /// (between two readings, at the rate seen between them: a sample
    /// interval longer than the window gives that rate over the window).
    /// While the readings span less than a window, the stall they saw; with
    /// none yet, the avg10 rate over the window.
    fn projected_stall_us(&self, t: &PsiTrigger, now: &PsiReading, now_ns: u64) -> f64 {
        let (avg10, total) = match t.kind {
            StallKind::Some => (now.some_avg10, now.some_total_us),
            StallKind::Full => (now.full_avg10, now.full_total_us),
        };
        let of = |r: &Totals| match t.kind {
            StallKind::Some => r.some_us,
            StallKind::Full => r.full_us,
        };
        let Some(oldest) = self.history.front() else {
            return avg10 / 100.0 * t.window_us as f64;
        };
        let from = now_ns.saturating_sub(t.window_us.saturating_mul(1000));
        if oldest.at_ns >= from {
            return total.saturating_sub(of(oldest)) as f64;
        }
        // The last reading at or before `from`, and the one after it.
        let i = self.history.partition_point(|r| r.at_ns <= from);
        let before = &self.history[i - 1];
        let (after_ns, after_us) = self
            .history
            .get(i)
            .map_or((now_ns, total), |r| (r.at_ns, of(r)));
        let rise = after_us.saturating_sub(of(before)) as f64;
        let share = (from - before.at_ns) as f64 / (after_ns - before.at_ns) as f64;
        let at_from = of(before) as f64 + rise * share;
        (total as f64 - at_from).max(0.0)
    }

    /// Keeps `reading` for the windows to come, and only what they need.
    fn remember(&mut self, now_ns: u64, reading: &PsiReading) {
        // A clock that did not move keeps the earlier reading.
        if self.history.back().is_some_and(|r| r.at_ns >= now_ns) {
            return;
        }
        self.history.push_back(Totals {
            at_ns: now_ns,
            some_us: reading.some_total_us,
            full_us: reading.full_total_us,
        });
        let from = now_ns.saturating_sub(HISTORY_NS);
        while self.history.len() > 1 && self.history[1].at_ns <= from {
            self.history.pop_front();
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

    fn psi_text(some_avg10: f64, some_total: u64, full_avg10: f64, full_total: u64) -> String {
        format!(
            "some avg10={some_avg10:.2} avg60=0.00 avg300=0.00 total={some_total}\n\
             full avg10={full_avg10:.2} avg60=0.00 avg300=0.00 total={full_total}\n"
        )
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn absent_without_the_file_and_reads_none() {
        let tree = TempTree::new();
        let mut s = PsiSource::open(tree.root(), &PsiConfig::default());
        assert_eq!(s.status().state, SourceState::Absent);
        assert!(
            s.status().detail.contains("missing"),
            "{}",
            s.status().detail
        );
        assert_eq!(s.sample(0), None);
    }

    #[test]
    fn a_fake_file_is_polled_with_the_reason() {
        let tree = TempTree::new();
        tree.write("proc/pressure/memory", &psi_text(0.0, 0, 0.0, 0));
        let s = PsiSource::open(tree.root(), &PsiConfig::default());
        assert_eq!(s.status().state, SourceState::Polling);
        assert!(
            s.status().detail.contains("not the kernel's procfs"),
            "{}",
            s.status().detail
        );
        assert!(s.poll_fds().is_empty());
    }

    #[test]
    fn totals_map_to_the_three_levels_on_a_virtual_clock() {
        let tree = TempTree::new();
        tree.write("proc/pressure/memory", &psi_text(0.0, 1_000, 0.0, 0));
        let mut s = PsiSource::open(tree.root(), &PsiConfig::default());
        let mut now = 10 * MS;
        assert_eq!(s.sample(now), None);
        // 1 s later, 69 ms more `some` stall: under 70 ms per 2 s.
        now += 1000 * MS;
        tree.write("proc/pressure/memory", &psi_text(3.0, 70_000, 0.0, 0));
        assert_eq!(s.sample(now), None);
        // 30 ms in the next second: 99 ms in the last 2 s, MODERATE.
        now += 1000 * MS;
        tree.write("proc/pressure/memory", &psi_text(3.0, 100_000, 0.0, 0));
        assert_eq!(s.sample(now), Moderate);
        // 70 ms: 100 ms in the last 2 s, CRITICAL.
        now += 1000 * MS;
        tree.write("proc/pressure/memory", &psi_text(5.0, 170_000, 0.0, 0));
        assert_eq!(s.sample(now), Critical);
        // 100 ms of `full` stall: EMERGENCY.
        now += 1000 * MS;
        tree.write(
            "proc/pressure/memory",
            &psi_text(5.0, 270_000, 5.0, 100_000),
        );
        assert_eq!(s.sample(now), Emergency);
        assert_eq!(s.status().full_total_us, 100_000);
        assert_eq!(s.status().some_avg10, 5.0);
        // No new stall, but the last 2 s hold that `full` stall still.
        now += 1000 * MS;
        assert_eq!(s.sample(now), Emergency);
        // A second later they hold none: NONE.
        now += 1000 * MS;
        assert_eq!(s.sample(now), None);
        // Over 10 s, 400 ms of some stall is 80 ms per 2 s: MODERATE.
        now += 10_000 * MS;
        tree.write(
            "proc/pressure/memory",
            &psi_text(5.0, 670_000, 5.0, 100_000),
        );
        assert_eq!(s.sample(now), Moderate);
    }

    /// Sampled more often than the window (the monitor's interval may be
    /// 10 ms to 1 h; the default window is 2 s), a stall is summed over the
    /// window, not judged per sample: 60 ms of stall each second is 120 ms
    /// per 2 s, CRITICAL, at every interval (audit 4 saw NONE at 1 s and
    /// 100 ms, and NONE for a 100% stall sampled every 20-50 ms).
    #[test]
    fn a_stall_is_summed_over_the_window_at_any_sample_interval() {
        for interval_ms in [10u64, 20, 50, 100, 250, 1000, 2000, 5000] {
            let tree = TempTree::new();
            tree.write("proc/pressure/memory", &psi_text(0.0, 0, 0.0, 0));
            let mut s = PsiSource::open(tree.root(), &PsiConfig::default());
            let mut now = 0;
            assert_eq!(s.sample(now), None);
            // 60 ms of stall per second, for 12 s.
            let mut last = None;
            while now < 12_000 * MS {
                now += interval_ms * MS;
                let total = now / MS * 60; // us of stall so far
                tree.write("proc/pressure/memory", &psi_text(0.0, total, 0.0, 0));
                last = s.sample(now);
            }
            assert_eq!(last, Critical, "sampled every {interval_ms} ms");
            // A full stall (100%) reads EMERGENCY's `full` trigger too.
            let (mut some, mut full) = (now / MS * 60, 0);
            for _ in 0..(2000 / interval_ms).max(1) {
                now += interval_ms * MS;
                some += interval_ms * 1000;
                full += interval_ms * 1000;
                tree.write("proc/pressure/memory", &psi_text(0.0, some, 0.0, full));
                last = s.sample(now);
            }
            assert_eq!(last, Emergency, "sampled every {interval_ms} ms");
            // Two windows of no stall: NONE.
            for _ in 0..(4000 / interval_ms).max(2) {
                now += interval_ms * MS;
                last = s.sample(now);
            }
            assert_eq!(last, None, "sampled every {interval_ms} ms");
            assert!(s.history.len() <= 1002, "{} readings kept", s.history.len());
        }
    }

    #[test]
    fn the_first_reading_uses_avg10() {
        let tree = TempTree::new();
        // 4% of 2 s = 80 ms: MODERATE; 6% = 120 ms: CRITICAL.
        tree.write("proc/pressure/memory", &psi_text(4.0, 0, 0.0, 0));
        assert_eq!(
            PsiSource::open(tree.root(), &PsiConfig::default()).sample(0),
            Moderate
        );
        tree.write("proc/pressure/memory", &psi_text(6.0, 0, 6.0, 0));
        assert_eq!(
            PsiSource::open(tree.root(), &PsiConfig::default()).sample(0),
            Emergency
        );
    }

    #[test]
    fn an_average_that_is_no_percentage_is_malformed() {
        for bad in ["inf", "-inf", "nan", "NaN", "1e300", "100.01", "-0.5"] {
            let text = format!("some avg10={bad} avg60=0.00 avg300=0.00 total=0\n");
            let e = parse(Path::new("p"), &text).unwrap_err();
            assert!(e.to_string().contains("bad avg10"), "{bad}: {e}");
        }
        let ok = "some avg10=100.00 avg60=0.00 avg300=0.00 total=5\n";
        assert_eq!(parse(Path::new("p"), ok).unwrap().some_avg10, 100.0);
    }

    #[test]
    fn malformed_and_unreadable_files_fail_and_recover() {
        let tree = TempTree::new();
        tree.write("proc/pressure/memory", &psi_text(0.0, 0, 0.0, 0));
        let mut s = PsiSource::open(tree.root(), &PsiConfig::default());
        tree.write("proc/pressure/memory", "some avg10=x total=1\n");
        assert_eq!(s.sample(MS), None);
        assert_eq!(s.status().state, SourceState::Failed);
        assert!(
            s.status().detail.contains("malformed"),
            "{}",
            s.status().detail
        );
        tree.write("proc/pressure/memory", "full avg10=1.00 total=1\n");
        assert_eq!(s.sample(2 * MS), None);
        assert!(s.status().detail.contains("no `some` line"));
        tree.unreadable("proc/pressure/memory");
        assert_eq!(s.sample(3 * MS), None);
        assert!(
            s.status().detail.contains("cannot be read"),
            "{}",
            s.status().detail
        );
        tree.remove("proc/pressure/memory");
        tree.write("proc/pressure/memory", &psi_text(0.0, 0, 0.0, 0));
        assert_eq!(s.sample(4 * MS), None);
        assert_eq!(s.status().state, SourceState::Polling);
    }

    #[test]
    fn disabled_is_absent() {
        let tree = TempTree::new();
        tree.write("proc/pressure/memory", &psi_text(50.0, 0, 50.0, 0));
        let config = PsiConfig {
            enabled: false,
            ..PsiConfig::default()
        };
        let mut s = PsiSource::open(tree.root(), &config);
        assert_eq!(s.status().state, SourceState::Absent);
        assert_eq!(s.sample(0), None);
    }

    #[test]
    fn the_real_file_takes_triggers_or_says_why_not() {
        let path = Path::new("/proc/pressure/memory");
        if !path.exists() {
            println!("skipped: this kernel has no /proc/pressure/memory");
            return;
        }
        let mut s = PsiSource::open(Path::new("/"), &PsiConfig::default());
        match s.status().state {
            SourceState::Active => assert_eq!(s.poll_fds().len(), 3),
            SourceState::Polling => {
                assert!(s.status().detail.contains("triggers not written"));
                println!("PSI triggers refused here: {}", s.status().detail);
            }
            other => panic!("unexpected state {other:?}: {}", s.status().detail),
        }
        s.sample(1);
        assert_ne!(
            s.status().state,
            SourceState::Failed,
            "{}",
            s.status().detail
        );
    }

    #[test]
    fn a_trigger_the_kernel_refuses_falls_back_to_the_totals() {
        if !Path::new("/proc/pressure/memory").exists() {
            println!("skipped: this kernel has no /proc/pressure/memory");
            return;
        }
        // Without CAP_SYS_RESOURCE the kernel takes only windows that are a
        // multiple of 2 s: a 1 s window is refused there.
        let config = PsiConfig {
            moderate: PsiTrigger::new(StallKind::Some, 50_000, 1_000_000),
            ..PsiConfig::default()
        };
        let mut s = PsiSource::open(Path::new("/"), &config);
        match s.status().state {
            SourceState::Polling => {
                assert!(
                    s.status().detail.contains("some 50000 1000000"),
                    "{}",
                    s.status().detail
                );
                assert!(s.poll_fds().is_empty(), "no trigger fd is kept");
                println!("fallback here: {}", s.status().detail);
            }
            SourceState::Active => println!("this host takes 1 s windows (CAP_SYS_RESOURCE)"),
            other => panic!("unexpected state {other:?}: {}", s.status().detail),
        }
        s.sample(1);
        s.sample(2_000_000_000);
        assert_ne!(
            s.status().state,
            SourceState::Failed,
            "{}",
            s.status().detail
        );
    }
}
