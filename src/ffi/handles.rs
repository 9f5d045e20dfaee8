//! The store handle table.
//!
//! A `NexusStore *` is not a pointer to memory: it encodes a slot number
//! and the slot's generation. Slots live in chunks that are allocated once
//! and never freed, so looking a handle up never touches freed memory, and
//! a handle whose generation no longer matches (freed, or freed twice) is
//! `NEXUS_STATUS_ERR_INVALID_HANDLE`.
//!
//! A call holds its slot's read lock (recursive, so callbacks may re-enter
//! the store) for its whole duration. `nexus_store_free` first bumps the
//! generation (new calls fail at once), then takes the write lock, which
//! waits for the calls in flight to end, then drops the store outside every
//! lock. Freed slots are reused first-in first-out, so a stale handle would
//! have to outlive 2^32 reuses of its slot (2^12 on 32-bit targets, spread
//! over every free slot) to alias a new store.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RecursiveRwLock, RecursiveRwLockReadGuard};

use super::store::FfiStore;
use super::types::NexusStore;
use crate::{Error, ErrorKind};

const SLOT_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const GEN_BITS: u32 = usize::BITS - SLOT_BITS;
const GEN_MASK: usize = (1usize << GEN_BITS) - 1;
const CHUNK: usize = 256;
const MAX_SLOTS: usize = 1 << 20;
const MAX_CHUNKS: usize = MAX_SLOTS / CHUNK;

struct Slot {
    generation: AtomicUsize,
    store: RecursiveRwLock<Option<Box<FfiStore>>>,
}

struct Table {
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
    free: Mutex<FreeSlots>,
}

struct FreeSlots {
    reusable: VecDeque<usize>,
    fresh: usize,
}

static TABLE: OnceLock<Table> = OnceLock::new();

fn table() -> &'static Table {
    TABLE.get_or_init(|| Table {
        chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
        free: Mutex::new(FreeSlots {
            reusable: VecDeque::new(),
            fresh: 0,
        }),
    })
}

fn slot(index: usize) -> Option<&'static Slot> {
    let chunk = table().chunks.get(index / CHUNK)?.get()?;
    chunk.get(index % CHUNK)
}

fn encode(index: usize, generation: usize) -> *mut NexusStore {
    std::ptr::without_provenance_mut((generation << SLOT_BITS) | (index + 1))
}

fn decode(handle: *const NexusStore) -> Option<(usize, usize)> {
    let raw = handle.addr();
    let index = (raw & ((1usize << SLOT_BITS) - 1)).checked_sub(1)?;
    Some((index, raw >> SLOT_BITS))
}

fn invalid() -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        "the store handle is not a live store (freed, or never created)",
    )
}

/// Registers a store; returns its handle.
pub(crate) fn insert(store: FfiStore) -> Result<*mut NexusStore, Error> {
    let index = {
        let mut free = table().free.lock();
        match free.reusable.pop_front() {
            Some(i) => i,
            None if free.fresh < MAX_SLOTS => {
                free.fresh += 1;
                free.fresh - 1
            }
            None => {
                return Err(Error::new(
                    ErrorKind::OutOfMemory,
                    format!("more than {MAX_SLOTS} stores alive at once"),
                ));
            }
        }
    };
    let chunk = table().chunks[index / CHUNK].get_or_init(|| {
        (0..CHUNK)
            .map(|_| Slot {
                generation: AtomicUsize::new(1),
                store: RecursiveRwLock::new(None),
            })
            .collect()
    });
    let s = &chunk[index % CHUNK];
    *s.store.write() = Some(Box::new(store));
    Ok(encode(index, s.generation.load(Ordering::Acquire)))
}

thread_local! {
    /// Slots this thread is inside a call of (innermost last). User code
    /// that runs during such a call (a callback) and frees that store gets
    /// `BUSY`: waiting for the call to end would wait for itself.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A live store, held for the duration of a call.
pub(crate) struct StoreRef {
    guard: RecursiveRwLockReadGuard<'static, Option<Box<FfiStore>>>,
}

impl Drop for StoreRef {
    fn drop(&mut self) {
        HELD.with(|h| {
            h.borrow_mut().pop();
        });
    }
}

impl std::ops::Deref for StoreRef {
    type Target = FfiStore;

    fn deref(&self) -> &FfiStore {
        self.guard.as_deref().expect("checked in get()")
    }
}

/// Looks a handle up: `NULL_ARGUMENT` for NULL, `INVALID_HANDLE` for a
/// freed or unknown one.
pub(crate) fn get(handle: *const NexusStore) -> Result<StoreRef, Error> {
    if handle.is_null() {
        return Err(super::boundary::null_arg("store"));
    }
    let (index, generation) = decode(handle).ok_or_else(invalid)?;
    let s = slot(index).ok_or_else(invalid)?;
    if s.generation.load(Ordering::Acquire) != generation {
        return Err(invalid());
    }
    let guard = s.store.read();
    if s.generation.load(Ordering::Acquire) != generation || guard.is_none() {
        return Err(invalid());
    }
    HELD.with(|h| h.borrow_mut().push(index));
    Ok(StoreRef { guard })
}

/// Frees a store: invalidates the handle at once, waits for calls in flight
/// on other threads (through the handle, and those that reached the store
/// another way: a global pressure signal, a read handle's release), then
/// drops the store (entries released, callback
/// contexts destroyed) outside every lock. `BUSY` from inside one of the
/// store's own callbacks.
pub(crate) fn free(handle: *const NexusStore) -> Result<(), Error> {
    let (index, generation) = decode(handle).ok_or_else(invalid)?;
    let s = slot(index).ok_or_else(invalid)?;
    let busy =
        HELD.with(|h| h.borrow().contains(&index)) || get(handle)?.store.is_inside_own_callback();
    if busy {
        if s.generation.load(Ordering::Acquire) != generation {
            return Err(invalid());
        }
        return Err(Error::new(
            ErrorKind::Busy,
            "a store cannot be freed from inside its own callback",
        ));
    }
    let next = ((generation + 1) & GEN_MASK).max(1);
    s.generation
        .compare_exchange(generation, next, Ordering::AcqRel, Ordering::Acquire)
        .map_err(|_| invalid())?;
    let store = s.store.write().take();
    table().free.lock().reusable.push_back(index);
    if let Some(store) = store {
        store.store.wait_until_sole_user();
        drop(store);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_never_makes_null() {
        for (i, g) in [(0, 1), (5, 7), (MAX_SLOTS - 1, GEN_MASK)] {
            let h = encode(i, g);
            assert!(!h.is_null());
            assert_eq!(decode(h), Some((i, g)));
        }
        assert_eq!(
            decode(std::ptr::without_provenance(1usize << SLOT_BITS)),
            None
        );
    }
}
