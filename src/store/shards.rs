//! The shard set of a store: what the shards share, picking a key's shard,
//! running a call on one shard or on each in turn, and the budget across
//! shards.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};

use parking_lot::{Mutex, MutexGuard};

use super::EventCallback;
use super::EvictionListener;
use crate::callbacks::CallbackSlot;
use crate::clock::{Clock, Now};
use crate::error::Result;
use crate::event_queue::EventQueue;
use crate::governor::Membership;
use crate::held_panic::HeldPanic;
use crate::loader::LoaderFn;
use crate::memory_manager::{Effects, MemoryManager};
use crate::pressure::memory_pressure_handler::PressureSubscriber;
use crate::pressure::memory_pressure_level::MemoryPressureLevel;
use crate::size_estimator::SizeEstimator;
use crate::value_handle::HandleLink;

pub(super) struct Shared<K, V> {
    pub(super) id: u64,
    /// Shared with the read handles (in-use bytes, the budget flags).
    pub(super) link: Arc<HandleLink>,
    /// Long eviction runs in progress (see `long_run`).
    pub(super) long_runs: AtomicUsize,
    /// One shard by default; `MemoryConfig::shards` of them otherwise.
    pub(super) shards: Box<[Shard<K, V>]>,
    /// Hashes keys: picks a key's shard, and each shard's table files it
    /// under the same hash (so a call hashes its key once).
    pub(super) hasher: crate::key_hasher::KeyHasher,
    pub(super) queue: Mutex<EventQueue>,
    /// The kinds of event delivered (`EventMask` bits).
    pub(super) event_mask: AtomicU32,
    pub(super) sequence: Arc<AtomicU64>,
    pub(super) estimator: Box<dyn SizeEstimator<K, V>>,
    pub(super) foreign_estimator: bool,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) event_callback: CallbackSlot<EventCallback>,
    pub(super) listener: CallbackSlot<EvictionListener<K>>,
    pub(super) loader: CallbackSlot<LoaderFn<K, V>>,
    /// Its budget governor, if it is in one (see `governed`).
    pub(super) governor: Membership,
}

/// A part of the store with its own lock (aligned so that two shards' locks
/// never share a cache line).
#[repr(align(128))]
pub(super) struct Shard<K, V> {
    pub(super) state: Mutex<MemoryManager<K, V>>,
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Runs `f` under the lock (after bringing time-based state up to date)
    /// and returns what it produced, to be delivered after the lock is gone.
    #[inline]
    pub(super) fn lock_collect<R>(
        &self,
        shard: usize,
        fx: &mut Effects<K, V>,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        self.lock_collect_with(shard, false, fx, f)
    }

    /// `key`'s hash: what picks its shard (`shard_at`) and what the shard's
    /// table files it under.
    #[inline(always)]
    pub(super) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a key whose hash is `hash`.
    #[inline(always)]
    pub(super) fn shard_at(&self, hash: u64) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        shard_for(hash, n)
    }

    /// The shard of a key whose hash is `hash`, itself. A store of one
    /// shard (the default) neither reduces nor indexes.
    #[inline(always)]
    pub(super) fn shard_by_hash(&self, hash: u64) -> &Shard<K, V> {
        if let [only] = &self.shards[..] {
            return only;
        }
        &self.shards[self.shard_at(hash)]
    }

    /// The shard `key` lives in.
    #[inline]
    pub(super) fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        self.shard_at(self.hash(key))
    }

    /// Runs `f` on every shard in turn (each under its own lock, its
    /// effects delivered before the next), collecting what it returns. A
    /// callback's panic goes on after the last shard (`held_panic`).
    pub(super) fn each<R>(
        &self,
        f: impl FnMut(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> Vec<R> {
        let mut held = HeldPanic::new();
        let all = self.each_held(&mut held, f);
        held.resume();
        all
    }

    /// [`each`](Self::each), holding a callback's panic in `held`.
    pub(super) fn each_held<R>(
        &self,
        held: &mut HeldPanic,
        mut f: impl FnMut(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> Vec<R> {
        (0..self.shards.len())
            .map(|shard| self.locked_held(shard, held, &mut f))
            .collect()
    }

    /// Asks the shards for `count` of something in all (evictions): each
    /// first for an equal part of what is still wanted, then, if some had
    /// fewer, each in turn for all that is still wanted. `f(shard, n)`
    /// returns how many it gave.
    /// A callback's panic (held by `f` in the `HeldPanic` it is given) goes
    /// on once every shard was asked (`held_panic`).
    pub(super) fn spread(
        &self,
        count: usize,
        mut f: impl FnMut(usize, usize, &mut HeldPanic) -> usize,
    ) -> usize {
        let n = self.shards.len();
        let mut held = HeldPanic::new();
        let mut done = 0;
        if n == 1 {
            done = f(0, count, &mut held);
            held.resume();
            return done;
        }
        for shard in 0..n {
            let left = n - shard;
            let want = (count - done).div_ceil(left);
            if want > 0 {
                done += f(shard, want, &mut held);
            }
        }
        for shard in 0..n {
            if done == count {
                break;
            }
            done += f(shard, count - done, &mut held);
        }
        held.resume();
        done
    }

    /// `set_max_bytes` over every shard at once: all are locked (in order),
    /// each checks its share, and only if all can take it do all apply it.
    pub(super) fn set_max_bytes(&self, max: u64) -> Result<()> {
        let config = self.shards[0].state.lock().config().clone();
        config.check_shard_budget(max)?;
        let mut guards: Vec<_> = self.shards.iter().map(|s| s.state.lock()).collect();
        let now = Now::new(&*self.clock);
        let mut all_fx = Vec::with_capacity(guards.len());
        for m in guards.iter_mut() {
            let mut fx = Effects::default();
            m.begin(&now, &mut fx);
            all_fx.push(fx);
        }
        // Expired entries go before live ones (only once every shard's plan
        // holds: a refused change changes nothing).
        let expired: Vec<Vec<u32>> = guards
            .iter_mut()
            .map(|m| m.expired_for_max_bytes(max))
            .collect();
        let planned: Result<Vec<Vec<u32>>> = guards
            .iter()
            .zip(&expired)
            .map(|(m, e)| m.plan_max_bytes(max, e))
            .collect();
        match &planned {
            Ok(plans) => {
                for ((m, plan), fx) in guards
                    .iter_mut()
                    .zip(expired.into_iter().zip(plans.clone()))
                    .zip(&mut all_fx)
                {
                    m.apply_max_bytes(max, plan, &now, fx);
                    // Published before the next shard evicts: its events
                    // carry the store's usage with this shard's part already
                    // down.
                    m.end_call();
                }
            }
            Err(_) => {
                for (m, e) in guards.iter_mut().zip(&expired) {
                    m.requeue_expired(e);
                }
            }
        }
        for m in guards.iter_mut() {
            m.end_call();
        }
        drop(guards);
        let mut held = HeldPanic::new();
        for mut fx in all_fx {
            self.deliver_held(&mut fx, &mut held);
        }
        held.resume();
        planned.map(|_| ())
    }

    /// `lock_collect`, optionally handing the lock over fairly on release
    /// (to a waiting thread rather than back to this one): what lets other
    /// threads in between the chunks of a long eviction run.
    pub(super) fn lock_collect_with<R>(
        &self,
        shard: usize,
        fair: bool,
        fx: &mut Effects<K, V>,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        let mut m = self.shards[shard].state.lock();
        let now = Now::new(&*self.clock);
        m.begin(&now, fx);
        let r = f(&mut m, &now, fx);
        m.end_call();
        if fair {
            MutexGuard::unlock_fair(m);
        }
        r
    }

    #[inline]
    pub(super) fn locked<R>(
        &self,
        shard: usize,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        let mut fx = Effects::default();
        let r = self.lock_collect(shard, &mut fx, f);
        if !fx.removed.is_empty() || !fx.events.is_empty() {
            self.deliver(&mut fx);
        }
        r
    }

    /// [`locked`](Self::locked) for a caller with more to do: a delivered
    /// callback's panic is held in `held`, and `f`'s result comes back.
    pub(super) fn locked_held<R>(
        &self,
        shard: usize,
        held: &mut HeldPanic,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        let mut fx = Effects::default();
        let r = self.lock_collect(shard, &mut fx, f);
        self.deliver_held(&mut fx, held);
        r
    }

    /// A signal to every shard in turn, each shedding before the next. A
    /// callback's panic goes on once every shard has its signal and its
    /// shed (`held_panic`).
    pub(super) fn signal(&self, level: MemoryPressureLevel) {
        self.signal_numbered(
            level,
            crate::pressure::memory_pressure_handler::next_signal_number(),
        );
    }

    /// Signal number `number`: each shard applies it unless it applied a
    /// newer one (another thread's signal, given meanwhile), and stops its
    /// shedding once a newer one arrives.
    pub(super) fn signal_numbered(&self, level: MemoryPressureLevel, number: u64) {
        let mut held = HeldPanic::new();
        self.each_with_run(&mut held, |m, now, fx| m.signal(level, number, now, fx));
        held.resume();
    }
}

impl<K, V> PressureSubscriber for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn on_signal(&self, level: MemoryPressureLevel, number: u64) {
        self.signal_numbered(level, number);
    }

    /// A store that cannot take the budget (pinned and in-use entries alone
    /// above it, or fewer bytes than shards) keeps its own.
    fn on_budget(&self, max_cache_bytes: u64) {
        let _ = self.set_max_bytes(max_cache_bytes);
    }
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A new store takes the budget the OS monitor gave every store last,
    /// if it still gives them one (`MemoryPressureHandler::budget`). Read
    /// again after applying: a budget given meanwhile may have reached this
    /// store before the one read first.
    pub(super) fn take_given_budget(&self) {
        let handler = crate::MemoryPressureHandler::global();
        while let Some(budget) = handler.budget() {
            self.on_budget(budget);
            if handler.budget() == Some(budget) {
                break;
            }
        }
    }
}

/// The shard, of `n`, of a key whose hash is `hash`: bits 40-55 of the
/// hash, scaled to `n` (a fair range reduction, n <= MAX_SHARDS). The
/// tables' probes use the low bits and the top 7 (hashbrown's h1 and h2),
/// so one shard's keys still spread over its whole table. This rests on
/// the hash mixing every key bit into those middle bits, which foldhash's
/// `fast` variant did not do for some process seeds (`key_hasher`; audit 3
/// saw 16 of 64 shards empty); the test below checks the two together.
#[inline(always)]
fn shard_for(hash: u64, n: usize) -> usize {
    ((((hash >> 40) & 0xFFFF) * n as u64) >> 16) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_hasher::spread::{few_byte_keys, for_400_seeds};

    /// Keys that differ in a few bytes (ids in fixed-width text, sequential
    /// integers) spread over the shards as a uniform draw would, for every
    /// process seed: over 400 seeds, a store of 64 shards holding 640 such
    /// keys should rarely see an empty shard (uniform: 0.27% of stores, so
    /// about 1 of 400) and never a shard of several times the mean (10).
    /// With foldhash's `fast` variant it fails (text ids: 29 of 400 stores
    /// with an empty shard).
    #[test]
    fn keys_that_differ_in_a_few_bytes_spread_evenly_over_shards() {
        let n = 64;
        for (what, keys) in few_byte_keys(640) {
            let (mut with_empty, mut largest) = (0, 0);
            for_400_seeds(|hash_of| {
                let mut count = vec![0usize; n];
                for &k in &keys {
                    count[shard_for(hash_of(k), n)] += 1;
                }
                with_empty += usize::from(count.contains(&0));
                largest = largest.max(*count.iter().max().unwrap());
            });
            assert!(
                with_empty <= 6,
                "{what}: {with_empty} of 400 stores had an empty shard"
            );
            assert!(
                largest <= 30,
                "{what}: a shard took {largest} keys (mean 10)"
            );
        }
    }

    /// A read hit writes the shard's lock and the manager's first bytes
    /// (`pending_reads`): they should share one 64-byte line, or a read
    /// costs two lines passed between cores instead of one. This checks
    /// the layout that the speed of two threads on one store rests on
    /// (parking_lot's `Mutex` puts its lock word before its data today).
    #[test]
    fn the_lock_and_what_a_read_writes_share_a_cache_line() {
        let store = super::super::Store::<u64, u64>::new(crate::MemoryConfig::default()).unwrap();
        let shard = &store.shared.shards[0];
        let start = std::ptr::from_ref(shard) as usize;
        let data = shard.state.data_ptr() as usize;
        assert_eq!(start % 64, 0, "a shard starts a line");
        assert!(data > start, "the lock word comes before the data");
        let end = data + MemoryManager::<u64, u64>::HOT_BYTES;
        assert!(
            end - start <= 64,
            "the hot bytes end at {} of the line",
            end - start
        );
    }
}
