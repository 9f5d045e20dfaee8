//! Deterministic random streams: a SplitMix64 generator, a Zipf sampler and
//! the scrambling that spreads popular ranks over the key space.

/// SplitMix64: small, fast, and good enough for workload generation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The SplitMix64 finalizer: a bijection on u64 that looks random.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf over ranks 0..n with exponent s (rank 0 the most popular), sampled
/// by inverting the exact cumulative distribution.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / (r as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// Zipf(s) over ranks, each rank mapped to a key id in 0..n by a fixed
/// random permutation (so popular keys are not adjacent). Streams drawn
/// with different seeds share the same popular keys.
pub struct ScrambledZipf {
    perm: Vec<u32>,
    zipf: Zipf,
}

impl ScrambledZipf {
    pub fn new(n: usize, s: f64, perm_seed: u64) -> Self {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        Rng::new(perm_seed).shuffle(&mut perm);
        ScrambledZipf {
            perm,
            zipf: Zipf::new(n, s),
        }
    }

    /// `len` key ids.
    pub fn stream(&self, len: usize, seed: u64) -> Vec<u32> {
        let mut rng = Rng::new(seed);
        (0..len)
            .map(|_| self.perm[self.zipf.sample(&mut rng)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_low_ranks_and_stays_in_range() {
        let z = Zipf::new(1000, 0.99);
        let mut rng = Rng::new(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
        let z = ScrambledZipf::new(100, 1.2, 7);
        let (a, b) = (z.stream(1000, 1), z.stream(1000, 2));
        assert!(a.iter().chain(&b).all(|&i| i < 100));
        assert_ne!(a, b);
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = Rng::new(3);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
    }
}
