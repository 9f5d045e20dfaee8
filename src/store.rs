//! The store users hold: a cheap-to-clone handle over one memory manager,
//! its event queue and its callbacks. Every call locks the manager once,
//! releases the lock, and only then runs user code: the size estimator
//! before, the eviction listener, release actions (value drops) and the
//! event callback after.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;

use crate::callbacks::{CallbackScope, CallbackSlot, addr_of, inside_store_callback, wait_while};
use crate::clock::{Clock, MonotonicClock, Now};
use crate::error::{Error, ErrorKind, Result};
use crate::event_queue::EventQueue;
use crate::events::{Event, EventKind, EvictionReason};
use crate::eviction_strategy::EvictionStrategy;
use crate::loader::LoaderFn;
use crate::memory_config::MemoryConfig;
use crate::memory_manager::{Effects, LoadStart, LongRun, MemoryManager, RunGoal};
use crate::memory_metrics::MemoryMetrics;
use crate::memory_pressure_handler::{MemoryPressureHandler, PressureSubscriber};
use crate::memory_pressure_level::MemoryPressureLevel;
use crate::shard::{AcrossShards, ShardPlace};
use crate::size_estimator::{JsonSizeEstimator, SizeEstimator};
use crate::value_handle::{BudgetKeeper, HandleLink, Stored, ValueCell, ValueHandle};

/// The event callback's type.
pub type EventCallback = dyn Fn(&Event) + Send + Sync;
/// The eviction listener's type: key, reason, charged bytes.
pub type EvictionListener<K> = dyn Fn(&K, EvictionReason, u64) + Send + Sync;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Counts a long run in progress for as long as it lives (unwinding too).
struct LongRunGuard<'a>(&'a AtomicUsize);

impl<'a> LongRunGuard<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        LongRunGuard(count)
    }
}

impl Drop for LongRunGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most entries one hold of the lock evicts in a long run (a signal's
/// shedding, `evict`, `clear_unpinned`): a concurrent reader waits at most
/// this many evictions.
const EVICTION_CHUNK: usize = 128;

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

struct Shared<K, V> {
    id: u64,
    /// Shared with the read handles (in-use bytes, the budget flags).
    link: Arc<HandleLink>,
    /// Long eviction runs in progress (see `long_run`).
    long_runs: AtomicUsize,
    /// One shard by default; `MemoryConfig::shards` of them otherwise.
    shards: Box<[Shard<K, V>]>,
    /// Picks a key's shard (not used with one shard).
    shard_hasher: foldhash::fast::RandomState,
    queue: Mutex<EventQueue>,
    sequence: Arc<AtomicU64>,
    estimator: Box<dyn SizeEstimator<K, V>>,
    foreign_estimator: bool,
    clock: Arc<dyn Clock>,
    event_callback: CallbackSlot<EventCallback>,
    listener: CallbackSlot<EvictionListener<K>>,
    loader: CallbackSlot<LoaderFn<K, V>>,
}

/// A part of the store with its own lock (aligned so that two shards' locks
/// never share a cache line).
#[repr(align(128))]
struct Shard<K, V> {
    state: Mutex<MemoryManager<K, V>>,
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

    /// Marks the estimator as foreign code (see `foreign_estimator`).
    pub(crate) fn foreign_estimator(mut self) -> Self {
        self.foreign_estimator = true;
        self
    }

    /// Subscribes the store to `handler` as well as to the global one.
    pub fn pressure_handler(mut self, handler: &MemoryPressureHandler) -> Self {
        self.handlers.push(handler.clone());
        self
    }

    /// Validates the configuration and creates the store. It starts at the
    /// last level given to [`crate::signal_pressure_all`].
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
        let shared = Arc::new_cyclic(|weak: &Weak<Shared<K, V>>| {
            let keeper: Weak<dyn BudgetKeeper> = weak.clone();
            let _ = link.store.set(keeper);
            let weak: Weak<dyn PressureSubscriber> = weak.clone();
            let mut level = MemoryPressureHandler::global().subscribe(weak.clone());
            for h in &self.handlers {
                level = level.max(h.subscribe(weak.clone()));
            }
            let across = AcrossShards::new(config.shards, level);
            let shards = (0..config.shards)
                .map(|i| Shard {
                    state: Mutex::new(MemoryManager::new(
                        config.clone(),
                        ShardPlace::part(i, &across),
                        level,
                        now,
                        Arc::clone(&link),
                    )),
                })
                .collect();
            Shared {
                id,
                link: Arc::clone(&link),
                long_runs: AtomicUsize::new(0),
                shards,
                shard_hasher: foldhash::fast::RandomState::default(),
                queue: Mutex::new(EventQueue::new(capacity)),
                sequence,
                estimator,
                foreign_estimator,
                clock,
                event_callback: CallbackSlot::default(),
                listener: CallbackSlot::default(),
                loader: CallbackSlot::default(),
            }
        });
        Ok(Store { shared })
    }
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
    #[inline]
    fn read_locked<Q: Hash + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&mut MemoryManager<K, V>) -> R,
    ) -> R {
        let shard = self.shared.shard_of(key);
        {
            let mut m = self.shared.shards[shard].state.lock();
            if !m.has_time_based_state() {
                return f(&mut m);
            }
        }
        self.shared.locked(shard, |m, _, _| f(m))
    }

    fn estimate(&self, key: &K, value: &V) -> u64 {
        // Only the C layer asks whether a thread is inside a store's
        // callback (its free refuses with BUSY), so only a foreign estimator
        // needs the scope.
        let _scope = self
            .shared
            .foreign_estimator
            .then(|| CallbackScope::enter(self.shared.id, 0));
        self.shared.estimator.estimate(key, value)
    }

    // ---- entries -----------------------------------------------------------

    /// Inserts or replaces `key`, charged what the size estimator returns
    /// (called once, here, outside every lock).
    ///
    /// Errors: `TooLarge` (charge above the configured budget, or a sum
    /// overflows), `OverBudget` (cannot fit even after evicting every
    /// evictable entry; refused unpinned key under EMERGENCY). On error
    /// nothing changed and `value` is dropped.
    pub fn put(&self, key: K, value: V) -> Result<()> {
        let charge = self.estimate(&key, &value);
        self.put_charged(key, value, charge)
    }

    /// Inserts or replaces `key` with an explicit charge (0 is charged as 0).
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
    pub fn try_put_charged(
        &self,
        key: K,
        value: V,
        charge: u64,
    ) -> std::result::Result<(), (Error, V)> {
        let cell = ValueCell::Inline(value);
        let shard = self.shared.shard_of(&key);
        match self
            .shared
            .locked(shard, |m, now, fx| m.put(key, cell, charge, now, fx))
        {
            Ok(()) => Ok(()),
            Err(rejected) => {
                let value = rejected.cell.into_value();
                // The key too is dropped here, after the lock is released.
                drop(rejected.key);
                match value {
                    Some(v) => Err((rejected.error, v)),
                    None => unreachable!("a refused inline value has no other holder"),
                }
            }
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
        self.read_locked(key, |m| m.read(key, V::clone))
    }

    /// Reads `key`: a hit is an access and returns a read handle that keeps
    /// the value alive and the entry unevictable until dropped.
    pub fn get<Q>(&self, key: &Q) -> Option<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(key, |m| m.get(key))
    }

    /// Reads `key` by lending the value to `f` under the store's lock,
    /// without creating a handle: for library code such as the C layer's
    /// copy-out, never for user callbacks. `f` must not call into the store.
    /// The read is an access (and a hit) only if `f` succeeds; a miss is
    /// `NotFound`.
    pub(crate) fn read_with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> Result<R>) -> Result<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(key, |m| m.peek_with(key, f))
    }

    /// Whether `key` is present. Not an access.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(key, |m| m.contains(key))
    }

    /// Removes `key` (pinned or not; its pin stays). `NotFound` if absent.
    pub fn remove<Q>(&self, key: &Q) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.locked(key, |m, now, fx| m.remove(key, now, fx))
    }

    /// Removes every entry, pinned ones too; pins stay. Returns how many.
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
        self.locked(key, |m, _, _| m.pin(owned));
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
        if let Some(run) = self.shared.locked(shard, |m, _, _| m.unpin(key))? {
            self.shared.long_run(shard, run);
        }
        Ok(())
    }

    /// Whether `key` is pinned (present or not).
    pub fn is_pinned<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(key, |m| m.is_pinned(key))
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
        self.shared.spread(count, |shard, n| {
            self.shared
                .locked(shard, |m, now, fx| m.evict_lru_by_recency(n, now, fx))
        })
    }

    /// Evicts up to `count` evictable entries in the strategy's order.
    pub fn evict(&self, count: usize) -> usize {
        self.shared.spread(count, |shard, n| {
            self.shared.long_run(
                shard,
                LongRun::new(RunGoal::Count(n), EvictionReason::Manual),
            )
        })
    }

    /// Evicts every evictable entry.
    pub fn clear_unpinned(&self) -> usize {
        (0..self.shared.shards.len())
            .map(|shard| {
                self.shared
                    .long_run(shard, LongRun::new(RunGoal::All, EvictionReason::Manual))
            })
            .sum()
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
    /// the true peak, never above the budget.
    pub fn metrics(&self) -> MemoryMetrics {
        let mut all = self.shared.each(|m, _, _| m.metrics()).into_iter();
        let first = all.next().expect("a store has at least one shard");
        let mut sum = all.fold(first, |a, b| MemoryMetrics {
            // Shards are read one after another, so byte sums saturate
            // (the usages themselves never add past u64::MAX).
            current_usage: a.current_usage.saturating_add(b.current_usage),
            max_usage: a.max_usage.saturating_add(b.max_usage),
            eviction_count: a.eviction_count + b.eviction_count,
            pressure_level: b.pressure_level,
            entry_count: a.entry_count + b.entry_count,
            pinned_count: a.pinned_count + b.pinned_count,
            pinned_bytes: a.pinned_bytes.saturating_add(b.pinned_bytes),
            in_use_bytes: b.in_use_bytes,
            hit_count: a.hit_count + b.hit_count,
            miss_count: a.miss_count + b.miss_count,
            insert_count: a.insert_count + b.insert_count,
            evicted_bytes: a.evicted_bytes.saturating_add(b.evicted_bytes),
            load_count: a.load_count + b.load_count,
            load_failure_count: a.load_failure_count + b.load_failure_count,
            max_cache_bytes: b.max_cache_bytes,
            effective_budget: a.effective_budget.saturating_add(b.effective_budget),
        });
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
    /// all get its result; its error reaches every waiter and caches nothing.
    /// Without a loader it is `get` (`NotFound` on a miss). A put or remove
    /// of the key during the load wins: waiters get the loaded value, which
    /// is not cached; a value that cannot be cached is still returned.
    /// From inside the key's own loader: `Busy`.
    pub fn get_or_load<Q>(&self, key: &Q) -> Result<ValueHandle<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned,
        Q::Owned: Into<K>,
    {
        let Some(loader) = self.shared.loader.get() else {
            return self
                .get(key)
                .ok_or_else(|| Error::not_found("no entry with this key and no loader"));
        };
        let shard = self.shared.shard_of(key);
        let slot = match self.shared.locked(shard, |m, _, _| m.begin_load(key))? {
            LoadStart::Hit(h) => return Ok(h),
            LoadStart::Wait(slot) => {
                drop(loader);
                let stored = slot.wait()?;
                return Ok(self.shared.locked(shard, |m, _, _| m.handle_for(&stored)));
            }
            LoadStart::Load(slot) => slot,
        };
        let owned: K = key.to_owned().into();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let _scope = CallbackScope::enter(self.shared.id, addr_of(&loader));
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
        drop(loader);
        self.shared.deliver(&mut fx);
        if let Some(payload) = panic_payload {
            panic::resume_unwind(payload);
        }
        match handle {
            Some(h) => Ok(h),
            None => Err(result
                .err()
                .unwrap_or_else(|| Error::new(ErrorKind::Callback, "no value"))),
        }
    }

    // ---- introspection -------------------------------------------------------

    /// Whether this thread is inside one of this store's callbacks (the C
    /// layer refuses to free a store from its own callback).
    pub(crate) fn is_inside_own_callback(&self) -> bool {
        inside_store_callback(self.shared.id)
    }

    /// Waits until this handle is the store's only user: calls that reached
    /// the store without it (a global pressure signal, the release of a
    /// read handle that restores the budget) have ended. The C layer's free
    /// calls it so that no callback of the store runs after free returns.
    pub(crate) fn wait_until_sole_user(&self) {
        wait_while(|| Arc::strong_count(&self.shared) > 1);
    }

    /// Panics while holding the store's lock: a testing aid for the C
    /// boundary (`nexus_store_debug_panic`), which shows that a panic is
    /// contained and leaves the store usable.
    pub(crate) fn panic_under_lock(&self) {
        self.shared.locked(0, |_, _, _| {
            panic!("a deliberate panic under the store's lock")
        });
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

    /// (key, charge, access count, pinned) of every present entry, in no
    /// particular order. O(n): for tests and tools. The access count is the
    /// LFU count (1 for other strategies).
    pub fn entries_snapshot(&self) -> Vec<(K, u64, u64, bool)> {
        self.shared
            .each(|m, _, _| m.snapshot())
            .into_iter()
            .flatten()
            .collect()
    }
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Runs `f` under the lock (after bringing time-based state up to date)
    /// and returns what it produced, to be delivered after the lock is gone.
    #[inline]
    fn lock_collect<R>(
        &self,
        shard: usize,
        fx: &mut Effects<K, V>,
        f: impl FnOnce(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> R {
        self.lock_collect_with(shard, false, fx, f)
    }

    /// The shard `key` lives in.
    #[inline]
    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        // The high bits of the product pick the shard (a fair range
        // reduction); the shards' own tables hash with other seeds.
        let hash = self.shard_hasher.hash_one(key);
        ((u128::from(hash) * n as u128) >> 64) as usize
    }

    /// Runs `f` on every shard in turn (each under its own lock, its
    /// effects delivered before the next), collecting what it returns.
    fn each<R>(
        &self,
        mut f: impl FnMut(&mut MemoryManager<K, V>, &Now<'_>, &mut Effects<K, V>) -> R,
    ) -> Vec<R> {
        (0..self.shards.len())
            .map(|shard| self.locked(shard, &mut f))
            .collect()
    }

    /// Asks the shards for `count` of something in all (evictions): each
    /// first for an equal part of what is still wanted, then, if some had
    /// fewer, each in turn for all that is still wanted. `f(shard, n)`
    /// returns how many it gave.
    fn spread(&self, count: usize, mut f: impl FnMut(usize, usize) -> usize) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return f(0, count);
        }
        let mut done = 0;
        for shard in 0..n {
            let left = n - shard;
            let want = (count - done).div_ceil(left);
            if want > 0 {
                done += f(shard, want);
            }
        }
        for shard in 0..n {
            if done == count {
                break;
            }
            done += f(shard, count - done);
        }
        done
    }

    /// `set_max_bytes` over every shard at once: all are locked (in order),
    /// each checks its share, and only if all can take it do all apply it.
    fn set_max_bytes(&self, max: u64) -> Result<()> {
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
        let planned: Result<Vec<Vec<u32>>> = guards.iter().map(|m| m.plan_max_bytes(max)).collect();
        if let Ok(plans) = &planned {
            for ((m, victims), fx) in guards.iter_mut().zip(plans.clone()).zip(&mut all_fx) {
                m.apply_max_bytes(max, victims, &now, fx);
            }
        }
        for m in guards.iter_mut() {
            m.end_call();
        }
        drop(guards);
        for mut fx in all_fx {
            self.deliver(&mut fx);
        }
        planned.map(|_| ())
    }

    /// `lock_collect`, optionally handing the lock over fairly on release
    /// (to a waiting thread rather than back to this one): what lets other
    /// threads in between the chunks of a long eviction run.
    fn lock_collect_with<R>(
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
    fn locked<R>(
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

    /// A signal to every shard in turn, each shedding before the next.
    fn signal(&self, level: MemoryPressureLevel) {
        for shard in 0..self.shards.len() {
            if let Some(run) = self.locked(shard, |m, now, fx| m.signal(level, now, fx)) {
                self.long_run(shard, run);
            }
        }
    }

    /// Runs a long eviction run chunk by chunk, releasing the lock (and
    /// delivering what each chunk removed) in between; returns how many
    /// entries it evicted.
    fn long_run(&self, shard: usize, mut run: LongRun) -> usize {
        let in_progress = LongRunGuard::enter(&self.long_runs);
        loop {
            let mut fx = Effects::default();
            let done = self.lock_collect_with(shard, true, &mut fx, |m, _, fx| {
                m.run_chunk(&mut run, EVICTION_CHUNK, fx)
            });
            if !fx.removed.is_empty() || !fx.events.is_empty() {
                self.deliver(&mut fx);
            }
            if done {
                break;
            }
        }
        let evicted = run.count();
        self.locked(shard, |m, now, fx| m.run_finish(run, now, fx));
        drop(in_progress);
        // A handle released during the run left the budget to it.
        if self.link.recheck.swap(false, Ordering::SeqCst) {
            self.restore_budget();
        }
        evicted
    }

    /// Evicts each shard down to its budget in force, if above it.
    fn restore_budget(&self) {
        for shard in 0..self.shards.len() {
            if let Some(run) = self.locked(shard, |m, _, _| m.budget_run()) {
                self.long_run(shard, run);
            }
        }
    }

    /// Reports what a call produced: the listener for each removed entry,
    /// then the values are dropped (release actions run), then the events.
    /// Runs with no lock of the store held. Takes what it delivers out of
    /// `fx` (if a callback panics, what is left is dropped with `fx`).
    fn deliver(&self, fx: &mut Effects<K, V>) {
        if fx.removed.is_empty() && fx.events.is_empty() {
            return;
        }
        // Dropping keys and values below may run user code (a `Drop`).
        let _scope = (std::mem::needs_drop::<K>() || std::mem::needs_drop::<V>())
            .then(|| CallbackScope::enter(self.id, 0));
        if !fx.removed.is_empty() {
            if let Some(listener) = self.listener.get() {
                let _s = CallbackScope::enter(self.id, addr_of(&listener));
                for r in &fx.removed {
                    listener(&r.key, r.reason, r.charge);
                }
            }
            // Release actions: each value's drop (unless a handle holds it),
            // in order; a panicking drop still lets the others run.
            fx.removed.clear();
        }
        if fx.events.is_empty() {
            return;
        }
        // Sequence numbers are given here, as each event is handed on: to
        // the queue under its lock, so the queue holds them in order and a
        // gap in it means only a loss (the lost event took its number).
        if let Some(callback) = self.event_callback.get() {
            let _s = CallbackScope::enter(self.id, addr_of(&callback));
            for e in &mut fx.events {
                e.sequence = self.next_sequence();
                callback(e);
            }
        } else {
            let mut q = self.queue.lock();
            for mut e in fx.events.drain(..) {
                e.sequence = self.next_sequence();
                q.push(e, || Event {
                    kind: EventKind::Dropped,
                    sequence: self.next_sequence(),
                    previous_level: e.level,
                    count: 0,
                    bytes: 0,
                    ..e
                });
            }
        }
    }

    /// The next event sequence number (from 1).
    fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl<K, V> BudgetKeeper for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// Called by the release of a handle that may have held usage above the
    /// budget (it set `link.recheck` first). A long run in progress restores
    /// the budget when it ends, so the releasing thread does not do its work:
    /// the run's decrement of `long_runs` and check of `recheck` pair with
    /// the release's store of `recheck` and read of `long_runs` (SeqCst), so
    /// one of the two always does it.
    fn enforce_budget(&self) {
        if self.long_runs.load(Ordering::SeqCst) > 0 {
            return;
        }
        self.link.recheck.store(false, Ordering::SeqCst);
        self.restore_budget();
    }
}

impl<K, V> PressureSubscriber for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn on_signal(&self, level: MemoryPressureLevel) {
        self.signal(level);
    }
}
