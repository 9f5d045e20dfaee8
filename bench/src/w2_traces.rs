//! W2's traces: dense key ids (0..keys) per request, with a size per id for
//! the sized ones. Synthetic (Zipf, loop, scan mix, shifting working set,
//! sized Zipf) and real (libCacheSim's cloudPhysics and twitter traces,
//! from the libcachesim 0.3.5 sdist that `make bench-setup` unpacks under
//! bench/.data/, git-ignored).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::rng::{Rng, ScrambledZipf, mix64};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Zipf(f64),
    Loop,
    /// Zipf 0.99 plus a one-pass scan of `capacity` new keys every 100,000
    /// requests (so the trace depends on the cache size).
    ScanMix,
    /// Zipf 0.99 whose popular keys change every 200,000 requests.
    Shifting,
    /// Zipf 0.99 over keys with image-like sizes (byte hit ratio).
    Sized,
    /// A real trace.
    Real,
}

pub struct Trace {
    pub name: String,
    pub kind: Kind,
    /// Key id per request.
    pub ids: Vec<u32>,
    /// Ids in use (every id is below it).
    pub keys: usize,
    /// The keys a cache size in % refers to (`keys`, except for the scan
    /// mix, whose scanned keys do not count).
    pub population: usize,
    /// The size of each id in bytes, for a byte-sized trace; `None`: every
    /// entry is charged 1 and the hit ratio counts requests.
    pub sizes: Option<Vec<u32>>,
}

impl Trace {
    /// The cache size for `pct`% of the trace's keys (entries), or of their
    /// total size (bytes) for a sized trace.
    pub fn capacity(&self, pct: f64) -> u64 {
        let whole: u64 = match &self.sizes {
            None => self.population as u64,
            Some(s) => s.iter().map(|&b| u64::from(b)).sum(),
        };
        ((whole as f64 * pct / 100.0).round() as u64).max(1)
    }

    pub fn size_of(&self, id: u32) -> u64 {
        self.sizes.as_ref().map_or(1, |s| u64::from(s[id as usize]))
    }
}

pub const SCAN_EVERY: usize = 100_000;
pub const SHIFT_EVERY: usize = 200_000;
pub const MIN_SIZE: u32 = 4 << 10;
pub const MAX_SIZE: u32 = 2 << 20;

pub fn zipf(keys: usize, len: usize, s: f64, i: u64) -> Trace {
    let z = ScrambledZipf::new(keys, s, 77 + i);
    Trace {
        name: format!("zipf {s}"),
        kind: Kind::Zipf(s),
        ids: z.stream(len, 99 + i),
        keys,
        population: keys,
        sizes: None,
    }
}

/// A loop over a fifth of the keys (in a fixed shuffled order), larger than
/// both caches: recency policies get nothing from it.
pub fn loop_scan(keys: usize, len: usize) -> Trace {
    let n = keys / 5;
    let mut order: Vec<u32> = (0..n as u32).collect();
    Rng::new(5).shuffle(&mut order);
    Trace {
        name: format!("loop ({n} keys)"),
        kind: Kind::Loop,
        ids: order.iter().copied().cycle().take(len).collect(),
        keys: n,
        // Cache sizes are % of all the keys, as for the Zipf traces.
        population: keys,
        sizes: None,
    }
}

/// `base` (a Zipf trace) with a scan of `scan` never-seen keys after every
/// `SCAN_EVERY` requests. Its key count stays `base.keys`, so the cache is
/// sized as for `base`.
pub fn scan_mix(base: &Trace, scan: usize) -> (Trace, usize) {
    let mut ids = Vec::with_capacity(base.ids.len() + base.ids.len() / SCAN_EVERY * scan);
    let mut next = base.keys as u32;
    for chunk in base.ids.chunks(SCAN_EVERY) {
        ids.extend_from_slice(chunk);
        if chunk.len() == SCAN_EVERY {
            ids.extend(next..next + scan as u32);
            next += scan as u32;
        }
    }
    let t = Trace {
        name: format!("scan mix (zipf 0.99 + {scan} new keys / {SCAN_EVERY})"),
        kind: Kind::ScanMix,
        ids,
        keys: next as usize,
        population: base.keys,
        sizes: None,
    };
    (t, next as usize)
}

/// Zipf 0.99 whose popularity ranking is reshuffled every `SHIFT_EVERY`
/// requests: each phase has its own popular keys.
pub fn shifting(keys: usize, len: usize) -> Trace {
    let mut ids = Vec::with_capacity(len);
    let mut phase = 0u64;
    while ids.len() < len {
        let z = ScrambledZipf::new(keys, 0.99, 500 + phase);
        ids.extend(z.stream(SHIFT_EVERY.min(len - ids.len()), 600 + phase));
        phase += 1;
    }
    Trace {
        name: format!("shifting (zipf 0.99, new hot set / {SHIFT_EVERY})"),
        kind: Kind::Shifting,
        ids,
        keys,
        population: keys,
        sizes: None,
    }
}

/// `base`'s requests over keys with sizes log-uniform in 4 KiB..2 MiB (an
/// image cache: thumbnails to full photos), independent of popularity.
pub fn sized(base: &Trace) -> Trace {
    let (lo, hi) = (f64::from(MIN_SIZE).ln(), f64::from(MAX_SIZE).ln());
    let sizes = (0..base.keys as u64)
        .map(|k| {
            let u = (mix64(k ^ 0x5152_4545) >> 11) as f64 / (1u64 << 53) as f64;
            (lo + u * (hi - lo)).exp().round() as u32
        })
        .collect();
    Trace {
        name: "sized (zipf 0.99, 4 KiB-2 MiB)".into(),
        kind: Kind::Sized,
        ids: base.ids.clone(),
        keys: base.keys,
        population: base.keys,
        sizes: Some(sizes),
    }
}

/// Where `make bench-setup` unpacks libCacheSim's data files.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".data")
        .join("libcachesim-0.3.5/src/libCacheSim/data")
}

/// A CSV trace: `key_col` and `size_col` of each data line (lines starting
/// with `#` or a letter are headers). An id's size is the one of its first
/// request. Returns the count-sized and the byte-sized trace.
fn load_csv(path: &Path, name: &str, key_col: usize, size_col: usize) -> Option<[Trace; 2]> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut index: HashMap<u64, u32> = HashMap::new();
    let mut sizes: Vec<u32> = Vec::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let first = line.trim_start().chars().next();
        if first.is_none_or(|c| !c.is_ascii_digit()) {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let key: u64 = cols.get(key_col)?.parse().ok()?;
        let size: u32 = cols.get(size_col)?.parse().ok()?;
        let next = index.len() as u32;
        let id = *index.entry(key).or_insert_with(|| {
            sizes.push(size.max(1));
            next
        });
        ids.push(id);
    }
    let keys = index.len();
    let count = Trace {
        name: format!("{name} ({} requests)", ids.len()),
        kind: Kind::Real,
        ids: ids.clone(),
        keys,
        population: keys,
        sizes: None,
    };
    let bytes = Trace {
        name: format!("{name} bytes ({} requests)", ids.len()),
        kind: Kind::Real,
        ids,
        keys,
        population: keys,
        sizes: Some(sizes),
    };
    Some([count, bytes])
}

/// cloudPhysics (block I/O: lbn, I/O size) and twitter cluster 52 (object,
/// size), count- and byte-sized; empty when the data is not set up.
pub fn real() -> Vec<Trace> {
    let dir = data_dir();
    let mut out = Vec::new();
    if let Some(t) = load_csv(&dir.join("cloudPhysicsIO.csv"), "cloudPhysics", 4, 3) {
        out.extend(t);
    }
    if let Some(t) = load_csv(&dir.join("twitter_cluster52.csv"), "twitter c52", 1, 2) {
        out.extend(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_mix_inserts_new_keys_every_period() {
        let base = zipf(1000, 2 * SCAN_EVERY + 5, 0.99, 0);
        let (t, used) = scan_mix(&base, 50);
        assert_eq!(t.ids.len(), base.ids.len() + 100);
        assert_eq!(
            &t.ids[SCAN_EVERY..SCAN_EVERY + 50],
            &(1000..1050).collect::<Vec<_>>()[..]
        );
        assert_eq!(used, 1100);
        assert!(t.ids[..SCAN_EVERY].iter().all(|&i| i < 1000));
    }

    #[test]
    fn sizes_stay_in_the_image_range_and_capacity_counts_bytes() {
        let base = zipf(2000, 1000, 0.99, 0);
        let t = sized(&base);
        let s = t.sizes.as_ref().unwrap();
        assert!(s.iter().all(|&b| (MIN_SIZE..=MAX_SIZE).contains(&b)));
        assert!(s.iter().any(|&b| b < 16 << 10) && s.iter().any(|&b| b > 1 << 20));
        let total: u64 = s.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(t.capacity(10.0), (total as f64 / 10.0).round() as u64);
        assert_eq!(base.capacity(1.0), 20);
    }

    #[test]
    fn shifting_changes_its_hot_keys() {
        let t = shifting(1000, 2 * SHIFT_EVERY);
        let top = |ids: &[u32]| {
            let mut c = vec![0u32; 1000];
            ids.iter().for_each(|&i| c[i as usize] += 1);
            (0..1000).max_by_key(|&i| c[i]).unwrap()
        };
        assert_ne!(top(&t.ids[..SHIFT_EVERY]), top(&t.ids[SHIFT_EVERY..]));
    }
}
