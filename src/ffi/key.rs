//! C keys: owned bytes kept inline up to 22 ([`Key`]), looked up by
//! borrowed bytes ([`KeyBytes`]). Both hash only the bytes (no length
//! prefix: a key is never part of a composite hash) and compare lengths,
//! then whole words for keys of up to 24 bytes, without a call to memcmp:
//! every lookup of a hit compares one key, and the common keys (a u64 id,
//! a GUID, a short path hash) are that short.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use super::short_bytes::equal_bytes;
use super::store::Bytes;

/// An owned key (inline up to 22 bytes).
#[derive(Clone, Debug)]
pub(crate) struct Key(Bytes);

impl Key {
    pub fn new(bytes: Bytes) -> Self {
        Key(bytes)
    }
}

impl Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Borrowed key bytes, as lookups take them.
#[repr(transparent)]
pub(crate) struct KeyBytes([u8]);

impl KeyBytes {
    #[inline]
    pub fn new(bytes: &[u8]) -> &KeyBytes {
        // SAFETY: `KeyBytes` is `repr(transparent)` over `[u8]`, so a
        // `&[u8]` and a `&KeyBytes` have the same layout and metadata (the
        // length), and the lifetime is carried over unchanged.
        unsafe { &*(std::ptr::from_ref::<[u8]>(bytes) as *const KeyBytes) }
    }
}

impl Borrow<KeyBytes> for Key {
    #[inline]
    fn borrow(&self) -> &KeyBytes {
        KeyBytes::new(&self.0)
    }
}

impl KeyBytes {
    /// The owned key; a heap allocation that fails is `OUT_OF_MEMORY`.
    pub fn try_to_owned(&self) -> Result<Key, crate::Error> {
        Bytes::try_from_slice(&self.0)
            .map(Key)
            .map_err(|_| super::boundary::copy_out_of_memory(self.0.len(), "key"))
    }
}

impl ToOwned for KeyBytes {
    type Owned = Key;

    fn to_owned(&self) -> Key {
        Key(Bytes::from_slice(&self.0))
    }
}

impl Hash for KeyBytes {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // An 8-byte key (a u64 id, the commonest C key) as one word: the
        // hasher's word path is a multiply, its byte path branches on the
        // length first. Keys of other lengths are hashed as bytes; an
        // 8-byte key may share a hash with a key of another length, which
        // only costs the comparison that tells them apart.
        match <[u8; 8]>::try_from(&self.0) {
            Ok(word) => state.write_u64(u64::from_ne_bytes(word)),
            Err(_) => state.write(&self.0),
        }
    }
}

// The same hash as the borrowed form (what `Borrow` requires).
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<KeyBytes>::borrow(self).hash(state);
    }
}

impl PartialEq for KeyBytes {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        equal_bytes(&self.0, &other.0)
    }
}

impl Eq for KeyBytes {}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        equal_bytes(&self.0, &other.0)
    }
}

impl Eq for Key {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn owned_and_borrowed_hash_alike() {
        let h = crate::key_hasher::KeyHasher::default();
        for n in [0usize, 1, 8, 16, 17, 100] {
            let bytes: Vec<u8> = (0..n as u8).collect();
            let key = Key::new(Bytes::from_slice(&bytes));
            assert_eq!(h.hash_one(&key), h.hash_one(KeyBytes::new(&bytes)));
            assert!(KeyBytes::new(&bytes) == Borrow::<KeyBytes>::borrow(&key));
            assert_eq!(&*KeyBytes::new(&bytes).to_owned(), &bytes[..]);
        }
    }
}
