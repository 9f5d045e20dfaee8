//! The entry-count limit (`MemoryConfig::max_entries`), beside the byte
//! budget: a put of a new key into a full shard takes more victims, in the
//! same strategy order as the byte budget's.

use std::hash::Hash;

use super::*;

impl<K: Hash + Eq + Clone, V> MemoryManager<K, V> {
    /// The victims of a put (`victims`, what the byte budget asks for,
    /// taken in strategy order from the start of the order), extended so
    /// that inserting a new key leaves at most this shard's share of
    /// `max_entries` once the `expired` entries (sorted) are gone. Pinned and in-use entries count and are skipped:
    /// `OverBudget` if they alone fill the share. A replace (`existing`)
    /// changes no count.
    pub(super) fn fit_entry_limit(
        &self,
        existing: Option<u32>,
        victims: Vec<u32>,
        expired: &[u32],
    ) -> Result<Vec<u32>> {
        let max = self.config.max_entries;
        if max == 0 || existing.is_some() {
            return Ok(victims);
        }
        let limit = self.shard.share(max);
        // The expired entries the put removes first free their places.
        let after = (self.entries.len() - expired.len()) as u64 + 1;
        let need = after.saturating_sub(limit);
        if need <= victims.len() as u64 {
            return Ok(victims);
        }
        // The byte victims are the first evictable entries in order: the
        // first `need` evictable ones include them.
        let (more, _) = self.collect_victims_skipping(None, expired, need as usize, |_| false);
        if (more.len() as u64) < need {
            let whose = if limit == max {
                format!("the limit of {max} entries")
            } else {
                format!("this shard's share ({limit}) of the limit of {max} entries")
            };
            return Err(Error::new(
                ErrorKind::OverBudget,
                format!(
                    "a new entry cannot fit in {whose}: {} entries are present and only {} \
                     can be evicted (the others are pinned or in use)",
                    self.entries.len(),
                    more.len()
                ),
            ));
        }
        Ok(more)
    }
}
