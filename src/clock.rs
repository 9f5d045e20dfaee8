//! The store's time source: timestamps of events and the signal decay.

use std::cell::Cell;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonic clock in nanoseconds. Replace the default with a
/// [`ManualClock`] to run a store on simulated time (tests, the demo).
///
/// The store reads it under its lock, and only when a call needs the time
/// (an event, a signal, the decay check): an implementation must be cheap
/// and must not call into the store.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    fn now_ns(&self) -> u64;
}

/// The first reading: an `Instant`, and what the OS clock of the same
/// source read then (0 where none is used).
static PROCESS_EPOCH: LazyLock<(Instant, u64)> =
    LazyLock::new(|| (Instant::now(), os_monotonic_ns()));

/// The OS clock that `Instant` reads, in nanoseconds from its own origin,
/// so that the store's timestamps line up with the app's:
/// `CLOCK_MONOTONIC` on Linux and Android, `CLOCK_UPTIME_RAW`
/// (`mach_absolute_time` in nanoseconds) on Apple platforms.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn os_monotonic_ns() -> u64 {
    #[cfg(target_vendor = "apple")]
    const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
    #[cfg(not(target_vendor = "apple"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call; the clock
    // id is one the platform defines.
    if unsafe { libc::clock_gettime(CLOCK, &mut ts) } != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Elsewhere the origin is the library's first clock reading.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn os_monotonic_ns() -> u64 {
    0
}

/// The default clock: `std::time::Instant` on the OS's monotonic clock's
/// scale (`CLOCK_MONOTONIC` on Linux and Android, `CLOCK_UPTIME_RAW` on
/// Apple platforms; elsewhere from the first use of the library in the
/// process).
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        let (epoch, base) = *PROCESS_EPOCH;
        let elapsed = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        base.saturating_add(elapsed)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start_ns`.
    pub fn new(start_ns: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ns),
        }
    }

    /// Moves the clock forward by `ns`.
    pub fn advance_ns(&self, ns: u64) {
        self.now.fetch_add(ns, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_ns(ms.saturating_mul(1_000_000));
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

/// The time of one call, read from the clock at most once and only if the
/// call needs it (an event's timestamp, a signal's start, the decay check):
/// most calls produce no event and never read the clock.
pub(crate) struct Now<'a> {
    clock: &'a dyn Clock,
    cached: Cell<Option<u64>>,
}

impl<'a> Now<'a> {
    pub fn new(clock: &'a dyn Clock) -> Self {
        Now {
            clock,
            cached: Cell::new(None),
        }
    }

    pub fn get(&self) -> u64 {
        match self.cached.get() {
            Some(t) => t,
            None => {
                let t = self.clock.now_ns();
                self.cached.set(Some(t));
                t
            }
        }
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// The default clock reads on CLOCK_MONOTONIC's scale: an app's own
    /// reading of that clock brackets it.
    #[test]
    fn the_default_clock_lines_up_with_clock_monotonic() {
        for _ in 0..3 {
            let before = os_monotonic_ns();
            let ours = MonotonicClock.now_ns();
            let after = os_monotonic_ns();
            // A microsecond of slack: the epoch's two readings are not at
            // one instant.
            assert!(
                before.saturating_sub(1_000) <= ours && ours <= after + 1_000,
                "{before} <= {ours} <= {after}"
            );
        }
        assert!(os_monotonic_ns() > 0);
    }
}
