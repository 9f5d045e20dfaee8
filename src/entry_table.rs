//! The present entries: a slab of slots addressed by `u32` index, and a hash
//! index from key to slot that stores only the index (the key lives once, in
//! its slot).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::value_handle::ValueCell;

/// One present entry.
pub(crate) struct Entry<K, V> {
    pub key: K,
    pub cell: ValueCell<V>,
    pub charge: u64,
    /// The recency stamp (the store's tick at the last access or unpin) in
    /// the low 63 bits, and whether the entry is pinned in the top bit: one
    /// word where a `bool` beside the tick took a padded word of its own
    /// (8 bytes of every entry). Ticks count accesses from 1 and never
    /// reach 2^63.
    stamp: u64,
}

/// The pinned bit of [`Entry::stamp`].
const PINNED: u64 = 1 << 63;

impl<K, V> Entry<K, V> {
    pub fn new(key: K, cell: ValueCell<V>, charge: u64, tick: u64, pinned: bool) -> Self {
        debug_assert!(tick < PINNED, "ticks never reach 2^63");
        Entry {
            key,
            cell,
            charge,
            stamp: tick | if pinned { PINNED } else { 0 },
        }
    }

    pub fn charge(&self) -> u64 {
        self.charge
    }

    /// The store's tick at the entry's last access (or unpin).
    #[inline]
    pub fn tick(&self) -> u64 {
        self.stamp & !PINNED
    }

    #[inline]
    pub fn set_tick(&mut self, tick: u64) {
        debug_assert!(tick < PINNED, "ticks never reach 2^63");
        self.stamp = (self.stamp & PINNED) | tick;
    }

    #[inline]
    pub fn pinned(&self) -> bool {
        self.stamp & PINNED != 0
    }

    #[inline]
    pub fn set_pinned(&mut self, pinned: bool) {
        self.stamp = if pinned {
            self.stamp | PINNED
        } else {
            self.stamp & !PINNED
        };
    }

    /// Neither pinned nor held by a read handle.
    pub fn evictable(&self) -> bool {
        !self.pinned() && !self.cell.in_use()
    }
}

pub(crate) struct EntryTable<K, V> {
    slots: Vec<Option<Entry<K, V>>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: crate::key_hasher::KeyHasher,
}

impl<K: Hash + Eq, V> EntryTable<K, V> {
    /// A table that hashes keys with `hasher`: the store's, shared by its
    /// shards, so that the hash that picked a key's shard also finds it
    /// there (`find_hashed`).
    pub fn with_hasher(hasher: crate::key_hasher::KeyHasher) -> Self {
        EntryTable {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The 64-bit hash the index files `key` under (what the LFU history
    /// remembers instead of the key).
    pub fn hash_of<Q>(&self, key: &Q) -> u64
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.hasher.hash_one(key)
    }

    // Always inlined: the hit path of every read, whose call would cost
    // more than the probe (tests: nexus-profile under callgrind).
    #[inline(always)]
    pub fn find<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find_hashed(self.hasher.hash_one(key), key)
    }

    /// [`EntryTable::find`] with `key`'s hash already computed (by
    /// `hash_of`, or by the store with the same hasher).
    #[inline(always)]
    pub fn find_hashed<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        debug_assert_eq!(hash, self.hasher.hash_one(key));
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slot(slots, i).key.borrow() == key)
            .copied()
    }

    /// [`EntryTable::find_hashed`] with the entry found (the read path: the
    /// probe's match already holds it).
    #[inline(always)]
    pub fn find_entry_hashed<Q>(&self, hash: u64, key: &Q) -> Option<(u32, &Entry<K, V>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        debug_assert_eq!(hash, self.hasher.hash_one(key));
        let slots = &self.slots;
        let mut found = None;
        self.index.find(hash, |&i| {
            let e = slot(slots, i);
            let equal = e.key.borrow() == key;
            if equal {
                found = Some((i, e));
            }
            equal
        })?;
        found
    }

    /// Room for one more entry (a slot and its index), so that `insert`
    /// allocates nothing.
    pub fn reserve_one(&mut self) {
        if self.free.is_empty() {
            self.slots.reserve(1);
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .reserve(1, |&j| hasher.hash_one(&slot(slots, j).key));
    }

    /// The slot the next `insert` takes.
    pub fn next_slot(&self) -> u32 {
        self.free
            .last()
            .copied()
            .unwrap_or(u32::try_from(self.slots.len()).unwrap_or(u32::MAX))
    }

    /// Inserts an entry whose key is absent; returns its slot.
    ///
    /// What it may allocate is reserved before anything changes, so a failed
    /// allocation (a panic, where allocation failures unwind) leaves the
    /// table as it was (tests/alloc_failure_every_point.rs).
    pub fn insert(&mut self, entry: Entry<K, V>) -> u32 {
        let hash = self.hasher.hash_one(&entry.key);
        self.reserve_one();
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(entry);
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).expect("more than u32::MAX entries");
                self.slots.push(Some(entry));
                i
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(&slot(slots, j).key));
        i
    }

    /// Makes room for `n` removals: until then `remove` allocates nothing.
    pub fn reserve_removals(&mut self, n: usize) {
        self.free.reserve(n);
    }

    /// `reserve_removals` that fails instead of unwinding: false if an
    /// allocation failed.
    pub fn try_reserve_removals(&mut self, n: usize) -> bool {
        self.free.try_reserve(n).is_ok()
    }

    /// Removes the entry in slot `i` (which must be occupied).
    pub fn remove(&mut self, i: u32) -> Entry<K, V> {
        // Room on the free list first: nothing changes if it fails.
        self.free.reserve(1);
        let hash = self.hasher.hash_one(&slot(&self.slots, i).key);
        match self.index.find_entry(hash, |&j| j == i) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("slot {i} is not indexed"),
        }
        let entry = self.slots[i as usize].take().expect("occupied slot");
        self.free.push(i);
        entry
    }

    /// Takes out every entry `take` picks, in slot order, handing each to
    /// `sink`, then rebuilds the index from the entries that stay: one pass
    /// over the storage, rather than one index removal per entry. Survivors
    /// keep their slots. `count` is how many `take` will pick (room on the
    /// free list is made for them first, so a failed allocation changes
    /// nothing); `sink` must not fail.
    pub fn take_each(
        &mut self,
        count: usize,
        mut take: impl FnMut(&Entry<K, V>) -> bool,
        mut sink: impl FnMut(u32, Entry<K, V>),
    ) {
        self.free.reserve(count);
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.as_ref().is_some_and(&mut take)
                && let Some(e) = s.take()
            {
                self.free.push(i as u32);
                sink(i as u32, e);
            }
        }
        // The index keeps its capacity: re-inserting fewer entries than it
        // held allocates nothing.
        self.index.clear();
        let (slots, hasher) = (&self.slots, &self.hasher);
        for (i, s) in slots.iter().enumerate() {
            if let Some(e) = s {
                self.index
                    .insert_unique(hasher.hash_one(&e.key), i as u32, |&j| {
                        hasher.hash_one(&slot(slots, j).key)
                    });
            }
        }
    }

    /// Removes every entry, in slot order.
    pub fn drain(&mut self) -> Vec<Entry<K, V>> {
        // The room first: nothing changes if it fails.
        let mut out = Vec::with_capacity(self.len());
        self.index.clear();
        self.free.clear();
        out.extend(std::mem::take(&mut self.slots).into_iter().flatten());
        out
    }

    #[inline]
    pub fn get(&self, i: u32) -> &Entry<K, V> {
        slot(&self.slots, i)
    }

    #[inline(always)]
    pub fn get_mut(&mut self, i: u32) -> &mut Entry<K, V> {
        self.slots[i as usize].as_mut().expect("occupied slot")
    }

    /// Whether slot `i` holds an entry.
    pub fn is_occupied(&self, i: u32) -> bool {
        self.slots.get(i as usize).is_some_and(Option::is_some)
    }

    /// Occupied slots with their index.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry<K, V>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|e| (i as u32, e)))
    }
}

/// The entry in slot `i`, which is occupied (every index slot names one).
/// The panic, were it not, is in `vacant`: an index or an `expect` here
/// would make every lookup load their locations before its probe (2 of a
/// native hit's instructions, measured with callgrind).
#[inline]
fn slot<K, V>(slots: &[Option<Entry<K, V>>], i: u32) -> &Entry<K, V> {
    match slots.get(i as usize) {
        Some(Some(e)) => e,
        _ => vacant(i),
    }
}

#[cold]
#[inline(never)]
fn vacant(i: u32) -> ! {
    panic!("the entry table's slot {i} is vacant or out of range")
}
