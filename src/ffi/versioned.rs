//! The sizes a versioned struct (`struct_size` first, fields only ever
//! appended) may be given: its size in this header, or in an older one.
//! An older header's struct ends where one of its fields ends (or after
//! padding before the next field, which no field straddles: every field is
//! a scalar or a struct of scalars at an offset its alignment divides). A
//! `struct_size` that ends inside a field is no header's size: a caller's
//! bug (a mistyped or computed size), refused with the field named,
//! rather than read as half a pointer or half a count.

use std::mem::MaybeUninit;

use crate::{Error, ErrorKind};

/// A field of a versioned struct: its name and the bytes it spans.
pub(crate) struct FieldSpan {
    pub(crate) name: &'static str,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The spans of the named fields of `$value` (a `$t`), in declaration
/// order.
macro_rules! field_spans {
    ($value:expr, $t:ty; $($field:ident),+ $(,)?) => {
        [$(
            $crate::ffi::versioned::FieldSpan {
                name: stringify!($field),
                start: ::std::mem::offset_of!($t, $field),
                end: ::std::mem::offset_of!($t, $field) + ::std::mem::size_of_val(&$value.$field),
            }
        ),+]
    };
}
pub(crate) use field_spans;

/// The field `struct_size` ends inside, if any.
pub(crate) fn torn_field(struct_size: usize, fields: &[FieldSpan]) -> Option<&FieldSpan> {
    fields
        .iter()
        .find(|f| f.start < struct_size && struct_size < f.end)
}

/// `INVALID_ARGUMENT` if `struct_size` ends inside a field of the struct
/// `name`.
pub(crate) fn check_not_torn(
    struct_size: usize,
    name: &str,
    fields: &[FieldSpan],
) -> Result<(), Error> {
    match torn_field(struct_size, fields) {
        None => Ok(()),
        Some(f) => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "struct_size {struct_size} ends inside {name}.{} (bytes {}..{}), so no header \
                 has that size: set it to sizeof({name}), as the init function does",
                f.name, f.start, f.end
            ),
        )),
    }
}

/// The largest `struct_size` any header of this library gives: structs only
/// grow by appended fields, and none comes near this.
pub(crate) const MAX_STRUCT_SIZE: usize = 4096;

/// The error for a struct that was never initialized: a `struct_size`
/// beyond [`MAX_STRUCT_SIZE`] over fields that are no valid struct either
/// (stack garbage), whose function pointers are garbage too, so the call
/// refuses it without calling any of them (its ctx is not destroyed).
pub(crate) fn never_initialized(struct_size: usize, name: &str, init: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "struct_size {struct_size} is no header's size of {name} and its fields are no \
             valid {name}: it was never initialized (call {init} first); nothing in it was \
             called, its ctx not destroyed"
        ),
    )
}

/// The size of a struct whose last field ends at byte `end`, aligned as
/// `align`: what C's `sizeof` gives (the first header's size of a struct
/// that has grown since is fixed by naming its last field then).
pub(crate) const fn size_ending_at(end: usize, align: usize) -> usize {
    end.div_ceil(align) * align
}

/// An init function's write: this library's defaults `value` into the
/// first `size` bytes of the caller's struct (at most `size_of::<T>()`,
/// never part of a field), then `struct_size` = `size`. Nothing when `dst`
/// is NULL or `size` cannot hold `struct_size`. A `size` beyond this
/// library's struct (a newer header's) leaves the fields it does not know
/// unwritten; the call that takes the struct refuses it.
///
/// # Safety
/// `dst` NULL or with `size` writable bytes.
pub(crate) unsafe fn init_prefix<T: Copy>(
    dst: *mut T,
    value: T,
    size: usize,
    fields: &[FieldSpan],
) {
    if dst.is_null() || size < size_of::<usize>() {
        return;
    }
    let n = readable(size, size_of::<T>(), fields);
    // SAFETY: `n <= size` bytes are writable at `dst` (the caller's
    // contract) and readable in `value`; an unaligned pointer is fine for
    // byte copies and the unaligned write; no overlap.
    unsafe {
        std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), dst.cast::<u8>(), n);
        dst.cast::<usize>().write_unaligned(size);
    }
}

/// The bytes of a caller's struct that may be read: `struct_size`, at
/// most this library's size, and never part of a field (a torn field is
/// left at its default; `check_not_torn` refuses the call).
pub(crate) fn readable(struct_size: usize, size: usize, fields: &[FieldSpan]) -> usize {
    let n = struct_size.min(size);
    torn_field(n, fields).map_or(n, |f| f.start)
}

/// Reads a caller's versioned struct: its first [`readable`] bytes over
/// `defaults`, with each of `bools` (byte offsets of its `bool` fields)
/// read as a byte and compared with 0, since a C `bool` may hold any byte
/// (memset, an older compiler). Returns the struct and the caller's
/// `struct_size`; the size rules are the caller's to apply
/// ([`check_not_torn`] among them).
///
/// # Safety
/// `ptr` non-NULL, its first field (`struct_size`) readable, and at least
/// `min(struct_size, size_of::<T>())` bytes readable; every field of `T`
/// other than those at `bools` valid for any bit pattern (integers,
/// floats, raw and nullable fn pointers, structs of these).
pub(crate) unsafe fn read_over_defaults<T: Copy>(
    ptr: *const T,
    defaults: T,
    fields: &[FieldSpan],
    bools: &[usize],
) -> (T, usize) {
    // SAFETY: the first field is always present (the caller's contract).
    let struct_size = unsafe { ptr.cast::<usize>().read_unaligned() };
    let n = readable(struct_size, size_of::<T>(), fields);
    let mut c = MaybeUninit::new(defaults);
    let dst = c.as_mut_ptr().cast::<u8>();
    // SAFETY: `n <= min(struct_size, size_of::<T>())` bytes are readable
    // at `ptr` (the caller's contract) and writable in `c`; no overlap.
    unsafe { std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), dst, n) };
    for &offset in bools {
        assert!(offset < size_of::<T>(), "a bool offset past the struct");
        // SAFETY: one byte of `c`, within it (checked), read and written
        // as a `u8`; after this it holds 0 or 1, a valid `bool`.
        unsafe {
            let b = dst.add(offset);
            *b = u8::from(*b != 0);
        }
    }
    // SAFETY: `c` started as a valid `T`; its first `n` bytes were replaced
    // by bytes that are valid for their fields (the caller's contract), and
    // the `bool` bytes among them were made 0 or 1.
    (unsafe { c.assume_init() }, struct_size)
}

/// Checks (in tests) that `fields` lists every field of a struct of `size`
/// bytes after `struct_size`, in order: each starts where the previous
/// ends or after less than 8 bytes of padding, and the last ends in the
/// struct's final 8 bytes. A field left out of a list leaves a gap of at
/// least its size, so the check catches any left-out field of 8 bytes, and
/// smaller ones unless they hide in padding.
#[cfg(test)]
pub(crate) fn assert_lists_every_field(fields: &[FieldSpan], size: usize) {
    let mut end = size_of::<usize>();
    for f in fields {
        assert!(
            f.start >= end && f.start - end < 8,
            "a field is missing before {} (bytes {}..{}, the previous ends at {end})",
            f.name,
            f.start,
            f.end
        );
        end = f.end;
    }
    assert!(
        size - end < 8,
        "a field is missing after byte {end} of {size}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    struct Sample {
        struct_size: usize,
        a: u32,
        b: u64,
        c: u8,
    }

    #[test]
    fn a_size_inside_a_field_is_refused_and_never_read() {
        let s = Sample {
            struct_size: 0,
            a: 0,
            b: 0,
            c: 0,
        };
        let fields = field_spans!(s, Sample; a, b, c);
        assert_lists_every_field(&fields, size_of::<Sample>());
        // Ends of fields, the padding after `a`, and the whole struct.
        for ok in [8, 12, 16, 24, 25, 32] {
            assert!(check_not_torn(ok, "Sample", &fields).is_ok(), "{ok}");
            assert_eq!(readable(ok, size_of::<Sample>(), &fields), ok.min(32));
        }
        for (torn, start) in [(10, 8), (20, 16), (23, 16)] {
            let e = check_not_torn(torn, "Sample", &fields).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains("Sample."), "{}", e.message());
            assert_eq!(readable(torn, size_of::<Sample>(), &fields), start);
        }
    }

    #[test]
    fn an_init_writes_only_the_callers_size() {
        #[derive(Clone, Copy)]
        #[repr(C)]
        struct Sample {
            struct_size: usize,
            a: u64,
            b: u64,
        }
        let defaults = Sample {
            struct_size: 24,
            a: 1,
            b: 2,
        };
        let fields = field_spans!(defaults, Sample; a, b);
        assert_eq!(size_ending_at(17, 8), 24);
        assert_eq!(size_ending_at(16, 8), 16);
        // Four words: an older header's 16-byte struct, then a canary.
        for (size, written) in [(16, 2), (24, 3), (20, 2), (4, 0), (40, 3)] {
            let mut words = [u64::MAX; 5];
            let dst = words.as_mut_ptr().cast::<Sample>();
            // SAFETY: 40 writable bytes, more than any size tried.
            unsafe { init_prefix(dst, defaults, size, &fields) };
            let want: Vec<u64> = (0..5)
                .map(|i| match i {
                    0 if size >= 8 => size as u64,
                    1 | 2 if i < written => i as u64,
                    _ => u64::MAX,
                })
                .collect();
            assert_eq!(words.to_vec(), want, "size {size}");
        }
        // NULL: nothing, no crash.
        // SAFETY: NULL is allowed.
        unsafe { init_prefix(std::ptr::null_mut(), defaults, 24, &fields) };
    }
}
