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
    /// Entries evicted (not removals, not replacements, not runs).
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
    /// Charged bytes of the evicted entries.
    pub evicted_bytes: u64,
    /// Loader calls.
    pub load_count: u64,
    /// Loader calls that failed.
    pub load_failure_count: u64,
    /// The configured budget (0 = unbounded).
    pub max_cache_bytes: u64,
    /// The budget in force: the configured one, or the lower one held under
    /// a signal (0 = unbounded).
    pub effective_budget: u64,
}

impl MemoryMetrics {
    /// The metrics as one JSON object whose keys are the field names; the
    /// level is its integer value (0..=3).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "current_usage": self.current_usage,
            "max_usage": self.max_usage,
            "eviction_count": self.eviction_count,
            "pressure_level": self.pressure_level as u32,
            "entry_count": self.entry_count,
            "pinned_count": self.pinned_count,
            "pinned_bytes": self.pinned_bytes,
            "in_use_bytes": self.in_use_bytes,
            "hit_count": self.hit_count,
            "miss_count": self.miss_count,
            "insert_count": self.insert_count,
            "evicted_bytes": self.evicted_bytes,
            "load_count": self.load_count,
            "load_failure_count": self.load_failure_count,
            "max_cache_bytes": self.max_cache_bytes,
            "effective_budget": self.effective_budget,
        })
        .to_string()
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
    }
}
