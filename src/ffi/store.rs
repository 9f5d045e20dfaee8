//! The store behind a C handle: the core store over byte keys and C values.

use super::value::FfiValue;
use crate::Store;

/// The core store as the C layer uses it.
pub(crate) type CoreStore = Store<Box<[u8]>, FfiValue>;

/// What a handle owns.
pub(crate) struct FfiStore {
    pub store: CoreStore,
}
