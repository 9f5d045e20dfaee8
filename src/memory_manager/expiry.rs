//! Expiry (opt-in): time to live per store and per put, time to idle per
//! store, on the store's clock. Kept beside the entries, only by stores that
//! use it: a slot's deadlines are set whenever a put fills the slot, so a
//! slot reused by another entry never inherits them, and the check on the
//! read path of a store without expiry is one test (`expiry.is_some()`).
//!
//! A read that finds an expired entry treats it as a miss and notes its
//! slot; the next call's `begin` removes it (reason EXPIRED), after checking
//! again that the slot still holds an expired entry. `sweep_expired` removes
//! every expired entry at once. Pinned entries never expire while pinned.
//!
//! A put that needs room, and a pressure signal's shed, take expired
//! entries before live ones: a queue of deadlines, soonest first, finds
//! them (`take_expired`) without a pass over the entries. The queue is
//! checked lazily: a read that restarts an entry's time to idle does not
//! touch it (the read path stays as it was); an item whose slot's deadline
//! moved is put back under the later deadline when it comes up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use super::*;

#[derive(Clone, Copy, Debug)]
struct Deadline {
    /// The time to live's end (`u64::MAX`: none).
    hard: u64,
    /// The last access (the put, or the last hit).
    last_access: u64,
}

pub(crate) struct Expiry {
    ttl_ns: u64,
    tti_ns: u64,
    /// The current call's time, set by `begin`.
    now: u64,
    /// The TTL of the put in progress (`Store::put_with_ttl`).
    next_ttl_ns: Option<u64>,
    deadlines: HashMap<u32, Deadline, crate::key_hasher::KeyHasher>,
    /// Slots a read found expired, removed by the next call's `begin`.
    seen: Vec<u32>,
    /// How many entries the current call's `begin` removed (a sweep counts
    /// them as its own: they went in the sweep's call).
    removed_by_begin: usize,
    /// The slot a read last restarted the time to idle of, and its last
    /// access before: a read that then fails gives it back (`read_failed`).
    touched: (u32, u64),
    /// (deadline, slot) for every deadline set, soonest first. An item is
    /// current while its slot's deadline (`due`) is the one it carries;
    /// others are stale (the slot re-stamped, emptied, or read since) and
    /// are dropped or put back under the slot's deadline when they come up.
    /// Rebuilt from `deadlines` when stale items outnumber them.
    queue: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Expiry {
    pub fn new(config: &MemoryConfig, now: u64) -> Self {
        Expiry {
            ttl_ns: config.ttl_ms.saturating_mul(1_000_000),
            tti_ns: config.tti_ms.saturating_mul(1_000_000),
            now,
            next_ttl_ns: None,
            deadlines: HashMap::default(),
            seen: Vec::new(),
            removed_by_begin: 0,
            touched: (u32::MAX, 0),
            queue: BinaryHeap::new(),
        }
    }

    fn expired(&self, d: &Deadline) -> bool {
        self.now >= d.hard
            || (self.tti_ns != 0 && self.now.saturating_sub(d.last_access) >= self.tti_ns)
    }

    /// When `d` runs out: the earlier of its time to live's end and its
    /// time to idle's (`expired(d)` is `now >= due(d)`).
    fn due(&self, d: &Deadline) -> u64 {
        if self.tti_ns == 0 {
            d.hard
        } else {
            d.hard.min(d.last_access.saturating_add(self.tti_ns))
        }
    }

    /// Queues slot `i`'s deadline (if it has one); rebuilds the queue from
    /// the deadlines once stale items would outnumber them.
    fn enqueue(&mut self, i: u32) {
        let Some(d) = self.deadlines.get(&i) else {
            return;
        };
        let due = self.due(d);
        if self.queue.len() >= 2 * self.deadlines.len() + 64 {
            let queue = self
                .deadlines
                .iter()
                .map(|(&slot, d)| Reverse((self.due(d), slot)))
                .collect();
            self.queue = queue;
            return;
        }
        self.queue.push(Reverse((due, i)));
    }

    fn is_expired(&self, i: u32) -> bool {
        self.deadlines.get(&i).is_some_and(|d| self.expired(d))
    }
}

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Whether the store uses expiry (configured, or a `put_with_ttl`).
    #[inline(always)]
    pub(super) fn expiry_on(&self) -> bool {
        self.expiry.is_some()
    }

    /// Turns expiry on (the first `put_with_ttl` of a store without a
    /// configured TTL or TTI) and sets the TTL of the next put.
    pub fn set_next_ttl(&mut self, ttl_ns: u64, now: &Now<'_>) {
        let expiry = self
            .expiry
            .get_or_insert_with(|| Box::new(Expiry::new(&self.config, now.get())));
        expiry.now = now.get();
        expiry.next_ttl_ns = Some(ttl_ns);
        self.time_based = true;
    }

    /// Forgets a `set_next_ttl` whose put failed.
    pub fn clear_next_ttl(&mut self) {
        if let Some(x) = &mut self.expiry {
            x.next_ttl_ns = None;
        }
    }

    /// `begin`'s part: the call's time, and the removal of what reads saw
    /// expired.
    pub(super) fn begin_expiry(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) {
        let Some(x) = &mut self.expiry else {
            return;
        };
        x.now = now.get();
        x.removed_by_begin = 0;
        if x.seen.is_empty() {
            return;
        }
        let seen = std::mem::take(&mut x.seen);
        let removed = self.remove_expired(seen, now, fx);
        if let Some(x) = &mut self.expiry {
            x.removed_by_begin = removed;
        }
    }

    /// Sets slot `i`'s deadlines after a put filled it (expiry on).
    #[cold]
    pub(super) fn stamp_expiry(&mut self, i: u32) {
        let Some(x) = &mut self.expiry else {
            return;
        };
        let ttl = x.next_ttl_ns.take().unwrap_or(x.ttl_ns);
        let hard = if ttl == 0 {
            u64::MAX
        } else {
            x.now.saturating_add(ttl)
        };
        if hard == u64::MAX && x.tti_ns == 0 {
            x.deadlines.remove(&i);
        } else {
            x.deadlines.insert(
                i,
                Deadline {
                    hard,
                    last_access: x.now,
                },
            );
            x.enqueue(i);
        }
    }

    /// After slot `i` was unpinned: its deadline, which `take_expired` let
    /// go while the entry was pinned, is queued again.
    #[cold]
    pub(super) fn requeue_expiry(&mut self, i: u32) {
        if let Some(x) = &mut self.expiry {
            x.enqueue(i);
        }
    }

    /// Queues again the expired entries `take_expired` gave to a call that
    /// was then refused (it removed none of them).
    #[cold]
    pub fn requeue_expired(&mut self, expired: &[u32]) {
        for &i in expired {
            self.requeue_expiry(i);
        }
    }

    /// The charges of the entries in `slots` (expired entries a call plans
    /// to remove before it evicts).
    pub(super) fn charges_of(&self, slots: &[u32]) -> u64 {
        slots.iter().map(|&i| self.entries.get(i).charge()).sum()
    }

    /// The unpinned entries expired now (in slot order), but for
    /// `keep` (a put's own key, whose expired entry the put replaces; its
    /// item stays queued). Changes no entry: the caller removes them
    /// (`remove_expired`) or not; their items leave the queue either way
    /// and they stay findable by reads and `sweep_expired`. Pinned expired
    /// entries leave the queue until unpinned (`requeue_expiry`).
    #[cold]
    pub(super) fn take_expired(&mut self, keep: Option<u32>) -> Vec<u32> {
        let entries = &self.entries;
        let Some(x) = &mut self.expiry else {
            return Vec::new();
        };
        let now = x.now;
        let mut expired = Vec::new();
        while let Some(&Reverse((at, i))) = x.queue.peek() {
            if at > now {
                break;
            }
            x.queue.pop();
            if !entries.is_occupied(i) {
                // Emptied by another removal: its deadline is stale too.
                x.deadlines.remove(&i);
                continue;
            }
            let Some(d) = x.deadlines.get(&i) else {
                continue;
            };
            let due = x.due(d);
            if due > now {
                // Read (or re-stamped) since it was queued.
                if due != at {
                    x.queue.push(Reverse((due, i)));
                }
                continue;
            }
            if entries.get(i).pinned() || Some(i) == keep {
                continue;
            }
            expired.push(i);
        }
        if let Some(i) = keep
            && x.deadlines.get(&i).is_some_and(|d| x.due(d) <= now)
        {
            x.enqueue(i);
        }
        // In slot order, as `sweep_expired` removes them (a slot with two
        // items, a stale one among them, comes once).
        expired.sort_unstable();
        expired.dedup();
        expired
    }

    /// On a read of slot `i` (expiry on): whether it is expired (then the
    /// read is a miss, and the slot is noted for removal); otherwise a hit
    /// starts its time to idle again.
    #[cold]
    pub(super) fn expired_on_read(&mut self, i: u32) -> bool {
        let pinned = self.entries.get(i).pinned();
        let Some(x) = &mut self.expiry else {
            return false;
        };
        let now = x.now;
        let expired = match x.deadlines.get(&i) {
            None => false,
            Some(d) => x.expired(d),
        };
        if expired && !pinned {
            x.seen.push(i);
            return true;
        }
        if let Some(d) = x.deadlines.get_mut(&i) {
            x.touched = (i, d.last_access);
            d.last_access = now;
        }
        false
    }

    /// A read of live slot `i` that failed after `expired_on_read` (a
    /// `get_copy` size query, a read of the wrong kind) was no access: the
    /// time to idle it restarted is given back. Returns `error`.
    #[cold]
    pub(super) fn read_failed(&mut self, i: u32, error: Error) -> Error {
        if let Some(x) = &mut self.expiry
            && x.touched.0 == i
            && let Some(d) = x.deadlines.get_mut(&i)
        {
            d.last_access = x.touched.1;
        }
        error
    }

    /// An expired entry is absent to every call that names its key: if slot
    /// `i`'s is, it leaves now (EXPIRED, one EVICTION event) and this says
    /// so.
    pub(super) fn take_if_expired(
        &mut self,
        i: u32,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> bool {
        if !(self.expiry_on() && self.expired_now(i)) {
            return false;
        }
        self.remove_expired(vec![i], now, fx);
        true
    }

    /// Whether slot `i` is expired (a read that changes nothing).
    pub(super) fn expired_now(&self, i: u32) -> bool {
        self.expiry
            .as_ref()
            .is_some_and(|x| !self.entries.get(i).pinned() && x.is_expired(i))
    }

    /// Removes the expired, unpinned entries among `slots` (reason
    /// EXPIRED, one EVICTION event); forgets the deadlines of empty slots,
    /// and reports the level they leave.
    #[cold]
    #[inline(never)]
    pub(super) fn remove_expired(
        &mut self,
        slots: Vec<u32>,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> usize {
        let n = self.remove_expired_within(slots, now, fx);
        if n > 0 {
            self.update_level(now, fx);
        }
        n
    }

    /// [`remove_expired`](Self::remove_expired) for a call that goes on
    /// to change usage and reports the level once, at its end (a put that
    /// makes room, `set_max_bytes`): a level that held only between the
    /// two is no event.
    #[cold]
    #[inline(never)]
    pub(super) fn remove_expired_within(
        &mut self,
        slots: Vec<u32>,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> usize {
        let mut run = Run::default();
        for i in slots {
            if !self.entries.is_occupied(i) {
                if let Some(x) = &mut self.expiry {
                    x.deadlines.remove(&i);
                }
                continue;
            }
            if !self.expired_now(i) {
                continue;
            }
            if let Some(x) = &mut self.expiry {
                x.deadlines.remove(&i);
            }
            let charge = self.entries.get(i).charge();
            self.remove_slot(i, fx);
            if let Some(r) = fx.removed.last_mut() {
                r.reason = EvictionReason::Expired;
            }
            run.count += 1;
            run.bytes = run.bytes.saturating_add(charge);
        }
        let n = run.count as usize;
        self.finish_run(run, EvictionReason::Expired, now, fx);
        n
    }

    /// Removes every expired entry now; returns how many this call removed
    /// (those reads had found expired, which the call's `begin` removed
    /// first, included).
    pub fn sweep_expired(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) -> usize {
        let Some(x) = &mut self.expiry else {
            return 0;
        };
        x.now = now.get();
        x.seen.clear();
        let earlier = std::mem::take(&mut x.removed_by_begin);
        // In slot order, not the map's (its hasher is seeded per store):
        // the same calls give the same listener sequence, and free the
        // slots in the same order for later inserts to reuse.
        let mut slots: Vec<u32> = x.deadlines.keys().copied().collect();
        slots.sort_unstable();
        earlier + self.remove_expired(slots, now, fx)
    }
}
