//! Delivering what a call produced, after the store's locks are released:
//! the eviction listener for each removed entry, the release actions (the
//! values' drops), then the events, numbered as they are handed to the
//! event callback or to the queue.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::callbacks::CallbackScope;
use crate::event_queue::hand_on;
use crate::events::EventMask;
use crate::held_panic::HeldPanic;
use crate::memory_manager::Effects;

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Reports what a call produced: the listener for each removed entry,
    /// then the values are dropped (release actions run), then the events.
    /// Runs with no lock of the store held. Takes what it delivers out of
    /// `fx`. A callback that panics does not stop the others: the panic
    /// goes on once everything is delivered.
    pub(super) fn deliver(&self, fx: &mut Effects<K, V>) {
        let mut held = HeldPanic::new();
        self.deliver_held(fx, &mut held);
        held.resume();
    }

    /// [`deliver`](Self::deliver), holding a callback's panic in `held` for
    /// a caller that has more to do (`held_panic`).
    pub(super) fn deliver_held(&self, fx: &mut Effects<K, V>, held: &mut HeldPanic) {
        if fx.removed.is_empty() && fx.events.is_empty() {
            return;
        }
        // Dropping keys and values below may run user code (a `Drop`).
        let _scope = (std::mem::needs_drop::<K>() || std::mem::needs_drop::<V>())
            .then(|| CallbackScope::enter(self.id));
        if !fx.removed.is_empty() {
            if let Some(listener) = self.listener.get() {
                let _s = CallbackScope::enter(self.id);
                for r in &fx.removed {
                    held.run(|| listener(&r.key, r.reason, r.charge));
                }
            }
            // Release actions: each value's drop (unless a handle holds it),
            // the last removed first. A panicking drop leaves the ones
            // before it in `removed`: the next turn drops them.
            while !fx.removed.is_empty() {
                held.run(|| fx.removed.clear());
            }
        }
        if fx.events.is_empty() {
            return;
        }
        // Kinds the mask leaves out are not delivered (and take no number).
        let mask = self.event_mask.load(Ordering::Relaxed);
        let mask = EventMask::from_bits(mask).unwrap_or_default();
        // Sequence numbers are given here, under the queue's lock (also for
        // the callback), as the store's level is followed through the
        // events (`hand_on`); queued events are queued under that lock, so
        // the queue holds them in order and a gap in it means only a loss
        // (the lost event took its number).
        let callback = self.event_callback.get();
        hand_on(
            &self.queue,
            &self.sequence,
            mask,
            &mut fx.events,
            callback.is_none(),
        );
        if let Some(callback) = callback {
            let _s = CallbackScope::enter(self.id);
            for e in &std::mem::take(&mut fx.events) {
                held.run(|| callback(e));
            }
        }
    }
}
