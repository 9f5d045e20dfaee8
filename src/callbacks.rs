//! Registration slots for user callbacks, and the per-thread record of which
//! callbacks (and which stores' callbacks) this thread is inside.
//!
//! A slot hands out `Arc` clones of the current callback; a call runs with
//! no internal lock held. Replacing or clearing a slot waits until every
//! call of the old callback on other threads has returned; from inside any
//! callback (where waiting could close a cycle with another thread that
//! waits for this one) it returns at once. The old callback is dropped (its
//! destroy runs) when the last clone goes, which is after its last call
//! returned: exactly once, by `Arc`'s own accounting.

use std::cell::RefCell;
use std::time::Duration;

use crate::sync::{Arc, AtomicBool, Mutex, Ordering, sleep, thread_local, yield_now};

thread_local! {
    /// (store id, callback address) of every callback this thread is inside,
    /// innermost last. The address is 0 for scopes that are not a slot call
    /// (release actions, estimator calls).
    static ACTIVE: RefCell<Vec<(u64, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as inside a callback of `store_id` until dropped.
pub(crate) struct CallbackScope {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl CallbackScope {
    pub fn enter(store_id: u64, callback_addr: usize) -> Self {
        ACTIVE.with(|a| a.borrow_mut().push((store_id, callback_addr)));
        CallbackScope {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        ACTIVE.with(|a| {
            a.borrow_mut().pop();
        });
    }
}

/// Whether this thread is inside any callback of store `store_id`.
pub(crate) fn inside_store_callback(store_id: u64) -> bool {
    ACTIVE.with(|a| a.borrow().iter().any(|&(s, _)| s == store_id))
}

/// Whether this thread is inside any callback of any store.
fn inside_any_callback() -> bool {
    ACTIVE.with(|a| !a.borrow().is_empty())
}

/// One registered callback, or none.
pub(crate) struct CallbackSlot<F: ?Sized> {
    current: Mutex<Option<Arc<F>>>,
    /// Whether `current` holds a callback: lets `get` skip the lock (shared
    /// by every thread) when none is registered, the common case.
    present: AtomicBool,
}

impl<F: ?Sized> Default for CallbackSlot<F> {
    fn default() -> Self {
        CallbackSlot {
            current: Mutex::new(None),
            present: AtomicBool::new(false),
        }
    }
}

impl<F: ?Sized> CallbackSlot<F> {
    /// The current callback, if any. Cheap: nothing when none is
    /// registered, else one uncontended lock and an atomic increment. A call
    /// racing with `replace` on another thread sees the old or the new one.
    pub fn get(&self) -> Option<Arc<F>> {
        if !self.present.load(Ordering::Acquire) {
            return None;
        }
        self.current.lock().clone()
    }

    /// Installs `new` (or clears the slot). Returns after calls of the old
    /// callback in flight on other threads have ended, then drops it; from
    /// inside any callback it returns at once and the old callback is
    /// dropped when its last call returns.
    pub fn replace(&self, new: Option<Arc<F>>) {
        let old = {
            let mut current = self.current.lock();
            self.present.store(new.is_some(), Ordering::Release);
            std::mem::replace(&mut *current, new)
        };
        let Some(old) = old else { return };
        // From inside a callback (this one, or any other of any store), do
        // not wait: another thread inside the old callback may be waiting,
        // in its own replace, for the callback this thread is in (two
        // threads swapping each other's callbacks would wait forever). The
        // old callback is then dropped by whichever holder of it is last,
        // after its last call returned.
        if inside_any_callback() {
            return;
        }
        wait_while(|| Arc::strong_count(&old) > 1);
        drop(old);
    }
}

/// Waits, yielding and then sleeping briefly, while `busy` holds: how a
/// thread waits for calls in flight on other threads to end.
pub(crate) fn wait_while(mut busy: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while busy() {
        if spins < 64 {
            yield_now();
            spins += 1;
        } else {
            sleep(Duration::from_micros(100));
        }
    }
}

/// The identity of a callback, for the per-thread record.
pub(crate) fn addr_of<F: ?Sized>(f: &Arc<F>) -> usize {
    Arc::as_ptr(f).cast::<()>() as usize
}
