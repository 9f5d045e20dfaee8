//! Load sinks (`NexusLoadSink *`) as checked handles, like stores and
//! governors (`handles.rs`), but lighter: a sink lives only for one loader
//! call, so it is made and retired on every miss that loads.
//!
//! A sink handle is not a pointer to memory: it encodes a slot number and
//! the generation of one load, with its lowest bit set (no pointer to an
//! aligned object has it, so a pointer to memory passed as a sink, such as
//! the stack struct a sink used to be, is told apart before any lookup).
//! Slots live in chunks allocated once and never freed, so looking a
//! handle up never touches freed memory. Each slot is a mutex around the
//! state of the load it serves (`SinkState`) and the generation of that
//! load (0 while it serves none). Every sink call locks the slot and checks
//! the generation: a sink whose loader has returned (its slot serves no
//! load, or a later one), or a value that was never a sink, is
//! `NEXUS_STATUS_ERR_INVALID_HANDLE`. The lock serialises the calls on one
//! sink, also from other threads while the loader runs; a call racing the
//! loader's return either takes the lock first (and counts) or sees the
//! generation retired.
//!
//! The loader (`foreign::loader`) takes a slot ([`LiveSink::open`]) before
//! it calls the C loader and retires it ([`LiveSink::finish`], or the
//! drop of [`LiveSink`] if it unwinds) after: the outcome is taken out
//! under the lock and the generation cleared, then the slot goes back to
//! the free list. Freed slots are reused first-in first-out, with the next
//! generation, so a stale sink would have to outlive 2^43 loads through its
//! slot (2^19 on 32-bit targets, spread over every free slot) to alias a
//! later load.
//!
//! No user code runs under a slot's lock: a value a sink call replaces (a
//! failure after a value) is handed back to the caller and dropped after
//! the unlock, so a release callback that calls into the sink does not
//! deadlock.

use crate::sync::{Mutex, OnceLock};
use std::collections::VecDeque;

use super::types::NexusLoadSink;
use super::value::FfiValue;
use crate::{Error, ErrorKind, Loaded};

/// Bits of a handle for its slot number (above the tag bit).
const INDEX_BITS: u32 = if usize::BITS >= 64 { 20 } else { 12 };
/// Bits of a handle for its generation: the rest.
const GEN_BITS: u32 = usize::BITS - INDEX_BITS - 1;
const GEN_MASK: usize = (1usize << GEN_BITS) - 1;
const CHUNK: usize = 256;
/// How many loads may be in progress at a time, over every store and
/// thread (2^20; 2^12 on 32-bit targets).
const MAX_SLOTS: usize = 1 << INDEX_BITS;
const MAX_CHUNKS: usize = MAX_SLOTS / CHUNK;

/// What a load's sink holds.
pub(crate) struct SinkState {
    /// What the loader gave: a value, or a failure.
    pub(crate) outcome: Option<Result<Loaded<FfiValue>, Error>>,
    /// No size estimator is registered: an object needs its cost.
    pub(crate) objects_need_cost: bool,
    /// Why the sink last refused a value, for a loader that returns the
    /// refusal's status as its own (`return nexus_load_sink_put_...`):
    /// its waiters get this message, not just the status.
    pub(crate) refused: Option<Error>,
}

struct SlotState {
    /// The generation of the load this slot serves, or 0.
    live: usize,
    sink: SinkState,
}

struct SinkSlot(Mutex<SlotState>);

impl SinkSlot {
    const fn new() -> Self {
        SinkSlot(Mutex::new(SlotState {
            live: 0,
            sink: SinkState {
                outcome: None,
                objects_need_cost: false,
                refused: None,
            },
        }))
    }
}

struct FreeSinks {
    /// Retired slots, oldest first, with the generation they last had.
    reusable: VecDeque<(usize, usize)>,
    /// Slots never used: `fresh` and up.
    fresh: usize,
}

/// Chunks of slots, allocated on first use and never freed.
static CHUNKS: [OnceLock<Box<[SinkSlot]>>; MAX_CHUNKS] = [const { OnceLock::new() }; MAX_CHUNKS];

static FREE: Mutex<FreeSinks> = Mutex::new(FreeSinks {
    reusable: VecDeque::new(),
    fresh: 0,
});

fn encode(index: usize, generation: usize) -> *mut NexusLoadSink {
    std::ptr::without_provenance_mut((generation << (INDEX_BITS + 1)) | (index << 1) | 1)
}

/// The slot and generation `sink` names, if it is a sink's value at all.
fn decode(sink: *const NexusLoadSink) -> Option<(usize, usize)> {
    let raw = sink.addr();
    if raw & 1 == 0 {
        return None;
    }
    let index = (raw >> 1) & (MAX_SLOTS - 1);
    let generation = raw >> (INDEX_BITS + 1);
    (generation != 0).then_some((index, generation))
}

fn slot(index: usize) -> Option<&'static SinkSlot> {
    let chunk = CHUNKS.get(index / CHUNK)?.get()?;
    Some(&chunk[index % CHUNK])
}

fn next_generation(previous: usize) -> usize {
    (previous.wrapping_add(1) & GEN_MASK).max(1)
}

fn invalid() -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        "the sink is not a live load sink: its loader has returned (a sink is valid only \
         during the loader call that received it), or it was never a sink",
    )
}

/// Runs `body` on the state of the live sink `sink`, under its slot's
/// lock: `INVALID_HANDLE` if its load is over, or it is no sink. The
/// caller checks NULL first. `body` must not run user code.
pub(crate) fn with_sink<R>(
    sink: *const NexusLoadSink,
    body: impl FnOnce(&mut SinkState) -> R,
) -> Result<R, Error> {
    let (index, generation) = decode(sink).ok_or_else(invalid)?;
    let slot = slot(index).ok_or_else(invalid)?;
    let mut state = slot.0.lock();
    if state.live != generation {
        return Err(invalid());
    }
    Ok(body(&mut state.sink))
}

/// A slot serving one load, from before its loader is called until
/// [`LiveSink::finish`] (or the drop, if the load unwinds) retires it.
pub(crate) struct LiveSink {
    index: usize,
    generation: usize,
    slot: &'static SinkSlot,
}

impl LiveSink {
    /// Takes a slot for a new load: `OUT_OF_MEMORY` if `MAX_SLOTS` loads
    /// are in progress, or a chunk cannot be allocated.
    pub(crate) fn open(objects_need_cost: bool) -> Result<Self, Error> {
        let (index, generation) = take_slot()?;
        let slot = slot(index).expect("a taken slot's chunk exists");
        {
            // A retired slot holds no outcome and no refusal (`retire`
            // took them).
            let mut state = slot.0.lock();
            state.live = generation;
            state.sink.objects_need_cost = objects_need_cost;
        }
        Ok(LiveSink {
            index,
            generation,
            slot,
        })
    }

    /// The handle the loader receives.
    pub(crate) fn handle(&self) -> *mut NexusLoadSink {
        encode(self.index, self.generation)
    }

    /// Retires the sink (later calls on it are `INVALID_HANDLE`) and
    /// returns what the loader gave it.
    pub(crate) fn finish(self) -> SinkState {
        let state = self.retire();
        std::mem::forget(self);
        state
    }

    fn retire(&self) -> SinkState {
        let state = {
            let mut slot = self.slot.0.lock();
            slot.live = 0;
            SinkState {
                outcome: slot.sink.outcome.take(),
                objects_need_cost: slot.sink.objects_need_cost,
                refused: slot.sink.refused.take(),
            }
        };
        // Never allocates: `take_slot` made room for every slot.
        FREE.lock()
            .reusable
            .push_back((self.index, self.generation));
        state
    }
}

impl Drop for LiveSink {
    fn drop(&mut self) {
        // Only if the load unwinds: its outcome is dropped here, after the
        // slot's unlock.
        drop(self.retire());
    }
}

/// A free slot and the generation its next load gets.
fn take_slot() -> Result<(usize, usize), Error> {
    let mut free = FREE.lock();
    if let Some((index, previous)) = free.reusable.pop_front() {
        return Ok((index, next_generation(previous)));
    }
    let index = free.fresh;
    if index >= MAX_SLOTS {
        return Err(Error::new(
            ErrorKind::OutOfMemory,
            format!("{MAX_SLOTS} loads are in progress: no sink is left for another"),
        ));
    }
    // Room on the free list for every slot taken so far, so that retiring
    // one never allocates (a load's end cannot fail).
    let needed = (index + 1).saturating_sub(free.reusable.len());
    free.reusable.try_reserve(needed).map_err(|_| {
        Error::new(
            ErrorKind::OutOfMemory,
            "no memory for the free list of load sinks",
        )
    })?;
    // Allocated once (under the free list's lock, so by one thread), never
    // freed.
    let chunk = &CHUNKS[index / CHUNK];
    if chunk.get().is_none() {
        let mut slots = Vec::new();
        slots.try_reserve_exact(CHUNK).map_err(|_| {
            Error::new(
                ErrorKind::OutOfMemory,
                "no memory for a chunk of load sinks",
            )
        })?;
        slots.extend((0..CHUNK).map(|_| SinkSlot::new()));
        // Only this thread sets it (under the free list's lock).
        let _ = chunk.set(slots.into_boxed_slice());
    }
    free.fresh = index + 1;
    Ok((index, 1))
}
