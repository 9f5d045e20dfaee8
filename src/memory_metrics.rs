//! A snapshot of what the store holds and what it has done.

use crate::pressure::memory_pressure_level::MemoryPressureLevel;

/// Metrics of one store at one moment. The field names are those of the C
/// struct `NexusMemoryMetrics` and the keys of [`MemoryMetrics::to_json`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryMetrics {
    /// Charged bytes of the present entries.
    pub current_usage: u64,
    /// The highest `current_usage` since creation or `reset_metrics`.
    pub max_usage: u64,
    /// Entries evicted (not removals, not replacements, not expirations,
    /// not runs).
    pub eviction_count: u64,
    /// The reported level: the higher of the usage level and the signalled
    /// level.
    pub pressure_level: MemoryPressureLevel,
    /// Present entries.
    pub entry_count: u64,
    /// Present pinned entries.
    pub pinned_count: u64,
    /// Charged bytes of the present pinned entries.
    pub pinned_bytes: u64,
    /// Charged bytes of every value a live read handle holds, present or not.
    pub in_use_bytes: u64,
    /// Reads (get, get_copy, get_or_load) that found the key.
    pub hit_count: u64,
    /// Reads that did not.
    pub miss_count: u64,
    /// Successful puts (replacements included) and cached loads.
    pub insert_count: u64,
    /// Charged bytes of the evicted entries (expirations not counted).
    pub evicted_bytes: u64,
    /// Loader calls.
    pub load_count: u64,
    /// Loader calls that gave no value: the loader failed (or panicked),
    /// abandoned the load, or reported the key absent, as Caffeine counts them.
    pub load_failure_count: u64,
    /// The configured budget (0 = unbounded).
    pub max_cache_bytes: u64,
    /// The budget in force: the configured one, or the lower one held under
    /// a signal. 0 = unbounded when `max_cache_bytes` is 0; in a bounded
    /// store 0 is a held budget that rounded down to 0 bytes.
    pub effective_budget: u64,
}

/// Adds a later shard's metrics to a store's running sum: counts and byte
/// totals add (byte sums saturate: shards are read one after another, so
/// their usages may add past what the store ever held at once); the level,
/// the in-use bytes and the configured budget are the store's, and a later
/// shard reports them as recently as any.
impl std::ops::AddAssign for MemoryMetrics {
    fn add_assign(&mut self, b: MemoryMetrics) {
        self.current_usage = self.current_usage.saturating_add(b.current_usage);
        self.max_usage = self.max_usage.saturating_add(b.max_usage);
        self.eviction_count += b.eviction_count;
        self.pressure_level = b.pressure_level;
        self.entry_count += b.entry_count;
        self.pinned_count += b.pinned_count;
        self.pinned_bytes = self.pinned_bytes.saturating_add(b.pinned_bytes);
        self.in_use_bytes = b.in_use_bytes;
        self.hit_count += b.hit_count;
        self.miss_count += b.miss_count;
        self.insert_count += b.insert_count;
        self.evicted_bytes = self.evicted_bytes.saturating_add(b.evicted_bytes);
        self.load_count += b.load_count;
        self.load_failure_count += b.load_failure_count;
        self.max_cache_bytes = b.max_cache_bytes;
        self.effective_budget = self.effective_budget.saturating_add(b.effective_budget);
    }
}

impl MemoryMetrics {
    /// The metrics as one JSON object whose keys are the field names; the
    /// level is its integer value (0..=3).
    ///
    /// Written directly, keys in alphabetical order (as a `serde_json` map
    /// gave them): a `BTreeMap` insert aborts the process when an allocation
    /// fails, even where a failed allocation unwinds
    /// (tests/alloc_failure_every_point.rs).
    pub fn to_json(&self) -> String {
        use std::fmt::Write;
        let fields: [(&str, u64); 16] = [
            ("current_usage", self.current_usage),
            ("effective_budget", self.effective_budget),
            ("entry_count", self.entry_count),
            ("evicted_bytes", self.evicted_bytes),
            ("eviction_count", self.eviction_count),
            ("hit_count", self.hit_count),
            ("in_use_bytes", self.in_use_bytes),
            ("insert_count", self.insert_count),
            ("load_count", self.load_count),
            ("load_failure_count", self.load_failure_count),
            ("max_cache_bytes", self.max_cache_bytes),
            ("max_usage", self.max_usage),
            ("miss_count", self.miss_count),
            ("pinned_bytes", self.pinned_bytes),
            ("pinned_count", self.pinned_count),
            ("pressure_level", self.pressure_level as u64),
        ];
        let mut json = String::with_capacity(512);
        json.push('{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(json, "\"{key}\":{value}");
        }
        json.push('}');
        json
    }

    /// Hits over reads, or 0 before the first read.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hit_count + self.miss_count;
        if reads == 0 {
            0.0
        } else {
            self.hit_count as f64 / reads as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_with_integer_level() {
        let m = MemoryMetrics {
            current_usage: 1,
            max_usage: 2,
            eviction_count: 3,
            pressure_level: MemoryPressureLevel::Critical,
            entry_count: 4,
            pinned_count: 5,
            pinned_bytes: 6,
            in_use_bytes: 7,
            hit_count: 8,
            miss_count: 9,
            insert_count: 10,
            evicted_bytes: 11,
            load_count: 12,
            load_failure_count: 13,
            max_cache_bytes: 14,
            effective_budget: u64::MAX,
        };
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 16);
        assert_eq!(o["pressure_level"], 2);
        assert_eq!(o["load_failure_count"], 13);
        assert_eq!(o["effective_budget"].as_u64(), Some(u64::MAX));
        // Byte for byte what serde_json writes for the same object (the
        // text before it was written by hand).
        assert_eq!(m.to_json(), v.to_string());
    }
}
