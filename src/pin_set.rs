//! The pinned keys, present or not, in pin order.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

pub(crate) struct PinSet<K> {
    order_of: HashMap<K, u64, foldhash::fast::RandomState>,
    by_order: BTreeMap<u64, K>,
    next: u64,
}

impl<K: Hash + Eq + Clone> PinSet<K> {
    pub fn new() -> Self {
        PinSet {
            order_of: HashMap::default(),
            by_order: BTreeMap::new(),
            next: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.order_of.is_empty()
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        !self.order_of.is_empty() && self.order_of.contains_key(key)
    }

    /// Pins `key`; false if it was pinned already (it keeps its place).
    pub fn pin(&mut self, key: K) -> bool {
        if self.order_of.contains_key(&key) {
            return false;
        }
        let n = self.next;
        self.next += 1;
        self.by_order.insert(n, key.clone());
        self.order_of.insert(key, n);
        true
    }

    /// Unpins `key`; false if it was not pinned.
    pub fn unpin<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.order_of.remove(key) {
            Some(n) => {
                self.by_order.remove(&n);
                true
            }
            None => false,
        }
    }

    /// Every pinned key, in pin order.
    pub fn keys(&self) -> Vec<K> {
        self.by_order.values().cloned().collect()
    }
}
