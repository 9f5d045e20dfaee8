//! Short byte strings (keys of up to 22 bytes: a u64 id, a GUID, a
//! SHA-1): kept inline in 24 bytes ([`ShortBytes`]), compared, copied in
//! and copied out as whole words, without calls to memcmp or memcpy, which
//! cost more than the work on strings this short. (Values are kept in 16
//! bytes: `super::value_bytes`.)

/// `a == b`, comparing short strings as (overlapping) whole words. Small
/// enough to be inlined into the hash table's probe (keys of 8 to 24
/// bytes here, every other length out of line: a call in the probe loop
/// makes it save and restore its registers around it).
#[inline(always)]
pub(crate) fn equal_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    if (17..=24).contains(&n) {
        return word(a, 0) == word(b, 0)
            && word(a, 8) == word(b, 8)
            && word(a, n - 8) == word(b, n - 8);
    }
    equal_bytes_of_other_lengths(a, b)
}

/// Bytes `at..at + 8` of `s` as a word (`at + 8 <= s.len()`).
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// [`equal_bytes`] for lengths other than 8 to 24 (equal lengths).
#[inline(never)]
fn equal_bytes_of_other_lengths(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// An owned byte string in 24 bytes: up to [`INLINE`] bytes inline (no
/// allocation: a u64 id, a GUID, a SHA-1), longer ones on the heap. Its
/// tag byte leaves room for `Option`'s `None`, which marks a free slot of
/// the entry table.
#[derive(Clone)]
pub(crate) enum ShortBytes {
    Inline { len: InlineLen, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// The most bytes kept inline.
pub(crate) const INLINE: usize = 22;

/// The length of an inline [`ShortBytes`], 0 to [`INLINE`]: an enum rather
/// than a `u8` so that the compiler knows its range, and slicing the inline
/// bytes by it needs no bounds check (`as_slice` on every key compare of a
/// probe). Measured with callgrind (`nexus-profile`), together with the
/// 17-24-byte compare inlined in `equal_bytes`: `get_copy` with 24-byte
/// keys 286 -> 269 instructions, the C put 384 -> 383, the 8-byte hit 229
/// either way.
#[rustfmt::skip]
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum InlineLen {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11,
    L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22,
}

impl InlineLen {
    /// Every length, indexed by itself.
    #[rustfmt::skip]
    const ALL: [InlineLen; INLINE + 1] = {
        use InlineLen::*;
        [L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11,
         L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22]
    };

    /// `n` as a length, if it is at most [`INLINE`].
    #[inline(always)]
    fn of(n: usize) -> Option<Self> {
        Self::ALL.get(n).copied()
    }

    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

/// `src` in an `N`-byte array, zero padded, copied as (overlapping) words;
/// `None` if it is longer than `N` (at most 24). Keys' and values' inline
/// forms are both made here.
#[inline(always)]
pub(crate) fn copy_inline<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    let n = src.len();
    let mut bytes = [0u8; N];
    match n {
        _ if n > N => return None,
        0..=7 => {
            for (b, &s) in bytes.iter_mut().zip(src) {
                *b = s;
            }
        }
        8..=16 => {
            bytes[..8].copy_from_slice(&src[..8]);
            bytes[n - 8..n].copy_from_slice(&src[n - 8..]);
        }
        17..=24 => {
            bytes[..16].copy_from_slice(&src[..16]);
            bytes[n - 8..n].copy_from_slice(&src[n - 8..]);
        }
        _ => return None,
    }
    Some(bytes)
}

impl ShortBytes {
    /// A copy of `src`: inline up to [`INLINE`] bytes, copied as words.
    #[inline]
    pub fn from_slice(src: &[u8]) -> Self {
        match (InlineLen::of(src.len()), copy_inline::<INLINE>(src)) {
            (Some(len), Some(bytes)) => ShortBytes::Inline { len, bytes },
            _ => ShortBytes::Heap(Box::from(src)),
        }
    }

    /// As [`ShortBytes::from_slice`], but a heap allocation that fails is
    /// an error, not an abort.
    pub fn try_from_slice(src: &[u8]) -> Result<Self, std::collections::TryReserveError> {
        if src.len() <= INLINE {
            return Ok(Self::from_slice(src));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(src.len())?;
        v.extend_from_slice(src);
        Ok(Self::heap(v))
    }

    /// Bytes already on the heap (capacity equal to length: no
    /// reallocation).
    pub fn heap(v: Vec<u8>) -> Self {
        ShortBytes::Heap(v.into_boxed_slice())
    }

    #[inline(always)]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            // `len <= INLINE` is known from its type: no bounds check.
            ShortBytes::Inline { len, bytes } => &bytes[..len.get()],
            ShortBytes::Heap(b) => b,
        }
    }

    /// Whether the bytes are on the heap.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        matches!(self, ShortBytes::Heap(_))
    }
}

impl std::ops::Deref for ShortBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for ShortBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ShortBytes").field(&self.as_slice()).finish()
    }
}

/// Copies `src` to `dst`; values of 8 to 16 bytes (a u64, a GUID) as two
/// (overlapping) words, without a call to memcpy.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes that do not overlap
/// `src` (it may be NULL only when `src` is empty).
#[inline]
pub(crate) unsafe fn copy_out(src: &[u8], dst: *mut u8) {
    let n = src.len();
    if (8..=16).contains(&n) {
        let word = |at: usize| u64::from_ne_bytes(src[at..at + 8].try_into().unwrap_or([0; 8]));
        let (first, last) = (word(0), word(n - 8));
        // SAFETY: bytes 0..8 and n-8..n lie within the `n` writable bytes
        // at `dst` (n >= 8); unaligned writes need no alignment.
        unsafe {
            dst.cast::<u64>().write_unaligned(first);
            dst.add(n - 8).cast::<u64>().write_unaligned(last);
        }
    } else if n > 0 {
        // SAFETY: the caller's contract; `dst` is non-NULL since n > 0.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bytes_and_an_option_of_them_are_24_bytes() {
        assert_eq!(std::mem::size_of::<ShortBytes>(), 24);
        assert_eq!(std::mem::size_of::<Option<ShortBytes>>(), 24);
    }

    #[test]
    fn equal_bytes_agrees_with_slice_equality() {
        // Every length up to 20, equal and differing at each position.
        for n in 0..=30usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(equal_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!equal_bytes(&a, &b), "length {n}, byte {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!equal_bytes(&a, &longer));
        }
    }

    #[test]
    fn copies_in_and_out_keep_every_byte() {
        for n in 0..=40usize {
            let src: Vec<u8> = (1..=n as u8).collect();
            let owned = ShortBytes::from_slice(&src);
            assert_eq!(&owned[..], &src[..], "length {n}");
            assert_eq!(owned.spilled(), n > INLINE);
            let heap = ShortBytes::heap(src.clone());
            assert_eq!(&heap[..], &src[..]);
            let tried = ShortBytes::try_from_slice(&src).unwrap();
            assert_eq!(&tried[..], &src[..]);
            let mut out = vec![0xAAu8; n + 8];
            // SAFETY: `out` has n + 8 writable bytes, not overlapping `src`.
            unsafe { copy_out(&src, out.as_mut_ptr()) };
            assert_eq!(&out[..n], &src[..]);
            assert!(out[n..].iter().all(|&b| b == 0xAA), "wrote past {n} bytes");
        }
    }
}
