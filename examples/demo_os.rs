//! `make demo-os`: the OS pressure monitor on real kernel readings.
//!
//! As root on Linux, it makes a memory cgroup with a 256 MiB limit (v1, or
//! v2 where the memory controller is there), moves itself into it, fills a
//! store with 64 MiB, starts the process-wide monitor and a child that
//! allocates memory step by step (anonymous memory to ~93% of the limit,
//! then a stream of file writes whose page cache the kernel must reclaim).
//! It prints the monitor's readings, the levels it entered and what the
//! store shed, draws `target/demo-os/chart.svg`, and removes the cgroup.
//! Where the host does not allow it (not root, no writable memory cgroup,
//! not Linux) it says exactly why and exits 0.
//!
//! Other modes (the figures of the README's "OS pressure" section):
//! - `--latency N`: N runs of the file-write phase alone; for each, the time
//!   from the kernel's notification waking the monitor to the store's shed
//!   (its EVICTION event); prints the median and the worst.
//! - `--idle-cpu SECONDS`: the monitor thread's CPU time while idle, read
//!   from `/proc/self/task/<tid>/stat`, at the default 1 s sample interval
//!   and at 100 ms.
//! - `--child DIR LIMIT FILE MODE` is the allocating child (internal).

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("demo-os: cannot run here: the OS pressure monitor reads Linux PSI and cgroups");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt::Write as _;
    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use nexus_store::os_pressure::{self, MonitorConfig, SourceKind, SourceState};
    use nexus_store::{
        Event, EventKind, EvictionReason, MemoryConfig, MemoryPressureLevel, Store,
        signal_pressure_all,
    };

    const MIB: u64 = 1 << 20;
    const LIMIT: u64 = 256 * MIB;
    const VALUE_BYTES: usize = 256 * 1024; // above malloc's mmap threshold: freed at once
    const STORE_FILL: u64 = 64 * MIB;

    fn mib(b: u64) -> f64 {
        b as f64 / MIB as f64
    }

    // ---- the cgroup made for the run ------------------------------------------

    struct Cgroup {
        dir: PathBuf,
        home: PathBuf,
    }

    /// The cgroup for the run, or why there can be none here.
    fn make_cgroup() -> Result<Cgroup, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: making a memory cgroup needs root".into());
        }
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let pid = std::process::id();
        // cgroup v1 memory controller.
        let v1_line = own.lines().find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctl, path) = (p.next()?, p.next()?, p.next()?);
            ctl.split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        });
        let v1_root = Path::new("/sys/fs/cgroup/memory");
        if let Some(path) = v1_line.filter(|_| v1_root.join("memory.limit_in_bytes").exists()) {
            let dir = v1_root.join(format!("nexus-demo-os-{pid}"));
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            let cg = Cgroup {
                dir,
                home: v1_root.join(path.trim_start_matches('/')),
            };
            cg.write("memory.limit_in_bytes", &LIMIT.to_string())?;
            return Ok(cg);
        }
        // cgroup v2 with the memory controller enabled at the root.
        let v2_root = Path::new("/sys/fs/cgroup");
        let controls =
            std::fs::read_to_string(v2_root.join("cgroup.subtree_control")).unwrap_or_default();
        let v2_path = own.lines().find_map(|l| l.strip_prefix("0::"));
        if let Some(path) = v2_path.filter(|_| controls.split_whitespace().any(|c| c == "memory")) {
            let dir = v2_root.join(format!("nexus-demo-os-{pid}"));
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            let cg = Cgroup {
                dir,
                home: v2_root.join(path.trim_start_matches('/')),
            };
            cg.write("memory.max", &LIMIT.to_string())?;
            return Ok(cg);
        }
        Err("no writable memory cgroup: neither a cgroup v1 memory controller at \
             /sys/fs/cgroup/memory nor cgroup v2 with `memory` in /sys/fs/cgroup/cgroup.subtree_control"
            .into())
    }

    impl Cgroup {
        fn write(&self, file: &str, text: &str) -> Result<(), String> {
            std::fs::write(self.dir.join(file), text)
                .map_err(|e| format!("writing {}: {e}", self.dir.join(file).display()))
        }
        fn enter(&self) -> Result<(), String> {
            self.write("cgroup.procs", &std::process::id().to_string())
        }
    }

    impl Drop for Cgroup {
        fn drop(&mut self) {
            let _ = std::fs::write(
                self.home.join("cgroup.procs"),
                std::process::id().to_string(),
            );
            for _ in 0..50 {
                if std::fs::remove_dir(&self.dir).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("demo-os: could not remove {}", self.dir.display());
        }
    }

    // ---- the allocating child ---------------------------------------------------

    fn working_set(dir: &Path) -> u64 {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let usage = read("memory.usage_in_bytes") + &read("memory.current");
        let usage: u64 = usage.trim().parse().unwrap_or(0);
        let stat = read("memory.stat");
        let inactive = stat
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                matches!(w.next(), Some("total_inactive_file" | "inactive_file"))
                    .then(|| w.next()?.parse::<u64>().ok())?
            })
            .unwrap_or(0);
        usage.saturating_sub(inactive)
    }

    /// The child: `anon` allocates 8 MiB steps until the cgroup's working
    /// set reaches 93% of the limit, then streams file writes; `file` only
    /// streams. It prints one line per step ("anon|file <MiB>").
    fn child(args: &[String]) {
        let dir = PathBuf::from(&args[0]);
        let limit: u64 = args[1].parse().unwrap();
        let file = PathBuf::from(&args[2]);
        let mode = args[3].as_str();
        let mut out = std::io::stdout();
        let mut held: Vec<Vec<u8>> = Vec::new();
        if mode == "anon" {
            while working_set(&dir) < limit / 100 * 93 && (held.len() as u64) * 8 * MIB < limit {
                let mut chunk = vec![0u8; 8 * MIB as usize];
                for page in chunk.chunks_mut(4096) {
                    page[0] = 1;
                }
                held.push(chunk);
                let _ = writeln!(out, "anon {}", held.len() * 8);
                std::thread::sleep(Duration::from_millis(120));
            }
        }
        let mut f = std::fs::File::create(&file).unwrap();
        let block = vec![7u8; MIB as usize];
        for i in 0..(2 * limit / MIB) {
            f.write_all(&block).unwrap();
            if i % 16 == 0 {
                let _ = writeln!(out, "file {}", i + 1);
            }
            std::thread::sleep(Duration::from_millis(4));
        }
        drop(f);
        let _ = std::fs::remove_file(&file);
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
        let _ = writeln!(out, "done");
    }

    fn spawn_child(cg: &Cgroup, file: &Path, mode: &str) -> Child {
        Command::new("/proc/self/exe")
            .args(["--child", &cg.dir.display().to_string(), &LIMIT.to_string()])
            .arg(file)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning the child")
    }

    // ---- the store and what it shed -------------------------------------------

    #[derive(Clone, Copy)]
    struct Shed {
        at_ns: u64,
        level: MemoryPressureLevel,
        count: u64,
        bytes: u64,
        /// The monitor's last kernel notification when the store shed.
        notified_ns: u64,
        /// When the store's level changed for this signal (its
        /// PRESSURE_CHANGED event, before shedding began).
        changed_ns: u64,
    }

    type Sheds = Arc<Mutex<Vec<Shed>>>;

    fn filled_store() -> (Store<String, Vec<u8>>, Sheds) {
        let store: Store<String, Vec<u8>> = Store::with_estimator(
            MemoryConfig::with_max_bytes(96 * MIB),
            nexus_store::ByteSizeEstimator,
        )
        .expect("store");
        for i in 0..(STORE_FILL / VALUE_BYTES as u64) as u32 {
            store
                .put(format!("img{i}"), vec![i as u8; VALUE_BYTES])
                .expect("put");
        }
        let sheds: Sheds = Arc::default();
        let sink = Arc::clone(&sheds);
        let changed = std::sync::atomic::AtomicU64::new(0);
        store.set_event_callback(Some(Arc::new(move |e: &Event| {
            if e.kind == EventKind::PressureChanged {
                changed.store(e.timestamp_ns, std::sync::atomic::Ordering::Relaxed);
            }
            if e.kind == EventKind::Eviction && e.reason == EvictionReason::Pressure {
                let notified_ns = os_pressure::monitor_status().last_notification_ns;
                sink.lock().unwrap().push(Shed {
                    at_ns: e.timestamp_ns,
                    level: e.level,
                    count: e.count,
                    bytes: e.bytes,
                    notified_ns,
                    changed_ns: changed.load(std::sync::atomic::Ordering::Relaxed),
                });
            }
        })));
        (store, sheds)
    }

    // ---- the demo ---------------------------------------------------------------

    struct Sample {
        at_ms: u64,
        cgroup: u64,
        store: u64,
        level: MemoryPressureLevel,
    }

    fn monitor_config() -> MonitorConfig {
        MonitorConfig {
            sample_interval_ms: 100,
            min_level_ms: 1500,
            resignal_ms: 1000,
            ..MonitorConfig::default()
        }
    }

    fn print_sources() {
        let s = os_pressure::monitor_status();
        for src in &s.sources {
            println!(
                "  {:<9} {:<8} {}",
                format!("{:?}", src.kind),
                format!("{:?}", src.state),
                src.detail
            );
        }
    }

    fn demo() -> Result<(), String> {
        let cg = make_cgroup()?;
        cg.enter()?;
        let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/demo-os");
        std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
        println!("nexus_store demo-os: the monitor on real kernel readings");
        println!(
            "  cgroup {} with a {} MiB limit; store budget 96 MiB, filled with {} MiB",
            cg.dir.display(),
            LIMIT / MIB,
            STORE_FILL / MIB
        );
        let (store, sheds) = filled_store();
        let psi_before = std::fs::read_to_string("/proc/pressure/memory").unwrap_or_default();
        os_pressure::start_monitor(monitor_config()).map_err(|e| e.to_string())?;
        println!("  monitor sources:");
        print_sources();
        let mut child = spawn_child(&cg, &out_dir.join("pagecache.bin"), "anon");
        let lines = Arc::new(Mutex::new(String::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                    *lines.lock().unwrap() = l;
                }
            })
        };
        println!();
        println!("    t(s)  cgroup MiB  store MiB  level      child");
        let start = Instant::now();
        let mut samples = Vec::new();
        let mut entered = vec![MemoryPressureLevel::None];
        let mut causes = Vec::new();
        let mut child_done_at = None;
        let mut last_print = MemoryPressureLevel::None;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let at_ms = start.elapsed().as_millis() as u64;
            let st = os_pressure::monitor_status();
            let cgroup = [SourceKind::CgroupV1, SourceKind::CgroupV2]
                .iter()
                .filter_map(|k| st.source(*k))
                .find(|s| s.state == SourceState::Active)
                .map_or(0, |s| s.usage_bytes);
            let m = store.metrics();
            let level = st.level;
            if *entered.last().unwrap() != level {
                entered.push(level);
                let why: Vec<String> = SourceKind::ALL
                    .iter()
                    .zip(st.signal_levels)
                    .filter(|(_, l)| *l != MemoryPressureLevel::None)
                    .map(|(k, l)| format!("{k:?} read {}", l.as_str()))
                    .collect();
                causes.push(format!(
                    "{:>5.1} s  {:<9} {}",
                    at_ms as f64 / 1000.0,
                    level.as_str(),
                    if why.is_empty() {
                        "(pressure over for the minimum time)".to_string()
                    } else {
                        why.join(", ")
                    }
                ));
            }
            samples.push(Sample {
                at_ms,
                cgroup,
                store: m.current_usage,
                level,
            });
            if at_ms % 500 < 100 || level != last_print {
                println!(
                    "  {:>6.1}  {:>10.1}  {:>9.1}  {:<9}  {}",
                    at_ms as f64 / 1000.0,
                    mib(cgroup),
                    mib(m.current_usage),
                    level.as_str(),
                    lines.lock().unwrap()
                );
                last_print = level;
            }
            if child_done_at.is_none() && child.try_wait().ok().flatten().is_some() {
                child_done_at = Some(at_ms);
            }
            let settled = child_done_at.is_some() && level == MemoryPressureLevel::None;
            if settled || at_ms > 60_000 {
                break;
            }
        }
        let _ = child.wait();
        let _ = reader.join();
        let status = os_pressure::monitor_status();
        os_pressure::stop_monitor();
        signal_pressure_all(MemoryPressureLevel::None);
        let psi_after = std::fs::read_to_string("/proc/pressure/memory").unwrap_or_default();
        let chart = out_dir.join("chart.svg");
        std::fs::write(&chart, render_svg(&samples)).map_err(|e| e.to_string())?;
        summary(
            &status,
            &sheds.lock().unwrap(),
            &entered,
            &samples,
            &psi_before,
            &psi_after,
            &chart,
        );
        println!("  level changes (what each source read when the monitor signalled):");
        for c in &causes {
            println!("    {c}");
        }
        Ok(())
    }

    fn summary(
        status: &os_pressure::MonitorStatus,
        sheds: &[Shed],
        entered: &[MemoryPressureLevel],
        samples: &[Sample],
        psi_before: &str,
        psi_after: &str,
        chart: &Path,
    ) {
        println!();
        println!("summary");
        let path: Vec<&str> = entered.iter().map(|l| l.as_str()).collect();
        println!("  levels entered    {}", path.join(" -> "));
        let peak = samples.iter().map(|s| s.cgroup).max().unwrap_or(0);
        println!(
            "  readings          cgroup working set peak {:.1} MiB of {} MiB; {} samples, {} kernel notifications, {} signals",
            mib(peak),
            LIMIT / MIB,
            status.samples,
            status.notifications,
            status.signals
        );
        for s in &status.sources {
            let reading = match s.kind {
                SourceKind::Psi => format!(
                    "some avg10 {:.2}% total {} us, full avg10 {:.2}% total {} us, {} trigger(s) fired",
                    s.some_avg10, s.some_total_us, s.full_avg10, s.full_total_us, s.events
                ),
                SourceKind::CgroupV1 | SourceKind::CgroupV2 => format!(
                    "working set {:.1} MiB of {:.1} MiB, {} kernel event(s)",
                    mib(s.usage_bytes),
                    mib(s.limit_bytes),
                    s.events
                ),
                SourceKind::Headroom => format!(
                    "available {:.1} of {:.1} MiB",
                    mib(s.available_bytes),
                    mib(s.total_bytes)
                ),
            };
            if s.state != SourceState::Absent {
                println!("    {:<9} last reading: {reading}", format!("{:?}", s.kind));
            }
        }
        println!(
            "  PSI before        {}",
            psi_before.lines().next().unwrap_or("(none)")
        );
        println!(
            "  PSI after         {}",
            psi_after.lines().next().unwrap_or("(none)")
        );
        for l in MemoryPressureLevel::ALL.iter().skip(1) {
            let (n, count, bytes) = sheds
                .iter()
                .filter(|s| s.level == *l)
                .fold((0, 0, 0), |(n, c, b), s| (n + 1, c + s.count, b + s.bytes));
            if n > 0 {
                println!(
                    "  shed at {:<9} {n} run(s), {count} entries, {:.1} MiB",
                    l.as_str(),
                    mib(bytes)
                );
            }
        }
        println!("  chart             {}", chart.display());
        let distinct = entered
            .iter()
            .skip(1)
            .filter(|l| **l != MemoryPressureLevel::None)
            .count();
        println!(
            "  result            the monitor moved the store through {distinct} pressure level(s) and back to {}",
            entered.last().map_or("?", |l| l.as_str())
        );
    }

    // ---- the chart --------------------------------------------------------------

    fn render_svg(samples: &[Sample]) -> String {
        let (w, h, left, right, top, bottom) = (900.0, 420.0, 70.0, 870.0, 50.0, 370.0);
        let end_ms = samples.last().map_or(1, |s| s.at_ms.max(1)) as f64;
        let x = |ms: u64| left + (right - left) * ms as f64 / end_ms;
        let y = |b: u64| bottom - (bottom - top) * mib(b) / mib(LIMIT);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif"><rect width="{w}" height="{h}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{left}" y="28" font-size="16" font-weight="bold">demo-os: cgroup working set, store usage and the monitor's level</text>"#
        );
        for pair in samples.windows(2) {
            let colour = match pair[0].level {
                MemoryPressureLevel::None => continue,
                MemoryPressureLevel::Moderate => "#fef08a",
                MemoryPressureLevel::Critical => "#fdba74",
                MemoryPressureLevel::Emergency => "#fca5a5",
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{top}" width="{:.1}" height="{}" fill="{colour}"/>"#,
                x(pair[0].at_ms),
                x(pair[1].at_ms) - x(pair[0].at_ms),
                bottom - top
            );
        }
        let _ = writeln!(
            svg,
            r#"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>"#
        );
        for mib_mark in [0u64, 64, 128, 192, 256] {
            let yy = y(mib_mark * MIB);
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" font-size="11" text-anchor="end">{mib_mark} MiB</text>"#,
                left - 6.0,
                yy + 4.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{right}" y="{}" font-size="11" text-anchor="end">{:.1} s</text>"#,
            bottom + 16.0,
            end_ms / 1000.0
        );
        for (colour, pick) in [
            ("#1d4ed8", (|s: &Sample| s.cgroup) as fn(&Sample) -> u64),
            ("#059669", |s: &Sample| s.store),
        ] {
            let points: Vec<String> = samples
                .iter()
                .map(|s| format!("{:.1},{:.1}", x(s.at_ms), y(pick(s))))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                points.join(" ")
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{left}" y="{}" font-size="12" fill="#1d4ed8">cgroup working set</text><text x="{}" y="{}" font-size="12" fill="#059669">store usage</text><text x="{}" y="{}" font-size="12">bands: MODERATE / CRITICAL / EMERGENCY</text>"##,
            bottom + 34.0,
            left + 150.0,
            bottom + 34.0,
            left + 260.0,
            bottom + 34.0
        );
        svg.push_str("</svg>\n");
        svg
    }

    // ---- latency and idle CPU -----------------------------------------------------

    fn latency(runs: usize) -> Result<(), String> {
        let cg = make_cgroup()?;
        cg.enter()?;
        let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/demo-os");
        std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
        let config = MonitorConfig {
            sample_interval_ms: 1000,
            min_level_ms: 200,
            resignal_ms: 0,
            ..MonitorConfig::default()
        };
        os_pressure::start_monitor(config).map_err(|e| e.to_string())?;
        let mut latencies = Vec::new();
        let mut reactions = Vec::new();
        for run in 0..runs {
            let (store, sheds) = filled_store();
            let mut child = spawn_child(&cg, &out_dir.join("pagecache.bin"), "file");
            let _ = child.wait();
            let first = sheds.lock().unwrap().first().copied();
            match first {
                Some(s) if s.notified_ns > 0 && s.at_ns >= s.notified_ns => {
                    let us = (s.at_ns - s.notified_ns) as f64 / 1000.0;
                    let react = s.changed_ns.saturating_sub(s.notified_ns) as f64 / 1000.0;
                    println!(
                        "  run {:>2}: notification -> store's level changed {react:>8.1} us -> shed done {us:>8.1} us ({}, {} entries, {:.1} MiB)",
                        run + 1,
                        s.level.as_str(),
                        s.count,
                        mib(s.bytes)
                    );
                    latencies.push(us);
                    reactions.push(react);
                }
                _ => println!("  run {:>2}: no notification-driven shed", run + 1),
            }
            drop(store);
            let deadline = Instant::now() + Duration::from_secs(10);
            while os_pressure::monitor_status().level != MemoryPressureLevel::None
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let st = os_pressure::monitor_status();
        os_pressure::stop_monitor();
        signal_pressure_all(MemoryPressureLevel::None);
        if latencies.is_empty() {
            println!("latency: no run produced a kernel notification");
        }
        for (what, mut v) in [
            (
                "notification -> store's level changed (PRESSURE_CHANGED)",
                reactions,
            ),
            ("notification -> shed done (EVICTION)", latencies),
        ] {
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            println!(
                "latency over {} runs, {what}: median {:.1} us, worst {:.1} us, best {:.1} us",
                v.len(),
                (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0,
                v[v.len() - 1],
                v[0]
            );
        }
        println!("  ({} kernel notifications in all)", st.notifications);
        Ok(())
    }

    /// The thread's (utime, stime) clock ticks from `stat` and its CPU
    /// nanoseconds from `schedstat` (0 where the kernel has none).
    fn thread_cpu(name: &str) -> Option<(u64, u64, u64)> {
        for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == name {
                let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
                let after = &stat[stat.rfind(')')? + 2..];
                let f: Vec<&str> = after.split_whitespace().collect();
                // Fields 14 and 15 of stat (utime, stime), counted from the state (3).
                let ns = std::fs::read_to_string(t.path().join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                return Some((f[11].parse().ok()?, f[12].parse().ok()?, ns));
            }
        }
        None
    }

    fn idle_cpu(seconds: u64) -> Result<(), String> {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        for interval in [1000u64, 100] {
            let config = MonitorConfig {
                sample_interval_ms: interval,
                ..MonitorConfig::default()
            };
            os_pressure::start_monitor(config).map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(200));
            let (u0, s0, n0) = thread_cpu("nexus-monitor").ok_or("no monitor thread")?;
            let samples0 = os_pressure::monitor_status().samples;
            std::thread::sleep(Duration::from_secs(seconds));
            let (u1, s1, n1) = thread_cpu("nexus-monitor").ok_or("no monitor thread")?;
            let samples = os_pressure::monitor_status().samples - samples0;
            os_pressure::stop_monitor();
            let tick_ms = ((u1 - u0) + (s1 - s0)) as f64 * 1000.0 / hz;
            let cpu_ms = (n1 - n0) as f64 / 1e6;
            println!(
                "idle CPU, sample interval {interval} ms, {seconds} s: {cpu_ms:.2} ms on CPU (schedstat) = {:.4}% of a core, {:.1} us per sample ({samples} samples); stat: user {} + system {} ticks = {tick_ms:.0} ms at {hz} Hz",
                cpu_ms / (seconds as f64 * 10.0),
                cpu_ms * 1000.0 / samples.max(1) as f64,
                u1 - u0,
                s1 - s0
            );
        }
        Ok(())
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let result = match args.first().map(String::as_str) {
            Some("--child") => {
                child(&args[1..]);
                Ok(())
            }
            Some("--latency") => latency(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10)),
            Some("--idle-cpu") => idle_cpu(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(60)),
            _ => demo(),
        };
        if let Err(why) = result {
            println!("demo-os: cannot run on this host: {why}");
        }
    }
}
