//! The hash of the store's keys and of the side tables keyed by slots,
//! counts or keys: foldhash's `quality` variant, seeded per process and per
//! table.
//!
//! Not its `fast` variant: for a single word that is one folded multiply by
//! the process's random seed, and for about 1 seed in 30 it barely mixes
//! keys that differ in a few bytes (sequential integers, ids in
//! fixed-width text, slot numbers, frequency counts). In such a process
//! 4,096 sequential integers put 80-260 keys in one 16-slot probe group
//! of an 8,192-slot table (mean 8), and a store of 64 shards left some
//! empty (audit 3: 16 of 64 in one process). `quality` ends with one more
//! folded multiply by a fixed constant: about 4 instructions a hash, and
//! over 2,000 seeds no group above 25, as a uniform draw gives (the test
//! below checks 400 seeds against bounds a uniform draw keeps).

/// What builds the store's key hashes.
pub(crate) type KeyHasher = foldhash::quality::RandomState;

/// For the tests of how keys spread (here and `store::shards`).
#[cfg(test)]
pub(crate) mod spread {
    use std::hash::{BuildHasher, Hasher};

    /// Runs `f` with the word-key hash (the path `ffi::KeyBytes` takes for
    /// 8-byte keys, and a `u64` key's) of 400 `KeyHasher`s, each with its
    /// own process seed and table seed.
    pub(crate) fn for_400_seeds(mut f: impl FnMut(&dyn Fn(u64) -> u64)) {
        let mut next = crate::test_rng::xorshift();
        for _ in 0..400 {
            let shared: &'static foldhash::SharedSeed =
                Box::leak(Box::new(foldhash::SharedSeed::from_u64(next(u64::MAX))));
            let state = foldhash::quality::SeedableRandomState::with_seed(next(u64::MAX), shared);
            f(&|k| {
                let mut h = state.build_hasher();
                h.write_u64(k);
                h.finish()
            });
        }
    }

    /// `n` keys that differ in a few bytes, two ways: ids in fixed-width
    /// text ("k0000000", "k0000001", ... as their 8 bytes) and the
    /// integers from 0.
    pub(crate) fn few_byte_keys(n: u64) -> [(&'static str, Vec<u64>); 2] {
        let text = (0..n)
            .map(|i| u64::from_ne_bytes(format!("k{i:07}").into_bytes().try_into().unwrap()))
            .collect();
        [("text ids", text), ("integers", (0..n).collect())]
    }
}

#[cfg(test)]
mod tests {
    use super::spread::{few_byte_keys, for_400_seeds};

    /// Over 400 process and table seeds, keys that differ in a few bytes
    /// spread over a table's low bits (hashbrown's probe position) and top
    /// 7 bits (its tag) as a uniform draw does (whose largest of the 400 x
    /// 128 tags is about 56). The `fast` variant fails it (text ids: 76
    /// keys with one tag).
    #[test]
    fn keys_that_differ_in_a_few_bytes_spread_for_every_seed() {
        for (what, keys) in few_byte_keys(4096) {
            for_400_seeds(|hash_of| {
                let (mut groups, mut tags) = (vec![0usize; 512], vec![0usize; 128]);
                for &k in &keys {
                    let hash = hash_of(k);
                    groups[(hash & 8191) as usize / 16] += 1;
                    tags[(hash >> 57) as usize] += 1;
                }
                let (group, tag) = (groups.iter().max().unwrap(), tags.iter().max().unwrap());
                assert!(
                    *group < 30,
                    "{what}: {group} keys in one probe group (mean 8)"
                );
                assert!(*tag < 70, "{what}: {tag} keys with one tag (mean 32)");
            });
        }
    }
}
