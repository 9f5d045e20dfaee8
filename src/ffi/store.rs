//! The store behind a C handle: the core store over byte keys and C values.

use smallvec::SmallVec;

use super::key::Key;
use super::value::FfiValue;
use crate::Store;

/// A byte string kept inline up to 16 bytes (a u64 id, a GUID) and on the
/// heap beyond: C keys and byte values. Inline bytes save an allocation
/// and, on every lookup, the cache miss of following a pointer. It hashes
/// and compares as the `[u8]` it holds.
pub(crate) type Bytes = SmallVec<[u8; 16]>;

/// The core store as the C layer uses it.
pub(crate) type CoreStore = Store<Key, FfiValue>;

/// What a handle owns.
pub(crate) struct FfiStore {
    pub store: CoreStore,
}
