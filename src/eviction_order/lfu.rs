//! Fewest accesses first, ties by least recently used: one list ordered by
//! (count, recency), with the tail of each count's group in a hash map, so an
//! access (count + 1, move to the end of the next group) is O(1).

use std::collections::HashMap;

use super::linked_slots::{LinkedSlots, NIL};

pub(crate) struct LfuOrder {
    list: LinkedSlots,
    /// Access counts, saturating at u32::MAX (4 bytes per entry instead of
    /// 8; a count that high only ever ties with its peers, by recency).
    counts: Vec<u32>,
    /// count -> the most recently used linked slot with that count.
    tails: HashMap<u32, u32, foldhash::fast::RandomState>,
}

impl LfuOrder {
    pub fn new() -> Self {
        LfuOrder {
            list: LinkedSlots::new(),
            counts: Vec::new(),
            tails: HashMap::default(),
        }
    }

    pub fn count(&self, i: u32) -> u64 {
        u64::from(self.counts[i as usize])
    }

    fn raw_count(&self, i: u32) -> u32 {
        self.counts[i as usize]
    }

    fn set_count(&mut self, i: u32, c: u32) {
        let need = i as usize + 1;
        if self.counts.len() < need {
            self.counts.resize(need, 0);
        }
        self.counts[i as usize] = c;
    }

    /// A new entry: count 1; linked unless pinned.
    pub fn insert(&mut self, i: u32, linked: bool) {
        self.set_count(i, 1);
        if linked {
            self.link_at_group_end(i);
        }
    }

    /// An access or a replace: count + 1, and the slot becomes the most
    /// recent of its new group.
    pub fn touch(&mut self, i: u32) {
        let c = self.raw_count(i);
        if !self.list.is_linked(i) {
            self.set_count(i, c.saturating_add(1));
            return;
        }
        if c == u32::MAX {
            // Saturated: the access only makes it the most recent of its group.
            self.unlink(i);
            self.link_at_group_end(i);
            return;
        }
        if let Some(&t) = self.tails.get(&(c + 1)) {
            self.unlink(i);
            self.list.insert_after(t, i);
        } else {
            let t = self.tails[&c];
            if t == i {
                // Already the last of group c, so already right before where
                // group c+1 starts: it stays, only the group tails change.
                self.detach_tail(i, c);
            } else {
                self.list.unlink(i);
                self.list.insert_after(t, i);
            }
        }
        self.set_count(i, c + 1);
        self.tails.insert(c + 1, i);
    }

    fn detach_tail(&mut self, i: u32, c: u32) {
        let prev = self.list.prev(i);
        if prev != NIL && self.raw_count(prev) == c {
            self.tails.insert(c, prev);
        } else {
            self.tails.remove(&c);
        }
    }

    /// Takes the slot out of the order (pin, removal); its count stays.
    pub fn unlink(&mut self, i: u32) {
        if !self.list.is_linked(i) {
            return;
        }
        let c = self.raw_count(i);
        if self.tails.get(&c) == Some(&i) {
            self.detach_tail(i, c);
        }
        self.list.unlink(i);
    }

    /// Puts an unlinked slot back as the most recent of its group (unpin).
    /// O(1) when its group exists, else O(number of distinct counts).
    pub fn link_at_group_end(&mut self, i: u32) {
        let c = self.raw_count(i);
        let after = match self.tails.get(&c) {
            Some(&t) => t,
            None => self
                .tails
                .iter()
                .filter(|&(&k, _)| k < c)
                .max_by_key(|&(&k, _)| k)
                .map_or(NIL, |(_, &t)| t),
        };
        if after == NIL {
            self.list.push_front(i);
        } else {
            self.list.insert_after(after, i);
        }
        self.tails.insert(c, i);
    }

    pub fn walk(&self, f: impl FnMut(u32) -> bool) {
        self.list.walk(f)
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.counts.clear();
        self.tails.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(o: &LfuOrder) -> Vec<(u32, u64)> {
        let mut v = Vec::new();
        o.walk(|i| {
            v.push((i, o.count(i)));
            true
        });
        v
    }

    #[test]
    fn groups_stay_sorted_by_count_then_recency() {
        let mut o = LfuOrder::new();
        for i in 0..4 {
            o.insert(i, true);
        }
        o.touch(1);
        o.touch(3);
        o.touch(1);
        assert_eq!(order(&o), [(0, 1), (2, 1), (3, 2), (1, 3)]);
        o.touch(0);
        assert_eq!(order(&o), [(2, 1), (3, 2), (0, 2), (1, 3)]);
        o.unlink(3);
        o.touch(3); // unlinked: count only
        assert_eq!(o.count(3), 3);
        o.link_at_group_end(3);
        assert_eq!(order(&o), [(2, 1), (0, 2), (1, 3), (3, 3)]);
        o.unlink(2);
        o.link_at_group_end(2);
        assert_eq!(order(&o), [(2, 1), (0, 2), (1, 3), (3, 3)]);
        o.insert(9, true);
        assert_eq!(order(&o)[..2], [(2, 1), (9, 1)]);
        // A group that vanished: relink finds the next lower group.
        o.unlink(0);
        o.unlink(1);
        o.touch(1);
        o.touch(1);
        o.touch(1); // count 6
        o.link_at_group_end(0); // count 2: after the group of 1
        o.link_at_group_end(1);
        assert_eq!(order(&o), [(2, 1), (9, 1), (0, 2), (3, 3), (1, 6)]);
    }

    #[test]
    fn counts_saturate_and_then_order_by_recency() {
        let mut o = LfuOrder::new();
        for i in 0..3 {
            o.insert(i, true);
        }
        o.set_count(0, u32::MAX - 1);
        o.unlink(0);
        o.link_at_group_end(0);
        o.set_count(1, u32::MAX - 1);
        o.unlink(1);
        o.link_at_group_end(1);
        o.touch(0); // reaches the maximum
        o.touch(1);
        assert_eq!(o.count(0), u64::from(u32::MAX));
        assert_eq!(
            order(&o),
            [(2, 1), (0, u64::from(u32::MAX)), (1, u64::from(u32::MAX))]
        );
        o.touch(0); // saturated: only the recency changes
        assert_eq!(
            order(&o),
            [(2, 1), (1, u64::from(u32::MAX)), (0, u64::from(u32::MAX))]
        );
    }
}
