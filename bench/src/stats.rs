//! Medians and percentiles (nearest rank).

/// The median (the mean of the two middle values for an even count); NaN
/// when empty.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let h = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[h - 1] + v[h]) / 2.0
    } else {
        v[h]
    }
}

/// The nearest-rank percentile `p` (0-100) of `xs`; NaN when empty.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Percentiles of integer samples (latencies in ns), sorted in place.
pub fn percentiles_u32(samples: &mut [u32], ps: &[f64]) -> Vec<f64> {
    samples.sort_unstable();
    ps.iter()
        .map(|&p| {
            if samples.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            f64::from(samples[rank.clamp(1, samples.len()) - 1])
        })
        .collect()
}

/// The latency below which `p` percent of the total time is spent, for
/// samples sorted ascending: each sample weighted by its own value.
pub fn time_weighted_percentile(sorted: &[u32], p: f64) -> f64 {
    let total: f64 = sorted.iter().map(|&v| f64::from(v)).sum();
    if sorted.is_empty() || total <= 0.0 {
        return f64::NAN;
    }
    let target = p / 100.0 * total;
    let mut acc = 0.0;
    for &v in sorted {
        acc += f64::from(v);
        if acc >= target {
            return f64::from(v);
        }
    }
    f64::from(*sorted.last().expect("non-empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
        let mut s = vec![5u32, 1, 3];
        assert_eq!(percentiles_u32(&mut s, &[50.0, 100.0]), [3.0, 5.0]);
        // 99 gets of 1 ns and one of 10,000 ns: per get the stall is rare,
        // in time it dominates.
        let mut v = vec![1u32; 99];
        v.push(10_000);
        assert_eq!(percentiles_u32(&mut v, &[99.0]), [1.0]);
        assert_eq!(time_weighted_percentile(&v, 99.0), 10_000.0);
    }
}
