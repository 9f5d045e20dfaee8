//! The store as a member of a budget governor (`crate::governor`): its id,
//! its usage and the governor's shedding, and the check after a call that
//! may have grown it.

use std::hash::Hash;
use std::sync::Arc;

use super::{Shared, Store};
use crate::events::EvictionReason;
use crate::governor::{Governed, Membership, Shed};
use crate::held_panic::HeldPanic;
use crate::memory_manager::{LongRun, RunGoal};

impl<K, V> Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// The store's id: unique in the process, the `store_id` of governor
    /// events and metrics.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The store's core as a governor sees it.
    pub(crate) fn governed(&self) -> Arc<dyn Governed> {
        self.shared.clone()
    }
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// After a put or a cached load that may have grown the store by at
    /// most `growth` bytes, with no lock held: its governor, if any, checks
    /// its budget unless its last pass left room for it (one load if none);
    /// a pass it runs takes the entry of `key_hash` (`put_hash`) last.
    #[inline]
    pub(super) fn after_put(&self, growth: u64, key_hash: impl FnOnce() -> u64) {
        self.governor.after_put(growth, key_hash);
    }

    /// `key`'s hash for `after_put` when the store is in a governor; 0
    /// (unused) otherwise, so an ungoverned put hashes nothing more.
    #[inline]
    pub(super) fn put_hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        if self.governor.is_active() {
            self.hash(key)
        } else {
            0
        }
    }
}

impl<K, V> Governed for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn store_id(&self) -> u64 {
        self.id
    }

    fn usage(&self, panicked: &mut HeldPanic) -> (u64, u64) {
        self.each_held(panicked, |m, _, _| {
            let metrics = m.metrics();
            (metrics.current_usage, metrics.entry_count)
        })
        .into_iter()
        .fold((0, 0), |(b, n), (sb, sn)| (b.saturating_add(sb), n + sn))
    }

    fn usage_without_expired(&self, panicked: &mut HeldPanic) -> u64 {
        self.each_held(panicked, |m, now, fx| {
            m.remove_due_expired(now, fx);
            m.metrics().current_usage
        })
        .into_iter()
        .fold(0, u64::saturating_add)
    }

    /// Shard by shard, each asked for what is still needed; each checks
    /// the floor against the store's usage under its own lock. The entry a
    /// put has just put (`governor::just_put`) is taken last: with several
    /// shards, every shard is asked without it first, then again with it.
    fn shed(&self, need: u64, floor: u64, panicked: &mut HeldPanic) -> Shed {
        let mut shed = Shed::default();
        if self.shards.len() > 1 && crate::governor::just_put(self.id).is_some() {
            crate::governor::spare_strictly(self.id, || {
                self.shed_shards(need, floor, panicked, &mut shed)
            });
        }
        self.shed_shards(need, floor, panicked, &mut shed);
        shed
    }

    fn membership(&self) -> &Membership {
        &self.governor
    }
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// `Governed::shed`'s pass over the shards, adding to `shed`.
    fn shed_shards(&self, need: u64, floor: u64, panicked: &mut HeldPanic, shed: &mut Shed) {
        for shard in 0..self.shards.len() {
            if shed.bytes >= need {
                break;
            }
            let goal = RunGoal::Shed {
                need: need - shed.bytes,
                floor,
            };
            let run = LongRun::new(goal, EvictionReason::Governor);
            let (count, bytes) = self.long_run_held(shard, run, panicked);
            shed.count += count as u64;
            shed.bytes += bytes;
        }
    }
}
