//! Byte values as the C layer stores them: 16 bytes, up to 14 inline (a
//! u64 counter, a small id, a flag word), longer ones in one heap
//! allocation of exactly their length, addressed by a thin pointer with the
//! length beside it. Keys keep [`super::short_bytes::ShortBytes`]' 22
//! inline bytes (a GUID key is looked up on every call); a value is only
//! copied in and out, and 8 bytes less per entry is a tenth of an entry's
//! bookkeeping.

use std::ptr::NonNull;

use super::short_bytes::copy_inline;

/// The most value bytes kept inline.
pub(crate) const VALUE_INLINE: usize = 14;

/// The longest value: the length is kept in 48 bits (256 TiB, beyond what
/// any allocator here can give; a longer copy fails as out of memory).
const MAX_HEAP_LEN: usize = (1 << 48) - 1;

/// An owned byte value in 16 bytes. Its tag byte leaves room for the
/// variants of the enums that hold it (a C value, the value cell), so those
/// stay 16 bytes too.
pub(crate) enum ValueBytes {
    Inline {
        len: u8,
        bytes: [u8; VALUE_INLINE],
    },
    /// The bytes of a `Box<[u8]>` of length `len_low | len_high << 32`,
    /// owned: dropped with the value.
    Heap {
        len_high: u16,
        len_low: u32,
        ptr: NonNull<u8>,
    },
}

// SAFETY: a `Heap` value uniquely owns its allocation, like the `Box<[u8]>`
// it came from (which is `Send` and `Sync`): nothing else points to it, and
// it is only read through `&self` and freed in `drop`.
unsafe impl Send for ValueBytes {}
// SAFETY: as above; shared access only reads the bytes.
unsafe impl Sync for ValueBytes {}

impl ValueBytes {
    /// A copy of `src`: inline up to [`VALUE_INLINE`] bytes (copied as
    /// words), else on the heap (an allocation failure aborts, as `Box`'s
    /// does: arguments are copied by `boundary::owned_bytes_arg`, which
    /// allocates fallibly and calls [`ValueBytes::heap`]).
    #[inline]
    pub fn from_slice(src: &[u8]) -> Self {
        Self::inline(src).unwrap_or_else(|| Self::heap(src.to_vec()))
    }

    /// `src` inline, if it fits.
    #[inline]
    pub fn inline(src: &[u8]) -> Option<Self> {
        copy_inline::<VALUE_INLINE>(src).map(|bytes| ValueBytes::Inline {
            len: src.len() as u8,
            bytes,
        })
    }

    /// Bytes already on the heap (shrunk to their length, which is a no-op
    /// when capacity equals length). Lengths past 2^48 - 1 cannot be
    /// allocated on any machine this runs on (`Vec` would have failed).
    pub fn heap(v: Vec<u8>) -> Self {
        let len = v.len();
        assert!(len <= MAX_HEAP_LEN, "no allocation is 2^48 bytes long");
        let boxed = Box::into_raw(v.into_boxed_slice());
        // A `Box`'s pointer is never null (dangling but non-null when
        // empty).
        let ptr = NonNull::new(boxed.cast::<u8>()).unwrap_or(NonNull::dangling());
        ValueBytes::Heap {
            len_high: (len >> 32) as u16,
            len_low: len as u32,
            ptr,
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ValueBytes::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ValueBytes::Heap {
                len_high,
                len_low,
                ptr,
            } => {
                let len = heap_len(*len_high, *len_low);
                // SAFETY: `ptr` and `len` are those of the `Box<[u8]>` that
                // `heap` took apart, which this value owns until `drop`:
                // valid for reads of `len` bytes, initialized, and never
                // written while `&self` is borrowed.
                unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) }
            }
        }
    }

    /// An inline value of 8 to [`VALUE_INLINE`] bytes (a u64, a small id)
    /// as its length and its first and last 8 bytes (overlapping), to be
    /// copied out as two words: one test of the length, where
    /// [`ValueBytes::as_slice`] and `copy_out` test it three times.
    #[inline(always)]
    pub fn inline_words(&self) -> Option<(usize, u64, u64)> {
        match self {
            ValueBytes::Inline { len, bytes }
                if (8..=VALUE_INLINE).contains(&usize::from(*len)) =>
            {
                let n = usize::from(*len);
                let word =
                    |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
                Some((n, word(0), word(n - 8)))
            }
            _ => None,
        }
    }

    /// Whether the bytes are on the heap.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        matches!(self, ValueBytes::Heap { .. })
    }
}

fn heap_len(high: u16, low: u32) -> usize {
    (usize::from(high) << 32) | low as usize
}

impl Drop for ValueBytes {
    #[inline]
    fn drop(&mut self) {
        if let ValueBytes::Heap {
            len_high,
            len_low,
            ptr,
        } = *self
        {
            let len = heap_len(len_high, len_low);
            let slice = std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len);
            // SAFETY: `ptr` and `len` are exactly what `Box::into_raw` gave
            // in `heap`, and this value owns that box alone; it is rebuilt
            // once, here, and dropped.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

impl Clone for ValueBytes {
    fn clone(&self) -> Self {
        Self::from_slice(self.as_slice())
    }
}

impl std::ops::Deref for ValueBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for ValueBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueBytes").field(&self.as_slice()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_words_are_the_first_and_last_eight_bytes_of_short_values() {
        for n in 0..=40usize {
            let src: Vec<u8> = (1..=n as u8).collect();
            let v = ValueBytes::from_slice(&src);
            match v.inline_words() {
                Some((len, first, last)) => {
                    assert!((8..=VALUE_INLINE).contains(&n), "length {n}");
                    assert_eq!(len, n);
                    let mut out = vec![0u8; n];
                    out[..8].copy_from_slice(&first.to_ne_bytes());
                    out[n - 8..].copy_from_slice(&last.to_ne_bytes());
                    assert_eq!(out, src, "length {n}");
                }
                None => assert!(!(8..=VALUE_INLINE).contains(&n), "length {n}"),
            }
        }
    }

    #[test]
    fn value_bytes_and_the_enums_around_them_are_16_bytes() {
        use crate::value_handle::ValueCell;
        assert_eq!(std::mem::size_of::<ValueBytes>(), 16);
        assert_eq!(std::mem::size_of::<super::super::value::FfiValue>(), 16);
        assert_eq!(
            std::mem::size_of::<ValueCell<super::super::value::FfiValue>>(),
            16
        );
        // A C store's slot: key 24, value 16, charge 8, tick and pin bit 8.
        type Slot = Option<
            crate::entry_table::Entry<super::super::key::Key, super::super::value::FfiValue>,
        >;
        assert_eq!(std::mem::size_of::<Slot>(), 56);
    }

    #[test]
    fn every_length_keeps_every_byte() {
        for n in 0..=64usize {
            let src: Vec<u8> = (1..=n as u8).collect();
            let a = ValueBytes::from_slice(&src);
            assert_eq!(&a[..], &src[..], "length {n}");
            assert_eq!(a.spilled(), n > VALUE_INLINE);
            let c = ValueBytes::heap(src.clone());
            assert_eq!(&c[..], &src[..]);
            assert_eq!(&c.clone()[..], &src[..]);
        }
    }

    #[test]
    fn heap_lengths_past_32_bits_are_split_and_joined() {
        for len in [
            0usize,
            1,
            u32::MAX as usize,
            1 << 32,
            (1 << 40) + 7,
            MAX_HEAP_LEN,
        ] {
            let (high, low) = ((len >> 32) as u16, len as u32);
            assert_eq!(heap_len(high, low), len);
        }
    }
}
