//! Fewest accesses first, ties by least recently used: one list ordered by
//! (count, recency), with the tail of each count's group in a hash map, so an
//! access (count + 1, move to the end of the next group) is O(1).
//!
//! Placing a slot at the end of a group that does not exist yet (an unpin,
//! or an insert with a remembered count under `lfu_history`) needs the
//! group just below it. [`HashGroups`] (the default) finds it by scanning
//! the groups, O(number of distinct counts), which only unpin needs;
//! [`SortedGroups`] (with `lfu_history`, where every insert may need it) also
//! keeps the counts in a sorted set, so that search is O(log groups) and
//! an access stays O(1) hash work plus O(log groups) only when it creates
//! or empties a group.
//!
//! A change that may create a group reserves its room first
//! (`Groups::reserve_one`), so a failed allocation changes nothing.

use std::collections::HashMap;

use super::linked_slots::{LinkedSlots, NIL};
use super::ordered_groups::OrderedGroups;

type Tails = HashMap<u32, u32, crate::key_hasher::KeyHasher>;

/// The count groups of the order: count -> the most recently used linked
/// slot with that count (the group's tail).
pub(crate) trait Groups: Default {
    /// The tail of group `c`, if the group exists.
    fn tail(&self, c: u32) -> Option<u32>;
    /// Makes `i` the tail of group `c` (creating the group if it is new).
    fn set_tail(&mut self, c: u32, i: u32);
    /// Group `c` is now empty.
    fn remove(&mut self, c: u32);
    /// The tail of the highest group below `c`, or NIL if there is none.
    fn tail_below(&self, c: u32) -> u32;
    /// Makes room for one more group: the next `set_tail` allocates nothing.
    fn reserve_one(&mut self);
    fn clear(&mut self);
}

/// The groups in a hash map alone (the default order).
#[derive(Default)]
pub(crate) struct HashGroups(Tails);

impl Groups for HashGroups {
    #[inline]
    fn tail(&self, c: u32) -> Option<u32> {
        self.0.get(&c).copied()
    }

    #[inline]
    fn set_tail(&mut self, c: u32, i: u32) {
        self.0.insert(c, i);
    }

    #[inline]
    fn remove(&mut self, c: u32) {
        self.0.remove(&c);
    }

    /// O(number of distinct counts).
    fn tail_below(&self, c: u32) -> u32 {
        self.0
            .iter()
            .filter(|&(&k, _)| k < c)
            .max_by_key(|&(&k, _)| k)
            .map_or(NIL, |(_, &t)| t)
    }

    #[inline]
    fn reserve_one(&mut self) {
        self.0.reserve(1);
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The groups in a hash map plus their counts in a sorted set (the order
/// with `lfu_history`): `tail_below` is O(log groups).
#[derive(Default)]
pub(crate) struct SortedGroups {
    tails: Tails,
    counts: OrderedGroups<()>,
}

impl Groups for SortedGroups {
    #[inline]
    fn tail(&self, c: u32) -> Option<u32> {
        self.tails.get(&c).copied()
    }

    #[inline]
    fn set_tail(&mut self, c: u32, i: u32) {
        if self.tails.insert(c, i).is_none() {
            self.counts.insert(u64::from(c), ());
        }
    }

    #[inline]
    fn remove(&mut self, c: u32) {
        if self.tails.remove(&c).is_some() {
            self.counts.remove(u64::from(c));
        }
    }

    fn tail_below(&self, c: u32) -> u32 {
        self.counts
            .below(u64::from(c))
            .map_or(NIL, |(k, ())| self.tails[&(k as u32)])
    }

    #[inline]
    fn reserve_one(&mut self) {
        self.tails.reserve(1);
        self.counts.reserve(1);
    }

    fn clear(&mut self) {
        self.tails.clear();
        self.counts.clear();
    }
}

pub(crate) struct LfuOrder<G: Groups = HashGroups> {
    list: LinkedSlots,
    /// Access counts, saturating at u32::MAX (4 bytes per entry instead of
    /// 8; a count that high only ever ties with its peers, by recency).
    counts: Vec<u32>,
    /// count -> the most recently used linked slot with that count.
    tails: G,
}

impl<G: Groups> LfuOrder<G> {
    pub fn new() -> Self {
        LfuOrder {
            list: LinkedSlots::new(),
            counts: Vec::new(),
            tails: G::default(),
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

    /// Makes room for linking slot `i` (in a new group) before an insert
    /// or an unpin commits.
    pub fn reserve(&mut self, i: u32) {
        self.list.reserve(i);
        if self.counts.len() <= i as usize {
            self.counts.resize(i as usize + 1, 0);
        }
        self.tails.reserve_one();
    }

    /// A new entry: count 1; linked unless pinned.
    pub fn insert(&mut self, i: u32, linked: bool) {
        self.set_count(i, 1);
        if linked {
            self.link_at_group_end(i);
        }
    }

    /// A new entry that starts with count `c` (>= 1), as the most recent of
    /// its group; linked unless pinned. O(1) when group `c` exists, else
    /// `G::tail_below`.
    pub fn insert_with_count(&mut self, i: u32, c: u32, linked: bool) {
        debug_assert!(c >= 1);
        self.set_count(i, c);
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
        // Group c + 1 may be new: its room first, while nothing changed.
        self.tails.reserve_one();
        if c == u32::MAX {
            // Saturated: the access only makes it the most recent of its group.
            self.unlink(i);
            self.link_at_group_end(i);
            return;
        }
        if let Some(t) = self.tails.tail(c + 1) {
            self.unlink(i);
            self.list.insert_after(t, i);
        } else {
            let t = self
                .tails
                .tail(c)
                .expect("a linked slot's group has a tail");
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
        self.tails.set_tail(c + 1, i);
    }

    fn detach_tail(&mut self, i: u32, c: u32) {
        let prev = self.list.prev(i);
        if prev != NIL && self.raw_count(prev) == c {
            self.tails.set_tail(c, prev);
        } else {
            self.tails.remove(c);
        }
    }

    /// Takes the slot out of the order (pin, removal); its count stays.
    pub fn unlink(&mut self, i: u32) {
        if !self.list.is_linked(i) {
            return;
        }
        let c = self.raw_count(i);
        if self.tails.tail(c) == Some(i) {
            self.detach_tail(i, c);
        }
        self.list.unlink(i);
    }

    /// Puts an unlinked slot back as the most recent of its group (unpin).
    /// O(1) when its group exists, else `G::tail_below` (O(number of
    /// distinct counts) for `HashGroups`, O(log) for `SortedGroups`).
    pub fn link_at_group_end(&mut self, i: u32) {
        self.reserve(i);
        let c = self.raw_count(i);
        let after = match self.tails.tail(c) {
            Some(t) => t,
            None => self.tails.tail_below(c),
        };
        if after == NIL {
            self.list.push_front(i);
        } else {
            self.list.insert_after(after, i);
        }
        self.tails.set_tail(c, i);
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

    fn order<G: Groups>(o: &LfuOrder<G>) -> Vec<(u32, u64)> {
        let mut v = Vec::new();
        o.walk(|i| {
            v.push((i, o.count(i)));
            true
        });
        v
    }

    fn groups_stay_sorted_by_count_then_recency<G: Groups>() {
        let mut o = LfuOrder::<G>::new();
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
    fn groups_stay_sorted_by_count_then_recency_hash() {
        groups_stay_sorted_by_count_then_recency::<HashGroups>();
    }

    #[test]
    fn groups_stay_sorted_by_count_then_recency_sorted() {
        groups_stay_sorted_by_count_then_recency::<SortedGroups>();
    }

    fn counts_saturate_and_then_order_by_recency<G: Groups>() {
        let mut o = LfuOrder::<G>::new();
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

    #[test]
    fn counts_saturate_and_then_order_by_recency_hash() {
        counts_saturate_and_then_order_by_recency::<HashGroups>();
    }

    #[test]
    fn counts_saturate_and_then_order_by_recency_sorted() {
        counts_saturate_and_then_order_by_recency::<SortedGroups>();
    }

    fn insert_with_count_goes_to_the_end_of_its_group<G: Groups>() {
        let mut o = LfuOrder::<G>::new();
        for i in 0..3 {
            o.insert(i, true);
        }
        o.touch(1);
        o.touch(2);
        o.touch(2);
        assert_eq!(order(&o), [(0, 1), (1, 2), (2, 3)]);
        o.insert_with_count(5, 2, true); // group 2 exists: after 1
        assert_eq!(order(&o), [(0, 1), (1, 2), (5, 2), (2, 3)]);
        o.insert_with_count(6, 9, true); // above every group: the back
        o.insert_with_count(7, 7, true); // between 3 and 9
        o.insert_with_count(8, 1, true);
        assert_eq!(
            order(&o),
            [(0, 1), (8, 1), (1, 2), (5, 2), (2, 3), (7, 7), (6, 9)]
        );
        o.insert_with_count(9, 4, false); // pinned: counted, not linked
        assert_eq!(o.count(9), 4);
        o.link_at_group_end(9);
        assert_eq!(order(&o)[5], (9, 4));
        // Below every group once group 1 is gone.
        o.unlink(0);
        o.unlink(8);
        o.insert_with_count(10, 1, true);
        assert_eq!(order(&o)[0], (10, 1));
        o.unlink(10);
        o.insert_with_count(0, 2, true);
        assert_eq!(order(&o)[..3], [(1, 2), (5, 2), (0, 2)]);
        o.touch(6); // a new group 10 at the back
        assert_eq!(*order(&o).last().unwrap(), (6, 10));
    }

    #[test]
    fn insert_with_count_goes_to_the_end_of_its_group_hash() {
        insert_with_count_goes_to_the_end_of_its_group::<HashGroups>();
    }

    #[test]
    fn insert_with_count_goes_to_the_end_of_its_group_sorted() {
        insert_with_count_goes_to_the_end_of_its_group::<SortedGroups>();
    }

    /// Random operations on both group kinds give the same order, and that
    /// order is sorted by (count, recency) with every group's tail right.
    #[test]
    fn sorted_groups_match_hash_groups() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        let mut a = LfuOrder::<HashGroups>::new();
        let mut b = LfuOrder::<SortedGroups>::new();
        let mut present = [false; 32];
        for _ in 0..20_000 {
            let i = next(32);
            match (present[i as usize], next(4)) {
                (false, 0) => {
                    a.insert(i, true);
                    b.insert(i, true);
                    present[i as usize] = true;
                }
                (false, _) => {
                    let c = 1 + next(12);
                    a.insert_with_count(i, c, true);
                    b.insert_with_count(i, c, true);
                    present[i as usize] = true;
                }
                (true, 0) => {
                    a.unlink(i);
                    b.unlink(i);
                    present[i as usize] = false;
                }
                (true, _) => {
                    a.touch(i);
                    b.touch(i);
                }
            }
            let v = order(&b);
            assert_eq!(order(&a), v);
            assert!(v.windows(2).all(|w| w[0].1 <= w[1].1));
            for (k, &(i, c)) in v.iter().enumerate() {
                let last = v.get(k + 1).is_none_or(|n| n.1 != c);
                let c = c as u32;
                assert_eq!(b.tails.tail(c) == Some(i), last);
                assert_eq!(a.tails.tail(c) == Some(i), last);
            }
            let groups: Vec<u64> = b.tails.counts.keys();
            let mut want: Vec<u64> = v.iter().map(|&(_, c)| c).collect();
            want.dedup();
            assert_eq!(groups, want);
        }
    }
}
