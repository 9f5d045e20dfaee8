//! The process-wide OS pressure monitor, end to end: against a fake `/proc`
//! and cgroup tree in a temp folder, and against this host's real files.
//! The monitor is one per process, so these tests take turns.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nexus_store::os_pressure::{self, MonitorConfig, MonitorStatus, SourceKind, SourceState};
use nexus_store::{
    ByteSizeEstimator, ErrorKind, EventKind, EvictionReason, MemoryConfig, MemoryPressureLevel,
    Store, signal_pressure_all,
};
use parking_lot::Mutex;

static TURN: Mutex<()> = Mutex::new(());

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let root =
            std::env::temp_dir().join(format!("nexus-os-monitor-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Tree(root)
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        // Write then rename: the monitor never reads half a file.
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, p).unwrap();
    }
    /// A cgroup v1 host with `usage` of a 100 MiB limit and plenty of RAM.
    fn v1_host(name: &str, usage_mib: u64) -> Tree {
        let t = Tree::new(name);
        t.write("proc/self/cgroup", "4:memory:/job\n0::/\n");
        t.write(
            "proc/meminfo",
            "MemTotal: 16000000 kB\nMemAvailable: 15000000 kB\n",
        );
        t.write(
            "sys/fs/cgroup/memory/job/memory.limit_in_bytes",
            &format!("{}\n", 100u64 << 20),
        );
        t.set_usage(usage_mib);
        t
    }
    fn set_usage(&self, mib: u64) {
        self.write(
            "sys/fs/cgroup/memory/job/memory.usage_in_bytes",
            &format!("{}\n", mib << 20),
        );
    }
    fn root(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fast(root: &Path) -> MonitorConfig {
    MonitorConfig {
        fs_root: root.to_path_buf(),
        sample_interval_ms: 10,
        min_level_ms: 50,
        resignal_ms: 0,
        ..MonitorConfig::default()
    }
}

/// Waits (bounded: a hang fails the test) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn store_with(entries: usize) -> Store<String, Vec<u8>> {
    let store =
        Store::with_estimator(MemoryConfig::with_max_bytes(64 << 20), ByteSizeEstimator).unwrap();
    for i in 0..entries {
        store.put(format!("k{i}"), vec![0u8; 1000]).unwrap();
    }
    store
}

fn state(s: &MonitorStatus, kind: SourceKind) -> SourceState {
    s.source(kind).unwrap().state
}

fn reset() {
    os_pressure::stop_monitor();
    signal_pressure_all(MemoryPressureLevel::None);
}

#[test]
fn fake_cgroup_v1_usage_moves_stores_up_and_back_to_none() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("levels", 10);
    let store = store_with(100);
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    let s = os_pressure::monitor_status();
    assert!(s.running);
    assert_eq!(state(&s, SourceKind::Psi), SourceState::Absent);
    assert_eq!(state(&s, SourceKind::CgroupV2), SourceState::Absent);
    assert_eq!(state(&s, SourceKind::CgroupV1), SourceState::Active);
    assert_eq!(state(&s, SourceKind::Headroom), SourceState::Active);

    wait_until("a first sample", || {
        os_pressure::monitor_status().samples > 0
    });
    assert_eq!(store.pressure_level(), MemoryPressureLevel::None);
    assert_eq!(store.metrics().entry_count, 100);

    tree.set_usage(91);
    // The level changes when the signal starts; its shed runs after it on
    // the monitor thread, so wait for that too (the entries read while it
    // ran were once all 100).
    wait_until("CRITICAL reaches the store and its shed ends", || {
        store.pressure_level() == MemoryPressureLevel::Critical && store.metrics().entry_count <= 50
    });
    let left = store.metrics().entry_count;
    assert!(
        (45..=50).contains(&left),
        "CRITICAL keeps half the usage: {left} left"
    );
    let s = os_pressure::monitor_status();
    assert_eq!(s.level, MemoryPressureLevel::Critical);
    assert_eq!(
        s.signal_levels,
        [
            MemoryPressureLevel::None,
            MemoryPressureLevel::None,
            MemoryPressureLevel::Critical,
            MemoryPressureLevel::Moderate
        ],
        "cgroup v1 (91%) caused the signal; the headroom (9% left) reads MODERATE"
    );
    let v1 = s.source(SourceKind::CgroupV1).unwrap();
    assert_eq!(v1.usage_bytes, 91 << 20);
    assert_eq!(v1.limit_bytes, 100 << 20);
    // The cgroup's room (9 of 100 MiB) is the headroom.
    assert_eq!(
        s.source(SourceKind::Headroom).unwrap().available_bytes,
        9 << 20
    );

    tree.set_usage(5);
    wait_until("NONE after the minimum time", || {
        store.pressure_level() == MemoryPressureLevel::None
    });
    let s = os_pressure::monitor_status();
    assert_eq!(s.level, MemoryPressureLevel::None);
    assert!(s.signals >= 2, "CRITICAL then NONE: {}", s.signals);
    assert!(os_pressure::stop_monitor());
    reset();
}

#[test]
fn a_store_created_later_starts_at_the_monitors_level() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("later", 82);
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    wait_until("MODERATE signalled", || {
        os_pressure::monitor_status().signals >= 1
    });
    let store = store_with(0);
    assert_eq!(store.pressure_level(), MemoryPressureLevel::Moderate);
    reset();
}

#[test]
fn start_twice_is_busy_and_stop_twice_is_harmless() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("twice", 1);
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    let e = os_pressure::start_monitor(fast(tree.root())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy);
    assert!(e.message().contains("already running"), "{}", e.message());
    assert!(
        os_pressure::monitor_status().running,
        "the first keeps running"
    );
    assert!(os_pressure::stop_monitor());
    assert!(!os_pressure::stop_monitor());
    let s = os_pressure::monitor_status();
    assert!(!s.running);
    assert_eq!(s.sources.len(), 4, "the last readings stay readable");
    // And it starts again.
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    assert!(os_pressure::stop_monitor());
    reset();
}

#[test]
fn an_invalid_config_starts_nothing() {
    let _turn = TURN.lock();
    reset();
    let mut c = MonitorConfig {
        sample_interval_ms: 0,
        ..MonitorConfig::default()
    };
    let e = os_pressure::start_monitor(c.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message().contains("sample_interval_ms"),
        "{}",
        e.message()
    );
    c.sample_interval_ms = 100;
    c.psi.moderate.window_us = 100;
    let e = os_pressure::start_monitor(c.clone()).unwrap_err();
    assert!(e.message().contains("psi.moderate"), "{}", e.message());
    assert!(
        e.message().contains("(psi_moderate)"),
        "the C name: {}",
        e.message()
    );
    c = MonitorConfig::default();
    c.resignal_ms = 86_400_001;
    let e = os_pressure::start_monitor(c).unwrap_err();
    assert!(
        e.message().contains("resignal_ms 86400001 is out of range"),
        "{}",
        e.message()
    );
    c = MonitorConfig::default();
    c.cgroup.usage.critical = 0.5;
    let e = os_pressure::start_monitor(c).unwrap_err();
    assert!(e.message().contains("cgroup_critical"), "{}", e.message());
    assert!(!os_pressure::stop_monitor(), "nothing was started");
}

#[test]
fn stop_from_a_store_callback_on_the_monitor_thread() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("callback", 1);
    let store = store_with(10);
    let stops = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&stops);
    store.set_event_callback(Some(Arc::new(move |e: &nexus_store::Event| {
        if e.kind == EventKind::Eviction && e.reason == EvictionReason::Pressure {
            let on_monitor = std::thread::current().name() == Some("nexus-monitor");
            if on_monitor && os_pressure::stop_monitor() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    })));
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    tree.set_usage(99);
    wait_until("the callback stopped the monitor", || {
        stops.load(Ordering::SeqCst) == 1
    });
    wait_until("the monitor reports stopped", || {
        !os_pressure::monitor_status().running
    });
    assert!(!os_pressure::stop_monitor(), "already stopped");
    assert_eq!(store.pressure_level(), MemoryPressureLevel::Emergency);
    // A new monitor can start at once.
    os_pressure::start_monitor(fast(tree.root())).unwrap();
    assert!(os_pressure::stop_monitor());
    store.set_event_callback(None);
    reset();
}

#[test]
fn headroom_budget_reaches_on_budget() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("budget", 60);
    let got = Arc::new(Mutex::new(Vec::<u64>::new()));
    let sink = Arc::clone(&got);
    let mut c = fast(tree.root());
    c.headroom.budget_fraction = 0.5;
    c.headroom.budget_floor_bytes = 4 << 20;
    c.on_budget = Some(Arc::new(move |b| sink.lock().push(b)));
    os_pressure::start_monitor(c).unwrap();
    wait_until("a first budget", || !got.lock().is_empty());
    assert_eq!(got.lock()[0], 20 << 20, "half of the 40 MiB room");
    tree.set_usage(98);
    wait_until("the floor", || got.lock().last() == Some(&(4 << 20)));
    reset();
}

#[test]
fn headroom_budget_can_drive_the_stores_budgets() {
    let _turn = TURN.lock();
    reset();
    let tree = Tree::v1_host("budget-apply", 60);
    let store: Store<String, Vec<u8>> =
        Store::with_estimator(MemoryConfig::with_max_bytes(64 << 20), ByteSizeEstimator).unwrap();
    let mut c = fast(tree.root());
    c.headroom.budget_fraction = 0.5;
    c.headroom.budget_floor_bytes = 4 << 20;
    c.headroom.apply_budget = true;
    os_pressure::start_monitor(c).unwrap();
    wait_until("the store at half of the 40 MiB room", || {
        store.config().max_cache_bytes == 20 << 20
    });
    tree.set_usage(98);
    wait_until("the store at the floor", || {
        store.config().max_cache_bytes == 4 << 20
    });
    assert_eq!(store.metrics().max_cache_bytes, 4 << 20);
    // A store created while the monitor runs starts with the budget it gave
    // last (audit 9: it kept its own until the next move).
    let later: Store<String, Vec<u8>> =
        Store::with_estimator(MemoryConfig::with_max_bytes(64 << 20), ByteSizeEstimator).unwrap();
    assert_eq!(later.config().max_cache_bytes, 4 << 20);
    // Once the monitor has stopped, new stores keep their own.
    assert!(os_pressure::stop_monitor());
    let after: Store<String, Vec<u8>> =
        Store::with_estimator(MemoryConfig::with_max_bytes(64 << 20), ByteSizeEstimator).unwrap();
    assert_eq!(after.config().max_cache_bytes, 64 << 20);
    assert_eq!(
        store.config().max_cache_bytes,
        4 << 20,
        "the live ones keep what they were given"
    );
    reset();
}

#[test]
fn the_real_host_starts_reads_and_stops() {
    let _turn = TURN.lock();
    reset();
    let config = MonitorConfig {
        sample_interval_ms: 20,
        ..MonitorConfig::default()
    };
    os_pressure::start_monitor(config).unwrap();
    wait_until("two samples", || os_pressure::monitor_status().samples >= 2);
    let s = os_pressure::monitor_status();
    for src in &s.sources {
        println!(
            "{:?}: {:?} level {:?} ({})",
            src.kind, src.state, src.level, src.detail
        );
        assert_ne!(src.state, SourceState::Failed, "{}", src.detail);
    }
    if Path::new("/proc/pressure/memory").exists() {
        let psi = s.source(SourceKind::Psi).unwrap();
        assert!(
            matches!(psi.state, SourceState::Active | SourceState::Polling),
            "{:?}",
            psi.state
        );
        if psi.state == SourceState::Polling {
            println!("PSI fallback in use: {}", psi.detail);
        }
    }
    assert!(s.source(SourceKind::Headroom).unwrap().total_bytes > 0);
    assert!(os_pressure::stop_monitor());
    assert!(!os_pressure::monitor_status().running);
    reset();
}

/// A real cgroup with a memory limit (as root, where the host has a
/// memory controller): a child streams file writes into it, the kernel
/// reclaims its page cache and notifies, and the monitor reports at least
/// MODERATE. The monitor watches the child's cgroup through a root whose
/// `proc/self/cgroup` names it and whose `sys` and `proc/pressure` are the
/// host's own (symlinks), so this test process stays where it is.
#[test]
fn a_child_under_a_real_memory_limit_raises_the_level() {
    let _turn = TURN.lock();
    reset();
    let Some(cg) = RealCgroup::make(64 << 20) else {
        return;
    };
    let tree = Tree::new("real");
    tree.write("proc/self/cgroup", &cg.self_cgroup_line);
    tree.write(
        "proc/meminfo",
        &std::fs::read_to_string("/proc/meminfo").unwrap(),
    );
    std::os::unix::fs::symlink("/proc/pressure", tree.root().join("proc/pressure")).unwrap();
    std::fs::create_dir_all(tree.root().join("sys/fs")).unwrap();
    std::os::unix::fs::symlink("/sys/fs/cgroup", tree.root().join("sys/fs/cgroup")).unwrap();
    let config = MonitorConfig {
        fs_root: tree.root().to_path_buf(),
        sample_interval_ms: 50,
        min_level_ms: 60_000,
        ..MonitorConfig::default()
    };
    os_pressure::start_monitor(config).unwrap();
    let kind = cg.kind;
    let s = os_pressure::monitor_status();
    assert_eq!(
        state(&s, kind),
        SourceState::Active,
        "{}",
        s.source(kind).unwrap().detail
    );
    println!("{:?}: {}", kind, s.source(kind).unwrap().detail);

    let file = std::env::temp_dir().join(format!("nexus-e2e-{}.bin", std::process::id()));
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec dd if=/dev/zero of={} bs=1M count=320 status=none",
        cg.dir.display(),
        file.display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut exited_at = None;
    while os_pressure::monitor_status().level < MemoryPressureLevel::Moderate {
        if exited_at.is_none()
            && let Some(status) = child.try_wait().unwrap()
        {
            if !status.success() {
                println!("skipped: the child could not enter the cgroup or write ({status})");
                let _ = std::fs::remove_file(&file);
                reset();
                return;
            }
            exited_at = Some(Instant::now());
        }
        let late = exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5));
        assert!(
            Instant::now() < deadline && !late,
            "no level after the child wrote 320 MiB under a 64 MiB limit: {:?}",
            os_pressure::monitor_status()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let s = os_pressure::monitor_status();
    let src = s.source(kind).unwrap();
    println!(
        "level {:?} from {:?}: working set {} of {} bytes, {} kernel events, {} notifications",
        s.level, kind, src.usage_bytes, src.limit_bytes, src.events, s.notifications
    );
    let _ = child.wait();
    let _ = std::fs::remove_file(&file);
    reset();
}

/// A memory cgroup made for one test, removed on drop.
struct RealCgroup {
    dir: PathBuf,
    kind: SourceKind,
    self_cgroup_line: String,
}

impl RealCgroup {
    /// `None` (with the reason printed) where the test cannot make one.
    fn make(limit: u64) -> Option<RealCgroup> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: not root, so no cgroup can be made");
            return None;
        }
        let name = format!("nexus-e2e-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let v2_memory = std::fs::read_to_string(v2.join("cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"));
        let (dir, kind, line, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (
                v1.join(&name),
                SourceKind::CgroupV1,
                format!("4:memory:/{name}\n"),
                "memory.limit_in_bytes",
            )
        } else if v2_memory {
            (
                v2.join(&name),
                SourceKind::CgroupV2,
                format!("0::/{name}\n"),
                "memory.max",
            )
        } else {
            println!("skipped: no memory cgroup controller (v1 or v2) to make a cgroup with");
            return None;
        };
        if let Err(e) = std::fs::create_dir(&dir) {
            println!("skipped: cannot make {}: {e}", dir.display());
            return None;
        }
        let cg = RealCgroup {
            dir,
            kind,
            self_cgroup_line: line,
        };
        if let Err(e) = std::fs::write(cg.dir.join(limit_file), limit.to_string()) {
            println!("skipped: cannot set {limit_file}: {e}");
            return None;
        }
        Some(cg)
    }
}

impl Drop for RealCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
