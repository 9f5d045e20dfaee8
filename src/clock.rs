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

static PROCESS_EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The default clock: `std::time::Instant`, counted from the first use of
/// the library in the process.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(PROCESS_EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX)
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
