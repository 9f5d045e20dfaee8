//! Puts, reads, removals and pins.

use std::borrow::Borrow;
use std::hash::Hash;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    pub(super) fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    pub(super) fn supersede_load<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.loads.is_empty()
            && let Some(f) = self.loads.get_mut(key)
        {
            f.superseded = true;
        }
    }

    /// Whether a put replacing the entry in slot `i` can skip the general
    /// path: the entry is unpinned, no signal is in force, no load of the
    /// key is in flight, and usage stays below the working size (so the put
    /// cannot fail and evicts nothing).
    #[inline]
    fn replace_in_place(&self, i: u32, charge: u64) -> bool {
        let e = self.entries.get(i);
        // A level that changes reports an event, which allocates: that put
        // takes the general path, where the room is reserved.
        if e.pinned()
            || self.signalled != MemoryPressureLevel::None
            || self.reported != MemoryPressureLevel::None
            || !self.loads.is_empty()
        {
            return false;
        }
        match (self.usage - e.charge).checked_add(charge) {
            Some(usage) => !self.limits.bounded() || usage < self.limits.moderate_at,
            None => false,
        }
    }

    /// Whether a put of `charge` (replacing `existing`) would evict: it
    /// takes usage to the working size or past the budget in force, or a
    /// new key finds the entry limit reached.
    fn needs_room(&self, existing: Option<u32>, charge: u64) -> bool {
        let old = existing.map_or(0, |i| self.entries.get(i).charge());
        let usage = (self.usage - old).saturating_add(charge);
        let limits = self.limits;
        limits.usage_level(usage) != MemoryPressureLevel::None
            || limits
                .budget_in_force(self.signalled)
                .is_some_and(|b| usage > b)
            || (self.config.max_entries != 0
                && existing.is_none()
                && self.entries.len() as u64 >= self.shard.share(self.config.max_entries))
    }

    /// Checks whether `key` charged `charge` can be put, and which entries
    /// must go to make room, once the expired entries `expired` (sorted,
    /// other keys') are gone. Changes nothing.
    pub(super) fn plan_put(
        &self,
        key: &K,
        existing: Option<u32>,
        charge: u64,
        expired: &[u32],
    ) -> Result<PutPlan> {
        let limits = self.limits;
        if limits.bounded() && charge > limits.max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                if limits.max == self.config.max_cache_bytes {
                    format!(
                        "an entry charged {charge} bytes exceeds the budget of {} bytes",
                        limits.max
                    )
                } else {
                    format!(
                        "an entry charged {charge} bytes exceeds its shard's share ({} bytes) \
                         of the budget of {} bytes",
                        limits.max, self.config.max_cache_bytes
                    )
                },
            ));
        }
        let pinned = match existing {
            Some(i) => self.entries.get(i).pinned(),
            None => self.pins.contains(key),
        };
        if self.signalled == MemoryPressureLevel::Emergency && !pinned {
            return Err(Error::new(
                ErrorKind::OverBudget,
                "an EMERGENCY pressure signal is in force: only pinned keys may be put until it ends",
            ));
        }
        let old_charge = existing.map_or(0, |i| self.entries.get(i).charge());
        let base = self.usage - old_charge - self.charges_of(expired);
        let Some(new_usage) = base.checked_add(charge) else {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("an entry charged {charge} bytes overflows the usage of {base} bytes"),
            ));
        };
        let mut victims = Vec::new();
        if let Some(budget) = limits.budget_in_force(self.signalled)
            && new_usage > budget
        {
            let need = new_usage - budget;
            let pinned_others = self.pinned_bytes - if pinned { old_charge } else { 0 };
            // A store of several shards names the shard's part: the
            // store's budget and usage (its metrics) are sums over shards.
            let store_max = self.config.max_cache_bytes;
            let whole = limits.max == store_max;
            let over = |detail: &str| {
                Error::new(
                    ErrorKind::OverBudget,
                    if whole {
                        format!(
                            "an entry charged {charge} bytes cannot fit in the budget in force \
                             ({budget} bytes) {detail}"
                        )
                    } else {
                        format!(
                            "an entry charged {charge} bytes cannot fit in its shard's part \
                             ({budget} bytes) of the budget in force (the store's budget is \
                             {store_max} bytes) {detail}"
                        )
                    },
                )
            };
            if base - pinned_others < need {
                return Err(over("even after evicting every unpinned entry"));
            }
            let (v, freed) =
                self.collect_victims_skipping(existing, expired, usize::MAX, |f| f >= need);
            if freed < need {
                return Err(over("even after evicting every entry not pinned or in use"));
            }
            victims = v;
        }
        let victims = self.fit_entry_limit(existing, victims, expired)?;
        Ok(PutPlan {
            existing,
            pinned,
            old_charge,
            victims,
        })
    }

    /// Inserts or replaces `key`. On error nothing has changed and the key
    /// and value come back, to be dropped after the lock is released.
    pub fn put(
        &mut self,
        key: K,
        cell: ValueCell<V>,
        charge: u64,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> std::result::Result<(), Rejected<K, V>> {
        let existing = self.entries.find(&key);
        // An expired entry is absent to every read: a put of its key is a
        // new entry's, and the old one leaves as EXPIRED (as a read's next
        // call would remove it), not REPLACED. It leaves only once the put
        // is sure to succeed: a failed put changes nothing.
        if let Some(i) = existing
            && !(self.expiry_on() && self.expired_now(i))
            && self.replace_in_place(i, charge)
            && self
                .reserve_store_growth(self.entries.get(i).charge(), charge)
                .is_ok()
        {
            // The common case, in short: the outcome of the general path
            // below when nothing can be evicted and nothing can fail.
            let old_charge = self.replace_value(i, key, cell, charge, fx);
            if self.expiry_on() {
                self.stamp_expiry(i);
            }
            self.count_put(old_charge, charge, now, fx);
            return Ok(());
        }
        let expired = existing.filter(|&i| self.expiry_on() && self.expired_now(i));
        // A put that needs room takes it from expired entries before live
        // ones (they leave as EXPIRED once the put cannot fail).
        let mut gone = if self.expiry_on() && self.needs_room(existing, charge) {
            self.take_expired(existing)
        } else {
            Vec::new()
        };
        let plan = match self
            .plan_put(&key, existing, charge, &gone)
            .and_then(|plan| {
                self.reserve_store_growth(plan.old_charge, charge)
                    .map(|_| plan)
            }) {
            Ok(plan) => plan,
            Err(error) => {
                self.requeue_expired(&gone);
                return Err(Rejected { error, key, cell });
            }
        };
        let PutPlan {
            mut existing,
            pinned,
            mut old_charge,
            victims,
        } = plan;
        // Planned as a replace of the expired entry: the same bytes and
        // count as removing it and inserting the new one, which is what
        // happens now that the put cannot fail.
        if let Some(i) = expired {
            gone.push(i);
            gone.sort_unstable();
            existing = None;
            old_charge = 0;
        }
        if !gone.is_empty() {
            self.remove_expired_within(gone, now, fx);
        }
        let limits = self.limits;
        // What the insert below allocates, reserved while nothing changed:
        // committed from here on, nothing below fails (even where a failed
        // allocation unwinds: tests/alloc_failure_every_point.rs).
        if existing.is_none() {
            self.entries.reserve_one();
            self.order.reserve(self.entries.next_slot());
        }
        // The events a put reports: level changes around its run, the run.
        fx.events.reserve(4);
        // What its evictions and the replaced value report, what lfu_history
        // records (the threshold reaction below reserves its own, or evicts
        // less).
        fx.removed.reserve(victims.len() + 1);
        self.entries.reserve_removals(victims.len());
        if !victims.is_empty() {
            self.order.reserve_evictions();
        }
        if let Some(history) = &mut self.history {
            history.reserve(victims.len());
        }

        // Committed from here on: nothing below fails.
        self.supersede_load(&key);
        // lfu_history: an absent key that was evicted recently takes its
        // remembered count now, before this put's own evictions record
        // theirs (which could otherwise push it out of the history).
        let remembered = match &mut self.history {
            Some(history) if existing.is_none() => history.take(self.entries.hash_of(&key)),
            _ => None,
        };
        let mut run = Run::default();
        self.evict_slots(&victims, EvictionReason::Capacity, &mut run, fx);
        let slot = match existing {
            Some(i) => {
                self.replace_value(i, key, cell, charge, fx);
                i
            }
            None => {
                let tick = self.tick();
                let key_hash = if self.order.hashes_keys() {
                    order_hash(&key)
                } else {
                    0
                };
                let i = self
                    .entries
                    .insert(Entry::new(key, cell, charge, tick, pinned));
                let at = Position { charge, tick };
                match remembered {
                    // The insert is itself an access: remembered count + 1.
                    Some(c) => {
                        self.order
                            .insert_with_count(i, at, !pinned, c.saturating_add(1), key_hash)
                    }
                    None => self.order.insert(i, at, !pinned, key_hash),
                }
                if pinned {
                    self.pinned_count += 1;
                    self.pinned_bytes += charge;
                }
                i
            }
        };
        if self.expiry_on() {
            self.stamp_expiry(slot);
        }
        self.count_put(old_charge, charge, now, fx);

        let usage = self.usage;
        let max = match limits.usage_level(usage) {
            MemoryPressureLevel::Moderate => self.config.eviction_batch_size,
            MemoryPressureLevel::Critical => usize::MAX,
            _ => 0,
        };
        self.threshold_reaction(slot, max, |f| usage - f < limits.moderate_at, &mut run, fx);
        self.finish_run(run, EvictionReason::Capacity, now, fx);
        self.update_level(now, fx);
        Ok(())
    }

    /// Replaces the value of the entry in slot `i` (a put's access): the
    /// old value is reported `Replaced`, to be dropped after the lock.
    /// Returns the old charge. Inlined: it is the hot part of a put.
    #[inline(always)]
    fn replace_value(
        &mut self,
        i: u32,
        key: K,
        cell: ValueCell<V>,
        charge: u64,
        fx: &mut Effects<K, V>,
    ) -> u64 {
        let (old, old_charge) = self.swap_value(i, cell, charge, false);
        fx.removed.push(Removed {
            key,
            cell: old,
            charge: old_charge,
            reason: EvictionReason::Replaced,
        });
        old_charge
    }

    /// The entry in slot `i` takes `cell` charged `charge` (an access in
    /// the order); returns the old cell and charge. With `note`, an LRU
    /// store that notes its reads notes this access too (for a caller that
    /// chooses no victim after it); otherwise, and in the other strategies
    /// (where the new charge may move the entry), it is applied at once,
    /// after the reads noted before it.
    #[inline(always)]
    fn swap_value(
        &mut self,
        i: u32,
        cell: ValueCell<V>,
        charge: u64,
        note: bool,
    ) -> (ValueCell<V>, u64) {
        let note = note && self.pending.batch;
        if !note {
            // The reads noted before this access come first (and see the
            // entry as it was).
            self.settle_reads();
        }
        let e = self.entries.get_mut(i);
        let old_charge = e.charge;
        let old = std::mem::replace(&mut e.cell, cell);
        e.charge = charge;
        let linked = !e.pinned();
        if !linked {
            self.pinned_bytes = self.pinned_bytes - old_charge + charge;
        }
        match &mut self.order {
            // As in `touch`: the LRU list alone keeps recency (an LRU
            // store's entries keep the tick of their insert, unused). With
            // `note`, the move waits with the reads (`pending_reads`).
            EvictionOrder::Lru(_) if linked && note => self.note_read(i),
            EvictionOrder::Lru(o) => {
                if linked {
                    o.move_to_back(i);
                }
            }
            _ => {
                let tick = self.tick();
                let e = self.entries.get_mut(i);
                let old_at = Position {
                    charge: old_charge,
                    tick: e.tick(),
                };
                e.set_tick(tick);
                self.order
                    .touch(i, old_at, Position { charge, tick }, linked);
            }
        }
        (old, old_charge)
    }

    /// A put that replaces a present key's value when it can neither fail,
    /// evict, report an event nor touch a load in flight (what the general
    /// put would then do, without its bookkeeping of effects): the value is
    /// swapped in and the old one comes back with its charge, to be
    /// reported and dropped after the lock. For a caller that holds the key
    /// only borrowed. `Err` gives the value back with nothing changed: the
    /// caller then takes the general path. The caller has checked there is
    /// no time-based state to bring up to date (`has_time_based_state`).
    #[inline(always)]
    pub fn replace_present<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        cell: ValueCell<V>,
        charge: u64,
    ) -> std::result::Result<(ValueCell<V>, u64), ValueCell<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(i) = self.entries.find_hashed(hash, key) else {
            return Err(cell);
        };
        if !self.replace_in_place(i, charge) {
            return Err(cell);
        }
        let old_charge = self.entries.get(i).charge();
        let usage = self.usage - old_charge + charge;
        // The general path would report a change of level: let it.
        if self.limits.usage_level(usage).max(self.signalled) != self.reported
            || self.reserve_store_growth(old_charge, charge).is_err()
        {
            return Err(cell);
        }
        let (old, old_charge) = self.swap_value(i, cell, charge, true);
        if self.expiry_on() {
            self.stamp_expiry(i);
        }
        // Written only when they change: a replace of the same charge then
        // writes no line beyond the entry's and the lock's.
        if usage != self.usage {
            self.usage = usage;
            if usage > self.counters.peak {
                self.counters.peak = usage;
            }
        }
        self.counters.inserts += 1;
        self.end_call();
        Ok((old, old_charge))
    }

    /// A put's accounting once its entry is in: usage, counters, level.
    #[inline]
    fn count_put(&mut self, old_charge: u64, charge: u64, now: &Now<'_>, fx: &mut Effects<K, V>) {
        self.usage = self.usage - old_charge + charge;
        self.counters.inserts += 1;
        self.counters.peak = self.counters.peak.max(self.usage);
        self.update_level(now, fx);
    }

    /// A read: a hit is an access and returns a handle.
    pub fn get<Q>(&mut self, key: &Q) -> Option<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_hashed(self.entries.hash_of(key), key)
    }

    /// [`MemoryManager::get`] with `key`'s hash (the store's hasher).
    pub fn get_hashed<Q>(&mut self, hash: u64, key: &Q) -> Option<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.find_hashed(hash, key) {
            None => {
                self.counters.misses += 1;
                None
            }
            Some(i) if self.time_based && self.expired_on_read(i) => {
                self.counters.misses += 1;
                None
            }
            Some(i) => {
                self.counters.hits += 1;
                self.touch_read(i, self.entries.get(i).pinned());
                let e = self.entries.get_mut(i);
                let charge = e.charge;
                Some(ValueHandle::acquire(e.cell.share(charge), &self.link))
            }
        }
    }

    /// A read that lends the value to `f` (library code, under the lock); a
    /// hit is an access.
    #[inline]
    pub fn read<Q, R>(&mut self, hash: u64, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(i) = self.entries.find_hashed(hash, key) else {
            self.counters.misses += 1;
            return None;
        };
        // `time_based` (no expiry without it) is what the read path just
        // tested: the test folds away there.
        if self.time_based && self.expired_on_read(i) {
            self.counters.misses += 1;
            return None;
        }
        let e = self.entries.get(i);
        let (r, pinned) = (f(e.cell.value()), e.pinned());
        self.counters.hits += 1;
        self.touch_read(i, pinned);
        Some(r)
    }

    /// A read that lends the value to `f` (library code, under the lock). It
    /// is an access only if `f` succeeds; a miss is `NOT_FOUND`.
    #[inline]
    pub fn peek_with<Q, R>(
        &mut self,
        hash: u64,
        key: &Q,
        f: impl FnOnce(&V) -> Result<R>,
    ) -> Result<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some((i, e)) = self.entries.find_entry_hashed(hash, key) else {
            return Err(self.peek_missed("no entry with this key"));
        };
        let e = if self.time_based && self.expiry_on() {
            if self.expired_on_read(i) {
                return Err(self.peek_missed("the entry with this key expired"));
            }
            self.entries.get(i)
        } else {
            e
        };
        let (r, pinned) = (f(e.cell.value_inline_first()), e.pinned());
        let r = match r {
            Ok(r) => r,
            Err(error) => return Err(self.read_failed(i, error)),
        };
        self.counters.hits += 1;
        self.touch_read(i, pinned);
        Ok(r)
    }

    /// A miss of `peek_with`, counted; its error is made out of line (the
    /// message's address was loaded before the probe of every hit: 2
    /// instructions of `nexus_store_get_copy`).
    #[cold]
    #[inline(never)]
    fn peek_missed(&mut self, what: &'static str) -> Error {
        self.counters.misses += 1;
        Error::not_found(what)
    }

    /// The access of a read hit that has just looked at the entry (and so
    /// knows whether it is pinned). In an LRU store of several shards it is
    /// noted, to be applied to the order later (`pending_reads`); one shard
    /// moves the entry at once (a pinned entry is in no list: nothing to
    /// do); the other strategies apply it at once (their reads write the
    /// frequency sketch or counts anyway, and re-reading the entry later
    /// would cost more than the move).
    #[inline(always)]
    fn touch_read(&mut self, i: u32, pinned: bool) {
        match &mut self.order {
            EvictionOrder::Lru(_) if !pinned && self.pending.batch => self.note_read(i),
            EvictionOrder::Lru(o) if !pinned => o.move_to_back(i),
            EvictionOrder::Lru(_) => {}
            _ => self.touch(i),
        }
    }

    /// A read access of the entry in slot `i`.
    #[inline]
    pub(super) fn touch(&mut self, i: u32) {
        if let EvictionOrder::Lru(o) = &mut self.order {
            // The LRU list alone keeps recency: no tick to stamp (ticks
            // order the other strategies' entries by recency).
            if !self.entries.get(i).pinned() {
                o.move_to_back(i);
            }
            return;
        }
        let tick = self.tick();
        let e = self.entries.get_mut(i);
        let old_tick = {
            let old = e.tick();
            e.set_tick(tick);
            old
        };
        let (charge, linked) = (e.charge, !e.pinned());
        let old = Position {
            charge,
            tick: old_tick,
        };
        self.order.touch(i, old, Position { charge, tick }, linked);
    }

    /// Whether `key` (whose hash is `hash`) is present. Not an access.
    pub fn contains<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .find_hashed(hash, key)
            .is_some_and(|i| !self.expired_now(i))
    }

    pub(super) fn remove_slot(&mut self, i: u32, fx: &mut Effects<K, V>) {
        self.debug_assert_settled();
        let e = self.entries.remove(i);
        let charge = e.charge();
        if e.pinned() {
            self.pinned_count -= 1;
            self.pinned_bytes -= charge;
        }
        self.order.remove(
            i,
            Position {
                charge,
                tick: e.tick(),
            },
        );
        self.usage -= charge;
        fx.removed.push(Removed {
            key: e.key,
            cell: e.cell,
            charge: e.charge,
            reason: EvictionReason::Removed,
        });
    }

    /// Removes `key`, pinned or not (its pin stays).
    pub fn remove<Q>(&mut self, key: &Q, now: &Now<'_>, fx: &mut Effects<K, V>) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.supersede_load(key);
        let Some(i) = self.entries.find(key) else {
            return Err(Error::not_found("no entry with this key"));
        };
        // An expired entry is absent: it leaves as EXPIRED, and the remove
        // finds nothing to remove.
        if self.take_if_expired(i, now, fx) {
            return Err(Error::not_found("the entry with this key expired"));
        }
        self.remove_slot(i, fx);
        self.update_level(now, fx);
        Ok(())
    }

    /// Removes every entry, pinned too; pins stay. Returns how many, not
    /// counting the expired ones, which leave first as EXPIRED (absent to
    /// every call, they are not the caller's to clear).
    pub fn clear(&mut self, now: &Now<'_>, fx: &mut Effects<K, V>) -> usize {
        if self.expiry_on() {
            self.sweep_expired(now, fx);
        }
        for f in self.loads.values_mut() {
            f.superseded = true;
        }
        // The room first: nothing changes if it fails.
        fx.removed.reserve(self.entries.len());
        self.debug_assert_settled();
        let drained = self.entries.drain();
        let n = drained.len();
        fx.removed.extend(drained.into_iter().map(|e| Removed {
            key: e.key,
            cell: e.cell,
            charge: e.charge,
            reason: EvictionReason::Removed,
        }));
        self.order.clear();
        self.usage = 0;
        self.pinned_count = 0;
        self.pinned_bytes = 0;
        self.update_level(now, fx);
        n
    }

    pub fn pin(&mut self, key: K, now: &Now<'_>, fx: &mut Effects<K, V>) {
        // An expired entry is absent to a pin too: it leaves (EXPIRED) and
        // the pin waits for the key's next put. Pinned, it would not expire
        // again, and reads would return it.
        let present = self
            .entries
            .find(&key)
            .filter(|&i| !self.take_if_expired(i, now, fx));
        if !self.pins.pin(key) {
            return;
        }
        if let Some(i) = present {
            let e = self.entries.get_mut(i);
            e.set_pinned(true);
            let at = Position {
                charge: e.charge(),
                tick: e.tick(),
            };
            self.order.unlink(i, at);
            self.pinned_count += 1;
            self.pinned_bytes += at.charge;
        }
    }

    /// Ends a pin. If the pin held usage above the budget in force, returns
    /// the run that restores it (the store runs it like any long run).
    pub fn unpin<Q>(
        &mut self,
        key: &Q,
        now: &Now<'_>,
        fx: &mut Effects<K, V>,
    ) -> Result<Option<LongRun>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let present = self.entries.find(key);
        if let Some(i) = present {
            // Relinking below allocates nothing.
            self.order.reserve(i);
        }
        if !self.pins.unpin(key) {
            return Err(Error::not_found("the key is not pinned"));
        }
        if let Some(i) = present {
            let tick = self.tick();
            let e = self.entries.get_mut(i);
            e.set_pinned(false);
            e.set_tick(tick);
            let at = Position {
                charge: e.charge(),
                tick,
            };
            self.order.relink(i, at);
            self.pinned_count -= 1;
            self.pinned_bytes -= at.charge;
            self.requeue_expiry(i);
            return Ok(self.budget_run(now, fx));
        }
        Ok(None)
    }

    pub fn is_pinned<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pins.contains(key)
    }

    pub fn pinned_ids(&self) -> Vec<K> {
        if self.pins.is_empty() {
            Vec::new()
        } else {
            self.pins.keys()
        }
    }
}
