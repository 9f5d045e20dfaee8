//! A doubly linked list threaded through slot indices, with its links in a
//! side table: O(1) push, insert-after, unlink, and walk from the head.

pub(crate) const NIL: u32 = u32::MAX;

/// The `prev` of a slot that is not in the list (no slot has this index:
/// the entry table stops below it).
const DETACHED: u32 = u32::MAX - 1;

/// Eight bytes a slot: whether it is linked is in `prev`.
#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

impl Link {
    fn linked(self) -> bool {
        self.prev != DETACHED
    }
}

const UNLINKED: Link = Link {
    prev: DETACHED,
    next: NIL,
};

#[derive(Debug)]
pub(crate) struct LinkedSlots {
    links: Vec<Link>,
    head: u32,
    tail: u32,
}

impl LinkedSlots {
    pub fn new() -> Self {
        LinkedSlots {
            links: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Makes room for slot `i` (new slots unlinked), so that linking it
    /// later allocates nothing.
    pub fn reserve(&mut self, i: u32) {
        self.ensure(i);
    }

    fn ensure(&mut self, i: u32) {
        assert!(i < DETACHED, "slot index {i} out of range");
        let need = i as usize + 1;
        if self.links.len() < need {
            self.links.resize(need, UNLINKED);
        }
    }

    pub fn is_linked(&self, i: u32) -> bool {
        self.links.get(i as usize).is_some_and(|l| l.linked())
    }

    pub fn prev(&self, i: u32) -> u32 {
        self.links[i as usize].prev
    }

    pub fn next(&self, i: u32) -> u32 {
        self.links[i as usize].next
    }

    pub fn push_back(&mut self, i: u32) {
        self.insert_after(self.tail, i);
    }

    pub fn push_front(&mut self, i: u32) {
        self.ensure(i);
        debug_assert!(!self.links[i as usize].linked());
        let old = self.head;
        self.links[i as usize] = Link {
            prev: NIL,
            next: old,
        };
        if old == NIL {
            self.tail = i;
        } else {
            self.links[old as usize].prev = i;
        }
        self.head = i;
    }

    /// Links `i` right after `at`; `at == NIL` means at the back.
    pub fn insert_after(&mut self, at: u32, i: u32) {
        if at == NIL && self.tail == NIL {
            return self.push_front(i);
        }
        let at = if at == NIL { self.tail } else { at };
        self.ensure(i);
        debug_assert!(!self.links[i as usize].linked());
        let next = self.links[at as usize].next;
        self.links[i as usize] = Link { prev: at, next };
        self.links[at as usize].next = i;
        if next == NIL {
            self.tail = i;
        } else {
            self.links[next as usize].prev = i;
        }
    }

    /// Moves a linked slot to the back (most recent), the LRU access path.
    /// Always inlined: a call costs a fifth of the move (the C put).
    #[inline(always)]
    pub fn move_to_back(&mut self, i: u32) {
        if self.tail == i {
            return;
        }
        let Link { prev, next } = self.links[i as usize];
        // `i` is linked and not the tail, so `next` is a slot.
        if prev == NIL {
            self.head = next;
        } else {
            self.links[prev as usize].next = next;
        }
        self.links[next as usize].prev = prev;
        let tail = self.tail;
        self.links[tail as usize].next = i;
        self.links[i as usize] = Link {
            prev: tail,
            next: NIL,
        };
        self.tail = i;
    }

    pub fn unlink(&mut self, i: u32) {
        let Link { prev, next } = self.links[i as usize];
        debug_assert!(prev != DETACHED, "slot {i} is not linked");
        if prev == NIL {
            self.head = next;
        } else {
            self.links[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.links[next as usize].prev = prev;
        }
        self.links[i as usize] = UNLINKED;
    }

    /// Walks from the head while `f` says go on.
    pub fn walk(&self, mut f: impl FnMut(u32) -> bool) {
        let mut i = self.head;
        while i != NIL {
            let next = self.links[i as usize].next;
            if !f(i) {
                return;
            }
            i = next;
        }
    }

    pub fn clear(&mut self) {
        self.links.clear();
        self.head = NIL;
        self.tail = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(l: &LinkedSlots) -> Vec<u32> {
        let mut v = Vec::new();
        l.walk(|i| {
            v.push(i);
            true
        });
        v
    }

    #[test]
    fn push_insert_unlink_keep_order() {
        let mut l = LinkedSlots::new();
        l.push_back(3);
        l.push_back(1);
        l.push_front(7);
        l.insert_after(3, 5);
        assert_eq!(order(&l), [7, 3, 5, 1]);
        l.unlink(7);
        l.unlink(1);
        assert_eq!(order(&l), [3, 5]);
        l.insert_after(5, 9);
        l.unlink(3);
        assert_eq!(order(&l), [5, 9]);
        assert!(!l.is_linked(3) && l.is_linked(9));
        l.unlink(5);
        l.unlink(9);
        assert_eq!(order(&l), Vec::<u32>::new());
        l.insert_after(NIL, 2);
        assert_eq!(order(&l), [2]);
    }
}
