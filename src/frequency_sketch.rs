//! The frequency sketch of `TINY_LFU`: a count-min sketch of 4-bit
//! counters (TinyLFU, as in Caffeine's `FrequencySketch`) that estimates how
//! often a key was accessed recently, present or not. It is what the
//! admission filter compares, and it also plays the part of `lfu_history`'s
//! ghost: an evicted key keeps its counts here, in 8 bytes per entry of the
//! store instead of a ghost per evicted key.
//!
//! Each key hash picks one 64-bit word (16 counters of 4 bits) and four
//! counters in it, one in each group of four; its frequency is the least
//! of its four counters (0..=15). An increment is a few word operations on
//! one word (the four counters at once, those at 15 left alone), where it
//! was four words, each with its own multiply, before: TINY_LFU's get
//! went from 338 to 262 instructions (callgrind, `nexus-profile get`; LRU
//! 192). The estimates stay as good: keys sharing a word rarely share all
//! four counters (W2 within 0.1 point on every row). After
//! `SAMPLE_PER_WORD x width` increments every counter is halved (aging),
//! so the sketch follows a changing popularity.
//!
//! The seeds are constants and the hash a fixed-seed hash of the key, so the
//! same calls give the same estimates (the eviction order is deterministic).

/// Mixes the key hash into the bits that pick the four counters (the word
/// is picked by the hash's own low bits, already uniform).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// For each 6 bits of picks (3 per half of a word), the word with a 1 in
/// the lowest bit of each picked counter: counter `8k + pick_k` for k in
/// 0..2, so the two are distinct.
const ONES: [u64; 64] = {
    let mut t = [0u64; 64];
    let mut p = 0;
    while p < 64 {
        let mut k = 0;
        while k < 2 {
            let pick = (p >> (3 * k)) & 7;
            t[p] |= 1u64 << ((8 * k + pick) * 4);
            k += 1;
        }
        p += 1;
    }
    t
};

/// Increments between agings, per word of the table: 10, as Caffeine.
/// Measured with `nexus-w2-tune` (full-size W2, 24 targets): before
/// TINY_LFU marked probation hits instead of moving them, 40 met 19, 20
/// met 18 (zipf 0.7 1% -0.08 point) and 10 met 17 (zipf 0.7 1% -0.2). With
/// the marks: 40 met 19, 20 19, 15 19, 12 19 (cloudPhysics 1% 0.01 short),
/// 10 met 20 (cloudPhysics 1% 16.52 -> 17.08%, above libCacheSim's S3-FIFO
/// 16.96; shifting 1% +0.46; twitter 1% -0.34, still met), 8 met 19 (loop
/// 1% 0.01 short).
const SAMPLE_PER_WORD: usize = 10;

/// The smallest table: 16 words (256 counters).
const MIN_WORDS: usize = 16;

pub(crate) struct FrequencySketch {
    table: Vec<u64>,
    /// Increments since the last aging.
    additions: u32,
    /// Increments between agings: `SAMPLE_PER_WORD` x the number of words.
    sample: u32,
}

impl FrequencySketch {
    pub fn new() -> Self {
        let mut s = FrequencySketch {
            table: Vec::new(),
            additions: 0,
            sample: 0,
        };
        s.resize(MIN_WORDS);
        s
    }

    fn resize(&mut self, words: usize) {
        self.table = vec![0; words];
        self.additions = 0;
        self.sample = u32::try_from(words.saturating_mul(SAMPLE_PER_WORD)).unwrap_or(u32::MAX);
    }

    /// Grows the table (clearing it) so it has at least one word per entry
    /// of a store of `entries`: 8 bytes per entry, as in Caffeine.
    pub fn ensure_capacity(&mut self, entries: usize) {
        if entries > self.table.len() {
            let words = entries.checked_next_power_of_two().unwrap_or(1 << 31);
            self.resize(words.max(MIN_WORDS));
        }
    }

    /// The key's two words and the ones of its two counters in each.
    #[inline(always)]
    fn slots(&self, hash: u32) -> [(usize, u64); 2] {
        let mask = self.table.len() - 1;
        let mixed = u64::from(hash).wrapping_mul(SPREAD);
        let second = (mixed >> 32) as usize & mask;
        [
            (hash as usize & mask, ONES[(mixed >> 58) as usize]),
            (second, ONES[(mixed >> 52) as usize & 63]),
        ]
    }

    /// The estimated recent access count of the key with `hash` (0..=15).
    #[inline]
    pub fn frequency(&self, hash: u32) -> u32 {
        let mut f = 0xf;
        for (w, mut ones) in self.slots(hash) {
            let word = self.table[w];
            while ones != 0 {
                let shift = ones.trailing_zeros();
                f = f.min(((word >> shift) & 0xf) as u32);
                ones &= ones - 1;
            }
        }
        f
    }

    /// Counts one access of the key with `hash`: two counters at once in
    /// each of its words, except those already at 15.
    #[inline]
    pub fn increment(&mut self, hash: u32) {
        let [(w0, ones0), (w1, ones1)] = self.slots(hash);
        let added0 = Self::add(&mut self.table[w0], ones0);
        let added1 = Self::add(&mut self.table[w1], ones1);
        if added0 | added1 {
            self.additions += 1;
            if self.additions >= self.sample {
                self.age();
            }
        }
    }

    /// Adds 1 to the counters of `word` that have a 1 in `ones`, except
    /// those at 15; whether any was added.
    #[inline(always)]
    fn add(word: &mut u64, ones: u64) -> bool {
        let x = *word;
        // A 1 at the lowest bit of each of those counters that is 15.
        let pairs = x & (x >> 1);
        let full = pairs & (pairs >> 2) & ones;
        *word = x + (ones ^ full);
        ones != full
    }

    /// Halves every counter.
    pub fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }

    pub fn clear(&mut self) {
        self.table.iter_mut().for_each(|w| *w = 0);
        self.additions = 0;
    }

    /// Bytes the table takes.
    #[cfg(test)]
    pub fn table_bytes(&self) -> usize {
        self.table.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_at_15_and_age_by_halving() {
        let mut s = FrequencySketch::new();
        for _ in 0..20 {
            s.increment(7);
        }
        assert_eq!(s.frequency(7), 15);
        assert_eq!(s.frequency(8), 0);
        for _ in 0..3 {
            s.increment(8);
        }
        assert_eq!(s.frequency(8), 3);
        s.age();
        assert_eq!((s.frequency(7), s.frequency(8)), (7, 1));
        s.clear();
        assert_eq!(s.frequency(7), 0);
    }

    #[test]
    fn ages_after_sample_per_word_increments_per_word() {
        let mut s = FrequencySketch::new();
        s.ensure_capacity(100);
        assert_eq!(s.table_bytes(), 128 * 8);
        for _ in 0..4 {
            s.increment(42);
        }
        // Distinct keys until the sample (10 x 128 increments) is reached.
        let mut h = 1000u32;
        while s.additions != 0 && s.additions < s.sample - 1 {
            s.increment(h);
            h = h.wrapping_mul(2_654_435_761).wrapping_add(1);
        }
        let before = s.frequency(42);
        s.increment(h);
        assert!(
            s.frequency(42) < before,
            "aged: {before} -> {}",
            s.frequency(42)
        );
    }

    #[test]
    fn popular_keys_stand_out() {
        let mut s = FrequencySketch::new();
        s.ensure_capacity(1000);
        let mut x = 1u32;
        for round in 0..5 {
            for k in 0..1000u32 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                s.increment(x ^ k);
                if k < 10 {
                    s.increment(k.wrapping_mul(0x9E37_79B9));
                }
            }
            let _ = round;
        }
        for k in 0..10u32 {
            assert!(s.frequency(k.wrapping_mul(0x9E37_79B9)) >= 4);
        }
    }
}
