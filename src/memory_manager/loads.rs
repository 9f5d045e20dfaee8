//! The bookkeeping of `get_or_load`: single flight and its outcome.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// Looks `key` up for `get_or_load`. A re-entrant load of the key on the
    /// thread that is loading it is `BUSY` (and counts as nothing).
    pub fn begin_load<Q>(&mut self, key: &Q) -> Result<LoadStart<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        if let Some(f) = self.loads.get(key)
            && f.slot.thread == crate::thread_number::thread_number()
        {
            return Err(Error::new(
                ErrorKind::Busy,
                "get_or_load of a key from inside its own loader",
            ));
        }
        if let Some(h) = self.get(key) {
            return Ok(LoadStart::Hit(h));
        }
        if let Some(f) = self.loads.get(key) {
            return Ok(LoadStart::Wait(Arc::clone(&f.slot)));
        }
        let slot = LoadSlot::new();
        self.loads.insert(
            key.to_owned().into(),
            InFlight {
                slot: Arc::clone(&slot),
                superseded: false,
            },
        );
        self.counters.loads += 1;
        Ok(LoadStart::Load(slot))
    }

    /// Ends the load of `key`. A successful value is cached unless a put or
    /// remove of the key happened meanwhile, or it cannot fit (the caller
    /// still gets it).
    pub fn finish_load(
        &mut self,
        key: &K,
        result: &Result<Arc<Stored<V>>>,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) {
        let superseded = self.loads.remove(key).is_none_or(|f| f.superseded);
        match result {
            Ok(stored) if !superseded => {
                let cell = ValueCell::Shared(Arc::clone(stored));
                // A loaded value that cannot be cached is still returned.
                let _ = self.put(key.clone(), cell, stored.charge, now, fx);
            }
            Ok(_) => {}
            Err(_) => self.counters.load_failures += 1,
        }
    }

    pub fn handle_for(&self, stored: &Arc<Stored<V>>) -> ValueHandle<V> {
        ValueHandle::acquire(stored, &self.link)
    }
}
