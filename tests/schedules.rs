//! Schedules explored, not hoped for (docs/TESTING.md): the real handle
//! table (`src/ffi/handles.rs`) and callback slots (`src/callbacks.rs`),
//! compiled here against shuttle's model-checked atomics, mutex, thread
//! locals and yields (both files take their primitives from `crate::sync`,
//! which here is the module below), run under shuttle's PCT and random
//! schedulers. Each schedule checks that
//! - a call counted on a slot never sees its store dropped, the store is
//!   dropped exactly once, and a blocking free returns only after it was,
//!   also when a thread's plain counts on its own stripe are held back
//!   from the others as a store buffer would (`sync::asymmetric`): the
//!   frees' heavy barriers must make them visible;
//! - the deferred free drops the store exactly once, after the last call in
//!   flight, on whichever thread ends last, also while lookups of the stale
//!   handle count and back out, and when it races a blocking free;
//! - a callback replaced while another thread is inside it is destroyed
//!   exactly once, after that call returned, and the replacing thread (not
//!   itself inside a callback) returns only after that;
//! - two threads, each inside a callback, replacing each other's callback
//!   never wait for each other (a schedule that does not finish within the
//!   step bound fails: a deadlock or a livelock);
//! - events queued by several producers (the real `src/event_queue.rs`,
//!   numbered under the queue's lock) while a poller drains the queue come
//!   out in strictly increasing sequence order, each producer's in the
//!   order it made them, and every number is accounted for: polled, a
//!   DROPPED marker, or counted as lost by one.
//!
//! Built only with `--cfg nexus_shuttle` (`make schedules`, in
//! target/hardening); SHUTTLE_ITERATIONS sets the schedules per test and
//! scheduler (default 10,000).

#![cfg(nexus_shuttle)]
#![allow(dead_code, unused_imports)]

/// shuttle's primitives under the names `crate::sync` gives in the library.
mod sync {
    pub use shuttle::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use shuttle::thread::{sleep, yield_now};
    pub use shuttle::thread_local;
    pub use std::sync::{Arc, OnceLock};

    /// The handle table's asymmetric fences, with a model of the store
    /// buffer they are for. shuttle runs its threads sequentially
    /// consistent, which would make the heavy barrier useless and its
    /// absence unseen; so a thread's light stores (a call's plain count on
    /// its own stripe) are held back from the other threads, as x86 lets a
    /// later load pass a store: until the next heavy barrier of any thread,
    /// or the end of the call (`light_settle`, after its check of a pending
    /// deferred free). The thread itself reads its own held-back value.
    pub mod asymmetric {
        use super::{AtomicUsize, Ordering};

        /// Held-back stores: (thread, counter, value), the counters living
        /// in slot chunks that are never freed.
        static HELD: std::sync::Mutex<Vec<(usize, usize, usize)>> =
            std::sync::Mutex::new(Vec::new());
        static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

        shuttle::thread_local! {
            static ME: usize = THREADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }

        fn held() -> std::sync::MutexGuard<'static, Vec<(usize, usize, usize)>> {
            HELD.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Stores `f` of this thread's view of `counter`, held back. (No
        /// shuttle operation while `HELD` is locked: one is a scheduling
        /// point, and another thread would block on the lock for good.)
        fn light(counter: &AtomicUsize, f: impl FnOnce(usize) -> usize) {
            let me = ME.with(|m| *m);
            let addr = std::ptr::from_ref(counter).expose_provenance();
            let mine = |h: &(usize, usize, usize)| h.0 == me && h.1 == addr;
            let own = held().iter().find(|h| mine(h)).map(|h| h.2);
            let value = f(own.unwrap_or_else(|| counter.load(Ordering::Relaxed)));
            let mut held = held();
            held.retain(|h| !mine(h));
            held.push((me, addr, value));
        }

        /// Makes the held-back stores `which` selects visible. One drain
        /// at a time (`DRAINING`, a shuttle mutex), so a thread's stores
        /// become visible in its order; each stays held (the thread reads
        /// its own value there) until stored, and is let go only if its
        /// thread has not stored again meanwhile (then the newer value is
        /// drained next).
        fn drain(which: impl Fn(usize) -> bool) {
            static DRAINING: shuttle::sync::Mutex<()> = shuttle::sync::Mutex::new(());
            let _one_at_a_time = DRAINING.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let Some((t, addr, value)) = held().iter().find(|h| which(h.0)).copied() else {
                    return;
                };
                // SAFETY: `addr` is a slot's counter (exposed by `light`);
                // slot chunks are never freed.
                let counter = unsafe { &*std::ptr::with_exposed_provenance::<AtomicUsize>(addr) };
                counter.store(value, Ordering::SeqCst);
                held().retain(|h| *h != (t, addr, value));
            }
        }

        pub fn available() -> bool {
            true
        }

        pub fn heavy() {
            drain(|_| true);
        }

        pub fn light_increment(counter: &AtomicUsize) {
            light(counter, |v| v.wrapping_add(1));
        }

        pub fn light_decrement(counter: &AtomicUsize) {
            light(counter, |v| v.wrapping_sub(1));
        }

        pub fn light_settle() {
            let me = ME.with(|m| *m);
            drain(|t| t == me);
        }
    }

    /// parking_lot's API (no poisoning) over shuttle's mutex.
    #[derive(Default)]
    pub struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub const fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[path = "../src/callbacks.rs"]
mod callbacks;

#[path = "../src/ffi/handles.rs"]
mod handles;

#[path = "../src/event_queue.rs"]
mod event_queue;

/// What `event_queue.rs` needs of the library: the real event types.
#[path = "../src/events.rs"]
mod events;

#[path = "../src/c_enum.rs"]
mod c_enum;

#[path = "../src/pressure/memory_pressure_level.rs"]
mod memory_pressure_level;

mod pressure {
    pub(crate) use crate::memory_pressure_level;
}

mod error {
    pub use crate::Error;
}

pub use events::EvictionReason;
pub use memory_pressure_level::MemoryPressureLevel;

/// What `handles.rs` needs of the library (its `super::`), reduced to a
/// probe.
mod ffi_stubs {

    pub mod types {
        pub struct NexusStore {
            _opaque: [u8; 0],
        }
    }

    pub mod boundary {
        pub fn null_arg(name: &str) -> crate::Error {
            crate::Error::new(crate::ErrorKind::NullArgument, name)
        }
    }

    pub mod store {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        /// What the tests observe of a store.
        #[derive(Default)]
        pub struct Probe {
            /// Calls inside the store right now.
            pub inside: AtomicUsize,
            pub drops: AtomicUsize,
        }

        pub struct Core {
            pub probe: Arc<Probe>,
        }

        impl Core {
            pub fn is_inside_own_callback(&self) -> bool {
                false
            }

            pub fn wait_until_sole_user(&self) {}
        }

        pub struct FfiStore {
            pub store: Core,
        }

        impl Drop for FfiStore {
            fn drop(&mut self) {
                let p = &self.store.probe;
                assert_eq!(p.inside.load(Ordering::SeqCst), 0, "dropped during a call");
                assert_eq!(p.drops.fetch_add(1, Ordering::SeqCst), 0, "dropped twice");
            }
        }
    }
}

use ffi_stubs::{boundary, store, types};

#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    pub fn new(kind: ErrorKind, _message: impl Into<String>) -> Self {
        Error { kind }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn invalid(_message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidArgument,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NullArgument,
    InvalidHandle,
    OutOfMemory,
    Busy,
    InvalidArgument,
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use callbacks::{CallbackScope, CallbackSlot};
use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, MaxSteps, Runner};
use store::{Core, FfiStore, Probe};
use types::NexusStore;

/// Schedules explored so far, over every test (printed at the end of each).
static EXPLORED: AtomicUsize = AtomicUsize::new(0);

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

/// Runs `f` under PCT (depth 3) and the random scheduler, `iterations()`
/// schedules each; a schedule longer than 20,000 steps fails.
fn explore(name: &str, f: impl Fn() + Send + Sync + 'static) {
    let f = Arc::new(f);
    let n = iterations();
    let schedulers: Vec<Box<dyn Scheduler + Send>> = vec![
        Box::new(PctScheduler::new(3, n)),
        Box::new(RandomScheduler::new(n)),
    ];
    for scheduler in schedulers {
        let mut config = Config::new();
        config.max_steps = MaxSteps::FailAfter(20_000);
        // The handle table allocates a chunk of 256 slots (16 KiB) through
        // the stack.
        config.stack_size = 1 << 20;
        let f = Arc::clone(&f);
        Runner::new(scheduler, config).run(move || f());
        EXPLORED.fetch_add(n, Ordering::SeqCst);
    }
    println!(
        "{name}: {} schedules explored (PCT depth 3 and random)",
        2 * n
    );
}

fn new_store() -> (*mut NexusStore, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let store = FfiStore {
        store: Core {
            probe: Arc::clone(&probe),
        },
    };
    (handles::insert(store).expect("a slot"), probe)
}

/// A handle shared with shuttle threads (it is a number, not a pointer).
#[derive(Clone, Copy)]
struct H(usize);

impl H {
    fn of(h: *mut NexusStore) -> Self {
        H(h.addr())
    }

    fn get(self) -> *mut NexusStore {
        std::ptr::without_provenance_mut(self.0)
    }
}

/// One call through the handle: inside the store for a few steps.
fn call(h: H) -> Result<(), ErrorKind> {
    handles::with(h.get(), |s| {
        let p = &s.store.probe;
        p.inside.fetch_add(1, Ordering::SeqCst);
        shuttle::thread::yield_now();
        assert_eq!(
            p.drops.load(Ordering::SeqCst),
            0,
            "a call saw its store dropped"
        );
        p.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    })
    .map_err(|e| e.kind())
}

#[test]
fn calls_in_flight_against_the_blocking_free() {
    explore("calls vs blocking free", || {
        let (h, probe) = new_store();
        let h = H::of(h);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                shuttle::thread::spawn(move || {
                    for _ in 0..2 {
                        match call(h) {
                            Ok(()) | Err(ErrorKind::InvalidHandle) => {}
                            Err(e) => panic!("call: {e:?}"),
                        }
                    }
                })
            })
            .collect();
        handles::free(h.get()).expect("free");
        assert_eq!(
            probe.drops.load(Ordering::SeqCst),
            1,
            "free returned before the drop"
        );
        assert_eq!(call(h), Err(ErrorKind::InvalidHandle));
        for c in callers {
            c.join().unwrap();
        }
        assert_eq!(probe.drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn the_deferred_free_with_calls_and_stale_lookups() {
    explore("calls vs deferred free", || {
        let (h, probe) = new_store();
        let h = H::of(h);
        let caller = shuttle::thread::spawn(move || {
            for _ in 0..2 {
                let _ = call(h);
            }
        });
        // Lookups of the handle once it is stale: they count and back out.
        let stale = shuttle::thread::spawn(move || {
            for _ in 0..3 {
                let _ = handles::with(h.get(), |_| Ok(()));
            }
        });
        handles::free_deferred(h.get()).expect("deferred free");
        assert_eq!(
            handles::free_deferred(h.get()).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidHandle)
        );
        caller.join().unwrap();
        stale.join().unwrap();
        assert_eq!(
            probe.drops.load(Ordering::SeqCst),
            1,
            "dropped once, after the last call"
        );
    });
}

/// The deferred free and the one call that ends last may both see the
/// count at 0 with the flag set (the call's exit read the flag the free had
/// just set, the free read the count the call had just left): exactly one
/// of them drops the store and gives the slot back.
#[test]
fn a_deferred_free_and_the_last_call_both_see_zero() {
    explore("deferred free vs the last call's exit", || {
        let (h, probe) = new_store();
        let h = H::of(h);
        let caller = shuttle::thread::spawn(move || {
            let _ = call(h);
        });
        handles::free_deferred(h.get()).expect("deferred free");
        caller.join().unwrap();
        assert_eq!(probe.drops.load(Ordering::SeqCst), 1, "dropped once");
        // The slot went back to the free list once: the next two stores
        // take two slots (a handle's low 32 bits are its slot field).
        let (a, _) = new_store();
        let (b, _) = new_store();
        let slot = |h: *mut NexusStore| h.addr() & 0xffff_ffff;
        assert_ne!(slot(a), slot(b), "two live stores in one slot");
        handles::free(a).expect("free");
        handles::free(b).expect("free");
    });
}

#[test]
fn a_deferred_free_from_inside_a_call() {
    explore("deferred free inside a call", || {
        let (h, probe) = new_store();
        let h = H::of(h);
        let other = shuttle::thread::spawn(move || {
            let _ = call(h);
        });
        // The deferred free from inside a call through the handle: the
        // store outlives this call, and is dropped by whoever ends last.
        let r = handles::with(h.get(), |s| {
            handles::free_deferred(h.get())?;
            shuttle::thread::yield_now();
            assert_eq!(s.store.probe.drops.load(Ordering::SeqCst), 0);
            Ok(())
        });
        assert!(r.is_ok());
        other.join().unwrap();
        assert_eq!(probe.drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn blocking_and_deferred_frees_race() {
    explore("free vs deferred free", || {
        let (h, probe) = new_store();
        let h = H::of(h);
        let caller = shuttle::thread::spawn(move || {
            let _ = call(h);
        });
        let deferred = shuttle::thread::spawn(move || handles::free_deferred(h.get()).is_ok());
        let blocking = handles::free(h.get()).is_ok();
        let deferred = deferred.join().unwrap();
        caller.join().unwrap();
        assert!(blocking ^ deferred, "exactly one free succeeds");
        assert_eq!(probe.drops.load(Ordering::SeqCst), 1);
    });
}

/// A callback that counts its calls and its destroy.
struct Counted {
    inside: Arc<AtomicUsize>,
    destroyed: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert_eq!(
            self.inside.load(Ordering::SeqCst),
            0,
            "destroyed during its call"
        );
        self.destroyed.fetch_add(1, Ordering::SeqCst);
    }
}

type Cb = dyn Fn() + Send + Sync;

fn counted(inside: &Arc<AtomicUsize>, destroyed: &Arc<AtomicUsize>) -> Arc<Cb> {
    let c = Counted {
        inside: Arc::clone(inside),
        destroyed: Arc::clone(destroyed),
    };
    Arc::new(move || {
        c.inside.fetch_add(1, Ordering::SeqCst);
        shuttle::thread::yield_now();
        c.inside.fetch_sub(1, Ordering::SeqCst);
    })
}

/// Calls the slot's callback the way the store does: a clone, called
/// inside a callback scope, no lock held.
fn invoke(slot: &CallbackSlot<Cb>, store_id: u64) {
    if let Some(cb) = slot.get() {
        let _scope = CallbackScope::enter(store_id);
        cb();
    }
}

#[test]
fn a_callback_replaced_while_in_flight() {
    explore("callback replaced while in flight", || {
        let slot: Arc<CallbackSlot<Cb>> = Arc::default();
        let inside = Arc::new(AtomicUsize::new(0));
        let destroyed = Arc::new(AtomicUsize::new(0));
        slot.replace(Some(counted(&inside, &destroyed)));
        let s2 = Arc::clone(&slot);
        let caller = shuttle::thread::spawn(move || {
            invoke(&s2, 1);
            invoke(&s2, 1);
        });
        let (inside2, destroyed2) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        slot.replace(Some(counted(&inside2, &destroyed2)));
        // Not inside a callback: the old one's calls have ended and it is
        // destroyed when replace returns.
        assert_eq!(
            destroyed.load(Ordering::SeqCst),
            1,
            "replace returned before the destroy"
        );
        caller.join().unwrap();
        slot.replace(None);
        assert_eq!(destroyed.load(Ordering::SeqCst), 1);
        assert_eq!(destroyed2.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn two_threads_replace_each_others_callbacks_from_inside_them() {
    explore("crosswise replacement from inside callbacks", || {
        let a: Arc<CallbackSlot<Cb>> = Arc::default();
        let b: Arc<CallbackSlot<Cb>> = Arc::default();
        let counters: Vec<_> = (0..4)
            .map(|_| (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))))
            .collect();
        // a's callback replaces b's; b's replaces a's.
        let replacer = |target: &Arc<CallbackSlot<Cb>>,
                        c: &(Arc<AtomicUsize>, Arc<AtomicUsize>),
                        n: &(Arc<AtomicUsize>, Arc<AtomicUsize>)|
         -> Arc<Cb> {
            let target = Arc::clone(target);
            let counted_inner = counted(&c.0, &c.1);
            let (ni, nd) = (Arc::clone(&n.0), Arc::clone(&n.1));
            Arc::new(move || {
                counted_inner();
                target.replace(Some(counted(&ni, &nd)));
            })
        };
        a.replace(Some(replacer(&b, &counters[0], &counters[2])));
        b.replace(Some(replacer(&a, &counters[1], &counters[3])));
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let t = shuttle::thread::spawn(move || invoke(&a2, 1));
        invoke(&b2, 2);
        t.join().unwrap();
        a.replace(None);
        b.replace(None);
        // Every callback that was installed was destroyed exactly once.
        for (i, (inside, destroyed)) in counters.iter().enumerate() {
            assert_eq!(inside.load(Ordering::SeqCst), 0);
            assert!(
                destroyed.load(Ordering::SeqCst) <= 1,
                "callback {i} destroyed twice"
            );
        }
        assert_eq!(counters[0].1.load(Ordering::SeqCst), 1);
        assert_eq!(counters[1].1.load(Ordering::SeqCst), 1);
    });
}

// ---- the event queue's sequence order with several producers ------------

/// An event from producer `p`, its `k`th (in `bytes`, to tell them apart).
fn produced(p: u64, k: u64) -> events::Event {
    events::Event {
        kind: events::EventKind::Eviction,
        sequence: 0,
        level: MemoryPressureLevel::None,
        previous_level: MemoryPressureLevel::None,
        reason: EvictionReason::Capacity,
        count: p,
        bytes: k,
        usage_bytes: 0,
        timestamp_ns: 0,
    }
}

/// What a poller that tries `polls` times while `producers` run, and then
/// a drain of the rest, take from `queue`, in the order taken.
fn polled_while_producing(
    queue: &Arc<sync::Mutex<event_queue::EventQueue>>,
    producers: Vec<shuttle::thread::JoinHandle<()>>,
    polls: usize,
) -> Vec<events::Event> {
    let poller = {
        let queue = Arc::clone(queue);
        shuttle::thread::spawn(move || {
            let mut polled = Vec::new();
            for _ in 0..polls {
                if let Some(e) = queue.lock().pop() {
                    polled.push(e);
                }
                shuttle::thread::yield_now();
            }
            polled
        })
    };
    for t in producers {
        t.join().unwrap();
    }
    let mut polled = poller.join().unwrap();
    while let Some(e) = queue.lock().pop() {
        polled.push(e);
    }
    polled
}

/// Three producers each queue two batches of two events (numbered under
/// the queue's lock, by a store's own `hand_on`) into a queue of 2 while a
/// poller drains it; then the rest is drained. Polled sequence numbers only
/// go up, each producer's events come out in the order it made them,
/// polled events + the losses markers count = the numbers given, and each
/// marker counts the gaps since the one before it and its own number.
#[test]
fn several_producers_queue_in_sequence_order() {
    use event_queue::{EventQueue, hand_on};
    use events::{Event, EventKind, EventMask};
    explore("event queue: 3 producers, 1 poller", || {
        let queue = Arc::new(sync::Mutex::new(EventQueue::new(
            2,
            MemoryPressureLevel::None,
        )));
        let sequence = Arc::new(sync::AtomicU64::new(0));
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let (queue, sequence) = (Arc::clone(&queue), Arc::clone(&sequence));
                shuttle::thread::spawn(move || {
                    for batch in 0..2u64 {
                        let mut events = vec![produced(p, 2 * batch), produced(p, 2 * batch + 1)];
                        hand_on(&queue, &sequence, EventMask::ALL, &mut events, true);
                    }
                })
            })
            .collect();
        let polled = polled_while_producing(&queue, producers, 6);
        let seqs: Vec<u64> = polled.iter().map(|e| e.sequence).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "polled out of sequence order: {seqs:?}"
        );
        for p in 0..3 {
            let ks: Vec<u64> = polled
                .iter()
                .filter(|e| e.kind == EventKind::Eviction && e.count == p)
                .map(|e| e.bytes)
                .collect();
            assert!(
                ks.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s events out of order: {ks:?}"
            );
        }
        let lost: u64 = polled
            .iter()
            .filter(|e| e.kind == EventKind::Dropped)
            .map(|e| e.count)
            .sum();
        let regular = polled
            .iter()
            .filter(|e| e.kind == EventKind::Eviction)
            .count() as u64;
        // Only the 12 events take numbers: a marker carries its latest
        // loss's, and counts the numbers missing since the marker before
        // it, plus that one.
        let given = sequence.load(sync::Ordering::SeqCst);
        assert_eq!(given, 12, "numbers given");
        assert_eq!(regular + lost, given, "every number polled or counted lost");
        let (mut last, mut missing) = (0u64, 0u64);
        for e in &polled {
            missing += e.sequence - last - 1;
            if e.kind == EventKind::Dropped {
                assert_eq!(
                    e.count,
                    missing + 1,
                    "marker {} counts its gaps",
                    e.sequence
                );
                missing = 0;
            }
            last = e.sequence;
        }
        assert_eq!(missing, 0, "a gap no marker counts");
    });
}

// ---- the PRESSURE_CHANGED chain with several producers ----------------------

/// Three producers each change a modelled store level twice (under one
/// lock, numbering each change as a store's shard does) and hand the event
/// on after releasing it, as a store's delivery does, while a poller drains
/// the queue. Whatever the schedule, the PRESSURE_CHANGED events polled
/// form one chain (each `previous_level` the `level` of the one before)
/// that ends at the modelled level.
#[test]
fn level_changes_handed_on_in_any_order_keep_one_chain() {
    use event_queue::{EventQueue, hand_on};
    use events::{Event, EventKind, EventMask};
    explore("event queue: level chain, 3 producers, 1 poller", || {
        let queue = Arc::new(sync::Mutex::new(EventQueue::new(
            64,
            MemoryPressureLevel::None,
        )));
        let sequence = Arc::new(sync::AtomicU64::new(0));
        // (changes made, the level now)
        let level = Arc::new(sync::Mutex::new((0u64, MemoryPressureLevel::None)));
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let (queue, sequence, level) = (
                    Arc::clone(&queue),
                    Arc::clone(&sequence),
                    Arc::clone(&level),
                );
                shuttle::thread::spawn(move || {
                    for k in 0..2u64 {
                        let to =
                            MemoryPressureLevel::ALL[((p + k) % 3) as usize + 1 - (k as usize)];
                        let event = {
                            let mut l = level.lock();
                            if l.1 == to {
                                continue;
                            }
                            l.0 += 1;
                            let from = std::mem::replace(&mut l.1, to);
                            Event {
                                kind: EventKind::PressureChanged,
                                sequence: l.0,
                                level: to,
                                previous_level: from,
                                ..produced(p, k)
                            }
                        };
                        hand_on(&queue, &sequence, EventMask::ALL, &mut vec![event], true);
                    }
                })
            })
            .collect();
        let polled = polled_while_producing(&queue, producers, 4);
        let mut at = MemoryPressureLevel::None;
        for e in &polled {
            assert_eq!(e.kind, EventKind::PressureChanged);
            assert_eq!(
                e.previous_level, at,
                "the chain broke at {}: {polled:?}",
                e.sequence
            );
            assert_ne!(e.level, e.previous_level);
            at = e.level;
        }
        assert_eq!(
            at,
            level.lock().1,
            "the chain ends at the level: {polled:?}"
        );
    });
}
