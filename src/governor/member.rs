//! What a governor knows of a store, and what a store knows of its
//! governor.
//!
//! The governor holds each member as a `Weak<dyn Governed>` (the store's
//! shared core, type-erased): it never keeps a store alive, and upgrades one
//! member at a time, only for the call it makes on it (its usage, a shed),
//! with no lock of its own held. The store holds its [`Membership`]: a weak
//! link back, read after each call that may grow it, and the store's leave
//! when it is dropped (a store freed while in a governor leaves it).
//!
//! Room: after each pass the governor gives every member the bytes it may
//! still grow by before the pass could shed anything (`room`): the least of
//! what its ceiling leaves and an equal share of what the budget leaves
//! (the shares add up to at most that). A put into a member takes its
//! growth from its room and skips the pass when the room had it (growth is
//! counted, shrinking is not, so the room only errs low); when it is short
//! or closed (0), the pass runs and sets every room again. A pass closes
//! every member's room (0) before it reads any usage, so a put that lands
//! while a pass runs finds no room and asks for another pass. One atomic
//! on the put's path, no lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::core::GovernorCore;
use crate::callbacks::CallbackScope;
use crate::held_panic::HeldPanic;

/// What one shed took from a store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shed {
    pub bytes: u64,
    pub count: u64,
}

/// A store as its governor sees it (implemented by the store's core).
pub(crate) trait Governed: Send + Sync {
    /// The store's id (`Store::id`).
    fn store_id(&self) -> u64;

    /// Charged bytes and entries present (each shard read under its lock).
    /// A panic of the store's callbacks (effects of bringing a shard up to
    /// date) is held in `panicked` (`held_panic`).
    fn usage(&self, panicked: &mut HeldPanic) -> (u64, u64);

    /// Charged bytes present once the store's expired entries are removed
    /// (reason EXPIRED, not counted as evictions): what a pass sheds from,
    /// so that it evicts live entries only for what expired ones do not
    /// give.
    fn usage_without_expired(&self, panicked: &mut HeldPanic) -> u64;

    /// Evicts in strategy order, reason GOVERNOR, until `need` bytes are
    /// freed, never taking the store's usage below `floor` (it stops at
    /// the first victim that would, checked under the store's lock).
    /// Pinned and in-use entries are skipped. Runs with no governor lock
    /// held; the store delivers its own effects, holding a callback's panic
    /// in `panicked`.
    fn shed(&self, need: u64, floor: u64, panicked: &mut HeldPanic) -> Shed;

    /// The store's side of the link.
    fn membership(&self) -> &Membership;
}

/// A store's link to the governor it is a member of (at most one).
pub(crate) struct Membership {
    /// The store's id (`Store::id`).
    store_id: u64,
    /// Whether the store is in a governor: the one check on the put path
    /// when it is not.
    active: AtomicBool,
    governor: Mutex<Option<Link>>,
    /// The bytes the store may grow by before its ceiling could be passed
    /// (see the module doc).
    room: AtomicU64,
}

/// The store's governor.
struct Link {
    core: Weak<GovernorCore>,
    /// The governor's `retired` flag: set, it holds its members no more
    /// (its C handle was freed; a call in flight may keep it alive).
    retired: Arc<AtomicBool>,
}

impl Membership {
    /// The link of store `store_id`, in no governor yet.
    pub(crate) fn new(store_id: u64) -> Self {
        Membership {
            store_id,
            active: AtomicBool::new(false),
            governor: Mutex::new(None),
            room: AtomicU64::new(0),
        }
    }

    /// Links the store to `governor` (whose `retired` flag is `retired`);
    /// false if it already is in one (a governor since dropped, or retired,
    /// does not count).
    pub(super) fn link(&self, governor: Weak<GovernorCore>, retired: Arc<AtomicBool>) -> bool {
        let mut g = self.governor.lock();
        if g.as_ref()
            .is_some_and(|l| l.core.strong_count() > 0 && !l.retired.load(Ordering::SeqCst))
        {
            return false;
        }
        // No room until the governor's next pass measures the store.
        self.room.store(0, Ordering::SeqCst);
        *g = Some(Link {
            core: governor,
            retired,
        });
        self.active.store(true, Ordering::Release);
        true
    }

    /// Unlinks the store (it left, or its governor is going away).
    pub(super) fn unlink(&self) {
        self.active.store(false, Ordering::Release);
        *self.governor.lock() = None;
    }

    /// Whether the store is linked to the governor `core` points at.
    pub(super) fn is_linked_to(&self, core: *const GovernorCore) -> bool {
        self.governor
            .lock()
            .as_ref()
            .is_some_and(|l| std::ptr::eq(l.core.as_ptr(), core))
    }

    /// No room until the pass that calls this sets it again (before it
    /// reads the store's usage); returns what the room had left.
    pub(super) fn close_room(&self) -> u64 {
        self.room.swap(0, Ordering::SeqCst)
    }

    /// The bytes the store may grow by before its next put runs a pass.
    #[cfg(test)]
    pub(crate) fn room(&self) -> u64 {
        self.room.load(Ordering::SeqCst)
    }

    /// The room a pass leaves the store (what its ceiling and its share of
    /// the budget allow).
    pub(super) fn open_room(&self, room: u64) {
        self.room.store(room, Ordering::SeqCst);
    }

    /// Whether the store is in a governor (one relaxed load): a put then
    /// hashes its key for `after_put`.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Called after a call that may have grown the store by at most
    /// `growth` bytes (a put, a cached load), with no lock of the store
    /// held: unless the room the last pass left covers it, the governor
    /// checks its budget and the store's ceiling. One relaxed load when the
    /// store is in no governor. `key_hash` gives the hash of the key put
    /// (called only when a pass runs, off the put's fast path): the
    /// pass it runs on this thread takes that entry from this store last
    /// (`just_put`), only if the others are not enough, as the store's own
    /// reactions never take the entry just put. Without that, a SIZE member
    /// gave its new entry first whenever it was its largest, and an LFU
    /// member whose entries had been read gave every new key back at once
    /// (count 1, the first in its order): its put returned OK and the entry
    /// was gone.
    #[inline]
    pub(crate) fn after_put(&self, growth: u64, key_hash: impl FnOnce() -> u64) {
        if !self.is_active() {
            return;
        }
        self.after_put_in_governor(growth, key_hash);
    }

    /// `after_put` in a governor: out of line, so that the key's hash (and
    /// what it keeps alive) costs an ungoverned put nothing.
    #[inline(never)]
    fn after_put_in_governor(&self, growth: u64, key_hash: impl FnOnce() -> u64) {
        if self.take_room(growth) {
            return;
        }
        let _spare = JustPut::enter(self.store_id, key_hash());
        self.notify(growth);
    }

    /// Takes `growth` from the store's room; false if it is short or closed
    /// (0: a pass is running; the last one left the total at its target or
    /// the store at its ceiling; or it left something unmet, which closes
    /// every room: then every put into any member runs a pass, even one
    /// that grew nothing, since an unpin or a released handle may have made
    /// room to shed). What was taken stays taken: the next pass measures
    /// again.
    #[inline]
    fn take_room(&self, growth: u64) -> bool {
        self.room
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                if r == 0 { None } else { r.checked_sub(growth) }
            })
            .is_ok()
    }

    /// Runs the pass, inside a callback scope of the store that grew: the
    /// pass may run user code of other stores (their listeners, released
    /// values) and the governor's event callback, and a free of this store
    /// from there must be refused (`BUSY`), not wait for the call it runs
    /// inside. The C layer relies on this to keep puts off its list of calls
    /// (`ffi::handles::HandleTable::with_own_callbacks_only`).
    #[cold]
    fn notify(&self, growth: u64) {
        let governor = self.governor.lock().as_ref().and_then(|l| l.core.upgrade());
        if let Some(g) = governor {
            let _scope = CallbackScope::enter(self.store_id);
            g.enforce_after_growth(growth);
        }
    }
}

thread_local! {
    /// While a put's governor pass runs on this thread: its store's id,
    /// its key's hash (`Membership::after_put`), and whether that entry is
    /// not to be taken at all for now (`spare_strictly`).
    static JUST_PUT: Cell<Option<(u64, u64, bool)>> = const { Cell::new(None) };
}

/// The scope of [`JUST_PUT`]: restores what was there (a pass run by a
/// listener inside another's) when it ends, unwinding included.
struct JustPut(Option<(u64, u64, bool)>);

impl JustPut {
    fn enter(store_id: u64, key_hash: u64) -> Self {
        JustPut(JUST_PUT.with(|c| c.replace(Some((store_id, key_hash, false)))))
    }
}

impl Drop for JustPut {
    fn drop(&mut self) {
        JUST_PUT.with(|c| c.set(self.0));
    }
}

/// The hash of the key a put into store `store_id` has just put, while
/// the governor pass that put runs on this thread, and whether it is
/// spared strictly: that member's take takes it last
/// (`MemoryManager::collect_shed_victims`), or not at all while strict.
pub(crate) fn just_put(store_id: u64) -> Option<(u64, bool)> {
    JUST_PUT
        .with(Cell::get)
        .and_then(|(id, hash, strict)| (id == store_id).then_some((hash, strict)))
}

/// Runs `f` with the entry just put into store `store_id` (if any) spared
/// strictly: a store of several shards asks every shard without it first,
/// so that it is taken last across the shards, not only within its own.
pub(crate) fn spare_strictly<R>(store_id: u64, f: impl FnOnce() -> R) -> R {
    let Some((hash, _)) = just_put(store_id) else {
        return f();
    };
    let _scope = JustPut(JUST_PUT.with(|c| c.replace(Some((store_id, hash, true)))));
    f()
}

impl Drop for Membership {
    /// A store dropped while in a governor leaves it.
    fn drop(&mut self) {
        let governor = self
            .governor
            .get_mut()
            .take()
            .and_then(|l| l.core.upgrade());
        if let Some(g) = governor {
            // The governor's event callback (the LEFT event) may panic.
            crate::held_panic::caught_in_drop(|| g.forget_dropped(self.store_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Governor, GovernorConfig, MemberConfig, MemoryConfig, Store};

    type Charged = Store<String, u64>;

    fn store() -> Charged {
        Store::with_estimator(MemoryConfig::default(), |_: &String, v: &u64| *v).unwrap()
    }

    fn room(s: &Charged) -> u64 {
        s.governed().membership().room()
    }

    /// Each pass leaves every member the least of what its ceiling leaves
    /// and an equal share of what the budget leaves; a put that fits its
    /// room takes from it and runs no pass (the rooms stay as they were);
    /// one that does not runs a pass, which shares the budget again.
    #[test]
    fn each_member_gets_its_share_of_what_the_budget_leaves() {
        let g = Governor::new(GovernorConfig::with_budget(1000)).unwrap();
        let (a, b) = (store(), store());
        g.join(&a, MemberConfig::with_priority(0)).unwrap();
        let capped = MemberConfig {
            ceiling_bytes: Some(300),
            ..MemberConfig::with_priority(1)
        };
        g.join(&b, capped).unwrap();
        assert_eq!((room(&a), room(&b)), (500, 300));
        a.put("x".into(), 200).unwrap();
        assert_eq!((room(&a), room(&b)), (300, 300), "taken, no pass");
        a.put("y".into(), 400).unwrap();
        // Short: a pass with the total at 600 shares the 400 left.
        assert_eq!((room(&a), room(&b)), (200, 200));
        b.put("z".into(), 150).unwrap();
        assert_eq!((room(&a), room(&b)), (200, 50));
        // Short again, and over `b`'s ceiling: the pass sheds `b` alone
        // (its oldest, "z") to 200; the total, 800, leaves 100 each.
        b.put("w".into(), 200).unwrap();
        assert_eq!(a.metrics().current_usage, 600);
        assert_eq!(b.metrics().current_usage, 200);
        assert!(!b.contains("z"));
        assert_eq!((room(&a), room(&b)), (100, 100));
        // Over the budget (1,100): `a` (lowest priority) gives its oldest
        // ("x", 200); the 100 left are shared.
        a.put("v".into(), 300).unwrap();
        assert_eq!(a.metrics().current_usage, 700);
        assert!(!a.contains("x"));
        assert_eq!((room(&a), room(&b)), (50, 50));
    }
}
