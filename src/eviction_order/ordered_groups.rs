//! The groups of an order (LFU counts, SIZE charges) sorted by their key:
//! a treap whose nodes live in one `Vec`, so that the room a change needs
//! can be reserved before the change commits (`reserve`), after which
//! inserting allocates nothing. std's `BTreeMap` cannot do that, and aborts
//! the process when a node allocation fails even where failed allocations
//! unwind (docs/TESTING.md, "allocation failure at every point").
//!
//! A node's priority is a fixed bijective mix of its key, so distinct keys
//! never tie, the same keys always make the same tree, and the expected
//! depth is O(log n) for any set of keys not chosen against the mix. The
//! order of the keys, all callers see, never depends on the tree's shape.

use super::linked_slots::NIL;

#[derive(Clone, Copy, Debug)]
struct Node<V> {
    key: u64,
    left: u32,
    /// For a free node: the next free node.
    right: u32,
    value: V,
}

/// key -> `V`, sorted by key.
#[derive(Debug)]
pub(crate) struct OrderedGroups<V: Copy> {
    nodes: Vec<Node<V>>,
    root: u32,
    /// Freed nodes, linked through `right`.
    free: u32,
    free_len: usize,
    len: usize,
}

/// The treap priority of `key` (splitmix64's finalizer: a bijection).
#[inline]
fn priority(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<V: Copy> Default for OrderedGroups<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy> OrderedGroups<V> {
    pub fn new() -> Self {
        OrderedGroups {
            nodes: Vec::new(),
            root: NIL,
            free: NIL,
            free_len: 0,
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `additional` more keys: until then, `insert`
    /// allocates nothing.
    pub fn reserve(&mut self, additional: usize) {
        if additional > self.free_len {
            self.nodes.reserve(additional - self.free_len);
        }
    }

    fn find(&self, key: u64) -> u32 {
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if key == n.key {
                return t;
            }
            t = if key < n.key { n.left } else { n.right };
        }
        NIL
    }

    pub fn get(&self, key: u64) -> Option<V> {
        match self.find(key) {
            NIL => None,
            t => Some(self.nodes[t as usize].value),
        }
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        match self.find(key) {
            NIL => None,
            t => Some(&mut self.nodes[t as usize].value),
        }
    }

    /// The greatest key below `key`, and its value.
    pub fn below(&self, key: u64) -> Option<(u64, V)> {
        let (mut t, mut best) = (self.root, NIL);
        while t != NIL {
            let n = &self.nodes[t as usize];
            if n.key < key {
                best = t;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        (best != NIL).then(|| {
            let n = &self.nodes[best as usize];
            (n.key, n.value)
        })
    }

    /// Sets `key`'s value; returns whether the key is new. The only change
    /// that may allocate (when not reserved), and it allocates before
    /// changing anything.
    pub fn insert(&mut self, key: u64, value: V) -> bool {
        if let Some(v) = self.get_mut(key) {
            *v = value;
            return false;
        }
        let node = Node {
            key,
            left: NIL,
            right: NIL,
            value,
        };
        let n = if self.free != NIL {
            let n = self.free;
            self.free = self.nodes[n as usize].right;
            self.free_len -= 1;
            self.nodes[n as usize] = node;
            n
        } else {
            let n = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&n| n < NIL)
                .expect("fewer than 2^32 - 1 groups");
            self.nodes.push(node);
            n
        };
        self.root = self.insert_at(self.root, n);
        self.len += 1;
        true
    }

    fn insert_at(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        let key = self.nodes[n as usize].key;
        if key < self.nodes[t as usize].key {
            let l = self.insert_at(self.nodes[t as usize].left, n);
            self.nodes[t as usize].left = l;
            if priority(self.nodes[l as usize].key) > priority(self.nodes[t as usize].key) {
                // Rotate right: l becomes the parent of t.
                self.nodes[t as usize].left = self.nodes[l as usize].right;
                self.nodes[l as usize].right = t;
                return l;
            }
        } else {
            let r = self.insert_at(self.nodes[t as usize].right, n);
            self.nodes[t as usize].right = r;
            if priority(self.nodes[r as usize].key) > priority(self.nodes[t as usize].key) {
                self.nodes[t as usize].right = self.nodes[r as usize].left;
                self.nodes[r as usize].left = t;
                return r;
            }
        }
        t
    }

    /// Removes `key`; returns whether it was there. Allocates nothing.
    pub fn remove(&mut self, key: u64) -> bool {
        let before = self.len;
        self.root = self.remove_at(self.root, key);
        before != self.len
    }

    fn remove_at(&mut self, t: u32, key: u64) -> u32 {
        if t == NIL {
            return NIL;
        }
        let n = self.nodes[t as usize];
        if key < n.key {
            let l = self.remove_at(n.left, key);
            self.nodes[t as usize].left = l;
            t
        } else if key > n.key {
            let r = self.remove_at(n.right, key);
            self.nodes[t as usize].right = r;
            t
        } else {
            self.nodes[t as usize].right = self.free;
            self.free = t;
            self.free_len += 1;
            self.len -= 1;
            self.merge(n.left, n.right)
        }
    }

    /// Joins two treaps, every key of `a` below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if priority(self.nodes[a as usize].key) > priority(self.nodes[b as usize].key) {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            b
        }
    }

    /// Every key in order (tests).
    #[cfg(test)]
    pub fn keys(&self) -> Vec<u64> {
        fn go<V: Copy>(g: &OrderedGroups<V>, t: u32, out: &mut Vec<u64>) {
            if t != NIL {
                let n = g.nodes[t as usize];
                go(g, n.left, out);
                out.push(n.key);
                go(g, n.right, out);
            }
        }
        let mut out = Vec::new();
        go(self, self.root, &mut out);
        out
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.root = NIL;
        self.free = NIL;
        self.free_len = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Against a BTreeMap, over random inserts, removes and searches.
    #[test]
    fn matches_a_btree_map() {
        let mut g = OrderedGroups::<u32>::new();
        let mut model = BTreeMap::new();
        let mut next = crate::test_rng::xorshift();
        for step in 0..100_000u32 {
            // Small keys collide often; the extremes are keys too.
            let key = match next(10) {
                0 => u64::MAX - next(3),
                1 => next(3),
                _ => next(500) * 1000,
            };
            match next(3) {
                0 => assert_eq!(g.remove(key), model.remove(&key).is_some(), "step {step}"),
                _ => {
                    g.reserve(1);
                    let cap = g.nodes.capacity();
                    assert_eq!(
                        g.insert(key, step),
                        model.insert(key, step).is_none(),
                        "step {step}"
                    );
                    assert_eq!(g.nodes.capacity(), cap, "a reserved insert allocated");
                }
            }
            assert_eq!(g.get(key), model.get(&key).copied());
            let probe = next(600_000);
            assert_eq!(
                g.below(probe),
                model.range(..probe).next_back().map(|(&k, &v)| (k, v))
            );
            assert_eq!(g.len(), model.len());
            if step % 1000 == 0 {
                assert_eq!(g.keys(), model.keys().copied().collect::<Vec<_>>());
            }
        }
        g.clear();
        assert_eq!((g.len(), g.get(0), g.below(u64::MAX)), (0, None, None));
    }

    /// Keys inserted in order (the worst case of an unbalanced tree) stay
    /// shallow.
    #[test]
    fn sorted_inserts_stay_shallow() {
        let mut g = OrderedGroups::<()>::new();
        for k in 0..100_000u64 {
            g.insert(k, ());
        }
        fn depth(g: &OrderedGroups<()>, t: u32) -> usize {
            if t == NIL {
                return 0;
            }
            let n = g.nodes[t as usize];
            1 + depth(g, n.left).max(depth(g, n.right))
        }
        let d = depth(&g, g.root);
        assert!(d < 60, "depth {d} for 100,000 sorted keys");
    }
}
