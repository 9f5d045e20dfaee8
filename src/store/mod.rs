//! The store users hold: a cheap-to-clone handle over its shards (one
//! memory manager each), its event queue and its callbacks. Every call
//! locks a shard, releases the lock, and only then runs user code: the size
//! estimator before, the eviction listener, release actions (value drops)
//! and the event callback after.
//!
//! One job per file:
//! - `mod.rs`: the public API and its builder;
//! - [`shards`]: the shard set (picking a key's shard, calls over every
//!   shard, the budget across shards);
//! - [`long_run`]: long eviction runs, chunk by chunk with the lock handed
//!   over in between, and the budget restored after a read handle's release;
//! - [`delivery`]: handing what a call produced to the listener, the release
//!   actions and the event callback or queue, after the locks are gone;
//! - [`foreign_hooks`]: what only the C layer uses.

use std::borrow::Borrow;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde::Serialize;

use crate::callbacks::{CallbackScope, CallbackSlot};
use crate::clock::{Clock, MonotonicClock, Now};
use crate::entry_snapshot::EntrySnapshot;
use crate::error::{Error, ErrorKind, Result};
use crate::event_queue::EventQueue;
use crate::events::{Event, EventMask, EvictionReason};
use crate::eviction_strategy::EvictionStrategy;
use crate::governor::Membership;
use crate::held_panic::HeldPanic;
use crate::loader::LoaderFn;
use crate::memory_config::MemoryConfig;
use crate::memory_manager::placement::{AcrossShards, ShardPlace};
use crate::memory_manager::{Effects, LoadStart, LongRun, MemoryManager, Rejected, RunGoal};
use crate::memory_metrics::MemoryMetrics;
use crate::pressure::memory_pressure_handler::{
    LastSignal, MemoryPressureHandler, PressureSubscriber,
};
use crate::pressure::memory_pressure_level::MemoryPressureLevel;
use crate::size_estimator::{JsonSizeEstimator, SizeEstimator};
use crate::value_handle::{BudgetKeeper, HandleLink, Stored, ValueCell, ValueHandle};

mod delivery;
mod expiry;
mod foreign_hooks;
mod governed;
mod long_run;
mod shards;

use shards::{Shard, Shared};

/// The event callback's type.
pub type EventCallback = dyn Fn(&Event) + Send + Sync;
/// The eviction listener's type: key, reason, charged bytes.
pub type EvictionListener<K> = dyn Fn(&K, EvictionReason, u64) + Send + Sync;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// A memory-managed cache from `K` to `V`.
///
/// Cloning is cheap and gives another handle on the same store. Every
/// method may be called from any thread. No user callback runs while an
/// internal lock is held, so callbacks may call back into the store.
///
/// A value's release action is its `Drop`: it runs exactly once, when the
/// entry is gone and no [`ValueHandle`] holds it, on the thread whose call
/// ended it, after the store's lock is released (a refused put drops its
/// value after the lock is released too). Keys, by contrast, may be dropped
/// under the lock: a key type's `Drop` must not call into the store.
pub struct Store<K, V> {
    shared: Arc<Shared<K, V>>,
}

impl<K, V> Clone for Store<K, V> {
    fn clone(&self) -> Self {
        Store {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Builds a [`Store`] with a custom clock or extra pressure handlers.
pub struct StoreBuilder<K, V> {
    config: MemoryConfig,
    estimator: Box<dyn SizeEstimator<K, V>>,
    /// The estimator is foreign code (the C layer's): run it inside a
    /// callback scope, so that a free from inside it is seen.
    foreign_estimator: bool,
    clock: Arc<dyn Clock>,
    handlers: Vec<MemoryPressureHandler>,
}

impl<K, V> StoreBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Runs the store on `clock` (timestamps and signal decay).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Subscribes the store to `handler` as well as to the global one.
    pub fn pressure_handler(mut self, handler: &MemoryPressureHandler) -> Self {
        self.handlers.push(handler.clone());
        self
    }

    /// Validates the configuration and creates the store. It starts at the
    /// last level given to [`crate::signal_pressure_all`] or to a handler of
    /// [`pressure_handler`](Self::pressure_handler), the highest of them;
    /// with `signal_decay_ms` that signal decays from when it was given.
    pub fn build(self) -> Result<Store<K, V>> {
        self.config.validate()?;
        let sequence = Arc::new(AtomicU64::new(0));
        let capacity = self.config.event_queue_capacity;
        let now = self.clock.now_ns();
        let config = self.config;
        let estimator = self.estimator;
        let foreign_estimator = self.foreign_estimator;
        let clock = self.clock;
        let id = NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(HandleLink {
            store_id: id,
            ..HandleLink::default()
        });
        let handlers: Vec<&MemoryPressureHandler> =
            std::iter::once(MemoryPressureHandler::global())
                .chain(&self.handlers)
                .collect();
        // The level to start at: read before the store exists, and read
        // again as it subscribes, once it does (below).
        let read: Vec<LastSignal> = handlers.iter().map(|h| h.last_signal()).collect();
        let (level, age_ns) = starting_level(&read, config.signal_decay_ms);
        let shared = Arc::new_cyclic(|weak: &Weak<Shared<K, V>>| {
            let keeper: Weak<dyn BudgetKeeper> = weak.clone();
            let _ = link.store.set(keeper);
            let signalled_at_ns = now.saturating_sub(age_ns);
            let across = AcrossShards::new(config.shards, level);
            let hasher = crate::key_hasher::KeyHasher::default();
            let shards = (0..config.shards)
                .map(|i| Shard {
                    state: Mutex::new(MemoryManager::new(
                        config.clone(),
                        ShardPlace::part(i, &across),
                        (level, signalled_at_ns),
                        now,
                        Arc::clone(&link),
                        hasher.clone(),
                    )),
                })
                .collect();
            Shared {
                id,
                link: Arc::clone(&link),
                long_runs: AtomicUsize::new(0),
                shards,
                hasher,
                queue: Mutex::new(EventQueue::new(capacity, level)),
                event_mask: AtomicU32::new(EventMask::DEFAULT.bits()),
                sequence,
                estimator,
                foreign_estimator,
                clock,
                event_callback: CallbackSlot::default(),
                listener: CallbackSlot::default(),
                loader: CallbackSlot::default(),
                governor: Membership::new(id),
            }
        });
        // Subscribed only now that the store lives: an entry whose store has
        // no strong count yet is taken for a dead one and dropped by the next
        // listing (another store's subscription, any signal), and the store
        // would then never hear a signal again. A signal given between the
        // first reading and this one did not reach the store: it takes it
        // now (numbered as given, so a later one that reached it stands).
        let weak: Weak<dyn PressureSubscriber> = Arc::downgrade(&shared) as Weak<Shared<K, V>>;
        let now_read: Vec<LastSignal> =
            handlers.iter().map(|h| h.subscribe(weak.clone())).collect();
        if now_read
            .iter()
            .zip(&read)
            .any(|(a, b)| a.number != b.number)
        {
            let (level, _) = starting_level(&now_read, config.signal_decay_ms);
            let number = now_read.iter().map(|r| r.number).max().unwrap_or(0);
            shared.signal_numbered(level, number);
        }
        shared.take_given_budget();
        Ok(Store { shared })
    }
}

/// The level a new store starts at, of the handlers' last signals: the
/// highest (of equal levels, the latest), and how long ago it was given; a
/// store with `signal_decay_ms` lets that signal decay from when it was
/// given, not from its own start, so one older than the decay is over.
fn starting_level(read: &[LastSignal], signal_decay_ms: u64) -> (MemoryPressureLevel, u64) {
    let Some(last) = read
        .iter()
        .max_by_key(|r| (r.level, std::cmp::Reverse(r.age_ns)))
    else {
        return (MemoryPressureLevel::None, 0);
    };
    let decay_ns = signal_decay_ms.saturating_mul(1_000_000);
    if decay_ns != 0 && last.age_ns >= decay_ns {
        return (MemoryPressureLevel::None, last.age_ns);
    }
    (last.level, last.age_ns)
}

impl<K, V> Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A store whose entries are charged the length of the value's
    /// `serde_json` serialization ([`JsonSizeEstimator`]).
    pub fn new(config: MemoryConfig) -> Result<Self>
    where
        V: Serialize,
    {
        Self::with_estimator(config, JsonSizeEstimator)
    }

    /// A store whose entries are charged by `estimator`.
    pub fn with_estimator(
        config: MemoryConfig,
        estimator: impl SizeEstimator<K, V> + 'static,
    ) -> Result<Self> {
        Self::builder(config, estimator).build()
    }

    /// A builder, for a custom clock or pressure handlers.
    pub fn builder(
        config: MemoryConfig,
        estimator: impl SizeEstimator<K, V> + 'static,
    ) -> StoreBuilder<K, V> {
        StoreBuilder {
            config,
            estimator: Box::new(estimator),
            foreign_estimator: false,
            clock: Arc::new(MonotonicClock),
            handlers: Vec::new(),
        }
    }

    // ---- plumbing ----------------------------------------------------------

    /// Runs `f` under the lock of `key`'s shard, then delivers what it
    /// produced.
    fn locked<Q: Hash + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        let shard = self.shared.shard_of(key);
        self.shared.locked(shard, f)
    }

    /// Runs a read under the lock of `key`'s shard. A read changes no usage
    /// and reports nothing, so it skips the bookkeeping of other calls
    /// (effects, published flags), unless a signal may have decayed (then
    /// its event is due, and the read takes the full path).
    ///
    /// `f` gets the key's hash, computed once here: it picked the shard,
    /// and the shard's table files the key under it.
    #[inline]
    fn read_locked<Q: Hash + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&mut MemoryManager<K, V>, u64) -> R,
    ) -> R {
        let hash = self.shared.hash(key);
        {
            let mut m = self.shared.shard_by_hash(hash).state.lock();
            if !m.has_time_based_state() {
                return f(&mut m, hash);
            }
        }
        self.shared
            .locked(self.shared.shard_at(hash), |m, _, _| f(m, hash))
    }

    /// `read_locked` for the native reads (`get_cloned`, `get`, `contains`,
    /// `is_pinned`): in a store of one shard the key is hashed under the
    /// lock, where no hash is held across taking it. Measured with
    /// callgrind (re-measured with the `quality` key hash): a native hit
    /// costs 114 instructions this way against 121 through `read_locked`,
    /// while the C layer's copy-out, which inlines its read into a larger
    /// function, costs 263 through `read_locked` against 267 this way, so
    /// it stays there.
    #[inline]
    fn read_locked_native<Q: Hash + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&mut MemoryManager<K, V>, u64) -> R,
    ) -> R {
        if let [only] = &self.shared.shards[..] {
            let mut m = only.state.lock();
            if !m.has_time_based_state() {
                let hash = self.shared.hash(key);
                return f(&mut m, hash);
            }
        }
        self.read_locked_elsewhere(key, f)
    }

    /// The rest of `read_locked_native`: several shards, or time-based state
    /// to bring up to date.
    #[inline(never)]
    fn read_locked_elsewhere<Q: Hash + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&mut MemoryManager<K, V>, u64) -> R,
    ) -> R {
        self.read_locked(key, f)
    }

    // ---- entries -----------------------------------------------------------

    /// Inserts or replaces `key`, charged what the size estimator returns
    /// (called once, here, outside every lock).
    ///
    /// Errors: `TooLarge` (charge above the configured budget, or a sum
    /// overflows), `OverBudget` (cannot fit even after evicting every
    /// evictable entry; refused unpinned key under EMERGENCY). On error
    /// nothing changed and `value` is dropped.
    #[inline]
    pub fn put(&self, key: K, value: V) -> Result<()> {
        let charge = self.estimate(&key, &value);
        self.put_charged(key, value, charge)
    }

    /// Inserts or replaces `key` with an explicit charge (0 is charged as 0).
    #[inline]
    pub fn put_charged(&self, key: K, value: V, charge: u64) -> Result<()> {
        // A refused value is dropped here, after the lock is released: its
        // drop is its release action and may call back into the store.
        self.try_put_charged(key, value, charge)
            .map_err(|(e, value)| {
                drop(value);
                e
            })
    }

    /// Inserts charged by the estimator; on error gives the value back
    /// untouched.
    pub fn try_put(&self, key: K, value: V) -> std::result::Result<(), (Error, V)> {
        let charge = self.estimate(&key, &value);
        self.try_put_charged(key, value, charge)
    }

    /// Inserts with an explicit charge; on error gives the value back
    /// untouched (the C layer's "a failed put takes no ownership").
    #[inline]
    pub fn try_put_charged(
        &self,
        key: K,
        value: V,
        charge: u64,
    ) -> std::result::Result<(), (Error, V)> {
        match self.replace_fast(&key, ValueCell::Inline(value), charge, Some) {
            Ok(()) => Ok(()),
            Err(cell) => self.put_general(key, cell, charge),
        }
    }

    /// The general put (after the short path declined): under the lock,
    /// with its effects delivered after it.
    #[inline(never)]
    fn put_general(
        &self,
        key: K,
        cell: ValueCell<V>,
        charge: u64,
    ) -> std::result::Result<(), (Error, V)> {
        let shard = self.shared.shard_of(&key);
        let key_hash = self.shared.put_hash(&key);
        self.put_in_shard(shard, charge, key_hash, |m, now, fx| {
            m.put(key, cell, charge, now, fx)
        })
    }

    /// Runs `put` on `shard`, delivers its effects, then `finish_put`; a
    /// callback's panic goes on after that (the governor hears of the
    /// growth in any case).
    pub(super) fn put_in_shard(
        &self,
        shard: usize,
        charge: u64,
        key_hash: u64,
        put: impl FnOnce(
            &mut MemoryManager<K, V>,
            &Now<'_>,
            &mut Effects<K, V>,
        ) -> std::result::Result<(), Rejected<K, V>>,
    ) -> std::result::Result<(), (Error, V)> {
        let mut held = HeldPanic::new();
        let result = self.shared.locked_held(shard, &mut held, put);
        let finished = self.finish_put(result, charge, key_hash);
        held.resume();
        finished
    }

    /// After a put's lock is released: the governor hears of the growth
    /// (at most the entry's `charge`; `key_hash`: `Shared::put_hash`), or a
    /// refused put gives its value back (its key dropped here, outside the
    /// lock).
    fn finish_put(
        &self,
        result: std::result::Result<(), Rejected<K, V>>,
        charge: u64,
        key_hash: u64,
    ) -> std::result::Result<(), (Error, V)> {
        match result {
            Ok(()) => {
                self.shared.after_put(charge, || key_hash);
                Ok(())
            }
            Err(rejected) => {
                drop(rejected.key);
                Err((rejected.error, inline_value(rejected.cell)))
            }
        }
    }

    /// The short path of a put that replaces a present key's value
    /// (`MemoryManager::replace_present`): no effects collected, the old
    /// value dropped after the lock, as a callback of the store (its drop
    /// may be a release action). Not taken with an eviction listener (it
    /// reports the replaced entry by its owned key) or time-based state to
    /// bring up to date; `Err` gives the value back with nothing changed.
    /// `dispose` may drop an old value whose drop runs no user code (the C
    /// layer's bytes) without the scope; what it gives back is dropped in it.
    #[inline]
    fn replace_fast<Q>(
        &self,
        key: &Q,
        cell: ValueCell<V>,
        charge: u64,
        dispose: impl FnOnce(V) -> Option<V>,
    ) -> std::result::Result<(), ValueCell<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.shared.listener.get().is_some() {
            return Err(cell);
        }
        let replaced = {
            let hash = self.shared.hash(key);
            let mut m = self.shared.shard_by_hash(hash).state.lock();
            if m.has_time_based_state() {
                Err(cell)
            } else {
                m.replace_present(hash, key, cell, charge)
            }
        };
        let (old, old_charge) = replaced?;
        // The governor first: the old value's drop may be user code that
        // panics, and the growth must be heard all the same.
        self.shared
            .after_put(charge.saturating_sub(old_charge), || self.shared.hash(key));
        if std::mem::needs_drop::<V>() {
            let old = match old {
                ValueCell::Inline(v) => dispose(v).map(ValueCell::Inline),
                shared => Some(shared),
            };
            if old.is_some() {
                let _scope = CallbackScope::enter(self.shared.id);
                drop(old);
            }
        }
        Ok(())
    }

    /// `try_put_charged` for a caller that holds the key borrowed (the C
    /// layer): replacing the value of a present key takes a short path that
    /// builds no owned key and collects no effects, when it can neither
    /// fail, evict nor report an event and no eviction listener is
    /// registered (it would need the owned key); otherwise `owned` builds the
    /// key and the general put runs. The old value is dropped after the
    /// lock, as a callback of the store (its drop may be a release action),
    /// unless `dispose` drops it (a value whose drop runs no user code).
    pub(crate) fn try_put_borrowed<Q>(
        &self,
        key: &Q,
        value: V,
        charge: u64,
        owned: impl FnOnce(&Q) -> Result<K>,
        dispose: impl FnOnce(V) -> Option<V>,
    ) -> std::result::Result<(), (Error, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let cell = match self.replace_fast(key, ValueCell::Inline(value), charge, dispose) {
            Ok(()) => return Ok(()),
            Err(cell) => cell,
        };
        // The short path declined: straight to the general put (not
        // `try_put_charged`, which would try the short path again).
        match owned(key) {
            Ok(key) => self.put_general(key, cell, charge),
            Err(e) => Err((e, inline_value(cell))),
        }
    }

    /// Reads `key` and returns a clone of its value, without a read handle:
    /// the cheapest read. A hit is an access. `V::clone` runs under the
    /// store's lock, so it must not call into the store (a `Clone` never
    /// should).
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.read_locked_native(key, |m, hash| m.read(hash, key, V::clone))
    }

    /// Reads `key`: a hit is an access and returns a read handle that keeps
    /// the value alive and the entry unevictable until dropped.
    pub fn get<Q>(&self, key: &Q) -> Option<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked_native(key, |m, hash| m.get_hashed(hash, key))
    }

    /// Reads `key` by lending the value to `f` under the store's lock,
    /// without creating a handle: for library code such as the C layer's
    /// copy-out, never for user callbacks. `f` must not call into the store.
    /// The read is an access (and a hit) only if `f` succeeds; a miss is
    /// `NotFound`.
    ///
    /// `then` turns the outcome into what the call returns, under the lock
    /// (it must not call into the store or run user code either): the C
    /// copy-out makes its status there, so that no `Result` is held in
    /// memory across the unlock and tested again after it.
    #[inline]
    pub(crate) fn read_with<Q, R, S>(
        &self,
        key: &Q,
        f: impl FnOnce(&V) -> Result<R>,
        then: impl FnOnce(Result<R>) -> S,
    ) -> S
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(key, |m, hash| then(m.peek_with(hash, key, f)))
    }

    /// Whether `key` is present. Not an access.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked_native(key, |m, hash| m.contains(hash, key))
    }

    /// Removes `key` (pinned or not; its pin stays). `NotFound` if absent
    /// or expired (an expired entry leaves with reason `Expired`).
    pub fn remove<Q>(&self, key: &Q) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.locked(key, |m, now, fx| m.remove(key, now, fx))
    }

    /// Removes every entry, pinned ones too; pins stay. Returns how many;
    /// expired entries leave first (reason `Expired`) and are not counted.
    pub fn clear(&self) -> usize {
        self.shared
            .each(|m, now, fx| m.clear(now, fx))
            .into_iter()
            .sum()
    }

    // ---- pins --------------------------------------------------------------

    /// Pins `key`, present or not (the pin waits for it). Pinning again keeps
    /// its place. A pinned entry is never evicted and lasts across every
    /// pressure event and across `remove`.
    pub fn pin<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        if self.is_pinned(key) {
            return;
        }
        let owned: K = key.to_owned().into();
        self.locked(key, |m, now, fx| m.pin(owned, now, fx));
    }

    /// Ends the pin of `key`; `NotFound` if it is not pinned. The entry
    /// re-enters the eviction order as the most recent of its peers; if
    /// usage is above the budget in force (a pin held it there under a
    /// signal), the store evicts down to it.
    pub fn unpin<Q>(&self, key: &Q) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shared.shard_of(key);
        let mut held = HeldPanic::new();
        let unpinned = self
            .shared
            .locked_held(shard, &mut held, |m, now, fx| m.unpin(key, now, fx));
        let result = unpinned.map(|run| {
            if let Some(run) = run {
                self.shared.long_run_held(shard, run, &mut held);
            }
        });
        held.resume();
        result
    }

    /// Whether `key` is pinned (present or not).
    pub fn is_pinned<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked_native(key, |m, _| m.is_pinned(key))
    }

    /// Every pinned key, in pin order (with several shards: shard by shard,
    /// in pin order within each).
    pub fn pinned_ids(&self) -> Vec<K> {
        self.shared
            .each(|m, _, _| m.pinned_ids())
            .into_iter()
            .flatten()
            .collect()
    }

    // ---- eviction and pressure ---------------------------------------------

    /// Evicts up to `count` evictable entries, least recently used first
    /// whatever the strategy (O(n) when the strategy is not LRU).
    pub fn evict_lru(&self, count: usize) -> usize {
        if self.strategy() == EvictionStrategy::Lru {
            return self.evict(count);
        }
        self.shared.spread(count, |shard, n, held| {
            self.shared
                .locked_held(shard, held, |m, now, fx| m.evict_lru_by_recency(n, now, fx))
        })
    }

    /// Evicts up to `count` evictable entries in the strategy's order.
    pub fn evict(&self, count: usize) -> usize {
        self.shared.spread(count, |shard, n, held| {
            let run = LongRun::new(RunGoal::Count(n), EvictionReason::Manual);
            self.shared.long_run_held(shard, run, held).0
        })
    }

    /// Evicts every evictable entry (reason MANUAL; expired ones leave first
    /// as `Expired` and are not counted). For LRU and SIZE, when
    /// every entry that stays is pinned, one pass over each shard's entries
    /// under its lock (victims reported in storage order); otherwise in
    /// chunks like any long run (docs/DESIGN.md section 3).
    pub fn clear_unpinned(&self) -> usize {
        self.shared.clear_unpinned()
    }

    /// Signals `level` to this store alone.
    pub fn signal_pressure(&self, level: MemoryPressureLevel) {
        self.shared.signal(level);
    }

    /// The reported level: the higher of the usage level and the signalled
    /// level.
    pub fn pressure_level(&self) -> MemoryPressureLevel {
        // Every shard is locked in turn (and its signal decay applied); the
        // level is the store's, read after the last.
        self.shared
            .each(|m, _, _| m.level())
            .pop()
            .unwrap_or_default()
    }

    /// Changes the configured budget (0 = unbounded), evicting down to the
    /// budget in force. `OverBudget`, with nothing changed, if pinned and
    /// in-use entries alone exceed `max_cache_bytes`.
    pub fn set_max_bytes(&self, max_cache_bytes: u64) -> Result<()> {
        self.shared.set_max_bytes(max_cache_bytes)
    }

    // ---- metrics and events ------------------------------------------------

    /// A snapshot of the metrics.
    ///
    /// With several shards the counts and byte totals are sums over the
    /// shards (each read under its own lock, in turn), the level is the
    /// store's, and `max_usage` is the sum of the shards' peaks: never below
    /// the true peak, never above the largest budget since creation or
    /// `reset_metrics` (a budget lowered by `set_max_bytes` leaves the
    /// peaks reached under the old one).
    pub fn metrics(&self) -> MemoryMetrics {
        let mut all = self.shared.each(|m, _, _| m.metrics()).into_iter();
        let mut sum = all.next().expect("a store has at least one shard");
        for shard in all {
            sum += shard;
        }
        sum.max_usage = sum.max_usage.max(sum.current_usage);
        sum
    }

    /// The metrics as a JSON object (see [`MemoryMetrics::to_json`]).
    pub fn metrics_json(&self) -> String {
        self.metrics().to_json()
    }

    /// Zeroes the counters and sets the peak to the current usage.
    pub fn reset_metrics(&self) {
        self.shared.each(|m, _, _| m.reset_metrics());
    }

    /// Chooses which kinds of event are delivered from now on (to the
    /// callback or the queue); the others are not delivered and take no
    /// sequence number. Default [`EventMask::DEFAULT`]; DROPPED markers
    /// always come.
    pub fn set_event_mask(&self, mask: EventMask) {
        self.shared.event_mask.store(mask.bits(), Ordering::Relaxed);
    }

    /// The kinds of event delivered.
    pub fn event_mask(&self) -> EventMask {
        EventMask::from_bits(self.shared.event_mask.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The signalled level alone (the last one signalled, NONE once it
    /// decayed or ended), beside [`Store::pressure_level`], the higher of it
    /// and the usage level.
    pub fn signalled_level(&self) -> MemoryPressureLevel {
        self.shared
            .each(|m, _, _| m.signalled())
            .into_iter()
            .max()
            .unwrap_or_default()
    }

    /// The oldest queued event (events are queued only while no event
    /// callback is registered).
    pub fn poll_event(&self) -> Option<Event> {
        // Bring time-based state (signal decay) up to date first, so that
        // its events are in the queue.
        self.shared.each(|_, _, _| ());
        self.shared.queue.lock().pop()
    }

    /// Registers (or, with `None`, unregisters) the event callback. Events go
    /// to it on the thread whose call produced them, after the store's locks
    /// are released. Returns after calls of the old callback on other
    /// threads have ended; from inside any callback, at once. The old
    /// callback is dropped after its last call returned.
    pub fn set_event_callback(&self, callback: Option<Arc<EventCallback>>) {
        self.shared.event_callback.replace(callback);
    }

    /// Registers (or unregisters) the eviction listener, called once per
    /// entry that leaves the store, with its key, reason and charge.
    pub fn set_eviction_listener(&self, listener: Option<Arc<EvictionListener<K>>>) {
        self.shared.listener.replace(listener);
    }

    /// Registers (or unregisters) the loader that `get_or_load` calls on a
    /// miss.
    pub fn set_loader(&self, loader: Option<Arc<LoaderFn<K, V>>>) {
        self.shared.loader.replace(loader);
    }

    /// Reads `key`, and on a miss calls the loader (outside every lock) and
    /// caches what it returns. Concurrent misses on one key call it once and
    /// all get its result; its error reaches every waiter and caches nothing,
    /// except an [`Error::load_abandoned`]: only the caller that ran the
    /// loader gets it, and the waiters look the key up again (one of them
    /// runs its own loader). Without a loader it is `get` (`NotFound` on a
    /// miss). A put or remove of the key during the load wins: waiters get
    /// the loaded value, which is not cached; a value that cannot be cached
    /// is still returned. From inside the key's own loader: `Busy`.
    pub fn get_or_load<Q>(&self, key: &Q) -> Result<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        loop {
            if let Some(result) = self.get_or_load_once(key) {
                return result;
            }
        }
    }

    /// One attempt of [`Store::get_or_load`]; `None` when this call waited
    /// for a load that its loader abandoned (look the key up again).
    fn get_or_load_once<Q>(&self, key: &Q) -> Option<Result<ValueHandle<V>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        let Some(loader) = self.shared.loader.get() else {
            return Some(
                self.get(key)
                    .ok_or_else(|| Error::not_found("no entry with this key and no loader")),
            );
        };
        let shard = self.shared.shard_of(key);
        // A callback's panic here (effects of bringing the shard up to
        // date) goes on after the load: a slot this call opened must be
        // finished, or its waiters would wait for ever.
        let mut held = HeldPanic::new();
        let slot = match self
            .shared
            .locked_held(shard, &mut held, |m, _, _| m.begin_load(key))
        {
            Err(e) => {
                held.resume();
                return Some(Err(e));
            }
            Ok(LoadStart::Hit(h)) => {
                held.resume();
                return Some(Ok(h));
            }
            Ok(LoadStart::Wait(slot)) => {
                self.drop_loader(loader);
                held.resume();
                let stored = match slot.wait() {
                    // The loader gave up for its own caller (its load has
                    // left the table, so the next attempt starts a load).
                    Err(e) if e.is_load_abandoned() => return None,
                    Err(e) => return Some(Err(e)),
                    Ok(stored) => stored,
                };
                return Some(Ok(self
                    .shared
                    .locked(shard, |m, _, _| m.handle_for(&stored))));
            }
            Ok(LoadStart::Load(slot)) => slot,
        };
        let owned: K = key.to_owned().into();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let _scope = CallbackScope::enter(self.shared.id);
            let loaded = loader(&owned)?;
            let charge = match loaded.charge {
                Some(c) => c,
                None => self.shared.estimator.estimate(&owned, &loaded.value),
            };
            Ok(Stored::new(loaded.value, charge))
        }));
        let (result, panic_payload) = match result {
            Ok(r) => (r, None),
            Err(payload) => (
                Err(Error::new(ErrorKind::Panic, "the loader panicked")),
                Some(payload),
            ),
        };
        // What caching the loaded value can add to usage, at most.
        let growth = result.as_ref().map_or(0, |s| s.charge);
        let mut fx = Effects::default();
        let handle = self.shared.lock_collect(shard, &mut fx, |m, now, fx| {
            m.finish_load(&owned, &result, now, fx);
            result.as_ref().ok().map(|s| m.handle_for(s))
        });
        // Waiters get the result before any callback runs, so a panicking
        // listener or event callback cannot leave them waiting.
        slot.publish(result.clone());
        // Dropped only now: if it was unregistered meanwhile, its drop (user
        // code) runs after the waiters have their result.
        self.drop_loader(loader);
        self.shared.deliver_held(&mut fx, &mut held);
        self.shared.after_put(growth, || self.shared.hash(&owned));
        if let Some(payload) = panic_payload {
            panic::resume_unwind(payload);
        }
        held.resume();
        Some(match handle {
            Some(h) => Ok(h),
            None => Err(result
                .err()
                .unwrap_or_else(|| Error::new(ErrorKind::Callback, "no value"))),
        })
    }

    /// Drops this call's clone of the loader inside the store's callback
    /// record: if it was the last one (the loader was unregistered during
    /// the call), its drop (a C ctx's destroy) is user code run by the
    /// store, like the other callbacks, so a replace from there returns at
    /// once rather than wait for another thread.
    fn drop_loader(&self, loader: Arc<Arc<LoaderFn<K, V>>>) {
        let _scope = CallbackScope::enter(self.shared.id);
        drop(loader);
    }

    /// The configured strategy.
    pub fn strategy(&self) -> EvictionStrategy {
        self.shared.locked(0, |m, _, _| m.strategy())
    }

    /// The configuration in force (with the current `max_cache_bytes`).
    pub fn config(&self) -> MemoryConfig {
        self.shared.locked(0, |m, _, _| m.config().clone())
    }

    /// Present keys in the order the strategy would evict them (pinned keys
    /// are not in it; keys held by read handles are, and are skipped by
    /// eviction). With several shards: each shard's order in turn. O(n): for
    /// tests and tools.
    pub fn eviction_order(&self) -> Vec<K> {
        self.shared
            .each(|m, _, _| m.eviction_order_keys())
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every present entry (key, charge, access count, pinned), in no
    /// particular order. O(n): for tests and tools. The access count is the
    /// LFU count (1 for other strategies).
    pub fn entries_snapshot(&self) -> Vec<EntrySnapshot<K>> {
        self.shared
            .each(|m, _, _| m.snapshot())
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The value of a cell a put gives back (inline: never shared).
fn inline_value<V>(cell: ValueCell<V>) -> V {
    match cell.into_value() {
        Some(v) => v,
        None => unreachable!("a refused inline value has no other holder"),
    }
}
