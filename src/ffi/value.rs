//! Values as the C layer stores them: copied bytes, or a foreign object
//! with its release callback.

use std::ffi::c_void;

use super::types::NexusReleaseFn;
use super::value_bytes::ValueBytes;

/// A foreign object and how to release it. Dropping it calls `release`
/// exactly once (Rust's drop runs once per value).
pub(crate) struct ForeignObject {
    pub object: *mut c_void,
    release: NexusReleaseFn,
    ctx: *mut c_void,
}

// SAFETY: the object and its ctx are opaque to the library: it only hands
// them back to the caller's callbacks, and the header requires that objects
// and release callbacks may be used from any thread (the release runs on
// whichever thread ends the entry).
unsafe impl Send for ForeignObject {}
// SAFETY: as above; the library never dereferences either pointer.
unsafe impl Sync for ForeignObject {}

impl ForeignObject {
    pub fn new(object: *mut c_void, release: NexusReleaseFn, ctx: *mut c_void) -> Self {
        ForeignObject {
            object,
            release,
            ctx,
        }
    }

    /// Gives the object back without releasing it (a failed put takes no
    /// ownership).
    pub fn disown(self) {
        std::mem::forget(self);
    }
}

thread_local! {
    /// The object a `nexus_store_put_object` on this thread is putting.
    static PUTTING: std::cell::Cell<*mut c_void> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// While it lives, the object being put is not released if the put
/// unwinds (a failed allocation where those unwind, a panic): the call then
/// fails, and a failed put takes no ownership (tests/alloc_failure_every_point.rs).
pub(crate) struct Putting {
    outer: *mut c_void,
}

impl Putting {
    pub fn new(object: *mut c_void) -> Self {
        Putting {
            outer: PUTTING.replace(object),
        }
    }
}

impl Drop for Putting {
    fn drop(&mut self) {
        PUTTING.set(self.outer);
    }
}

impl Drop for ForeignObject {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.object.is_null() && PUTTING.get() == self.object {
            // Dropped while its own put unwinds: still the caller's.
            return;
        }
        if let Some(release) = self.release {
            // SAFETY: the caller registered `release` for this object and
            // ctx; it runs once, here, outside every internal lock (values
            // are dropped only after the store's lock is released).
            unsafe { release(self.ctx, self.object) };
        }
    }
}

/// A cached value: 16 bytes (an object's three pointers are boxed, so
/// that bytes up to 14 long stay inline and every entry is smaller).
pub(crate) enum FfiValue {
    Bytes(ValueBytes),
    Object(Box<ForeignObject>),
}

impl FfiValue {
    /// Drops a byte string here (its drop frees memory and runs no user
    /// code); gives an object back, to be dropped (released) as a callback
    /// of its store.
    #[inline]
    pub fn drop_bytes(self) -> Option<Self> {
        match self {
            FfiValue::Bytes(_) => None,
            object => Some(object),
        }
    }

    #[inline]
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            FfiValue::Bytes(b) => Some(b),
            FfiValue::Object(_) => None,
        }
    }

    /// See [`ValueBytes::inline_words`].
    #[inline(always)]
    pub fn inline_words(&self) -> Option<(usize, u64, u64)> {
        match self {
            FfiValue::Bytes(b) => b.inline_words(),
            FfiValue::Object(_) => None,
        }
    }

    pub fn object(&self) -> *mut c_void {
        match self {
            FfiValue::Bytes(_) => std::ptr::null_mut(),
            FfiValue::Object(o) => o.object,
        }
    }

    /// Gives back an object without releasing it; bytes are just dropped.
    pub fn disown(self) {
        if let FfiValue::Object(o) = self {
            (*o).disown();
        }
    }
}
