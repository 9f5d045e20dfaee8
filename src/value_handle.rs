//! Counted read handles: a value stays alive while a handle holds it, and an
//! entry with a live handle is never evicted (evicting it would free no
//! memory).

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// The charged bytes of the values that read handles hold. Charges are
/// u64 and values held after removal are not bounded by the budget, so the
/// sum can pass u64::MAX: it is kept as a wrapping low word plus a count of
/// carries, and read saturated.
#[derive(Debug, Default)]
pub(crate) struct InUseBytes {
    low: AtomicU64,
    carries: AtomicU64,
}

impl InUseBytes {
    fn add(&self, n: u64) {
        let prev = self.low.fetch_add(n, Ordering::AcqRel);
        if prev.checked_add(n).is_none() {
            self.carries.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn sub(&self, n: u64) {
        let prev = self.low.fetch_sub(n, Ordering::AcqRel);
        if prev < n {
            self.carries.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The sum, saturated at u64::MAX.
    pub fn get(&self) -> u64 {
        let low = self.low.load(Ordering::Acquire);
        if self.carries.load(Ordering::Acquire) == 0 {
            low
        } else {
            u64::MAX
        }
    }
}

/// A store that can evict down to its budget in force on request.
pub(crate) trait BudgetKeeper: Send + Sync {
    fn enforce_budget(&self);
}

/// What read handles share with their store: the in-use byte count, and the
/// way back to the store for when releasing a handle must restore the
/// budget (an entry a handle kept from eviction made usage exceed the budget
/// in force; once the last handle goes, the store evicts down to it).
#[derive(Default)]
pub(crate) struct HandleLink {
    pub in_use: InUseBytes,
    /// One bit per shard: its usage is (or an eviction scan in progress may
    /// leave it) above its budget in force. Set before a scan under a held
    /// budget reads reader counts, and to the outcome at the end of every
    /// call.
    pub overdrawn: AtomicU64,
    /// A released handle asked for the budget to be restored while a long
    /// eviction run was in progress: the run does it when it ends.
    pub recheck: AtomicBool,
    pub store: OnceLock<Weak<dyn BudgetKeeper>>,
    /// The store's id (for the per-thread record of callbacks).
    pub store_id: u64,
}

/// A value as the store keeps it: the value, its charge, and how many read
/// handles hold it.
pub(crate) struct Stored<V> {
    pub value: V,
    pub charge: u64,
    readers: AtomicUsize,
}

impl<V> Stored<V> {
    pub fn new(value: V, charge: u64) -> Arc<Self> {
        Arc::new(Stored {
            value,
            charge,
            readers: AtomicUsize::new(0),
        })
    }

    pub fn into_value(self) -> V {
        self.value
    }

    /// Whether a live handle holds this value.
    pub fn in_use(&self) -> bool {
        self.readers.load(Ordering::SeqCst) != 0
    }
}

/// A value in its entry: inline until the first read handle asks for it,
/// then shared (an `Arc` that handles hold too). Most values are never
/// handed out and so cost no allocation and no indirection.
pub(crate) enum ValueCell<V> {
    Inline(V),
    Shared(Arc<Stored<V>>),
    /// Only while `share` moves an inline value into its `Arc`.
    Moving,
}

impl<V> ValueCell<V> {
    #[inline]
    pub fn value(&self) -> &V {
        match self {
            ValueCell::Inline(v) => v,
            ValueCell::Shared(s) => &s.value,
            ValueCell::Moving => unreachable!("a value cell is never observed while moving"),
        }
    }

    /// [`ValueCell::value`] with an inline value found by one test of the
    /// cell's tag, and a shared one (a read handle holds it) read out of
    /// line, so that the test does not decode every variant. For the C
    /// copy-out (`peek_with`), whose value shares one tag byte with its
    /// cell: measured with callgrind, a `get_copy` hit 259 -> 255. The
    /// native reads keep `value` (with this form a native hit went 114 ->
    /// 119).
    #[inline]
    pub fn value_inline_first(&self) -> &V {
        match self {
            ValueCell::Inline(v) => v,
            _ => self.shared_value(),
        }
    }

    #[inline(never)]
    fn shared_value(&self) -> &V {
        self.value()
    }

    /// Whether a live handle holds the value.
    pub fn in_use(&self) -> bool {
        match self {
            ValueCell::Shared(s) => s.in_use(),
            _ => false,
        }
    }

    /// The shared form, made on first use.
    pub fn share(&mut self, charge: u64) -> &Arc<Stored<V>> {
        if let ValueCell::Inline(_) = self
            && let ValueCell::Inline(v) = std::mem::replace(self, ValueCell::Moving)
        {
            *self = ValueCell::Shared(Stored::new(v, charge));
        }
        match self {
            ValueCell::Shared(s) => s,
            _ => unreachable!("just shared"),
        }
    }

    /// The value, if no one else holds it.
    pub fn into_value(self) -> Option<V> {
        match self {
            ValueCell::Inline(v) => Some(v),
            ValueCell::Shared(s) => Arc::try_unwrap(s).ok().map(Stored::into_value),
            ValueCell::Moving => None,
        }
    }
}

/// A read handle on a value. The value stays valid until the handle is
/// dropped, even if its entry is removed, replaced or evicted, or the store
/// is dropped meanwhile; while any handle holds it, the entry is not
/// evicted. Dropping the last handle of a value that is no longer in the
/// store drops the value (runs its release action) on the dropping thread.
/// If the entry it protected held usage above the store's budget in force
/// (under a signal), dropping the last handle evicts down to the budget, on
/// the dropping thread (the eviction listener and release actions run
/// there).
pub struct ValueHandle<V> {
    stored: Arc<Stored<V>>,
    link: Arc<HandleLink>,
}

impl<V> ValueHandle<V> {
    pub(crate) fn acquire(stored: &Arc<Stored<V>>, link: &Arc<HandleLink>) -> Self {
        if stored.readers.fetch_add(1, Ordering::AcqRel) == 0 {
            link.in_use.add(stored.charge);
        }
        ValueHandle {
            stored: Arc::clone(stored),
            link: Arc::clone(link),
        }
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.stored.value
    }

    /// The charge the value was given when it was inserted (or loaded).
    pub fn charge(&self) -> u64 {
        self.stored.charge
    }

    /// The id of the store the value was read from.
    pub(crate) fn store_id(&self) -> u64 {
        self.link.store_id
    }
}

impl<V> Deref for ValueHandle<V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.stored.value
    }
}

impl<V> Clone for ValueHandle<V> {
    fn clone(&self) -> Self {
        ValueHandle::acquire(&self.stored, &self.link)
    }
}

impl<V> Drop for ValueHandle<V> {
    fn drop(&mut self) {
        if self.stored.readers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.link.in_use.sub(self.stored.charge);
            if self.link.overdrawn.load(Ordering::SeqCst) != 0 {
                self.link.recheck.store(true, Ordering::SeqCst);
                if let Some(store) = self.link.store.get().and_then(Weak::upgrade) {
                    // The callbacks the restored budget runs (the listener,
                    // the event callback, a value's drop) may panic: caught
                    // after the budget is restored.
                    crate::held_panic::caught_in_drop(|| store.enforce_budget());
                }
            }
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for ValueHandle<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueHandle")
            .field("value", &self.stored.value)
            .field("charge", &self.stored.charge)
            .finish()
    }
}
