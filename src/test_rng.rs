//! The unit tests' random operations: one seeded xorshift stream, the same
//! sequence on every run (a failing case repeats).

/// A stream of draws below `n`, from a fixed seed.
pub(crate) fn xorshift() -> impl FnMut(u64) -> u64 {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}
