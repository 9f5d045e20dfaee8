//! What a governor knows of a store, and what a store knows of its
//! governor.
//!
//! The governor holds each member as a `Weak<dyn Governed>` (the store's
//! shared core, type-erased): it never keeps a store alive, and upgrades one
//! member at a time, only for the call it makes on it (its usage, a shed),
//! with no lock of its own held. The store holds its [`Membership`]: a weak
//! link back, read after each call that may grow it, and the store's leave
//! when it is dropped (a store freed while in a governor leaves it).

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::core::GovernorCore;

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
    fn usage(&self) -> (u64, u64);

    /// Evicts in strategy order, reason GOVERNOR, until `need` bytes are
    /// freed, never taking the store's usage below `floor` (it stops at
    /// the first victim that would, checked under the store's lock).
    /// Pinned and in-use entries are skipped. Runs with no governor lock
    /// held; the store delivers its own effects.
    fn shed(&self, need: u64, floor: u64) -> Shed;

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
    governor: Mutex<Option<Weak<GovernorCore>>>,
}

impl Membership {
    /// The link of store `store_id`, in no governor yet.
    pub(crate) fn new(store_id: u64) -> Self {
        Membership {
            store_id,
            active: AtomicBool::new(false),
            governor: Mutex::new(None),
        }
    }

    /// Links the store to `governor`; false if it already is in one (a
    /// governor since dropped does not count).
    pub(super) fn link(&self, governor: Weak<GovernorCore>) -> bool {
        let mut g = self.governor.lock();
        if g.as_ref().is_some_and(|w| w.strong_count() > 0) {
            return false;
        }
        *g = Some(governor);
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
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), core))
    }

    /// Called after a call that may have grown the store (a put, a cached
    /// load), with no lock of the store held: the governor checks its
    /// budget and the store's ceiling. One relaxed load when the store is
    /// in no governor.
    #[inline]
    pub(crate) fn after_growth(&self) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        self.notify();
    }

    #[cold]
    fn notify(&self) {
        let governor = self.governor.lock().as_ref().and_then(Weak::upgrade);
        if let Some(g) = governor {
            g.enforce_after_growth(self.store_id);
        }
    }
}

impl Drop for Membership {
    /// A store dropped while in a governor leaves it.
    fn drop(&mut self) {
        let governor = self.governor.get_mut().take().and_then(|w| w.upgrade());
        if let Some(g) = governor {
            g.forget_dropped(self.store_id);
        }
    }
}
