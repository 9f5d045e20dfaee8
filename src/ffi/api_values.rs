//! Read handles and key lists: plain owned pointers.

use std::ffi::c_void;

use super::boundary::entry_value;
use super::types::*;
use crate::callbacks::CallbackScope;

/// The bytes of a bytes value (valid until the handle is released), or
/// NULL for an object value or a NULL handle. An empty value gives a
/// non-NULL pointer and length 0.
///
/// Thread-safe: a handle may be read from any thread, but releasing it
/// while another thread reads it is undefined.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_value_data(value: *const NexusValue) -> *const u8 {
    entry_value(std::ptr::null(), || {
        // SAFETY: the caller passes NULL or a live handle (documented).
        let Some(v) = (unsafe { value.as_ref() }) else {
            return std::ptr::null();
        };
        v.handle.bytes().map_or(std::ptr::null(), <[u8]>::as_ptr)
    })
}

/// The length of a bytes value; 0 for an object value or a NULL handle.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_value_len(value: *const NexusValue) -> usize {
    entry_value(0, || {
        // SAFETY: the caller passes NULL or a live handle (documented).
        unsafe { value.as_ref() }.map_or(0, |v| v.handle.bytes().map_or(0, <[u8]>::len))
    })
}

/// The object of an object value (still owned by the store: do not release
/// it yourself), or NULL for a bytes value or a NULL handle.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_value_object(value: *const NexusValue) -> *mut c_void {
    entry_value(std::ptr::null_mut(), || {
        // SAFETY: the caller passes NULL or a live handle (documented).
        unsafe { value.as_ref() }.map_or(std::ptr::null_mut(), |v| v.handle.object())
    })
}

/// Releases a read handle. If its entry is gone (removed, replaced,
/// evicted, store freed) and this was the last handle on the value, the
/// value is freed here (an object's release callback runs on this thread).
/// If this handle was what kept usage above the store's budget in force
/// (under a signal), the store evicts down to it here, on this thread (the
/// eviction listener and release callbacks run here too). Those callbacks
/// count as the store's own: `nexus_store_free` from inside them is
/// `ERR_BUSY` (`nexus_store_free_deferred` works).
///
/// NULL: does nothing. Releasing a handle twice or using it afterwards is
/// undefined, like `free`. Thread-safe for distinct handles.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_value_release(value: *mut NexusValue) {
    if value.is_null() {
        return;
    }
    entry_value((), || {
        // SAFETY: non-NULL and, by contract, a handle from nexus_store_get
        // or nexus_store_get_or_load not yet released.
        let value = unsafe { Box::from_raw(value) };
        // The value's release callback and a budget restore (the listener,
        // other values' release callbacks) may run here: they are callbacks
        // of the store, and a blocking free from inside them is BUSY.
        let _scope = CallbackScope::enter(value.handle.store_id());
        drop(value);
    })
}

/// The number of keys in a list; 0 for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_key_list_len(list: *const NexusKeyList) -> usize {
    entry_value(0, || {
        // SAFETY: the caller passes NULL or a live list (documented).
        unsafe { list.as_ref() }.map_or(0, |l| l.keys.len())
    })
}

/// Key `index` of a list (valid until the list is freed) with its length
/// in `*key_len`; NULL past the end or for a NULL list (then `*key_len` is
/// left alone). `key_len` may be NULL. An empty key gives a non-NULL
/// pointer and length 0.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_key_list_get(
    list: *const NexusKeyList,
    index: usize,
    key_len: *mut usize,
) -> *const u8 {
    entry_value(std::ptr::null(), || {
        // SAFETY: the caller passes NULL or a live list (documented).
        let Some(key) = (unsafe { list.as_ref() }).and_then(|l| l.keys.get(index)) else {
            return std::ptr::null();
        };
        // SAFETY: the caller passes NULL or a writable pointer.
        if let Some(len) = unsafe { key_len.as_mut() } {
            *len = key.len();
        }
        key.as_ptr()
    })
}

/// Frees a key list. NULL: does nothing. Freeing twice or using the list
/// afterwards is undefined, like `free`.
#[unsafe(no_mangle)]
pub extern "C" fn nexus_key_list_free(list: *mut NexusKeyList) {
    if list.is_null() {
        return;
    }
    entry_value((), || {
        // SAFETY: non-NULL and, by contract, a list from
        // nexus_store_pinned_ids not yet freed.
        drop(unsafe { Box::from_raw(list) });
    })
}
