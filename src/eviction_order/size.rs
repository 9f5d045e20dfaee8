//! Largest charged size first, ties by least recently used: one list in
//! that order, threaded through the slots, and the groups of equal charge
//! (first and last slot of each) sorted by charge.
//!
//! Every slot is linked with a fresh tick (an insert, an access, a replace,
//! an unpin each take the next tick), so within its charge the slot linked
//! last is the most recent: it goes to the end of its group, which is the
//! order of (charge descending, tick ascending, slot) exactly. What a link
//! needs is reserved before it changes anything (`reserve`), so a failed
//! allocation leaves the order as it was.

use super::linked_slots::LinkedSlots;
use super::ordered_groups::OrderedGroups;

#[derive(Clone, Copy, Debug)]
struct Group {
    head: u32,
    tail: u32,
}

/// Larger charges first: the groups' key.
fn key(charge: u64) -> u64 {
    !charge
}

pub(crate) struct SizeOrder {
    list: LinkedSlots,
    groups: OrderedGroups<Group>,
    /// The tick of the last link (debug builds check that ticks only grow).
    #[cfg(debug_assertions)]
    last_tick: u64,
}

impl SizeOrder {
    pub fn new() -> Self {
        SizeOrder {
            list: LinkedSlots::new(),
            groups: OrderedGroups::new(),
            #[cfg(debug_assertions)]
            last_tick: 0,
        }
    }

    /// Makes room for linking slot `i` (in a new group): afterwards `link`
    /// allocates nothing.
    pub fn reserve(&mut self, i: u32) {
        self.list.reserve(i);
        self.groups.reserve(1);
    }

    /// Links `i` as the most recent of the entries charged `charge`.
    pub fn link(&mut self, i: u32, charge: u64, tick: u64) {
        self.reserve(i);
        #[cfg(debug_assertions)]
        {
            debug_assert!(tick >= self.last_tick, "ticks only grow");
            self.last_tick = tick;
        }
        let _ = tick;
        match self.groups.get_mut(key(charge)) {
            Some(g) => {
                let after = g.tail;
                g.tail = i;
                self.list.insert_after(after, i);
            }
            None => {
                // After the group of the next larger charge, if any.
                match self.groups.below(key(charge)) {
                    Some((_, g)) => self.list.insert_after(g.tail, i),
                    None => self.list.push_front(i),
                }
                self.groups.insert(key(charge), Group { head: i, tail: i });
            }
        }
    }

    /// Takes `i` out of the order, if it is in (a pinned entry is not).
    pub fn unlink(&mut self, i: u32, charge: u64, _tick: u64) {
        if !self.list.is_linked(i) {
            return;
        }
        let k = key(charge);
        let g = self
            .groups
            .get(k)
            .expect("a linked slot's charge has a group");
        if g.head == i && g.tail == i {
            self.groups.remove(k);
        } else if let Some(g) = self.groups.get_mut(k) {
            if g.head == i {
                g.head = self.list.next(i);
            } else if g.tail == i {
                g.tail = self.list.prev(i);
            }
        }
        self.list.unlink(i);
    }

    /// An access or replace moved slot `i` from (`old_charge`, an older
    /// tick) to (`charge`, `tick`, the newest).
    pub fn touch(&mut self, i: u32, old_charge: u64, charge: u64, tick: u64) {
        if old_charge == charge && self.groups.get(key(charge)).is_some_and(|g| g.tail == i) {
            // Already the most recent of its group.
            #[cfg(debug_assertions)]
            {
                self.last_tick = self.last_tick.max(tick);
            }
            return;
        }
        // Reserved first: unlinking then failing to link would lose it.
        self.reserve(i);
        self.unlink(i, old_charge, 0);
        self.link(i, charge, tick);
    }

    pub fn walk(&self, f: impl FnMut(u32) -> bool) {
        self.list.walk(f)
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BTreeSet;

    use super::*;

    /// Against the ordered set of (charge descending, tick, slot) it
    /// replaced, over random links, unlinks and touches.
    #[test]
    fn matches_the_ordered_set() {
        let mut o = SizeOrder::new();
        let mut model: BTreeSet<(Reverse<u64>, u64, u32)> = BTreeSet::new();
        let mut at: Vec<Option<(u64, u64)>> = vec![None; 64];
        let mut tick = 0u64;
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for step in 0..50_000 {
            let i = next(64) as u32;
            tick += 1;
            // Few distinct charges (groups of many) and some unique ones.
            let charge = if next(4) == 0 { next(1 << 40) } else { next(6) };
            match (at[i as usize], next(3)) {
                (None, _) => {
                    o.link(i, charge, tick);
                    model.insert((Reverse(charge), tick, i));
                    at[i as usize] = Some((charge, tick));
                }
                (Some((c, t)), 0) => {
                    o.unlink(i, c, t);
                    model.remove(&(Reverse(c), t, i));
                    at[i as usize] = None;
                }
                (Some((c, t)), k) => {
                    // An access keeps the charge; a replace may change it.
                    let charge = if k == 1 { c } else { charge };
                    o.touch(i, c, charge, tick);
                    model.remove(&(Reverse(c), t, i));
                    model.insert((Reverse(charge), tick, i));
                    at[i as usize] = Some((charge, tick));
                }
            }
            let mut got = Vec::new();
            o.walk(|i| {
                got.push(i);
                true
            });
            let want: Vec<u32> = model.iter().map(|&(_, _, i)| i).collect();
            assert_eq!(got, want, "step {step}");
        }
        // A slot not in the order (a pinned entry's) is left alone.
        let absent = (0..64).find(|&i| at[i as usize].is_none());
        if let Some(i) = absent {
            let before = model.len();
            o.unlink(i, 7, 0);
            let mut n = 0;
            o.walk(|_| {
                n += 1;
                true
            });
            assert_eq!(n, before);
        }
        o.clear();
        let mut n = 0;
        o.walk(|_| {
            n += 1;
            true
        });
        assert_eq!(n, 0);
    }
}
