//! A budget governor: one budget shared by several stores.
//!
//! Each member store has a priority, a floor (the bytes it is guaranteed to
//! keep) and an optional ceiling. After a member grows (a put, a cached
//! load), after a join, a budget change or a pressure signal to the
//! governor, it
//! 1. sheds every member above its ceiling down to it (cause CEILING);
//! 2. if the members' total usage is above the target (the budget in
//!    force, and for a signal also its keep fraction of the total at the
//!    signal), takes the excess from the members in ascending priority
//!    (among equals: the most above its floor first, then the earliest
//!    joined), each only down to its floor (cause OVER_BUDGET, or PRESSURE
//!    while a signal lasts).
//!
//! Taking is evicting in the member's own eviction order, reason GOVERNOR,
//! skipping pinned and in-use entries, and stopping at the first victim
//! that would take the member below its floor: the governor never takes a
//! member below its floor (a signal sent to the store itself still does).
//! What floors, pins and read handles hold above the target stays, and is
//! reported once (UNMET). One thread enforces at a time; a member's growth
//! during another thread's pass is handled by that pass's thread before it
//! returns.
//!
//! Stores join and leave at any time; a store dropped (or freed through
//! the C API) while in a governor leaves it. The governor holds its members
//! weakly and never calls a store, or a user callback, with its lock held.

mod core;
mod member;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::callbacks::inside_store_callback;
use crate::clock::{Clock, MonotonicClock};
use crate::error::{Error, ErrorKind, Result};
use crate::held_panic::HeldPanic;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;
use crate::store::Store;

pub(crate) use self::core::GovernorCore;
use self::core::Member;
pub(crate) use member::{Governed, Membership, Shed, just_put, spare_strictly};
pub use report::{GovernorEvent, GovernorEventKind, GovernorMetrics, MemberMetrics, ShedCause};

/// The governor event callback's type.
pub type GovernorEventCallback = dyn Fn(&GovernorEvent) + Send + Sync;

/// A governor's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct GovernorConfig {
    /// The budget shared by the members, in charged bytes. >= 1; at least
    /// the members' floors.
    pub budget_bytes: u64,
    /// A MODERATE signal sheds the total to this fraction of itself and
    /// holds the budget at this fraction while it lasts. Default 0.75.
    pub signal_moderate_keep: f64,
    /// The same for CRITICAL. Default 0.5. 0 < critical <= moderate <= 1.
    /// EMERGENCY takes every member down to its floor.
    pub signal_critical_keep: f64,
    /// Events kept for `poll_event` while no callback is registered (the
    /// oldest is dropped beyond). >= 1. Default 1024.
    pub event_queue_capacity: usize,
}

impl GovernorConfig {
    /// A default configuration with this budget.
    pub fn with_budget(budget_bytes: u64) -> Self {
        GovernorConfig {
            budget_bytes,
            signal_moderate_keep: 0.75,
            signal_critical_keep: 0.5,
            event_queue_capacity: 1024,
        }
    }

    /// Checks every field; the error names the first out of range.
    pub fn validate(&self) -> Result<()> {
        if self.budget_bytes == 0 {
            return Err(Error::invalid(
                "a governor's budget_bytes must be at least 1",
            ));
        }
        let (mk, ck) = (self.signal_moderate_keep, self.signal_critical_keep);
        if !(mk.is_finite() && ck.is_finite() && 0.0 < ck && ck <= mk && mk <= 1.0) {
            return Err(Error::invalid(format!(
                "keeps must satisfy 0 < critical_keep <= moderate_keep <= 1 \
                 (moderate_keep {mk}, critical_keep {ck})"
            )));
        }
        if self.event_queue_capacity == 0 {
            return Err(Error::invalid("event_queue_capacity must be at least 1"));
        }
        Ok(())
    }
}

/// A member's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberConfig {
    /// Higher is kept longer: the governor takes from the lowest first.
    pub priority: u32,
    /// Charged bytes the governor never takes the member below.
    pub floor_bytes: u64,
    /// Charged bytes the member is shed down to whenever it is above
    /// (`None` = no ceiling). At least `floor_bytes`, and not 0.
    pub ceiling_bytes: Option<u64>,
}

impl MemberConfig {
    /// A member of this priority, no floor, no ceiling.
    pub fn with_priority(priority: u32) -> Self {
        MemberConfig {
            priority,
            ..Self::default()
        }
    }

    /// Checks the ceiling against the floor.
    pub fn validate(&self) -> Result<()> {
        match self.ceiling_bytes {
            Some(0) => Err(Error::invalid(
                "a ceiling of 0 bytes: use no ceiling (None, or 0 in C) instead",
            )),
            Some(c) if c < self.floor_bytes => Err(Error::invalid(format!(
                "the ceiling ({c} bytes) is below the floor ({} bytes)",
                self.floor_bytes
            ))),
            _ => Ok(()),
        }
    }
}

/// One budget shared by several stores (see the module documentation).
/// Cloning gives another handle on the same governor; it lives while a
/// handle does (members do not keep it alive: when it goes, they stay
/// stores, in no governor).
#[derive(Clone)]
pub struct Governor {
    core: Arc<GovernorCore>,
}

impl Governor {
    /// A governor on the monotonic clock.
    pub fn new(config: GovernorConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(MonotonicClock))
    }

    /// A governor whose events are stamped by `clock`.
    pub fn with_clock(config: GovernorConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(Governor {
            core: Arc::new(GovernorCore::new(config, clock)),
        })
    }

    /// Adds `store` with `member`'s terms, then enforces (the store's usage
    /// may take the total over the budget).
    ///
    /// Errors: `InvalidArgument` (ceiling below floor or 0; the floors would
    /// exceed the budget), `Busy` (the store is in a governor already, this
    /// one or another).
    pub fn join<K, V>(&self, store: &Store<K, V>, member: MemberConfig) -> Result<()>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.join_governed(store.governed(), member)
    }

    pub(crate) fn join_governed(
        &self,
        store: Arc<dyn Governed>,
        member: MemberConfig,
    ) -> Result<()> {
        let id = store.store_id();
        let event = {
            let mut s = self.core.state.lock();
            GovernorCore::check_member(&s, id, &member)?;
            if s.position(id).is_some()
                || !store
                    .membership()
                    .link(Arc::downgrade(&self.core), Arc::clone(&self.core.retired))
            {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!("store {id} is a member of a governor already (leave it first)"),
                ));
            }
            s.members.push(Member {
                store: Arc::downgrade(&store),
                id,
                config: member,
                shed_bytes: [0; 3],
                shed_entries: 0,
            });
            let mut e = self.core.event(GovernorEventKind::Joined, &s);
            e.store_id = id;
            e
        };
        let mut event = event;
        let mut panicked = HeldPanic::new();
        event.store_usage = store.usage(&mut panicked).0;
        // The store is dropped (if this was its last handle) with no lock.
        drop(store);
        self.core.deliver_held(vec![event], &mut panicked);
        panicked.resume();
        self.core.enforce();
        Ok(())
    }

    /// Removes `store`; `NotFound` if it is not a member.
    pub fn leave<K, V>(&self, store: &Store<K, V>) -> Result<()>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.leave_governed(store.governed())
    }

    pub(crate) fn leave_governed(&self, store: Arc<dyn Governed>) -> Result<()> {
        let id = store.store_id();
        let event = {
            let mut s = self.core.state.lock();
            let p = s.position(id).ok_or_else(|| GovernorCore::not_member(id))?;
            let member = s.members.remove(p);
            store.membership().unlink();
            let mut e = self.core.event(GovernorEventKind::Left, &s);
            e.store_id = id;
            // Its weak link only: no store code runs under the lock.
            drop(member);
            e
        };
        drop(store);
        self.core.deliver(vec![event]);
        Ok(())
    }

    /// Changes a member's terms, then enforces. `NotFound` if not a member;
    /// `InvalidArgument` as for `join`.
    pub fn set_member<K, V>(&self, store: &Store<K, V>, member: MemberConfig) -> Result<()>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.set_member_of(store.id(), member)
    }

    pub(crate) fn set_member_of(&self, store_id: u64, member: MemberConfig) -> Result<()> {
        {
            let mut s = self.core.state.lock();
            let p = s
                .position(store_id)
                .ok_or_else(|| GovernorCore::not_member(store_id))?;
            GovernorCore::check_member(&s, store_id, &member)?;
            s.members[p].config = member;
        }
        self.core.enforce();
        Ok(())
    }

    /// The terms of member `store_id` (`Store::id`), if it is one.
    pub fn member(&self, store_id: u64) -> Option<MemberConfig> {
        let s = self.core.state.lock();
        s.position(store_id).map(|p| s.members[p].config)
    }

    /// Whether store `store_id` is a member.
    pub fn is_member(&self, store_id: u64) -> bool {
        self.core.state.lock().position(store_id).is_some()
    }

    /// The members' store ids, in join order.
    pub fn member_ids(&self) -> Vec<u64> {
        self.core
            .state
            .lock()
            .members
            .iter()
            .map(|m| m.id)
            .collect()
    }

    /// Changes the budget, then enforces. `InvalidArgument` if 0 or below
    /// the members' floors.
    pub fn set_budget(&self, budget_bytes: u64) -> Result<()> {
        {
            let mut s = self.core.state.lock();
            let mut c = s.config.clone();
            c.budget_bytes = budget_bytes;
            c.validate()?;
            GovernorCore::check_budget(&s, budget_bytes)?;
            s.config = c;
        }
        self.core.enforce();
        Ok(())
    }

    /// The configuration in force (with the current budget).
    pub fn config(&self) -> GovernorConfig {
        self.core.state.lock().config.clone()
    }

    /// A pressure signal to the governor. A level at or above the one in
    /// force sheds the members' total to its keep fraction (MODERATE,
    /// CRITICAL) or every member to its floor (EMERGENCY), lowest priority
    /// first; while it lasts, the budget in force is that fraction of the
    /// budget (0 under EMERGENCY). NONE ends it. The members' own signalled
    /// levels do not change.
    pub fn signal_pressure(&self, level: MemoryPressureLevel) {
        let event = {
            let mut s = self.core.state.lock();
            let previous = std::mem::replace(&mut s.level, level);
            if level >= previous && level != MemoryPressureLevel::None {
                s.signal_due = true;
            }
            (previous != level).then(|| {
                let mut e = self.core.event(GovernorEventKind::LevelChanged, &s);
                e.previous_level = previous;
                e
            })
        };
        self.core.deliver(event.into_iter().collect());
        self.core.enforce();
    }

    /// The signalled level.
    pub fn level(&self) -> MemoryPressureLevel {
        self.core.state.lock().level
    }

    /// Checks the budget and the ceilings now (members changed by other
    /// means, such as their own `set_max_bytes`, are seen at their next
    /// put; this sees them at once).
    pub fn enforce(&self) {
        self.core.enforce();
    }

    /// The figures, each member's usage read in turn.
    pub fn metrics(&self) -> GovernorMetrics {
        self.core.metrics()
    }

    /// Registers (or unregisters) the event callback, called with no lock
    /// held on the thread whose call produced the events. As for stores:
    /// replacing waits until the old callback's calls on other threads
    /// have ended (from inside a callback, it returns at once).
    pub fn set_event_callback(&self, callback: Option<Arc<GovernorEventCallback>>) {
        self.core.callback.replace(callback);
    }

    /// The oldest queued event (events are queued only while no callback is
    /// registered).
    pub fn poll_event(&self) -> Option<GovernorEvent> {
        self.core.queue.lock().pop()
    }

    /// Events dropped because the queue was full (the oldest go first).
    pub fn dropped_events(&self) -> u64 {
        self.core.queue.lock().dropped
    }

    /// Whether this thread is inside this governor's callback or pass (the
    /// C layer's free refuses there).
    pub(crate) fn is_inside_own_callback(&self) -> bool {
        inside_store_callback(self.core.id)
    }

    /// Its members are in no governor from now on, though a call in flight
    /// may keep it alive a while (the C layer's frees, as soon as the
    /// handle is invalid): they may join another, and its passes take from
    /// none of them.
    pub(crate) fn retire(&self) {
        self.core.retired.store(true, Ordering::SeqCst);
    }

    /// Waits until no pass or member's call holds the governor (the C
    /// layer's free).
    pub(crate) fn wait_until_sole_user(&self) {
        crate::callbacks::wait_while(|| Arc::strong_count(&self.core) > 1);
    }
}
