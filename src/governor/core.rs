//! The governor's state and its one algorithm: after a member grows, after
//! a signal, a budget change or a join, bring every member within its
//! ceiling, then the members' total within the budget in force, taking
//! from the lowest priority first and never below a member's floor.
//!
//! Locks: the state lock is held only to read or record (never while a
//! store is called or a callback runs). Stores are called one at a time,
//! each upgraded from its weak link just for that call, so the governor
//! never keeps a store alive and a store dropped meanwhile simply leaves.
//! One thread enforces at a time; a thread that finds another enforcing
//! leaves it a note (`pending`) and returns, and the enforcing thread runs
//! another pass for it (this is also what a put from inside a callback run
//! by a shed does). Events are delivered after the state lock is released.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::member::{Governed, Shed};
use super::report::{
    GovernorEvent, GovernorEventKind, GovernorMetrics, GovernorQueue, MemberMetrics, ShedCause,
};
use super::{GovernorConfig, GovernorEventCallback, MemberConfig};
use crate::callbacks::{CallbackScope, CallbackSlot, inside_store_callback};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::held_panic::HeldPanic;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;

/// Governor ids, for callback scopes: far from store ids (which count from
/// 1), so "inside this governor's callback" never matches a store.
static NEXT_GOVERNOR_ID: AtomicU64 = AtomicU64::new(1 << 62);

pub(super) struct Member {
    pub store: Weak<dyn Governed>,
    pub id: u64,
    pub config: MemberConfig,
    pub shed_bytes: [u64; 3],
    pub shed_entries: u64,
}

pub(super) struct State {
    pub config: GovernorConfig,
    pub level: MemoryPressureLevel,
    /// A signal's shedding, still to be done by the next pass.
    pub signal_due: bool,
    /// In join order.
    pub members: Vec<Member>,
    pub shed_bytes: u64,
    pub shed_entries: u64,
    pub unmet: u64,
    pub last_total: u64,
}

impl State {
    /// The budget held under the signalled level: the configured budget,
    /// its keep fractions under MODERATE and CRITICAL, 0 under EMERGENCY
    /// (every member down to its floor).
    pub fn budget_in_force(&self) -> u64 {
        let b = self.config.budget_bytes;
        match self.level {
            MemoryPressureLevel::None => b,
            MemoryPressureLevel::Moderate => scaled(b, self.config.signal_moderate_keep),
            MemoryPressureLevel::Critical => scaled(b, self.config.signal_critical_keep),
            MemoryPressureLevel::Emergency => 0,
        }
    }

    fn keep(&self) -> f64 {
        match self.level {
            MemoryPressureLevel::None => 1.0,
            MemoryPressureLevel::Moderate => self.config.signal_moderate_keep,
            MemoryPressureLevel::Critical => self.config.signal_critical_keep,
            MemoryPressureLevel::Emergency => 0.0,
        }
    }

    /// The members' floors added up, exactly (u128: floors near u64::MAX
    /// must not saturate into a sum that fits the budget).
    fn floors(&self) -> u128 {
        self.members
            .iter()
            .map(|m| u128::from(m.config.floor_bytes))
            .sum()
    }

    pub fn position(&self, store_id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == store_id)
    }
}

/// The cause of a shed for the budget: `OverBudget` with no signal in
/// force (`signal`: one due in this pass), `Pressure` otherwise.
fn budget_cause(level: MemoryPressureLevel, signal: bool) -> ShedCause {
    if level == MemoryPressureLevel::None && !signal {
        ShedCause::OverBudget
    } else {
        ShedCause::Pressure
    }
}

fn scaled(x: u64, keep: f64) -> u64 {
    (x as f64 * keep).floor() as u64
}

pub(crate) struct GovernorCore {
    pub(super) id: u64,
    pub(super) state: Mutex<State>,
    /// Set when its C handle is freed (either free, before it waits for
    /// the calls in flight that keep it alive)
    /// (`Governor::retire`): its members are in no governor (each may join
    /// another) and it takes from none of them any more.
    pub(super) retired: Arc<AtomicBool>,
    enforcing: AtomicBool,
    pending: AtomicBool,
    /// While a pass runs: what the rooms it closed had left (the headroom
    /// the last pass handed out and no put used), for the puts that land
    /// meanwhile (`enforce_after_growth`). 0 between passes.
    spare: AtomicU64,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) callback: CallbackSlot<GovernorEventCallback>,
    pub(super) queue: Mutex<GovernorQueue>,
    sequence: AtomicU64,
}

/// A shed done: (store id, cause, what it freed, the store's usage after).
type ShedDone = (u64, ShedCause, Shed, u64);

/// One member as a pass sees it.
struct Seen {
    store: Weak<dyn Governed>,
    id: u64,
    config: MemberConfig,
    order: usize,
    usage: u64,
}

impl GovernorCore {
    pub(super) fn new(config: GovernorConfig, clock: Arc<dyn Clock>) -> Self {
        let capacity = config.event_queue_capacity;
        GovernorCore {
            id: NEXT_GOVERNOR_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                config,
                level: MemoryPressureLevel::None,
                signal_due: false,
                members: Vec::new(),
                shed_bytes: 0,
                shed_entries: 0,
                unmet: 0,
                last_total: 0,
            }),
            retired: Arc::new(AtomicBool::new(false)),
            enforcing: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            spare: AtomicU64::new(0),
            clock,
            callback: CallbackSlot::default(),
            queue: Mutex::new(GovernorQueue::new(capacity)),
            sequence: AtomicU64::new(0),
        }
    }

    /// An event of `kind` stamped now, with the state's level and budget.
    pub(super) fn event(&self, kind: GovernorEventKind, s: &State) -> GovernorEvent {
        GovernorEvent {
            kind,
            sequence: 0,
            store_id: 0,
            cause: ShedCause::OverBudget,
            bytes: 0,
            count: 0,
            store_usage: 0,
            total_usage: s.last_total,
            budget_in_force: s.budget_in_force(),
            level: s.level,
            previous_level: s.level,
            timestamp_ns: self.clock.now_ns(),
        }
    }

    /// Hands events on, numbered, to the callback or the queue. No lock of
    /// the governor is held.
    pub(super) fn deliver(&self, events: Vec<GovernorEvent>) {
        let mut panicked = HeldPanic::new();
        self.deliver_held(events, &mut panicked);
        panicked.resume();
    }

    /// [`deliver`](Self::deliver), holding the callback's panic in
    /// `panicked` (every event is delivered first).
    pub(super) fn deliver_held(&self, events: Vec<GovernorEvent>, panicked: &mut HeldPanic) {
        if events.is_empty() {
            return;
        }
        if let Some(callback) = self.callback.get() {
            let _s = CallbackScope::enter(self.id);
            for mut e in events {
                e.sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
                panicked.run(|| callback(&e));
            }
        } else {
            let mut q = self.queue.lock();
            for mut e in events {
                e.sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
                q.push(e);
            }
        }
    }

    /// Checks that floors and ceilings fit the budget with `member` in
    /// place of store `store_id`'s (or added).
    pub(super) fn check_member(s: &State, store_id: u64, member: &MemberConfig) -> Result<()> {
        member.validate()?;
        let others: u128 = s
            .members
            .iter()
            .filter(|m| m.id != store_id)
            .map(|m| u128::from(m.config.floor_bytes))
            .sum();
        let floors = others + u128::from(member.floor_bytes);
        if floors > u128::from(s.config.budget_bytes) {
            return Err(Error::invalid(format!(
                "the members' floors would add up to {floors} bytes, above the governor's \
                 budget of {} bytes",
                s.config.budget_bytes
            )));
        }
        Ok(())
    }

    /// A new budget; `InvalidArgument` below the members' floors.
    pub(super) fn check_budget(s: &State, budget: u64) -> Result<()> {
        let floors = s.floors();
        if u128::from(budget) < floors {
            return Err(Error::invalid(format!(
                "a budget of {budget} bytes is below the members' floors ({floors} bytes)"
            )));
        }
        Ok(())
    }

    /// A member grew by up to `growth` bytes that its room did not cover:
    /// a pass, or, when another thread's pass is running, the growth is
    /// covered at once, so that the total does not run past the budget for
    /// as long as that pass takes (two threads putting into two members
    /// once took the total to twice the budget and more).
    ///
    /// That pass runs again for it (`pending`), and meanwhile the growth
    /// takes from what the rooms that pass closed had left (`spare`); past
    /// that, this thread reads the members' usages and takes what the total
    /// is over its target, up to `growth`, from the members in the pass's
    /// order (lowest priority first, never below a floor). The two may
    /// take the same bytes (the pass may have read this growth too): the
    /// total then ends a little under the target, never over it. Inside
    /// this governor's own callbacks (a listener run by a shed that puts)
    /// only the note is left, as before: no shed runs inside a shed.
    pub(crate) fn enforce_after_growth(&self, growth: u64) {
        if self.enforce_if_free() || inside_store_callback(self.id) {
            return;
        }
        let from_spare = self
            .spare
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                s.checked_sub(growth)
            });
        if from_spare.is_err() {
            self.take_growth_now(growth);
        }
    }

    /// Runs passes until no one asked for another.
    pub(super) fn enforce(&self) {
        self.enforce_if_free();
    }

    /// [`enforce`](Self::enforce): `false` when another thread was
    /// enforcing (it runs another pass for this call: `pending`) and this
    /// one ran none.
    /// A panic of a store's or the governor's callbacks goes on after the
    /// pass, with `enforcing` cleared (`held_panic`).
    fn enforce_if_free(&self) -> bool {
        self.pending.store(true, Ordering::SeqCst);
        let mut ran = false;
        let mut panicked = HeldPanic::new();
        loop {
            if self
                .enforcing
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // The enforcing thread sees `pending` before it stops.
                panicked.resume();
                return ran;
            }
            ran = true;
            let mut events = Vec::new();
            while self.pending.swap(false, Ordering::SeqCst) {
                // Callbacks run inside a pass (a store's listener, a value's
                // drop) see themselves inside this governor: freeing it
                // from there is refused instead of waiting for itself.
                let _scope = CallbackScope::enter(self.id);
                self.pass(&mut events, &mut panicked);
                self.deliver_held(std::mem::take(&mut events), &mut panicked);
            }
            self.enforcing.store(false, Ordering::SeqCst);
            if !self.pending.load(Ordering::SeqCst) {
                panicked.resume();
                return true;
            }
        }
    }

    /// [`enforce_after_growth`](Self::enforce_after_growth) past the spare:
    /// takes what the total is over the budget in force, up to `growth`,
    /// from the members in the pass's order, records it and reports it.
    #[cold]
    fn take_growth_now(&self, growth: u64) {
        if self.retired.load(Ordering::SeqCst) {
            return;
        }
        // As in a pass, callbacks run here see themselves inside this
        // governor: reading the usages drops the members' expired entries
        // and runs their listeners, and a free of the governor from one
        // would wait for this call (which holds it) for good.
        let _scope = CallbackScope::enter(self.id);
        let (mut seen, target, cause) = {
            let s = self.state.lock();
            (
                Self::seen(&s),
                s.budget_in_force(),
                budget_cause(s.level, false),
            )
        };
        let mut panicked = HeldPanic::new();
        Self::read_usages(&mut seen, &mut panicked);
        let total: u64 = seen.iter().fold(0u64, |a, m| a.saturating_add(m.usage));
        let over = total.saturating_sub(target).min(growth);
        if over != 0 {
            let mut sheds = Vec::new();
            Self::take_in_order(&mut seen, over, cause, &mut sheds, &mut panicked);
            let mut events = Vec::new();
            self.record(&mut self.state.lock(), &sheds, &mut events);
            self.deliver_held(events, &mut panicked);
        }
        panicked.resume();
    }

    /// The members as the state lists them (usages not read yet).
    fn seen(s: &State) -> Vec<Seen> {
        s.members
            .iter()
            .enumerate()
            .map(|(order, m)| Seen {
                store: m.store.clone(),
                id: m.id,
                config: m.config,
                order,
                usage: 0,
            })
            .collect()
    }

    /// Each member's usage once its expired entries are gone (they leave
    /// as EXPIRED before any live entry is shed), one store at a time, no
    /// governor lock held; a member whose store is gone is left out.
    fn read_usages(seen: &mut Vec<Seen>, panicked: &mut HeldPanic) {
        seen.retain_mut(|m| match m.store.upgrade() {
            Some(store) => {
                m.usage = store.usage_without_expired(panicked);
                true
            }
            None => false,
        });
    }

    /// Takes up to `need` bytes from `m`, never below its floor; what it
    /// freed.
    fn take(
        m: &mut Seen,
        need: u64,
        cause: ShedCause,
        sheds: &mut Vec<ShedDone>,
        panicked: &mut HeldPanic,
    ) -> u64 {
        if need == 0 || m.usage <= m.config.floor_bytes {
            return 0;
        }
        let Some(store) = m.store.upgrade() else {
            return 0;
        };
        let shed = store.shed(need, m.config.floor_bytes, panicked);
        drop(store);
        m.usage -= shed.bytes.min(m.usage);
        if shed.count > 0 {
            sheds.push((m.id, cause, shed, m.usage));
        }
        shed.bytes
    }

    /// Takes `over` bytes from the members, lowest priority first; among
    /// equals, the member with the most above its floor first, then the
    /// earliest joined. What is left unmet.
    fn take_in_order(
        seen: &mut [Seen],
        mut over: u64,
        cause: ShedCause,
        sheds: &mut Vec<ShedDone>,
        panicked: &mut HeldPanic,
    ) -> u64 {
        if over == 0 {
            return 0;
        }
        let mut order: Vec<usize> = (0..seen.len()).collect();
        order.sort_by_key(|&i| {
            let m = &seen[i];
            (
                m.config.priority,
                std::cmp::Reverse(m.usage.saturating_sub(m.config.floor_bytes)),
                m.order,
            )
        });
        for i in order {
            if over == 0 {
                break;
            }
            let freed = Self::take(&mut seen[i], over, cause, sheds, panicked);
            over -= freed.min(over);
        }
        over
    }

    /// Adds `sheds` to the governor's and the members' counts, with an
    /// event each.
    fn record(&self, s: &mut State, sheds: &[ShedDone], events: &mut Vec<GovernorEvent>) {
        for &(id, cause, shed, usage) in sheds {
            s.shed_bytes = s.shed_bytes.saturating_add(shed.bytes);
            s.shed_entries += shed.count;
            if let Some(p) = s.position(id) {
                let m = &mut s.members[p];
                m.shed_bytes[cause as usize] =
                    m.shed_bytes[cause as usize].saturating_add(shed.bytes);
                m.shed_entries += shed.count;
            }
            let mut e = self.event(GovernorEventKind::Shed, s);
            e.store_id = id;
            e.cause = cause;
            e.bytes = shed.bytes;
            e.count = shed.count;
            e.store_usage = usage;
            events.push(e);
        }
    }

    /// One pass: ceilings, then the budget; records and reports.
    fn pass(&self, events: &mut Vec<GovernorEvent>, panicked: &mut HeldPanic) {
        if self.retired.load(Ordering::SeqCst) {
            return;
        }
        let (mut seen, target_of, signal) = {
            let mut s = self.state.lock();
            let signal = std::mem::take(&mut s.signal_due);
            (
                Self::seen(&s),
                (s.budget_in_force(), s.keep(), s.level),
                signal,
            )
        };
        // Every member's room closed before any usage is read: a put
        // landing from here on asks for another pass (`member.rs`: room),
        // and takes from what the rooms had left meanwhile (`spare`).
        // Then the usages, one store at a time, no governor lock held.
        let mut unused = 0u64;
        for m in &seen {
            if let Some(store) = m.store.upgrade() {
                unused = unused.saturating_add(store.membership().close_room());
            }
        }
        self.spare.store(unused, Ordering::SeqCst);
        Self::read_usages(&mut seen, panicked);
        let mut sheds: Vec<ShedDone> = Vec::new();
        // Ceilings first: a member above its own is shed down to it.
        for m in seen.iter_mut() {
            if let Some(ceiling) = m.config.ceiling_bytes
                && m.usage > ceiling
            {
                let need = m.usage - ceiling;
                Self::take(m, need, ShedCause::Ceiling, &mut sheds, panicked);
            }
        }
        // Then the total, in the members' order (`take_in_order`).
        let (held, keep, level) = target_of;
        let total: u64 = seen.iter().fold(0u64, |a, m| a.saturating_add(m.usage));
        let target = if signal {
            held.min(scaled(total, keep))
        } else {
            held
        };
        let cause = budget_cause(level, signal);
        let over = Self::take_in_order(
            &mut seen,
            total.saturating_sub(target),
            cause,
            &mut sheds,
            panicked,
        );
        let total: u64 = seen.iter().fold(0u64, |a, m| a.saturating_add(m.usage));
        // What puts took from the spare while this pass ran may be missing
        // from the usages it read: the rooms leave it out (they err low).
        let spare_taken = unused.saturating_sub(self.spare.swap(0, Ordering::SeqCst));
        // The room the next puts into each member may grow by without a
        // pass: what its ceiling leaves, and an equal share of what the
        // target leaves them all (the shares add up to at most that). None
        // (0) while anything is left unmet (the total over its target, a
        // member over its ceiling: pins or floors held it): then every put
        // into any member runs a pass, as an unpin or a released handle may
        // have made room to shed.
        let unmet = total > target
            || seen
                .iter()
                .any(|m| m.config.ceiling_bytes.is_some_and(|c| m.usage > c));
        let share = if unmet || seen.is_empty() {
            0
        } else {
            (target - total).saturating_sub(spare_taken) / seen.len() as u64
        };
        // Retired meanwhile: its members may be another governor's now.
        if !self.retired.load(Ordering::SeqCst) {
            for m in &seen {
                if let Some(store) = m.store.upgrade() {
                    let ceiling_room = m
                        .config
                        .ceiling_bytes
                        .map_or(u64::MAX, |c| c.saturating_sub(m.usage));
                    store.membership().open_room(ceiling_room.min(share));
                }
            }
        }
        // Record, then report.
        let mut s = self.state.lock();
        s.last_total = total;
        self.record(&mut s, &sheds, events);
        let was_unmet = s.unmet > 0;
        s.unmet = over;
        if over > 0 && !was_unmet {
            let mut e = self.event(GovernorEventKind::Unmet, &s);
            e.cause = cause;
            e.bytes = over;
            events.push(e);
        }
    }

    /// Removes store `store_id` (dropped: its weak link is dead) and
    /// reports it.
    pub(crate) fn forget_dropped(&self, store_id: u64) {
        let event = {
            let mut s = self.state.lock();
            let Some(p) = s.position(store_id) else {
                return;
            };
            // The member's weak link is dead: dropping it runs no store code.
            s.members.remove(p);
            let mut e = self.event(GovernorEventKind::Left, &s);
            e.store_id = store_id;
            e
        };
        self.deliver(vec![event]);
    }

    /// The metrics, reading each member's usage with no governor lock held.
    pub(super) fn metrics(&self) -> GovernorMetrics {
        let (mut m, stores) = {
            let s = self.state.lock();
            let members = s
                .members
                .iter()
                .map(|m| MemberMetrics {
                    store_id: m.id,
                    priority: m.config.priority,
                    floor_bytes: m.config.floor_bytes,
                    ceiling_bytes: m.config.ceiling_bytes.unwrap_or(0),
                    usage_bytes: 0,
                    entry_count: 0,
                    shed_bytes_by_cause: m.shed_bytes,
                    shed_entries: m.shed_entries,
                })
                .collect();
            let stores: Vec<Weak<dyn Governed>> =
                s.members.iter().map(|m| m.store.clone()).collect();
            (
                GovernorMetrics {
                    budget_bytes: s.config.budget_bytes,
                    budget_in_force: s.budget_in_force(),
                    level: s.level,
                    total_usage: 0,
                    shed_bytes: s.shed_bytes,
                    shed_entries: s.shed_entries,
                    unmet_bytes: s.unmet,
                    members,
                },
                stores,
            )
        };
        let mut panicked = HeldPanic::new();
        for (mm, w) in m.members.iter_mut().zip(stores) {
            if let Some(store) = w.upgrade() {
                (mm.usage_bytes, mm.entry_count) = store.usage(&mut panicked);
            }
            m.total_usage = m.total_usage.saturating_add(mm.usage_bytes);
        }
        panicked.resume();
        m
    }

    pub(super) fn not_member(store_id: u64) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("store {store_id} is not a member of this governor"),
        )
    }
}

impl Drop for GovernorCore {
    /// Members stay stores: each is unlinked (no store refers to a gone
    /// governor). Dropping an upgraded store here may drop the store, whose
    /// link then finds this governor gone.
    fn drop(&mut self) {
        let me: *const GovernorCore = self;
        for m in std::mem::take(&mut self.state.get_mut().members) {
            if let Some(store) = m.store.upgrade()
                && store.membership().is_linked_to(me)
            {
                store.membership().unlink();
            }
        }
    }
}
