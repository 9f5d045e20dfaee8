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

use std::cell::Cell;
use std::time::Duration;

use crate::sync::{Arc, AtomicBool, Mutex, Ordering, sleep, thread_local, yield_now};

/// How many nested callbacks a thread's record keeps the store of (a
/// listener that calls into another store whose listener does the same
/// takes two a level; deeper, a blocking free is refused as `Busy`, see
/// `inside_store_callback`). 520 bytes of thread-local storage.
const RECORDED: usize = 64;

// The per-thread record holds no heap and nothing to drop, so it never
// registers a thread-exit destructor: calls made while a thread's other
// thread-locals are destroyed (a pthread key's destructor, a JNI detach)
// find it intact.
/// This thread's record: one thread-local (one lookup per use).
struct Record {
    /// How many callbacks this thread is inside, nested.
    depth: Cell<usize>,
    /// The store of each of the outermost `RECORDED` of them.
    stores: [Cell<u64>; RECORDED],
}

thread_local! {
    static RECORD: Record = const {
        Record {
            depth: Cell::new(0),
            stores: [const { Cell::new(0) }; RECORDED],
        }
    };
}

/// Marks this thread as inside a callback of `store_id` until dropped.
pub(crate) struct CallbackScope {
    /// The depth before this scope: restored when it ends.
    outer: usize,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl CallbackScope {
    pub fn enter(store_id: u64) -> Self {
        let outer = RECORD.with(|r| {
            let outer = r.depth.get();
            if let Some(slot) = r.stores.get(outer) {
                slot.set(store_id);
            }
            r.depth.set(outer + 1);
            outer
        });
        CallbackScope {
            outer,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        RECORD.with(|r| r.depth.set(self.outer));
    }
}

/// Whether this thread is inside any callback of store `store_id`. Deeper
/// than `RECORDED` nested callbacks, it answers yes (a free from there is
/// refused rather than risk waiting for itself).
pub(crate) fn inside_store_callback(store_id: u64) -> bool {
    RECORD.with(|r| {
        let depth = r.depth.get();
        depth > RECORDED || r.stores[..depth].iter().any(|c| c.get() == store_id)
    })
}

/// Whether this thread is inside any callback of any store.
fn inside_any_callback() -> bool {
    RECORD.with(|r| r.depth.get()) > 0
}

/// One registered callback, or none. The slot keeps the caller's `Arc` in
/// an `Arc` of its own, which only the slot and the calls in flight hold:
/// a replace waits for that count, so a caller that kept a clone of its
/// callback (or registered one on two stores) does not make it wait for
/// good.
pub(crate) struct CallbackSlot<F: ?Sized> {
    current: Mutex<Option<Arc<Arc<F>>>>,
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
    pub fn get(&self) -> Option<Arc<Arc<F>>> {
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
            std::mem::replace(&mut *current, new.map(Arc::new))
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
