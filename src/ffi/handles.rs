//! The handle tables: stores (`NexusStore *`) and governors
//! (`NexusGovernor *`) alike, one [`HandleTable`] each.
//!
//! A handle is not a pointer to memory: it encodes a slot number and the
//! slot's generation. Slots live in chunks that are allocated once and
//! never freed, so looking a handle up never touches freed memory, and a
//! handle whose generation no longer matches (freed, or freed twice) is
//! `NEXUS_STATUS_ERR_INVALID_HANDLE`.
//!
//! A slot holds its object's generation (or [`DEAD`] while it has none), a
//! count of the calls in flight through it, and the object pointer. A call
//! ([`HandleTable::with`]) increments the count, then checks the
//! generation, and backs out (count decremented, `INVALID_HANDLE`) if it
//! does not match; it reads the object only while it is counted, and
//! decrements the count when it ends. The count is striped: [`STRIPES`]
//! counters on cache lines of their own, each thread counting on one of
//! them (picked once per thread), so that two threads calling into one
//! object (a store with several shards) do not write the same cache line
//! on every call; "the count" is their sum, read only by frees. Calls that
//! re-enter the object from its callbacks are simply counted again. A free
//! swaps the generation to `DEAD` (new calls fail at once), waits for the
//! count to reach 0 (the calls in flight on every thread), takes the
//! pointer out and only then drops the object, outside every lock.
//!
//! Either the call sees `DEAD`, or the free sees the call counted and waits
//! for it. Two ways make it so:
//! - On a shared stripe ([`OWNED_STRIPES`] and up; every thread's where
//!   [`asymmetric::available`] is false), the increment and the generation
//!   check of a call, and the swap and the count check of a free, are
//!   `SeqCst` (a locked add and subtract per call).
//! - The first [`OWNED_STRIPES`] threads to call, where the heavy barrier
//!   exists (Linux), each own a stripe of their own until they exit, and
//!   count on it with plain stores: the increment, a compiler fence, the
//!   generation check. Every free and deferred free runs the heavy barrier
//!   ([`asymmetric::heavy`]) between its swap (or flag) and its count check,
//!   which orders them as the `SeqCst` operations do (`ffi/asymmetric_fence.rs`
//!   says why). Two locked instructions less per call: on x86 each costs
//!   more than the rest of a cache hit's bookkeeping.
//!
//! `insert` stores the pointer before it publishes the
//! generation, and only into a `DEAD` slot, so a call that sees its
//! generation sees its object.
//!
//! From inside one of the object's own calls on the same thread (a
//! callback, or a ctx's destroy run by a call), waiting for the count would
//! wait for itself: each call links a frame, on its own stack, into a
//! thread-local list, and a free that finds its slot there is `BUSY` (as is
//! one from inside a callback the object runs outside any call through its
//! handle: a global pressure signal, a read handle's release; the core
//! tracks those, see [`HandleTarget`]).
//!
//! The deferred free (`nexus_store_free_deferred`, for garbage-collected
//! hosts) never waits: it swaps the generation to `DEAD`, sets the slot's
//! `pending` flag, and frees the object itself if the count is 0. Every
//! call, after its decrement, reads the flag and, if set, runs the heavy
//! barrier and reads the count: the decrements, the flag's store and these
//! reads are `SeqCst` or ordered by the barriers, so the thread whose
//! decrement is last (or the deferred free, if it comes after the last)
//! sees a count of 0 with the flag set. Whoever sees that clears the
//! flag with one compare-and-swap, and the one that wins takes the object
//! out and drops it, on its own thread; lookups of stale handles that count
//! and back out meanwhile may see it too, and lose the swap.
//!
//! A handle also says which table it belongs to ([`HandleKind`]): a bit
//! of its slot field that slot numbers never use is set in governor
//! handles, so a governor's handle passed as a store's (or the reverse)
//! names no slot of that table and is `INVALID_HANDLE`, even when both
//! objects sit in slot 0 of their tables with generation 1.
//!
//! Freed slots are reused first-in first-out, so a stale handle would have
//! to outlive 2^32 reuses of its slot (2^12 on 32-bit targets, spread over
//! every free slot) to alias a new object.
//!
//! The store table's free functions ([`insert`], [`with`], [`free`],
//! [`free_deferred`]) are the store handles' entry points.

use std::cell::Cell;
use std::collections::VecDeque;

use crate::sync::{
    AtomicBool, AtomicPtr, AtomicUsize, Mutex, OnceLock, Ordering, asymmetric, thread_local,
};

use super::store::FfiStore;
use super::types::NexusStore;
use crate::callbacks::wait_while;
use crate::{Error, ErrorKind};

const SLOT_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const GEN_BITS: u32 = usize::BITS - SLOT_BITS;
const GEN_MASK: usize = (1usize << GEN_BITS) - 1;
/// The bit of the slot field that tells the tables apart (the field's top
/// bit): no slot number reaches it.
const KIND_BIT: u32 = SLOT_BITS - 1;
const CHUNK: usize = 256;
/// 2^20 slots (2^19 on 32-bit targets, whose slot field has 20 bits).
const MAX_SLOTS: usize = 1 << (if KIND_BIT > 20 { 20 } else { KIND_BIT });
const MAX_CHUNKS: usize = MAX_SLOTS / CHUNK;
const _: () = assert!(MAX_SLOTS < 1 << KIND_BIT);

/// Which table a handle type's handles belong to: its `KIND` (0 or 1) is
/// the handle's bit [`KIND_BIT`].
pub(crate) trait HandleKind {
    const KIND: usize;
}

impl HandleKind for NexusStore {
    const KIND: usize = 0;
}

/// The generation of a slot without an object. Above `GEN_MASK`, so no
/// handle carries it.
const DEAD: usize = usize::MAX;
const _: () = assert!(DEAD > GEN_MASK);

/// How many counters a slot's count of calls is striped over: the first
/// [`OWNED_STRIPES`] are each counted on by one thread at a time, the
/// others by every thread that owns none, in turn.
const STRIPES: usize = 6;
/// How many threads at a time count on a stripe of their own.
const OWNED_STRIPES: usize = 4;
const _: () = assert!(OWNED_STRIPES < STRIPES);

/// What a table's objects tell its blocking free.
pub(crate) trait HandleTarget: Send + Sync + 'static {
    /// Whether this thread is inside one of the object's callbacks (a
    /// blocking free from there would wait for itself: `BUSY`).
    fn is_inside_own_callback(&self) -> bool;

    /// Waits until calls that reached the object without its handle have
    /// ended (run by the blocking free before it drops the object).
    fn wait_until_sole_user(&self);

    /// Its handle has just become invalid (either free, before any wait):
    /// the object may let go of what it holds for others while calls in
    /// flight keep it alive (a governor, its members).
    fn retire(&self) {}
}

impl HandleTarget for FfiStore {
    fn is_inside_own_callback(&self) -> bool {
        self.store.is_inside_own_callback()
    }

    fn wait_until_sole_user(&self) {
        self.store.wait_until_sole_user();
    }
}

/// A slot: a cache line that calls only read (written by insert and the
/// frees), then the striped count, a cache line per stripe. Calls on one
/// object do not contend with calls on its neighbours, nor, on different
/// threads, with each other.
struct Slot<T> {
    head: SlotHead<T>,
    in_flight: [Stripe; STRIPES],
}

#[repr(align(64))]
struct SlotHead<T> {
    /// The live object's generation, or `DEAD`.
    generation: AtomicUsize,
    /// While a deferred free waits for the calls in flight to end: the
    /// generation it retired (never 0), else 0. Carrying the generation, a
    /// thread that saw the count at 0 for one object cannot, late, claim
    /// the deferred free of the next object in the slot.
    pending: AtomicUsize,
    /// The object (from `Box::into_raw`); non-null from `insert` until the
    /// free that takes it out.
    object: AtomicPtr<T>,
    /// The slot's number in its table (set when its chunk is made, before
    /// the chunk is published, and never changed): a call's guard need not
    /// carry it, only the deferred free its drop may finish reads it.
    index: usize,
    /// The free list of the slot's table (set with `index`): where the
    /// deferred free that a call's guard may finish returns the slot.
    free: Option<&'static Mutex<FreeSlots>>,
}

/// Calls counted by the threads of one stripe: the calls in flight, plus,
/// for an instant, lookups about to back out.
#[repr(align(64))]
struct Stripe(AtomicUsize);

impl<T> Slot<T> {
    const fn new() -> Self {
        Slot {
            head: SlotHead {
                generation: AtomicUsize::new(DEAD),
                pending: AtomicUsize::new(0),
                object: AtomicPtr::new(std::ptr::null_mut()),
                index: 0,
                free: None,
            },
            in_flight: [const { Stripe(AtomicUsize::new(0)) }; STRIPES],
        }
    }

    /// Tells the object its handle is invalid (`HandleTarget::retire`):
    /// called by a free right after its swap to `DEAD`, before it waits.
    fn retire(&self)
    where
        T: HandleTarget,
    {
        let object = self.head.object.load(Ordering::Acquire);
        // SAFETY: the caller's swap to DEAD made it this object's only
        // freer, and the object is dropped only by that free (the blocking
        // one after its waits; the deferred one once it has set `pending`,
        // which it has not yet): it is live. Non-null from `insert` on.
        if let Some(object) = unsafe { object.as_ref() } {
            object.retire();
        }
    }

    /// The calls counted on the slot, over every stripe.
    fn count(&self) -> usize {
        self.in_flight
            .iter()
            .map(|s| s.0.load(Ordering::SeqCst))
            .fold(0, usize::wrapping_add)
    }
}

thread_local! {
    /// This thread's stripe, picked on its first call (`STRIPES` = none
    /// yet); below `OWNED_STRIPES`, one it owns. No destructor: it is
    /// there until the thread is gone, for calls from any exit handler.
    static STRIPE: Cell<usize> = const { Cell::new(STRIPES) };
}

/// Which owned stripes a thread holds.
static OWNERS: [AtomicBool; OWNED_STRIPES] = [const { AtomicBool::new(false) }; OWNED_STRIPES];

/// The next thread's shared stripe: threads that own none take them in turn.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// Gives this thread's owned stripe back, from its exit (no call of the
/// thread is in flight: exit handlers run after the thread's code, one at
/// a time). Calls made later on this thread (from other exit handlers)
/// count on a shared stripe.
fn give_back(owned: usize) {
    let _ = STRIPE.try_with(|s| s.set(shared_stripe()));
    // Release: this thread's last plain stores to the stripe's counters
    // (all back to 0) happen before the next owner's.
    OWNERS[owned].store(false, Ordering::Release);
}

/// Arranges for the owned stripe `owned` to be given back when this thread
/// exits; false if it cannot be (the caller then gives it back at once).
///
/// On Linux, a pthread key's destructor: glibc runs those after the
/// thread-local destructors (so calls from those keep the stripe; in any
/// order, a call after the give-back counts on a shared stripe), and glibc
/// and musl run again the destructors of keys set by a destructor, so a
/// thread whose first call comes from a pthread key destructor still gives
/// its stripe back (unless that is the last of the `PTHREAD_DESTRUCTOR_ITERATIONS`
/// rounds: then it keeps it, and fewer threads count with plain stores).
/// A thread-local destructor registered that late (glibc's
/// `__cxa_thread_atexit_impl`, after the thread-local destructors ran)
/// would never run: the stripe would stay owned by a thread that is gone,
/// and LeakSanitizer reports the registration.
#[cfg(all(target_os = "linux", not(nexus_shuttle)))]
fn give_back_at_exit(owned: usize) -> bool {
    unsafe extern "C" fn at_exit(value: *mut libc::c_void) {
        give_back(value.addr() - 1);
    }
    static KEY: OnceLock<Option<libc::pthread_key_t>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        // The key's destructor is code of this library: once a thread holds
        // the key, the library must stay mapped until that thread is gone,
        // also if the host `dlclose`s it (a thread-local destructor would
        // have kept it: glibc counts those per library). So the library
        // becomes RTLD_NODELETE; linked into an executable, the lookup by
        // name finds nothing, and nothing can unload it anyway.
        // SAFETY: `info` is a valid place for dladdr's answer; its file
        // name, when set, is a NUL-terminated path that lives as long as
        // the library; RTLD_NOLOAD loads nothing, and the handle is kept
        // on purpose (never closed).
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            if libc::dladdr(at_exit as *const libc::c_void, &mut info) != 0
                && !info.dli_fname.is_null()
            {
                libc::dlopen(
                    info.dli_fname,
                    libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
                );
            }
        }
        let mut key = 0;
        // SAFETY: `key` is a valid place for the new key; `at_exit` is
        // called only with values this thread set (an owned stripe + 1,
        // never null).
        (unsafe { libc::pthread_key_create(&mut key, Some(at_exit)) } == 0).then_some(key)
    });
    // SAFETY: the key was created above and is never deleted; the value is
    // an integer, not a pointer to memory.
    key.is_some_and(|key| unsafe {
        libc::pthread_setspecific(key, std::ptr::without_provenance(owned + 1)) == 0
    })
}

/// Elsewhere (and under shuttle's model), a thread-local destructor.
#[cfg(not(all(target_os = "linux", not(nexus_shuttle))))]
fn give_back_at_exit(owned: usize) -> bool {
    /// A thread's owned stripe, given back by its thread-local destructor.
    struct Ownership(Cell<Option<usize>>);

    impl Drop for Ownership {
        fn drop(&mut self) {
            if let Some(owned) = self.0.take() {
                give_back(owned);
            }
        }
    }

    thread_local! {
        static OWNERSHIP: Ownership = const { Ownership(Cell::new(None)) };
    }
    OWNERSHIP.try_with(|o| o.0.set(Some(owned))).is_ok()
}

fn shared_stripe() -> usize {
    OWNED_STRIPES + NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % (STRIPES - OWNED_STRIPES)
}

/// A thread's first call: an owned stripe if the heavy barrier exists and
/// one is free (and the thread can still run destructors), else a shared one.
#[cold]
fn pick_stripe() -> usize {
    let owned = asymmetric::available()
        .then(|| {
            (0..OWNED_STRIPES).find(|&i| {
                // Acquire: the previous owner's stores to the stripe's
                // counters happen before this thread's.
                OWNERS[i]
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
        })
        .flatten();
    let picked = match owned {
        Some(i) if give_back_at_exit(i) => i,
        Some(i) => {
            OWNERS[i].store(false, Ordering::Release);
            shared_stripe()
        }
        None => shared_stripe(),
    };
    STRIPE.with(|s| s.set(picked));
    picked
}

struct FreeSlots {
    /// Freed slots, oldest first, with the generation they last had.
    reusable: VecDeque<(usize, usize)>,
    fresh: usize,
}

/// The handles of one kind of object `T`, whose C handle type is `H`: a
/// `static`, never dropped.
pub(crate) struct HandleTable<T, H> {
    /// Chunks of slots, allocated on first use and never freed.
    chunks: [OnceLock<Box<[Slot<T>; CHUNK]>>; MAX_CHUNKS],
    free: Mutex<FreeSlots>,
    /// What a handle of this table is, for messages ("store", "governor").
    what: &'static str,
    _handle: std::marker::PhantomData<fn() -> H>,
}

/// The store handles.
static STORES: HandleTable<FfiStore, NexusStore> = HandleTable::new("store");

fn encode<H: HandleKind>(index: usize, generation: usize) -> *mut H {
    std::ptr::without_provenance_mut(
        (generation << SLOT_BITS) | (H::KIND << KIND_BIT) | (index + 1),
    )
}

/// The slot and generation `handle` names. A handle of the other kind
/// decodes to a slot number of `MAX_SLOTS` or more (its kind bit stays
/// set), which no table has: the lookup fails. For stores (kind 0) the
/// kind costs nothing here.
fn decode<H: HandleKind>(handle: *const H) -> Option<(usize, usize)> {
    let (field, generation) = fields(handle);
    Some((field.checked_sub(1)?, generation))
}

/// A handle's slot field (its slot number + 1; the kind bit undone, so a
/// handle of the other kind keeps it set) and its generation.
#[inline(always)]
fn fields<H: HandleKind>(handle: *const H) -> (usize, usize) {
    let raw = handle.addr();
    let field = (raw & ((1usize << SLOT_BITS) - 1)) ^ (H::KIND << KIND_BIT);
    (field, raw >> SLOT_BITS)
}

fn next_generation(previous: usize) -> usize {
    (previous.wrapping_add(1) & GEN_MASK).max(1)
}

/// A call's count on its slot; dropping it ends the call (or backs out).
struct InFlight<'t, T> {
    slot: &'t Slot<T>,
    /// This thread's stripe of the slot's count.
    counter: &'t AtomicUsize,
}

impl<'t, T: HandleTarget> InFlight<'t, T> {
    /// Counts a call on `slot` if it still holds `generation`.
    #[inline]
    fn enter(slot: &'t Slot<T>, generation: usize) -> Option<Self> {
        // One test for the common case (an owned stripe). A shared stripe
        // counts with atomic adds; so does a thread's first call (none
        // picked yet), even when it picks a stripe to own: an add by the
        // stripe's only writer is as sound as its plain stores.
        let mut stripe = STRIPE.with(Cell::get);
        let owned = stripe < OWNED_STRIPES;
        // (`!owned` first, though implied: the owned path stays one test;
        // without it the C hit took 9 more instructions.)
        if !owned && stripe >= STRIPES {
            stripe = pick_stripe();
        }
        let counter = &slot.in_flight[stripe].0;
        if owned {
            // Only this thread writes the stripe: a plain increment. Its
            // compiler fence keeps it before the generation's load below;
            // the frees' heavy barrier orders the two for the processor.
            asymmetric::light_increment(counter);
        } else {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let counted = InFlight { slot, counter };
        // SeqCst with the increment above and with free's swap and count
        // check (or ordered by the free's heavy barrier): either this sees
        // DEAD (or a later generation), or the free sees this call counted
        // and waits for it.
        (slot.head.generation.load(Ordering::SeqCst) == generation).then_some(counted)
    }
}

impl<T> InFlight<'_, T> {
    /// Whether the call's stripe is one a thread owns (counted with plain
    /// stores). A thread's first call, which picked the stripe, counted
    /// with an atomic add: its plain decrement is as sound, the stripe
    /// having one writer.
    #[inline(always)]
    fn is_owned(&self) -> bool {
        std::ptr::from_ref(self.counter) < std::ptr::from_ref(&self.slot.in_flight[OWNED_STRIPES].0)
    }
}

impl<T> Drop for InFlight<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // A release: the call's use of the object happens before a free
        // that sees the count at 0 drops it.
        if self.is_owned() {
            asymmetric::light_decrement(self.counter);
        } else {
            self.counter.fetch_sub(1, Ordering::SeqCst);
        }
        let pending = self.slot.head.pending.load(Ordering::SeqCst);
        if pending != 0 {
            last_call_out(self.slot, pending);
        }
        // Only for tests/schedules.rs's model of the processor's store
        // buffer: this thread's plain stores reach the others here at the
        // latest (the processor drains them on its own).
        asymmetric::light_settle();
    }
}

/// After a deferred free: frees the object if this was the last call in
/// flight. The heavy barrier makes every other thread's count (its plain
/// stores) visible before the count is read.
#[cold]
fn last_call_out<T>(slot: &Slot<T>, pending: usize) {
    asymmetric::heavy();
    if slot.count() == 0 {
        finish_deferred_free(slot, pending);
    }
}

/// A call in progress on this thread, on the stack of
/// [`HandleTable::with`]: the thread's calls form a list, innermost first.
struct CallFrame {
    /// The table (its address), so that slot numbers of two tables differ.
    table: usize,
    index: usize,
    outer: *const CallFrame,
}

thread_local! {
    /// The innermost call in progress on this thread, or null.
    static CALLS: Cell<*const CallFrame> = const { Cell::new(std::ptr::null()) };
}

/// Keeps a frame linked into `CALLS` while it lives (unwinding too).
struct Linked<'a>(&'a CallFrame);

impl<'a> Linked<'a> {
    #[inline]
    fn push(frame: &'a CallFrame) -> Self {
        CALLS.with(|c| c.set(frame));
        Linked(frame)
    }
}

impl Drop for Linked<'_> {
    #[inline]
    fn drop(&mut self) {
        CALLS.with(|c| c.set(self.0.outer));
    }
}

/// Whether this thread is inside a call through slot `index` of `table`.
fn inside_call_of(table: usize, index: usize) -> bool {
    let mut next = CALLS.with(Cell::get);
    // SAFETY: every pointer in the list is a `CallFrame` of a `with` still
    // running on this thread: `Linked` links a frame that outlives it (the
    // borrow) and unlinks it when dropped, in reverse order of linking,
    // before the frame goes out of scope (also when unwinding). Frames are
    // never written after linking, and only this thread reads the list.
    while let Some(frame) = unsafe { next.as_ref() } {
        if frame.table == table && frame.index == index {
            return true;
        }
        next = frame.outer;
    }
    false
}

impl<T: HandleTarget, H: HandleKind + 'static> HandleTable<T, H> {
    /// An empty table; `what` names its handles in messages.
    pub(crate) const fn new(what: &'static str) -> Self {
        HandleTable {
            chunks: [const { OnceLock::new() }; MAX_CHUNKS],
            free: Mutex::new(FreeSlots {
                reusable: VecDeque::new(),
                fresh: 0,
            }),
            what,
            _handle: std::marker::PhantomData,
        }
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// The slot `handle` names (as [`decode`] then [`HandleTable::slot`])
    /// and its generation; `None` for NULL too (its slot field is 0, or
    /// for the other kind, beyond every table). Field 0 wraps to a slot
    /// number beyond every table, so one bounds test covers both.
    #[inline(always)]
    fn locate(&self, handle: *const H) -> Option<(&Slot<T>, usize)> {
        let (field, generation) = fields(handle);
        Some((self.slot(field.wrapping_sub(1))?, generation))
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        let chunk = self.chunks.get(index / CHUNK)?.get()?;
        Some(&chunk[index % CHUNK])
    }

    fn invalid(&self) -> Error {
        Error::new(
            ErrorKind::InvalidHandle,
            format!(
                "the {0} handle is not a live {0} (freed, or never created)",
                self.what
            ),
        )
    }

    /// Registers an object; returns its handle.
    pub(crate) fn insert(&'static self, object: T) -> Result<*mut H, Error> {
        let (index, previous) = {
            let mut free = self.free.lock();
            match free.reusable.pop_front() {
                Some(reused) => reused,
                None if free.fresh < MAX_SLOTS => {
                    free.fresh += 1;
                    (free.fresh - 1, DEAD)
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::OutOfMemory,
                        format!("more than {MAX_SLOTS} {}s alive at once", self.what),
                    ));
                }
            }
        };
        let chunk = self.chunks[index / CHUNK].get_or_init(|| {
            let mut chunk = Box::new([const { Slot::new() }; CHUNK]);
            for (i, s) in chunk.iter_mut().enumerate() {
                s.head.index = index / CHUNK * CHUNK + i;
                s.head.free = Some(&self.free);
            }
            chunk
        });
        let s = &chunk[index % CHUNK];
        let generation = next_generation(previous);
        // The slot is DEAD and ours alone (taken off the free list): no call
        // reads its pointer until the generation below is published.
        let old = s
            .head
            .object
            .swap(Box::into_raw(Box::new(object)), Ordering::Relaxed);
        debug_assert!(old.is_null(), "a free slot has no object");
        // Publishes the pointer: a call that reads this generation sees it.
        s.head.generation.store(generation, Ordering::SeqCst);
        Ok(encode(index, generation))
    }

    /// Runs `f` on the live object behind `handle`, counted as a call in
    /// flight for its whole duration: `NULL_ARGUMENT` for NULL,
    /// `INVALID_HANDLE` for a freed or unknown handle (without calling `f`).
    /// The call is on this thread's list of calls, so that a free of the
    /// object from user code it runs is `BUSY` (not a wait for itself).
    #[inline]
    pub(crate) fn with<R>(
        &self,
        handle: *const H,
        f: impl FnOnce(&T) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.call_result::<true, R>(handle, f)
    }

    /// [`HandleTable::with`] for a call that runs user code only inside
    /// the object's own callback scope (`callbacks::CallbackScope` with its
    /// id: a store's listener, events and released values, all delivered
    /// by the store itself), never another object's: a free from that code
    /// is `BUSY` by the object's own record (`is_inside_own_callback`), so
    /// the call needs no entry on this thread's list (about 10
    /// instructions of a store read). A put qualifies too: the governor
    /// pass it may run (shedding other stores, the governor's event
    /// callback) runs inside the putting store's scope
    /// (`governor::member::Membership::notify`). A call that may run
    /// another object's callbacks outside such a scope takes `with`.
    #[inline]
    pub(crate) fn with_own_callbacks_only<R>(
        &self,
        handle: *const H,
        f: impl FnOnce(&T) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.call_result::<false, R>(handle, f)
    }

    /// [`HandleTable::with_own_callbacks_only`] for a body that makes its
    /// own status: the handle's errors become `failed`'s, so no `Result`
    /// is held across the end of the call (the shard's unlock, the count's
    /// release).
    #[inline]
    pub(crate) fn with_own_callbacks_only_status<S>(
        &self,
        handle: *const H,
        f: impl FnOnce(&T) -> S,
        failed: impl Fn(Error) -> S,
    ) -> S {
        self.call::<false, S>(handle, f, failed)
    }

    #[inline(always)]
    fn call_result<const LISTED: bool, R>(
        &self,
        handle: *const H,
        f: impl FnOnce(&T) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.call::<LISTED, Result<R, Error>>(handle, f, Err)
    }

    /// Runs `f` on the object behind `handle` (see [`HandleTable::with`]);
    /// a NULL, freed or unknown handle gives `failed` of its error.
    #[inline(always)]
    fn call<const LISTED: bool, S>(
        &self,
        handle: *const H,
        f: impl FnOnce(&T) -> S,
        failed: impl Fn(Error) -> S,
    ) -> S {
        // One test for NULL, a slot field of 0 and a slot beyond the table
        // (each names no slot); which it was is sorted out only on failure.
        let Some((s, generation)) = self.locate(handle) else {
            return failed(if handle.is_null() {
                super::boundary::null_arg(self.what)
            } else {
                self.invalid()
            });
        };
        let Some(_counted) = InFlight::enter(s, generation) else {
            return failed(self.invalid());
        };
        let ptr = s.head.object.load(Ordering::Acquire);
        if ptr.is_null() {
            return failed(self.invalid());
        }
        // SAFETY: `ptr` is the object `insert` boxed for this generation (it
        // stored the pointer before publishing the generation, which the
        // load in `InFlight::enter` read, so this load sees it). The only
        // way it is freed is a free, which first swaps the generation to
        // DEAD and then waits for the count to reach 0; this call was
        // counted before it read the generation (`SeqCst`, or on an owned
        // stripe, ordered by the free's heavy barrier), so that free waits until
        // `_counted` is dropped, after the last use of the reference (`f`
        // cannot keep it: its lifetime is this call's). Objects are only
        // read through `&`, and `T` is `Sync`.
        let object = unsafe { &*ptr };
        if !LISTED {
            return f(object);
        }
        let frame = CallFrame {
            table: self.id(),
            index: s.head.index,
            outer: CALLS.with(Cell::get),
        };
        let _linked = Linked::push(&frame);
        f(object)
    }

    /// Frees an object: invalidates the handle at once, waits for calls in
    /// flight on other threads (through the handle, and those that reached
    /// the object another way: a global pressure signal, a read handle's
    /// release), then drops the object (entries released, callback
    /// contexts destroyed) outside every lock. `BUSY` from inside one of
    /// the object's own calls or callbacks on this thread.
    pub(crate) fn free(&self, handle: *const H) -> Result<(), Error> {
        let (index, generation) = decode(handle).ok_or_else(|| self.invalid())?;
        let s = self.slot(index).ok_or_else(|| self.invalid())?;
        let busy = inside_call_of(self.id(), index)
            || self.with(handle, |o| Ok(o.is_inside_own_callback()))?;
        if busy {
            if s.head.generation.load(Ordering::Acquire) != generation {
                return Err(self.invalid());
            }
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "a {0} cannot be freed from inside its own callback",
                    self.what
                ),
            ));
        }
        s.head
            .generation
            .compare_exchange(generation, DEAD, Ordering::SeqCst, Ordering::SeqCst)
            .map_err(|_| self.invalid())?;
        s.retire();
        // Calls counted before the swap end; later ones see DEAD and back out.
        // The heavy barrier makes the counts of threads that count with
        // plain stores visible (see the module's doc).
        asymmetric::heavy();
        wait_while(|| s.count() != 0);
        let object = s.head.object.swap(std::ptr::null_mut(), Ordering::Acquire);
        self.free.lock().reusable.push_back((index, generation));
        if !object.is_null() {
            // SAFETY: `object` came from `Box::into_raw` in `insert`; the
            // swap made this free its only owner, and no call holds a
            // reference to it: the generation is DEAD and the count reached
            // 0 (acquired from every call's release of its count), so every
            // call that read the pointer has ended and no new one will read
            // it.
            let object = unsafe { Box::from_raw(object) };
            object.wait_until_sole_user();
            drop(object);
        }
        Ok(())
    }

    /// Frees an object without waiting (for garbage-collected hosts): the
    /// handle is invalid at once, and the object is dropped when its last
    /// call in flight ends, on the thread that ends it (here, if none is in
    /// flight). Never `BUSY`: from inside one of the object's own calls,
    /// that call is still in flight, so the object is dropped when it
    /// returns.
    pub(crate) fn free_deferred(&self, handle: *const H) -> Result<(), Error> {
        let (index, generation) = decode(handle).ok_or_else(|| self.invalid())?;
        let s = self.slot(index).ok_or_else(|| self.invalid())?;
        s.head
            .generation
            .compare_exchange(generation, DEAD, Ordering::SeqCst, Ordering::SeqCst)
            .map_err(|_| self.invalid())?;
        s.retire();
        // SeqCst with every call's decrement and its read of the flag (for
        // calls on owned stripes, the heavy barrier below orders their plain
        // decrements): either this sees the count at 0, or the last call to
        // end sees the flag.
        s.head.pending.store(generation, Ordering::SeqCst);
        asymmetric::heavy();
        if s.count() == 0 {
            finish_deferred_free(s, generation);
        }
        Ok(())
    }
}

/// Drops the object of a slot whose deferred free is pending: called by
/// whoever saw the count at 0 with the flag set. The compare-and-swap picks
/// one thread when several saw it (a lookup of a stale handle may count and
/// back out meanwhile).
fn finish_deferred_free<T>(s: &Slot<T>, retired: usize) {
    if s.head
        .pending
        .compare_exchange(retired, 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return;
    }
    let object = s.head.object.swap(std::ptr::null_mut(), Ordering::Acquire);
    // A slot is only reached through a chunk that `insert` made, which
    // set its free list.
    if let Some(free) = s.head.free {
        free.lock().reusable.push_back((s.head.index, retired));
    }
    if !object.is_null() {
        // SAFETY: `object` came from `Box::into_raw` in `insert`; the
        // swap made this thread its only owner. No call holds a
        // reference to it: the generation is DEAD (no call starts) and
        // the count was 0 with the flag set (every call that read the
        // pointer has ended: its decrement, SeqCst or a release ordered by
        // the heavy barrier that came before them, is ordered before the
        // reads of the count that saw 0). Calls that reached the object's core
        // without the handle (a global signal, a read handle's release)
        // hold their own `Arc` on it, so the core lives until they end.
        drop(unsafe { Box::from_raw(object) });
    }
}

/// Registers a store; returns its handle.
pub(crate) fn insert(store: FfiStore) -> Result<*mut NexusStore, Error> {
    STORES.insert(store)
}

/// Runs `f` on the live store behind `handle` (see [`HandleTable::with`]).
#[inline]
pub(crate) fn with<R>(
    handle: *const NexusStore,
    f: impl FnOnce(&FfiStore) -> Result<R, Error>,
) -> Result<R, Error> {
    STORES.with(handle, f)
}

/// [`with`] for a call that runs user code only inside the store's own
/// callback scope (see [`HandleTable::with_own_callbacks_only`]).
#[inline]
pub(crate) fn with_own_callbacks_only<R>(
    handle: *const NexusStore,
    f: impl FnOnce(&FfiStore) -> Result<R, Error>,
) -> Result<R, Error> {
    STORES.with_own_callbacks_only(handle, f)
}

/// [`with_own_callbacks_only`] for a body that makes its own status (see
/// [`HandleTable::with_own_callbacks_only_status`]).
#[inline]
pub(crate) fn with_own_callbacks_only_status<S>(
    handle: *const NexusStore,
    f: impl FnOnce(&FfiStore) -> S,
    failed: impl Fn(Error) -> S,
) -> S {
    STORES.with_own_callbacks_only_status(handle, f, failed)
}

/// Frees a store (see [`HandleTable::free`]).
pub(crate) fn free(handle: *const NexusStore) -> Result<(), Error> {
    STORES.free(handle)
}

/// Frees a store without waiting (see [`HandleTable::free_deferred`]).
pub(crate) fn free_deferred(handle: *const NexusStore) -> Result<(), Error> {
    STORES.free_deferred(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle of the other kind (a governor's, as `NexusGovernor` is;
    /// tests/c/test_handle_kinds.c checks the real pair through the C API).
    struct OtherKind;

    impl HandleKind for OtherKind {
        const KIND: usize = 1;
    }

    #[test]
    fn encoding_round_trips_and_never_makes_null() {
        for (i, g) in [(0, 1), (5, 7), (MAX_SLOTS - 1, GEN_MASK)] {
            let h: *mut NexusStore = encode(i, g);
            assert!(!h.is_null());
            assert_eq!(decode(h), Some((i, g)));
            let h: *mut OtherKind = encode(i, g);
            assert!(!h.is_null());
            assert_eq!(decode(h), Some((i, g)));
        }
        assert_eq!(
            decode::<NexusStore>(std::ptr::without_provenance(1usize << SLOT_BITS)),
            None
        );
    }

    /// The first store and the first governor of a process both sit in
    /// slot 0 with generation 1: their handles still differ, and each
    /// decodes, as the other kind, to no slot a table has.
    #[test]
    fn a_handle_of_the_other_kind_names_no_slot() {
        for (i, g) in [(0, 1), (5, 7), (MAX_SLOTS - 1, GEN_MASK)] {
            let store: *mut NexusStore = encode(i, g);
            let other: *mut OtherKind = encode(i, g);
            assert_ne!(store.addr(), other.addr());
            let (index, _) = decode(store.cast::<OtherKind>()).unwrap();
            assert!(
                index >= MAX_SLOTS,
                "a store handle read as the other kind's"
            );
            let (index, _) = decode(other.cast::<NexusStore>()).unwrap();
            assert!(
                index >= MAX_SLOTS,
                "the other kind's handle read as a store's"
            );
        }
    }

    /// An object that counts its drops.
    struct Dropped(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl HandleTarget for Dropped {
        fn is_inside_own_callback(&self) -> bool {
            false
        }

        fn wait_until_sole_user(&self) {}
    }

    // Outside shuttle's runner its primitives cannot run (tests/schedules.rs
    // builds this file with them).
    #[cfg(not(nexus_shuttle))]
    #[test]
    fn a_late_claim_of_a_reused_slots_deferred_free_fails() {
        struct Handle;
        impl HandleKind for Handle {
            const KIND: usize = 0;
        }
        let table: &'static HandleTable<Dropped, Handle> =
            Box::leak(Box::new(HandleTable::new("test object")));
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // The first object: freed at once (nothing in flight).
        let h1 = table.insert(Dropped(drops.clone())).unwrap();
        let (index, g1) = decode(h1).unwrap();
        table.free_deferred(h1).unwrap();
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The second takes the same slot; a call is in flight on it when
        // its deferred free comes.
        let h2 = table.insert(Dropped(drops.clone())).unwrap();
        let (index2, g2) = decode(h2).unwrap();
        assert_eq!(index2, index, "the freed slot is reused");
        let slot = table.slot(index).unwrap();
        let call = InFlight::enter(slot, g2).expect("a live handle");
        table.free_deferred(h2).unwrap();
        // A thread that saw the first object's count at 0, late: its claim
        // names the first generation and fails.
        finish_deferred_free(slot, g1);
        assert_eq!(
            drops.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the second object was dropped under a call in flight"
        );
        // The call ends last: it drops the second object.
        drop(call);
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// Runs the test `name` (its path below `tests::`) alone in a child
    /// process of this test binary, so that no other test's threads hold
    /// owned stripes; fails if the child fails or has not finished after
    /// two minutes (a free that waits for good). True in the child: the
    /// caller then runs the test's body.
    #[cfg(not(nexus_shuttle))]
    fn alone_in_a_child_process(name: &str) -> bool {
        const CHILD: &str = "NEXUS_HANDLES_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            return true;
        }
        let name = format!("ffi::handles::tests::{name}");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{name} failed in its child process");
                return false;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not finish in its child process (a free waiting for good?)");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[cfg(not(nexus_shuttle))]
    struct TestHandle;

    #[cfg(not(nexus_shuttle))]
    impl HandleKind for TestHandle {
        const KIND: usize = 0;
    }

    /// An object numbered `id` that counts its drops in `drops[id]`.
    #[cfg(not(nexus_shuttle))]
    struct Probe {
        id: usize,
        drops: &'static [std::sync::atomic::AtomicUsize],
    }

    #[cfg(not(nexus_shuttle))]
    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops[self.id].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[cfg(not(nexus_shuttle))]
    impl HandleTarget for Probe {
        fn is_inside_own_callback(&self) -> bool {
            false
        }

        fn wait_until_sole_user(&self) {}
    }

    /// Frees (blocking and deferred, in turn) while threads on owned
    /// stripes (plain stores; where the heavy barrier exists) and one on a
    /// shared stripe call in a loop: a call that got in never sees its
    /// object dropped before it ends, every object is dropped exactly once,
    /// and the count is back to 0. Run alone in a child process, so that
    /// the callers are the threads that own the stripes.
    #[cfg(not(nexus_shuttle))]
    #[test]
    fn frees_never_drop_what_owned_stripe_calls_use() {
        use std::sync::atomic::{AtomicBool as ABool, AtomicUsize as AUsize, Ordering::SeqCst};
        if !alone_in_a_child_process("frees_never_drop_what_owned_stripe_calls_use") {
            return;
        }
        const ROUNDS: usize = 2_000;
        const CALLERS: usize = 4;
        let table: &'static HandleTable<Probe, TestHandle> =
            Box::leak(Box::new(HandleTable::new("test object")));
        let drops: &'static [AUsize] = Box::leak((0..ROUNDS + 1).map(|_| AUsize::new(0)).collect());
        let current = &*Box::leak(Box::new(AUsize::new(0)));
        let current_id = &*Box::leak(Box::new(AUsize::new(0)));
        let stop = &*Box::leak(Box::new(ABool::new(false)));
        let entered = &*Box::leak(Box::new(AUsize::new(0)));
        let bad = &*Box::leak(Box::new(AUsize::new(0)));
        let ready = &*Box::leak(Box::new(std::sync::Barrier::new(CALLERS + 1)));
        // A live object for the callers' first calls (which pick stripes).
        let warm = table.insert(Probe { id: ROUNDS, drops }).unwrap();
        let warm_addr = warm.addr();
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                std::thread::spawn(move || {
                    let warm: *const TestHandle = std::ptr::without_provenance(warm_addr);
                    // The first OWNED_STRIPES - 1 callers take owned
                    // stripes, one after the other; the freer the last
                    // owned one, and the last caller a shared one.
                    let turn = if c < OWNED_STRIPES - 1 { c } else { c + 1 };
                    while entered.load(SeqCst) < turn {
                        std::thread::yield_now();
                    }
                    table.with(warm, |_| Ok(())).unwrap();
                    let stripe = STRIPE.with(Cell::get);
                    entered.fetch_add(1, SeqCst);
                    ready.wait();
                    let mut n = 0u32;
                    while !stop.load(SeqCst) {
                        let h: *const TestHandle =
                            std::ptr::without_provenance(current.load(SeqCst));
                        let id = current_id.load(SeqCst);
                        n = n.wrapping_add(1);
                        let call = |_: &Probe| {
                            if drops[id].load(SeqCst) != 0 {
                                bad.fetch_add(1, SeqCst);
                            }
                            entered.fetch_add(1, SeqCst);
                            for _ in 0..(n % 64) {
                                std::hint::spin_loop();
                            }
                            if drops[id].load(SeqCst) != 0 {
                                bad.fetch_add(1, SeqCst);
                            }
                            Ok(())
                        };
                        let _ = if n.is_multiple_of(2) {
                            table.with(h, call)
                        } else {
                            table.with_own_callbacks_only(h, call)
                        };
                    }
                    stripe
                })
            })
            .collect();
        while entered.load(SeqCst) < OWNED_STRIPES - 1 {
            std::thread::yield_now();
        }
        table.with(warm, |_| Ok(())).unwrap();
        entered.fetch_add(1, SeqCst);
        ready.wait();
        for r in 0..ROUNDS {
            let h = table.insert(Probe { id: r, drops }).unwrap();
            current_id.store(r, SeqCst);
            current.store(h.addr(), SeqCst);
            let seen = entered.load(SeqCst);
            for _ in 0..10_000 {
                if entered.load(SeqCst) != seen {
                    break;
                }
                std::hint::spin_loop();
            }
            if r.is_multiple_of(2) {
                table.free(h).unwrap();
                assert_eq!(
                    drops[r].load(SeqCst),
                    1,
                    "a blocking free returned before the drop"
                );
            } else {
                table.free_deferred(h).unwrap();
            }
        }
        let freer_stripe = STRIPE.with(Cell::get);
        stop.store(true, SeqCst);
        let stripes: Vec<usize> = callers.into_iter().map(|t| t.join().unwrap()).collect();
        if asymmetric::available() {
            assert!(
                stripes[..OWNED_STRIPES - 1]
                    .iter()
                    .all(|&s| s < OWNED_STRIPES)
                    && freer_stripe < OWNED_STRIPES
                    && stripes[OWNED_STRIPES - 1..]
                        .iter()
                        .all(|&s| s >= OWNED_STRIPES),
                "the callers' and the freer's stripes: {stripes:?}, {freer_stripe}"
            );
        }
        assert_eq!(bad.load(SeqCst), 0, "calls saw their object dropped");
        for (id, d) in drops[..ROUNDS].iter().enumerate() {
            assert_eq!(d.load(SeqCst), 1, "object {id} dropped {d:?} times");
        }
        let (index, _) = decode(warm).unwrap();
        table.free(warm).unwrap();
        assert_eq!(table.slot(index).unwrap().count(), 0);
        assert_eq!(table.slot(0).unwrap().count(), 0);
    }

    #[cfg(all(target_os = "linux", not(nexus_shuttle)))]
    static EXIT_TABLE: HandleTable<Probe, TestHandle> = HandleTable::new("test object");

    /// Stripe handoff at thread exit (on Linux, by a pthread key's
    /// destructor): an exiting thread gives its owned stripe back, and a
    /// call from an exit handler that runs after that counts on a shared
    /// stripe (not on the stripe a new owner may already write with plain
    /// stores); a thread whose first call comes from a pthread key
    /// destructor (after its thread-local destructors ran) gives the stripe
    /// it takes back too. After each, a new thread owns a stripe again.
    /// Run alone in a child process, so that this test's threads are the
    /// only owners.
    #[cfg(all(target_os = "linux", not(nexus_shuttle)))]
    #[test]
    fn exiting_threads_give_their_stripes_back() {
        use std::sync::atomic::{AtomicUsize as AUsize, Ordering::SeqCst};
        if !alone_in_a_child_process("exiting_threads_give_their_stripes_back") {
            return;
        }
        static DROPS: [AUsize; 1] = [const { AUsize::new(0) }];
        static HANDLE: AUsize = AUsize::new(0);
        /// The stripe a call from the test key's destructor counted on.
        static LATE_STRIPE: AUsize = AUsize::new(usize::MAX);
        static KEY: AUsize = AUsize::new(0);
        /// The test key's destructor: value 1 sets the key again (so that
        /// it runs once more, in the next round, after the table's key gave
        /// the stripe back); values 1 + 1 and 2 make a call.
        unsafe extern "C" fn late(value: *mut libc::c_void) {
            if value.addr() == 1 {
                // SAFETY: the key exists (made below, never deleted).
                let set = unsafe {
                    libc::pthread_setspecific(
                        KEY.load(SeqCst) as libc::pthread_key_t,
                        std::ptr::without_provenance(value.addr() + 10),
                    )
                };
                assert_eq!(set, 0);
                return;
            }
            let h: *const TestHandle = std::ptr::without_provenance(HANDLE.load(SeqCst));
            EXIT_TABLE
                .with(h, |_| {
                    LATE_STRIPE.store(STRIPE.with(Cell::get), SeqCst);
                    Ok(())
                })
                .unwrap();
        }
        let h = EXIT_TABLE
            .insert(Probe {
                id: 0,
                drops: &DROPS,
            })
            .unwrap();
        HANDLE.store(h.addr(), SeqCst);
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid place for the new key.
        assert_eq!(unsafe { libc::pthread_key_create(&mut key, Some(late)) }, 0);
        KEY.store(key as usize, SeqCst);
        let owned_none = || OWNERS.iter().all(|o| !o.load(SeqCst));
        let call = || {
            let h: *const TestHandle = std::ptr::without_provenance(HANDLE.load(SeqCst));
            EXIT_TABLE.with(h, |_| Ok(())).unwrap();
            STRIPE.with(Cell::get)
        };
        for first_call_in_a_key_destructor in [false, true] {
            LATE_STRIPE.store(usize::MAX, SeqCst);
            let first = std::thread::spawn(move || {
                let value = if first_call_in_a_key_destructor { 2 } else { 1 };
                // SAFETY: the key exists; the value is an integer.
                let set = unsafe {
                    libc::pthread_setspecific(
                        KEY.load(SeqCst) as libc::pthread_key_t,
                        std::ptr::without_provenance(value),
                    )
                };
                assert_eq!(set, 0);
                if first_call_in_a_key_destructor {
                    STRIPES
                } else {
                    call()
                }
            })
            .join()
            .unwrap();
            let late_stripe = LATE_STRIPE.load(SeqCst);
            assert!(late_stripe < STRIPES, "the key destructor made no call");
            if asymmetric::available() {
                if first_call_in_a_key_destructor {
                    assert!(late_stripe < OWNED_STRIPES, "no owned stripe at exit");
                } else {
                    assert!(first < OWNED_STRIPES, "the first thread owned no stripe");
                    assert!(
                        late_stripe >= OWNED_STRIPES,
                        "a call after the thread gave its stripe back counted on it"
                    );
                }
            }
            assert!(owned_none(), "an exited thread kept its stripe");
            // A new thread takes an owned stripe again.
            let next = std::thread::spawn(call).join().unwrap();
            if asymmetric::available() {
                assert!(next < OWNED_STRIPES, "no owned stripe for a new thread");
            }
            assert!(owned_none(), "an exited thread kept its stripe");
        }
        assert_eq!(EXIT_TABLE.slot(0).unwrap().count(), 0);
        EXIT_TABLE.free(h).unwrap();
        assert_eq!(DROPS[0].load(SeqCst), 1);
    }

    #[test]
    fn no_handle_carries_the_dead_generation() {
        // The largest generation a handle can encode is GEN_MASK < DEAD.
        let (_, g) = decode::<NexusStore>(std::ptr::without_provenance(usize::MAX)).unwrap();
        assert_eq!(g, GEN_MASK);
        assert_eq!(next_generation(DEAD), 1);
        assert_eq!(next_generation(1), 2);
        assert_eq!(next_generation(GEN_MASK), 1);
    }
}
