//! Sources of pressure levels.
//!
//! Two sources feed a store's reported level (the higher of the two):
//! - the budget: [`BudgetPressure`] derives a level from usage against the
//!   configured budget;
//! - signals: a [`MemoryPressureHandler`] broadcasts levels that the OS hooks
//!   (or the app) give it to every store subscribed to it. Every store is
//!   subscribed to [`MemoryPressureHandler::global`], which
//!   [`signal_pressure_all`] drives, and starts with its last level.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use crate::clock::{Clock, MonotonicClock};
use crate::held_panic::HeldPanic;
use crate::memory_config::{Limits, MemoryConfig};
use crate::pressure::memory_pressure_level::MemoryPressureLevel;

/// Numbers every signal, of every handler and every store's own, in the
/// order they are given: a store (each shard) applies a signal only if it
/// is newer than the last it applied, so two signals given at once leave
/// every store, and every shard of one, at the same one (the later).
static SIGNAL_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The next signal's number (from 1).
pub(crate) fn next_signal_number() -> u64 {
    SIGNAL_SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1
}

/// The last signal a handler gave (see `MemoryPressureHandler::last_signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LastSignal {
    pub level: MemoryPressureLevel,
    pub age_ns: u64,
    pub number: u64,
}

/// Something that reacts to signalled levels (a store).
pub(crate) trait PressureSubscriber: Send + Sync {
    /// Signal number `number` (`next_signal_number`): ignored where a newer
    /// one was applied already.
    fn on_signal(&self, level: MemoryPressureLevel, number: u64);

    /// A new budget for the subscriber (the OS monitor's headroom budget).
    fn on_budget(&self, max_cache_bytes: u64);
}

/// A broadcaster of signalled pressure levels.
#[derive(Clone)]
pub struct MemoryPressureHandler {
    inner: Arc<HandlerInner>,
}

struct HandlerInner {
    last: AtomicU32,
    /// When `last` was signalled (`MonotonicClock`), under the subscribers'
    /// lock: how old the level a new store starts at is.
    last_at_ns: AtomicU64,
    /// The budget `set_budget_all` gave last (0: none, or cleared), under
    /// the subscribers' lock: what a new store starts with.
    budget: AtomicU64,
    /// The number (`next_signal_number`) of the signal `last` holds, 0
    /// before any, under the subscribers' lock: tells a store that read the
    /// last level before subscribing whether a signal came in between.
    last_number: AtomicU64,
    subscribers: Mutex<Vec<Weak<dyn PressureSubscriber>>>,
}

static GLOBAL: LazyLock<MemoryPressureHandler> = LazyLock::new(MemoryPressureHandler::new);

impl Default for MemoryPressureHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryPressureHandler {
    /// A handler with no subscribers, at level NONE.
    pub fn new() -> Self {
        MemoryPressureHandler {
            inner: Arc::new(HandlerInner {
                last: AtomicU32::new(MemoryPressureLevel::None as u32),
                last_at_ns: AtomicU64::new(0),
                budget: AtomicU64::new(0),
                last_number: AtomicU64::new(0),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The process-wide handler every store subscribes to.
    pub fn global() -> &'static MemoryPressureHandler {
        &GLOBAL
    }

    /// The last level signalled.
    pub fn last_level(&self) -> MemoryPressureLevel {
        MemoryPressureLevel::try_from(self.inner.last.load(Ordering::Acquire))
            .unwrap_or(MemoryPressureLevel::None)
    }

    /// Signals `level` to every live subscriber, on this thread, with no
    /// lock of the handler held while they react. A panic of one store's
    /// callback goes on once every subscriber has the signal.
    pub fn signal(&self, level: MemoryPressureLevel) {
        // Numbered under the list's lock, with `last`: signals given at once
        // are numbered in the order `last` takes them, so the stores end at
        // the level a store created afterwards starts at.
        let number = AtomicU64::new(0);
        self.each_live(
            || {
                let n = next_signal_number();
                number.store(n, Ordering::Relaxed);
                self.inner.last_number.store(n, Ordering::Release);
                self.inner.last.store(level as u32, Ordering::Release);
                self.inner
                    .last_at_ns
                    .store(MonotonicClock.now_ns(), Ordering::Release);
            },
            |s| s.on_signal(level, number.load(Ordering::Relaxed)),
        );
    }

    /// Gives every live subscriber a new budget, on this thread, with no
    /// lock of the handler held while they apply it (every one, before a
    /// callback's panic goes on); a store created later starts with it
    /// (`budget`) until `clear_budget`.
    pub(crate) fn set_budget_all(&self, max_cache_bytes: u64) {
        self.each_live(
            || self.inner.budget.store(max_cache_bytes, Ordering::Release),
            |s| s.on_budget(max_cache_bytes),
        );
    }

    /// The budget `set_budget_all` gave last, if any since `clear_budget`.
    pub(crate) fn budget(&self) -> Option<u64> {
        Some(self.inner.budget.load(Ordering::Acquire)).filter(|&b| b != 0)
    }

    /// Stores created from now on keep their own budget (the monitor that
    /// gave budgets has ended); the live ones keep what they were given.
    pub(crate) fn clear_budget(&self) {
        let _subs = self.inner.subscribers.lock();
        self.inner.budget.store(0, Ordering::Release);
    }

    /// Runs `f` on every live subscriber, with no lock of the handler held;
    /// `while_listing` runs under the lock the list is taken under (so a
    /// subscriber added after it is in the list or sees its effect). A panic
    /// of one subscriber goes on once every one had its call (`held_panic`).
    ///
    /// The list is of weak links, each upgraded only for its own call: a
    /// subscriber's callback may free another store (`nexus_store_free`
    /// waits until it is the store's last user), which a strong link held
    /// here for a later turn would keep waiting for good. A store gone
    /// before its turn is skipped.
    fn each_live(&self, while_listing: impl FnOnce(), f: impl Fn(&dyn PressureSubscriber)) {
        let listed: Vec<Weak<dyn PressureSubscriber>> = {
            let mut subs = self.inner.subscribers.lock();
            while_listing();
            subs.retain(|w| w.strong_count() > 0);
            subs.clone()
        };
        let mut held = HeldPanic::new();
        for weak in listed {
            if let Some(s) = weak.upgrade() {
                held.run(|| f(&*s));
            }
        }
        held.resume();
    }

    /// The last signal: its level, how long ago it was given (ns) and its
    /// number (0: none yet), read together under the list's lock.
    pub(crate) fn last_signal(&self) -> LastSignal {
        let _subs = self.inner.subscribers.lock();
        self.read_last()
    }

    fn read_last(&self) -> LastSignal {
        let at = self.inner.last_at_ns.load(Ordering::Acquire);
        LastSignal {
            level: self.last_level(),
            age_ns: MonotonicClock.now_ns().saturating_sub(at),
            number: self.inner.last_number.load(Ordering::Acquire),
        }
    }

    /// Adds a subscriber, which must be alive (a strong count above 0:
    /// entries without one are taken for dead and dropped by every later
    /// listing, so a store subscribes once its `Arc` exists). Returns the
    /// last signal, read under the same lock: a signal given later reaches
    /// the subscriber, one given before is this.
    pub(crate) fn subscribe(&self, subscriber: Weak<dyn PressureSubscriber>) -> LastSignal {
        debug_assert!(subscriber.strong_count() > 0, "subscribed before it lives");
        let mut subs = self.inner.subscribers.lock();
        subs.retain(|w| w.strong_count() > 0);
        subs.push(subscriber);
        self.read_last()
    }
}

/// Signals `level` to every live store and makes it the starting level of
/// stores created later. What the platform hooks call.
pub fn signal_pressure_all(level: MemoryPressureLevel) {
    MemoryPressureHandler::global().signal(level);
}

/// The budget-based source: the level of a usage against a configuration.
#[derive(Clone, Copy, Debug)]
pub struct BudgetPressure {
    limits: Limits,
}

impl BudgetPressure {
    /// The source for `config` (its `max_cache_bytes`).
    pub fn new(config: &MemoryConfig) -> Self {
        BudgetPressure {
            limits: config.limits(config.max_cache_bytes),
        }
    }

    /// CRITICAL at or above `critical_threshold x max`, MODERATE at or above
    /// the working size, else NONE; always NONE when unbounded.
    pub fn level_for(&self, usage: u64) -> MemoryPressureLevel {
        self.limits.usage_level(usage)
    }

    /// The working size: `ceil(moderate_threshold x max_cache_bytes)`.
    pub fn working_size(&self) -> u64 {
        self.limits.moderate_at
    }
}
