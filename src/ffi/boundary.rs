//! The boundary every `extern "C"` function goes through: panics become
//! `NEXUS_STATUS_ERR_PANIC`, errors become a status plus a thread-local
//! message, and raw arguments are checked one by one.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};
use std::panic::{self, AssertUnwindSafe};

use super::key::{Key, KeyBytes};
use super::short_bytes::ShortBytes;
use super::types::*;
use super::value_bytes::ValueBytes;
use crate::{Error, ErrorKind};

/// The longest message kept, NUL included (longer ones are cut at a
/// character boundary).
const MESSAGE_CAPACITY: usize = 1024;

// A fixed buffer, with no heap and nothing to drop: it never registers a
// thread-exit destructor, so a call made while the thread's other
// thread-locals are destroyed (a pthread key's destructor, a JNI detach)
// still has it, and setting a message never allocates.
thread_local! {
    static LAST_ERROR: RefCell<[u8; MESSAGE_CAPACITY]> = const { RefCell::new([0; MESSAGE_CAPACITY]) };
}

/// The status of an error kind (the core's kinds mirror the C statuses).
pub(crate) fn status_of(kind: ErrorKind) -> NexusStatus {
    kind as u32
}

/// The error kind of a non-OK status from a callback (a loader), or `None`
/// for a value no status has.
pub(crate) fn kind_of(status: NexusStatus) -> Option<ErrorKind> {
    ErrorKind::from_u32(status)
}

/// Leaves `message` for `nexus_last_error_message()`: copied into this
/// thread's buffer (NUL bytes become spaces; beyond `MESSAGE_CAPACITY - 1`
/// bytes it is cut at a character boundary).
pub(crate) fn set_last_error(message: &str) {
    // The same message again (a run of misses): nothing to write.
    let n = message.len();
    let unchanged = n < MESSAGE_CAPACITY
        && LAST_ERROR.with(|e| {
            let buf = e.borrow();
            buf[..n] == *message.as_bytes() && buf[n] == 0
        });
    if !unchanged {
        set_last_error_parts(&[message]);
    }
}

/// Leaves the concatenation of `parts` (a panic's prefix and message), as
/// `set_last_error` does: in the fixed buffer, never allocating, so it works
/// when allocations fail (tests/alloc_failure_every_point.rs).
fn set_last_error_parts(parts: &[&str]) {
    LAST_ERROR.with(|e| {
        let mut buf = e.borrow_mut();
        let mut at = 0;
        for p in parts {
            let mut end = p.len().min(MESSAGE_CAPACITY - 1 - at);
            while !p.is_char_boundary(end) {
                end -= 1;
            }
            for (b, &c) in buf[at..].iter_mut().zip(&p.as_bytes()[..end]) {
                *b = if c == 0 { b' ' } else { c };
            }
            at += end;
        }
        buf[at] = 0;
    });
}

/// The message of the last failure on this thread ("" if none yet), NUL
/// terminated, in this thread's buffer (valid while the thread lives; the
/// header says until the next call on this thread).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.as_ptr().cast::<c_char>().cast_const())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "unknown panic payload"
    }
}

/// Whether a panic is a failed allocation turned into a panic (a build with
/// `-Zoom=panic`, as the allocation-failure tests use): std's message.
fn is_allocation_failure(message: &str) -> bool {
    message.starts_with("memory allocation of ") && message.ends_with(" bytes failed")
}

/// Runs the body of an entry point: `Ok` is `NEXUS_STATUS_OK`; an error or
/// a panic becomes its status and leaves its message for
/// `nexus_last_error_message()`. No panic crosses the C boundary.
#[inline]
pub(crate) fn entry(body: impl FnOnce() -> Result<(), Error>) -> NexusStatus {
    // The status is made inside the guard, so what crosses it is a `u32`,
    // not the 16-byte `Result` (measured with callgrind: a `get_copy` hit
    // stored, reloaded and tested the result's niche: 262 -> 260).
    let guarded = || status_of_result(body());
    match panic::catch_unwind(AssertUnwindSafe(guarded)) {
        Ok(status) => status,
        Err(payload) => panicked(payload),
    }
}

/// The status of a panic caught at the boundary, its message left for
/// `nexus_last_error_message()`.
#[cold]
#[inline(never)]
fn panicked(payload: Box<dyn std::any::Any + Send>) -> NexusStatus {
    let message = panic_message(&*payload);
    if is_allocation_failure(message) {
        set_last_error_parts(&["out of memory: ", message]);
        NEXUS_STATUS_ERR_OUT_OF_MEMORY
    } else {
        set_last_error_parts(&["internal panic: ", message]);
        NEXUS_STATUS_ERR_PANIC
    }
}

/// [`entry`] for a body that makes its own status (errors through
/// [`failed`]), so that no `Result` is held across its end.
#[inline]
pub(crate) fn entry_status(body: impl FnOnce() -> NexusStatus) -> NexusStatus {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(payload) => panicked(payload),
    }
}

/// The status of an entry point's outcome (an error's message left for
/// `nexus_last_error_message()`).
#[inline]
pub(crate) fn status_of_result(r: Result<(), Error>) -> NexusStatus {
    match r {
        Ok(()) => NEXUS_STATUS_OK,
        Err(e) => failed(e),
    }
}

/// An entry point's error: its message left for
/// `nexus_last_error_message()`, its status returned.
#[cold]
#[inline(never)]
pub(crate) fn failed(e: Error) -> NexusStatus {
    set_last_error(e.message());
    status_of(e.kind())
}

/// For entry points that return a value rather than a status: a panic
/// gives `fallback`.
pub(crate) fn entry_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

#[cold]
#[inline(never)]
pub(crate) fn null_arg(name: &str) -> Error {
    Error::new(ErrorKind::NullArgument, format!("`{name}` is NULL"))
}

/// A byte-string argument: NULL with length 0 is empty; NULL with a
/// non-zero length is `NULL_ARGUMENT` (checked first, as everywhere); a
/// length beyond `isize::MAX` is `INVALID_ARGUMENT`.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay valid and
/// unchanged for `'a` (the caller's contract, stated in the header).
#[inline]
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Error> {
    check_null_with_len(ptr.is_null(), len, name)?;
    check_len(len, name)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: non-NULL (len > 0 and checked), `len <= isize::MAX`, and the
    // caller guarantees `len` readable bytes for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A key argument (see [`bytes_arg`]), as lookups take it.
///
/// # Safety
/// As for [`bytes_arg`].
#[inline]
pub(crate) unsafe fn key_arg<'a>(ptr: *const u8, len: usize) -> Result<&'a KeyBytes, Error> {
    // SAFETY: the caller's contract is `bytes_arg`'s.
    unsafe { bytes_arg(ptr, len, "key") }.map(KeyBytes::new)
}

/// A key argument copied into an owned key (see [`owned_bytes_arg`]).
///
/// # Safety
/// As for [`owned_bytes_arg`].
#[inline]
pub(crate) unsafe fn owned_key_arg(ptr: *const u8, len: usize) -> Result<Key, Error> {
    // SAFETY: the caller's contract is `owned_bytes_arg`'s.
    unsafe { owned_bytes_arg(ptr, len, "key") }.map(Key::new)
}

/// `INVALID_ARGUMENT` for a length no object can have (beyond `isize::MAX`).
#[inline]
pub(crate) fn check_len(len: usize, name: &str) -> Result<(), Error> {
    if len > isize::MAX as usize {
        return Err(too_long(len, name));
    }
    Ok(())
}

// The messages are made out of line, so the checks inline to a compare.
#[cold]
#[inline(never)]
fn too_long(len: usize, name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("`{name}_len` ({len}) is larger than any object can be"),
    )
}

/// `NULL_ARGUMENT` for a NULL pointer with a non-zero length (NULL with
/// length 0 is an empty key, value or buffer).
#[inline]
pub(crate) fn check_null_with_len(is_null: bool, len: usize, name: &str) -> Result<(), Error> {
    if is_null && len > 0 {
        return Err(null_with_len(len, name));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn null_with_len(len: usize, name: &str) -> Error {
    Error::new(
        ErrorKind::NullArgument,
        format!("`{name}` is NULL but `{name}_len` is {len}"),
    )
}

/// An owned byte string an argument is copied into: a key
/// ([`ShortBytes`]) or a value ([`ValueBytes`]).
pub(crate) trait OwnedBytes: Sized {
    /// The most bytes kept inline (no allocation).
    const INLINE: usize;
    /// A copy of at most [`OwnedBytes::INLINE`] bytes, inline.
    fn copy_short(src: &[u8]) -> Self;
    /// Bytes already on the heap.
    fn from_heap(v: Vec<u8>) -> Self;
}

impl OwnedBytes for ShortBytes {
    const INLINE: usize = super::short_bytes::INLINE;
    #[inline(always)]
    fn copy_short(src: &[u8]) -> Self {
        ShortBytes::from_slice(src)
    }
    fn from_heap(v: Vec<u8>) -> Self {
        ShortBytes::heap(v)
    }
}

impl OwnedBytes for ValueBytes {
    const INLINE: usize = super::value_bytes::VALUE_INLINE;
    #[inline(always)]
    fn copy_short(src: &[u8]) -> Self {
        ValueBytes::from_slice(src)
    }
    fn from_heap(v: Vec<u8>) -> Self {
        ValueBytes::heap(v)
    }
}

/// Copies a byte-string argument into an owned allocation. The allocation
/// is made before the caller's bytes are read, so a length no allocator can
/// satisfy is `OUT_OF_MEMORY` (not an abort, not a read of memory that is
/// not there). NULL/length rules as for [`bytes_arg`]. The short copy is
/// inlined into the caller; NULL, length errors and the heap copy are out
/// of line.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes for the call.
#[inline(always)]
pub(crate) unsafe fn owned_bytes_arg<B: OwnedBytes>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<B, Error> {
    // SAFETY: the caller's contract, passed on.
    match unsafe { short_bytes_arg(ptr, len) } {
        Some(b) => Ok(b),
        // SAFETY: the caller's contract, passed on.
        None => unsafe { owned_bytes_arg_other(ptr, len, name) },
    }
}

/// [`owned_bytes_arg`]'s inline copy alone: `None` for NULL and for lengths
/// beyond the inline size (then [`owned_bytes_arg_other`] copies or fails).
/// A caller that takes the two apart builds the short value in place, with
/// no `Result` to move it through.
///
/// # Safety
/// As for [`owned_bytes_arg`].
#[inline(always)]
pub(crate) unsafe fn short_bytes_arg<B: OwnedBytes>(ptr: *const u8, len: usize) -> Option<B> {
    if len <= B::INLINE && !ptr.is_null() {
        // SAFETY: non-NULL, `len` is small (so within isize::MAX), and the
        // caller guarantees `len` readable bytes for the call.
        return Some(B::copy_short(unsafe {
            std::slice::from_raw_parts(ptr, len)
        }));
    }
    None
}

/// [`owned_bytes_arg`] for NULL (valid with length 0) and for lengths
/// beyond the inline size.
///
/// # Safety
/// As for [`owned_bytes_arg`].
#[inline(never)]
pub(crate) unsafe fn owned_bytes_arg_other<B: OwnedBytes>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<B, Error> {
    check_null_with_len(ptr.is_null(), len, name)?;
    check_len(len, name)?;
    if len <= B::INLINE {
        // SAFETY: the caller's contract is `bytes_arg`'s (checked above).
        return Ok(B::copy_short(unsafe { bytes_arg(ptr, len, name) }?));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| copy_out_of_memory(len, name))?;
    // SAFETY: non-NULL (len > 0 and checked), `len <= isize::MAX`, and the
    // caller guarantees `len` readable bytes for the call; read only now
    // that the allocation succeeded.
    v.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) });
    Ok(B::from_heap(v))
}

/// `OUT_OF_MEMORY` for a copy of `len` bytes of argument `name` that could
/// not be allocated.
#[cold]
pub(crate) fn copy_out_of_memory(len: usize, name: &str) -> Error {
    Error::new(
        ErrorKind::OutOfMemory,
        format!("could not allocate {len} bytes for `{name}`"),
    )
}

/// An optional C string argument, copied (invalid UTF-8 replaced); `None`
/// for NULL.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string for the call.
pub(crate) unsafe fn c_str_arg(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
    Some(
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// An out-pointer checked non-NULL, written once at the end of a call that
/// succeeds. It stays a raw pointer until then: a careless caller's out
/// pointer may point into an argument the call still reads (a key buffer),
/// and no `&mut` to that memory may live while it is read.
pub(crate) struct OutParam<T>(std::ptr::NonNull<T>);

impl<T> OutParam<T> {
    /// Writes `value` (the old contents are not dropped: they are the
    /// caller's, possibly uninitialized).
    #[inline]
    pub fn set(self, value: T) {
        // SAFETY: non-NULL (checked by `out_arg`), and valid and aligned
        // for writes of `T` for the call (`out_arg`'s contract).
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Checks an out-pointer (`NULL_ARGUMENT` when NULL).
///
/// # Safety
/// A non-NULL `ptr` must be valid and aligned for writes of `T` for the
/// call.
#[inline]
pub(crate) unsafe fn out_arg<T>(ptr: *mut T, name: &str) -> Result<OutParam<T>, Error> {
    std::ptr::NonNull::new(ptr)
        .map(OutParam)
        .ok_or_else(|| null_arg(name))
}

/// The arguments of a call that writes a NUL-terminated string into
/// `(buf, buf_len)` and its size to `*out_len`, checked in the documented
/// order: `out_len` NULL, then `buf` NULL with a non-zero length.
pub(crate) fn c_string_out_args(
    buf: *const c_char,
    buf_len: usize,
    out_len: *const usize,
) -> Result<(), Error> {
    if out_len.is_null() {
        return Err(null_arg("out_len"));
    }
    check_null_with_len(buf.is_null(), buf_len, "buf")
}

/// Writes `text` and a NUL into `buf`, and the size (NUL included) to
/// `*out_len`; with `buf_len` too small, only the size, and
/// `BUFFER_TOO_SMALL` naming `what`. The size is written last, through the
/// raw pointer: no `&mut` to memory the copy may write (a careless
/// caller's `out_len` inside `buf`), and the size is what it finds there.
/// `text` holds no NUL (callers replace or never produce one).
///
/// # Safety
/// The arguments passed [`c_string_out_args`]; `buf` points to `buf_len`
/// writable bytes and `out_len` is writable and aligned (the caller's
/// contract).
pub(crate) unsafe fn write_c_string(
    text: &str,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
    what: &str,
) -> Result<(), Error> {
    let needed = text.len() + 1;
    if buf_len < needed {
        // SAFETY: non-NULL (checked by `c_string_out_args`), writable and
        // aligned (the caller's contract).
        unsafe { out_len.write(needed) };
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!("the {what} needs {needed} bytes with its NUL; the buffer has {buf_len}"),
        ));
    }
    // SAFETY: `buf` is non-NULL (buf_len >= needed > 0, checked by
    // `c_string_out_args`) and holds `buf_len` writable bytes; `out_len` as
    // above.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        *buf.add(text.len()) = 0;
        out_len.write(needed);
    }
    Ok(())
}

/// A checked enum argument.
pub(crate) fn enum_arg<T: TryFrom<u32, Error = Error>>(value: u32) -> Result<T, Error> {
    T::try_from(value)
}

/// A static C string for a status: its error kind's name, "ok" for `OK`,
/// "unknown status" for a value no status has.
pub(crate) fn status_str(status: NexusStatus) -> &'static CStr {
    let name = match kind_of(status) {
        Some(kind) => kind.c_name(),
        None if status == NEXUS_STATUS_OK => "ok\0",
        None => "unknown status\0",
    };
    CStr::from_bytes_with_nul(name.as_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_kinds_correspond() {
        for k in ErrorKind::ALL {
            assert_eq!(kind_of(status_of(k)), Some(k));
            let s = status_str(status_of(k)).to_str().unwrap();
            assert_eq!(s, k.as_str());
        }
        assert_eq!(kind_of(NEXUS_STATUS_OK), None);
        assert_eq!(kind_of(13), None);
        assert_eq!(status_str(99).to_str().unwrap(), "unknown status");
    }

    #[test]
    fn panics_become_a_status_with_a_message() {
        let s = entry(|| panic!("boom"));
        assert_eq!(s, NEXUS_STATUS_ERR_PANIC);
        // SAFETY: the pointer is this thread's last-error string.
        let m = unsafe { CStr::from_ptr(last_error_ptr()) };
        assert!(m.to_str().unwrap().contains("boom"));
    }
}
