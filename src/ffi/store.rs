//! The store behind a C handle: the core store over byte keys and C values.

use super::key::Key;
use super::value::FfiValue;
use crate::Store;

/// C keys' and byte values' storage: inline up to 22 bytes.
pub(crate) use super::short_bytes::ShortBytes as Bytes;

/// The core store as the C layer uses it.
pub(crate) type CoreStore = Store<Key, FfiValue>;

/// What a handle owns.
pub(crate) struct FfiStore {
    pub store: CoreStore,
}
