//! The backend behind `get_or_load`: what a loader returns, and the
//! single-flight slot that the callers missing one key share.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::Result;
use crate::thread_number::thread_number;
use crate::value_handle::Stored;

/// What a loader gives back: the value, and its charge if the loader knows
/// it (otherwise the store's size estimator is asked, outside every lock).
#[derive(Debug)]
pub struct Loaded<V> {
    /// The loaded value.
    pub value: V,
    /// An explicit charge; `None` asks the estimator.
    pub charge: Option<u64>,
}

impl<V> Loaded<V> {
    /// A value to be charged by the estimator.
    pub fn new(value: V) -> Self {
        Loaded {
            value,
            charge: None,
        }
    }

    /// A value with an explicit charge.
    pub fn with_charge(value: V, charge: u64) -> Self {
        Loaded {
            value,
            charge: Some(charge),
        }
    }
}

impl<V> From<V> for Loaded<V> {
    fn from(value: V) -> Self {
        Loaded::new(value)
    }
}

/// The loader a store calls on a miss: `Ok` with the value, or the error
/// every waiter gets (nothing is cached).
pub type LoaderFn<K, V> = dyn Fn(&K) -> Result<Loaded<V>> + Send + Sync;

/// One load in flight: the thread running the loader, and where its result
/// is published to the callers waiting for it.
pub(crate) struct LoadSlot<V> {
    /// The loading thread (`thread_number`).
    pub thread: u64,
    result: Mutex<Option<Result<Arc<Stored<V>>>>>,
    done: Condvar,
}

impl<V> LoadSlot<V> {
    pub fn new() -> Arc<Self> {
        Arc::new(LoadSlot {
            thread: thread_number(),
            result: Mutex::new(None),
            done: Condvar::new(),
        })
    }

    pub fn publish(&self, result: Result<Arc<Stored<V>>>) {
        let mut r = self.result.lock();
        if r.is_none() {
            *r = Some(result);
        }
        self.done.notify_all();
    }

    pub fn wait(&self) -> Result<Arc<Stored<V>>> {
        let mut r = self.result.lock();
        loop {
            if let Some(result) = r.as_ref() {
                return result.clone();
            }
            self.done.wait(&mut r);
        }
    }
}

/// A load in the store's table: its slot, and whether a put or remove of
/// the key during the load means its value must not be cached.
pub(crate) struct InFlight<V> {
    pub slot: Arc<LoadSlot<V>>,
    pub superseded: bool,
}
