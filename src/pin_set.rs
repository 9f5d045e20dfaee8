//! The pinned keys, present or not, in pin order.
//!
//! Each pinned key has a position (positions only grow); the keys sit in a
//! FIFO by position, where an unpinned key leaves a hole until it reaches
//! the front or a compaction drops the holes (once they outnumber the
//! pinned keys), so pin and unpin are O(1) amortized. A pin allocates
//! (the key's copy, the room in both structures) before it changes
//! anything, so a failed allocation leaves the set as it was; an unpin
//! allocates nothing.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The holes the FIFO may keep beyond the pinned keys' number.
const SLACK: usize = 64;

pub(crate) struct PinSet<K> {
    order_of: HashMap<K, u64, crate::key_hasher::KeyHasher>,
    /// Pinned keys by position, `None` where a key was unpinned.
    by_order: VecDeque<Option<K>>,
    /// The position of `by_order[0]`.
    front: u64,
}

impl<K: Hash + Eq + Clone> PinSet<K> {
    pub fn new() -> Self {
        PinSet {
            order_of: HashMap::default(),
            by_order: VecDeque::new(),
            front: 0,
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
        // Everything that allocates, before anything changes.
        let copy = key.clone();
        self.order_of.reserve(1);
        self.by_order.reserve(1);
        let n = self.front + self.by_order.len() as u64;
        self.by_order.push_back(Some(copy));
        self.order_of.insert(key, n);
        true
    }

    /// Unpins `key`; false if it was not pinned.
    pub fn unpin<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(n) = self.order_of.remove(key) else {
            return false;
        };
        self.by_order[(n - self.front) as usize] = None;
        while self.by_order.front().is_some_and(Option::is_none) {
            self.by_order.pop_front();
            self.front += 1;
        }
        if self.by_order.len() > 2 * self.order_of.len() + SLACK {
            self.compact();
        }
        true
    }

    /// Drops the holes and renumbers the keys from 0 (in place: no
    /// allocation).
    fn compact(&mut self) {
        self.by_order.retain(Option::is_some);
        self.front = 0;
        for (n, key) in self.by_order.iter().enumerate() {
            let key = key.as_ref().expect("holes dropped");
            *self.order_of.get_mut(key).expect("a listed key is pinned") = n as u64;
        }
    }

    /// Every pinned key, in pin order.
    pub fn keys(&self) -> Vec<K> {
        let mut keys = Vec::with_capacity(self.order_of.len());
        keys.extend(self.by_order.iter().flatten().cloned());
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain list of the pinned keys, over many pins and unpins
    /// (compactions included).
    #[test]
    fn keeps_pin_order_like_a_list() {
        let mut p = PinSet::<u32>::new();
        let mut model: Vec<u32> = Vec::new();
        let mut draw = crate::test_rng::xorshift();
        let mut next = |n: u64| draw(n) as u32;
        for step in 0..100_000 {
            // Phases of mostly pins and mostly unpins.
            let key = next(if (step / 5000) % 2 == 0 { 300 } else { 40 });
            if next(2) == 0 {
                let fresh = !model.contains(&key);
                assert_eq!(p.pin(key), fresh, "step {step}");
                if fresh {
                    model.push(key);
                }
            } else {
                let at = model.iter().position(|&k| k == key);
                assert_eq!(p.unpin(&key), at.is_some(), "step {step}");
                if let Some(at) = at {
                    model.remove(at);
                }
            }
            assert_eq!(p.contains(&key), model.contains(&key));
            assert!(p.by_order.len() <= 2 * model.len() + SLACK + 1);
            if step % 97 == 0 {
                assert_eq!(p.keys(), model, "step {step}");
            }
        }
        assert_eq!(p.is_empty(), model.is_empty());
    }
}
