//! Largest charged size first, ties by least recently used: an ordered
//! index of (size descending, recency, slot).

use std::cmp::Reverse;
use std::collections::BTreeSet;

pub(crate) struct SizeOrder {
    index: BTreeSet<(Reverse<u64>, u64, u32)>,
}

impl SizeOrder {
    pub fn new() -> Self {
        SizeOrder {
            index: BTreeSet::new(),
        }
    }

    pub fn link(&mut self, i: u32, charge: u64, tick: u64) {
        self.index.insert((Reverse(charge), tick, i));
    }

    pub fn unlink(&mut self, i: u32, charge: u64, tick: u64) {
        self.index.remove(&(Reverse(charge), tick, i));
    }

    pub fn walk(&self, mut f: impl FnMut(u32) -> bool) {
        for &(_, _, i) in &self.index {
            if !f(i) {
                return;
            }
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
    }
}
