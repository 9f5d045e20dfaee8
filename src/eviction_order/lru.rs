//! Least recently used first: one list, most recent at the back.

use super::linked_slots::LinkedSlots;

pub(crate) struct LruOrder {
    list: LinkedSlots,
}

impl LruOrder {
    pub fn new() -> Self {
        LruOrder {
            list: LinkedSlots::new(),
        }
    }

    /// Makes room for slot `i` before an insert commits.
    pub fn reserve(&mut self, i: u32) {
        self.list.reserve(i);
    }

    /// Links `i` as the most recently used.
    pub fn link(&mut self, i: u32) {
        self.list.push_back(i);
    }

    /// A linked slot becomes the most recently used.
    #[inline]
    pub fn move_to_back(&mut self, i: u32) {
        debug_assert!(self.list.is_linked(i), "slot {i} is not linked");
        self.list.move_to_back(i);
    }

    pub fn unlink(&mut self, i: u32) {
        if self.list.is_linked(i) {
            self.list.unlink(i);
        }
    }

    pub fn walk(&self, f: impl FnMut(u32) -> bool) {
        self.list.walk(f)
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }
}
