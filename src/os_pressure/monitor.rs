//! The one process-wide monitor thread.
//!
//! - [`start_monitor`] opens the sources and starts the thread; while one
//!   runs, a second start is `Busy` (the running one is untouched).
//! - [`stop_monitor`] stops it and returns after the thread has ended;
//!   called again (nothing running) it returns `false`. Called on the
//!   monitor thread itself (from a store callback run by a signal) it
//!   returns at once and the thread ends when that signal has returned.
//! - Process exit with the monitor running: the thread is blocked in
//!   `poll` or signalling stores, and ends with the process; nothing is
//!   registered with `atexit`, so exit never waits for it.
//! - `fork` with the monitor running: the child has no monitor thread; in
//!   the child the monitor reads as not running, a stop returns `false`,
//!   and a start starts the child's own.
//!
//! The thread sleeps in `poll(2)` on the kernel's notification fds and a
//! stop eventfd, with the sample interval as timeout: idle, it wakes once
//! per interval and reads a few small files. Samples driven by
//! notifications are at least [`MIN_GAP_NS`] apart (meanwhile only the
//! stop fd is polled), so a notification storm, or an fd that stays ready
//! (a removed cgroup's `memory.events`), cannot make it spin; an fd the
//! kernel calls invalid (`POLLNVAL`) is dropped. No lock is held while it
//! signals the stores or calls `on_budget`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::cgroup_v1::CgroupV1Source;
use super::cgroup_v2::CgroupV2Source;
use super::headroom::HeadroomSource;
use super::hysteresis::Hysteresis;
use super::psi::PsiSource;
use super::{MonitorConfig, MonitorStatus, SourceStatus};
use crate::callbacks::CallbackScope;
use crate::error::{Error, ErrorKind};
use crate::thread_number::thread_number;
use crate::{Clock, MemoryPressureHandler, MemoryPressureLevel, MonotonicClock};

/// Every source, read together.
pub(crate) struct Sources {
    psi: PsiSource,
    v2: CgroupV2Source,
    v1: CgroupV1Source,
    headroom: HeadroomSource,
}

impl Sources {
    pub fn open(config: &MonitorConfig) -> Self {
        let root = &config.fs_root;
        Sources {
            psi: PsiSource::open(root, &config.psi),
            v2: CgroupV2Source::open(root, &config.cgroup),
            v1: CgroupV1Source::open(root, &config.cgroup),
            headroom: HeadroomSource::open(root, &config.headroom),
        }
    }

    /// The fds to poll and the events each one signals with.
    fn poll_fds(&self) -> Vec<(RawFd, i16)> {
        let pri = self.psi.poll_fds().into_iter().chain(self.v2.poll_fds());
        pri.map(|fd| (fd, libc::POLLPRI))
            .chain(self.v1.poll_fds().into_iter().map(|fd| (fd, libc::POLLIN)))
            .collect()
    }

    fn on_ready(&mut self, fd: RawFd) {
        let _ = self.psi.on_ready(fd) || self.v2.on_ready(fd) || self.v1.on_ready(fd);
    }

    /// Reads every source; the highest level read.
    pub fn sample(&mut self, now_ns: u64) -> MemoryPressureLevel {
        let psi = self.psi.sample(now_ns);
        let v2 = self.v2.sample(now_ns);
        let v1 = self.v1.sample(now_ns);
        let limited =
            |s: &SourceStatus| (s.limit_bytes > 0).then_some((s.usage_bytes, s.limit_bytes));
        let cgroup = limited(self.v2.status()).or_else(|| limited(self.v1.status()));
        let headroom = self.headroom.sample(now_ns, cgroup);
        psi.max(v2).max(v1).max(headroom)
    }

    pub fn statuses(&self) -> Vec<SourceStatus> {
        vec![
            self.psi.status().clone(),
            self.v2.status().clone(),
            self.v1.status().clone(),
            self.headroom.status().clone(),
        ]
    }

    fn budget(&self) -> u64 {
        self.headroom.status().budget_bytes
    }
}

struct Shared {
    /// The process that started it (a forked child has no such thread).
    pid: u32,
    status: Mutex<MonitorStatus>,
    stop: AtomicBool,
    wake: OwnedFd,
    /// The monitor thread's `thread_number` (0 until it runs).
    thread_number: AtomicU64,
}

impl Shared {
    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from `one` to an eventfd we own.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), (&raw const one).cast(), 8) };
    }
}

struct Running {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
    /// Its number (`start_monitor_run`).
    run: u64,
}

/// The least time after a sample driven by a notification before the
/// notification fds are watched again.
const MIN_GAP_NS: u64 = 10_000_000;

/// The callback record's id for the budget callback: no store's (they count
/// from 1) nor governor's (from 2^62).
const MONITOR_CALLBACK_ID: u64 = u64::MAX;

/// Runs started in this process (each run's number is the count then).
static RUNS: AtomicU64 = AtomicU64::new(0);
/// The running monitor, if any.
static SLOT: Mutex<Option<Running>> = Mutex::new(None);
/// The status of the last monitor started (kept after it stops).
static LAST: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// Starts the process-wide monitor. `InvalidArgument` for a config that
/// breaks a rule; `Busy` when one is already running (it keeps running);
/// `OutOfMemory` when no thread or eventfd can be made. Sources absent on
/// this host are reported as absent in [`monitor_status`], never an error.
pub fn start_monitor(config: MonitorConfig) -> Result<(), Error> {
    start_monitor_run(config).map(|_| ())
}

/// [`start_monitor`], returning the run's number (1 for the first run in
/// the process, then counting up): [`stop_monitor_run`] stops this run
/// only, never a later one.
pub fn start_monitor_run(config: MonitorConfig) -> Result<u64, Error> {
    config.validate()?;
    let mut slot = SLOT.lock();
    forget_if_forked(&mut slot);
    if slot.is_some() {
        return Err(Error::new(
            ErrorKind::Busy,
            "the monitor is already running: stop it first",
        ));
    }
    // SAFETY: eventfd takes no pointers; a non-negative result is ours.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(Error::new(
            ErrorKind::OutOfMemory,
            format!(
                "eventfd for the monitor: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    // SAFETY: a fresh fd owned by nobody else.
    let wake = unsafe { OwnedFd::from_raw_fd(raw) };
    let sources = Sources::open(&config);
    let shared = Arc::new(Shared {
        pid: std::process::id(),
        status: Mutex::new(MonitorStatus {
            running: true,
            sources: sources.statuses(),
            ..MonitorStatus::default()
        }),
        stop: AtomicBool::new(false),
        wake,
        thread_number: AtomicU64::new(0),
    });
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("nexus-monitor".into())
        .spawn(move || {
            for_thread
                .thread_number
                .store(thread_number(), Ordering::SeqCst);
            run(config, sources, for_thread)
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::OutOfMemory,
                format!("could not start the monitor thread: {e}"),
            )
        })?;
    *LAST.lock() = Some(Arc::clone(&shared));
    let run = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    *slot = Some(Running {
        shared,
        thread,
        run,
    });
    Ok(run)
}

/// Stops the monitor: `true` if one was running. Returns after its thread
/// has ended, except on the monitor thread itself (from a store callback):
/// then at once, and the thread ends when the signal it is sending returns.
/// Stores keep the level last signalled (signal NONE to lift it).
pub fn stop_monitor() -> bool {
    stop(None)
}

/// [`stop_monitor`] if the running monitor is run `run` (from
/// [`start_monitor_run`]); `false`, with nothing done, when no monitor runs
/// or a later run does. An owner of a run that another caller may have
/// stopped (and someone restarted) stops only its own.
pub fn stop_monitor_run(run: u64) -> bool {
    stop(Some(run))
}

fn stop(run: Option<u64>) -> bool {
    let taken = {
        let mut slot = SLOT.lock();
        forget_if_forked(&mut slot);
        match (&*slot, run) {
            (Some(r), Some(run)) if r.run != run => None,
            _ => slot.take(),
        }
    };
    let Some(running) = taken else {
        return false;
    };
    running.shared.stop.store(true, Ordering::SeqCst);
    running.shared.wake();
    running.shared.status.lock().running = false;
    // The monitor thread sets its number before it runs any store code,
    // so a stop from its own callbacks finds it.
    if thread_number() != running.shared.thread_number.load(Ordering::SeqCst) {
        let _ = running.thread.join();
    }
    true
}

/// What the monitor saw last: `running` false and no sources before the
/// first start; after a stop, the last readings with `running` false.
pub fn monitor_status() -> MonitorStatus {
    let last = LAST.lock().clone();
    match last {
        Some(shared) => {
            let mut status = shared.status.lock().clone();
            status.running &= shared.pid == std::process::id();
            status
        }
        None => MonitorStatus::default(),
    }
}

/// Monitors of the parent, in a forked child: kept, never joined.
static FORKED_AWAY: Mutex<Vec<Running>> = Mutex::new(Vec::new());

/// In a child forked while a monitor ran, the slot names a thread that is
/// not in this process: set it aside (joining or detaching it is undefined).
fn forget_if_forked(slot: &mut Option<Running>) {
    if slot
        .as_ref()
        .is_some_and(|r| r.shared.pid != std::process::id())
    {
        FORKED_AWAY.lock().extend(slot.take());
    }
}

/// Says "not running" in the status when the monitor thread ends, also by
/// a panic (a defect): the status never claims a thread that is gone. And
/// unless another monitor runs by then, stores created from now on keep
/// their own budget (the headroom budget it gave stops reaching them).
struct EndsRunning<'a>(&'a Shared);

impl Drop for EndsRunning<'_> {
    fn drop(&mut self) {
        self.0.status.lock().running = false;
        // Cleared with the slot still locked: a run that starts meanwhile
        // (it takes the slot) applies its own budget after this, never
        // before. clear_budget only stores (no callback); the order slot,
        // then the handler's subscribers, is the one `start` takes too.
        let slot = SLOT.lock();
        if slot.is_none() {
            MemoryPressureHandler::global().clear_budget();
        }
        drop(slot);
    }
}

/// Whether the last OS call failed with `EINTR`.
fn interrupted() -> bool {
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
}

fn run(config: MonitorConfig, mut sources: Sources, shared: Arc<Shared>) {
    let _ends_running = EndsRunning(&shared);
    let clock = MonotonicClock;
    let interval_ns = config.sample_interval_ms.saturating_mul(1_000_000);
    let mut next_sample = clock.now_ns();
    // The stores are at the level last signalled (a previous run's, kept
    // by its stop, or the app's): this run steps it down when the sources
    // no longer read it, as one it signalled itself when it was signalled
    // (one older than min_level_ms yields to the first reading at once).
    let last = MemoryPressureHandler::global().last_signal();
    let mut hysteresis = Hysteresis::new(config.min_level_ms, config.resignal_ms)
        .starting_at(last.level, next_sample.saturating_sub(last.age_ns));
    let mut last_notified_sample = 0u64;
    let mut last_budget = 0u64;
    let watched = sources.poll_fds();
    let mut fds: Vec<libc::pollfd> = std::iter::once((shared.wake.as_raw_fd(), libc::POLLIN))
        .chain(watched)
        .map(|(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    while !shared.stop.load(Ordering::SeqCst) {
        let now = clock.now_ns();
        // Right after a notified sample only the stop fd is watched.
        let quiet_until = last_notified_sample.saturating_add(MIN_GAP_NS);
        let (watch, wake_at) = if now < quiet_until {
            (1, quiet_until.min(next_sample))
        } else {
            (fds.len(), next_sample)
        };
        let timeout_ms = wake_at.saturating_sub(now).div_ceil(1_000_000);
        for p in &mut fds {
            p.revents = 0;
        }
        let timeout = timeout_ms.min(i32::MAX as u64) as i32;
        // SAFETY: `fds` holds at least `watch` valid pollfds.
        let mut n = unsafe { libc::poll(fds.as_mut_ptr(), watch as libc::nfds_t, timeout) };
        if n < 0 && !interrupted() {
            // The kernel refuses the set (more fds than RLIMIT_NOFILE now
            // allows): polling it again at once would spin for good and
            // never sample. Wait on the stop fd alone, or, refused too,
            // sleep a slice (a stop waits that long at most); then sample
            // as due, without notifications.
            for p in &mut fds {
                p.revents = 0;
            }
            // SAFETY: `fds` holds at least one valid pollfd (the stop fd).
            n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) };
            if n < 0 && !interrupted() {
                let slice = u64::try_from(timeout).unwrap_or(0).clamp(1, 100);
                std::thread::sleep(std::time::Duration::from_millis(slice));
                n = 0;
            }
        }
        if n < 0 {
            continue; // EINTR
        }
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let now = clock.now_ns();
        let mut notified = false;
        for p in &mut fds[1..watch] {
            if p.revents & (libc::POLLIN | libc::POLLPRI) != 0 {
                sources.on_ready(p.fd);
                notified = true;
            } else if p.revents & libc::POLLNVAL != 0 {
                p.fd = -1; // poll skips negative fds
            }
        }
        if !notified && now < next_sample {
            continue;
        }
        next_sample = now.saturating_add(interval_ns);
        if notified {
            last_notified_sample = now;
        }
        let read = sources.sample(now);
        let decision = hysteresis.step(read, now);
        {
            let mut s = shared.status.lock();
            s.raw_level = read;
            s.level = hysteresis.level();
            s.samples += 1;
            s.sources = sources.statuses();
            if decision.is_some() {
                let st = &mut *s;
                for (slot, src) in st.signal_levels.iter_mut().zip(&st.sources) {
                    *slot = src.level;
                }
            }
            if notified {
                s.notifications += 1;
                s.last_notification_ns = now;
            }
        }
        if let Some(level) = decision {
            // A panicking Rust callback must not end the monitor.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                MemoryPressureHandler::global().signal(level)
            }));
            let mut s = shared.status.lock();
            s.signals += 1;
            s.last_signal_ns = now;
        }
        // A store callback run by that signal may have stopped the monitor
        // (`stop` from this thread returns at once): the thread ends when
        // the signal returns, without another budget to anyone.
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let budget = sources.budget();
        if (config.on_budget.is_some() || config.headroom.apply_budget)
            && budget > 0
            && budget.abs_diff(last_budget) > last_budget / 16
        {
            last_budget = budget;
            if config.headroom.apply_budget {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    MemoryPressureHandler::global().set_budget_all(budget)
                }));
            }
            // The same for a store callback run by those budgets.
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            if let Some(on_budget) = &config.on_budget {
                // A callback like the stores' ones: inside it, replacing a
                // store's callback returns at once rather than wait for
                // another thread, which may be waiting for this one
                // (`nexus_monitor_stop` joins it).
                let _scope = CallbackScope::enter(MONITOR_CALLBACK_ID);
                let _ = catch_unwind(AssertUnwindSafe(|| on_budget(budget)));
            }
        }
    }
}
