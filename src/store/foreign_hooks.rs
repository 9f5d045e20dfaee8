//! What only the C layer uses, in one place: a foreign size estimator run
//! inside a callback scope (so that a free from inside it is refused), the
//! question "is this thread inside one of this store's callbacks" (a
//! blocking free from there would wait for itself), waiting until the
//! store's last user is gone (its blocking free), and a deliberate panic
//! under the lock (`nexus_store_debug_panic`).

use std::hash::Hash;
use std::sync::Arc;

use super::{Store, StoreBuilder};
use crate::callbacks::{CallbackScope, inside_store_callback, wait_while};

impl<K, V> StoreBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Marks the estimator as foreign code (see `foreign_estimator`).
    pub(crate) fn foreign_estimator(mut self) -> Self {
        self.foreign_estimator = true;
        self
    }
}

impl<K, V> Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Whether a foreign (C) size estimator is registered: without one,
    /// nothing can size an opaque object, so the C layer requires its cost.
    pub(crate) fn has_foreign_estimator(&self) -> bool {
        self.shared.foreign_estimator
    }

    #[inline]
    pub(super) fn estimate(&self, key: &K, value: &V) -> u64 {
        // Only the C layer asks whether a thread is inside a store's
        // callback (its free refuses with BUSY), so only a foreign estimator
        // needs the scope.
        let _scope = self
            .shared
            .foreign_estimator
            .then(|| CallbackScope::enter(self.shared.id));
        self.shared.estimator.estimate(key, value)
    }

    /// Whether this thread is inside one of this store's callbacks (the C
    /// layer refuses to free a store from its own callback).
    pub(crate) fn is_inside_own_callback(&self) -> bool {
        inside_store_callback(self.shared.id)
    }

    /// Waits until this handle is the store's only user: calls that reached
    /// the store without it (a global pressure signal, the release of a
    /// read handle that restores the budget) have ended. The C layer's free
    /// calls it so that no callback of the store runs after free returns.
    pub(crate) fn wait_until_sole_user(&self) {
        wait_while(|| Arc::strong_count(&self.shared) > 1);
    }

    /// Panics while holding the store's lock: a testing aid for the C
    /// boundary (`nexus_store_debug_panic`), which shows that a panic is
    /// contained and leaves the store usable.
    pub(crate) fn panic_under_lock(&self) {
        self.shared.locked(0, |_, _, _| {
            panic!("a deliberate panic under the store's lock")
        });
    }
}
