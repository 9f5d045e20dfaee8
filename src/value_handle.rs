//! Counted read handles: a value stays alive while a handle holds it, and an
//! entry with a live handle is never evicted (evicting it would free no
//! memory).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
        self.readers.load(Ordering::Acquire) != 0
    }
}

/// A read handle on a value. The value stays valid until the handle is
/// dropped, even if its entry is removed, replaced or evicted, or the store
/// is dropped meanwhile; while any handle holds it, the entry is not
/// evicted. Dropping the last handle of a value that is no longer in the
/// store drops the value (runs its release action) on the dropping thread.
pub struct ValueHandle<V> {
    stored: Arc<Stored<V>>,
    in_use_bytes: Arc<AtomicU64>,
}

impl<V> ValueHandle<V> {
    pub(crate) fn acquire(stored: &Arc<Stored<V>>, in_use_bytes: &Arc<AtomicU64>) -> Self {
        if stored.readers.fetch_add(1, Ordering::AcqRel) == 0 {
            in_use_bytes.fetch_add(stored.charge, Ordering::AcqRel);
        }
        ValueHandle {
            stored: Arc::clone(stored),
            in_use_bytes: Arc::clone(in_use_bytes),
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
}

impl<V> Deref for ValueHandle<V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.stored.value
    }
}

impl<V> Clone for ValueHandle<V> {
    fn clone(&self) -> Self {
        ValueHandle::acquire(&self.stored, &self.in_use_bytes)
    }
}

impl<V> Drop for ValueHandle<V> {
    fn drop(&mut self) {
        if self.stored.readers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.in_use_bytes
                .fetch_sub(self.stored.charge, Ordering::AcqRel);
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
