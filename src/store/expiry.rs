//! Expiry on the store: a put with its own time to live, and the sweep
//! (`MemoryConfig::ttl_ms`, `tti_ms`; the rules are in
//! `memory_manager/expiry.rs`).

use std::hash::Hash;
use std::time::Duration;

use super::Store;
use crate::error::{Error, Result};
use crate::value_handle::ValueCell;

impl<K, V> Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// `put` with this entry's own time to live (instead of the store's
    /// `ttl_ms`), on the store's clock. A TTL of zero is `InvalidArgument`
    /// (use `put` for the store's own).
    pub fn put_with_ttl(&self, key: K, value: V, ttl: Duration) -> Result<()> {
        let charge = self.estimate(&key, &value);
        self.put_charged_with_ttl(key, value, charge, ttl)
    }

    /// `put_charged` with this entry's own time to live.
    pub fn put_charged_with_ttl(&self, key: K, value: V, charge: u64, ttl: Duration) -> Result<()> {
        self.try_put_charged_with_ttl(key, value, charge, ttl)
            .map_err(|(e, value)| {
                drop(value);
                e
            })
    }

    /// `put_with_ttl` that gives the value back untouched on error (the C
    /// layer's "a failed put takes no ownership").
    pub(crate) fn try_put_with_ttl(
        &self,
        key: K,
        value: V,
        ttl: Duration,
    ) -> std::result::Result<(), (Error, V)> {
        let charge = self.estimate(&key, &value);
        self.try_put_charged_with_ttl(key, value, charge, ttl)
    }

    /// `try_put_charged` with this entry's own time to live; on error the
    /// value comes back untouched.
    pub fn try_put_charged_with_ttl(
        &self,
        key: K,
        value: V,
        charge: u64,
        ttl: Duration,
    ) -> std::result::Result<(), (Error, V)> {
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        if ttl_ns == 0 {
            return Err((
                Error::invalid("a time to live of zero: use put for the store's own"),
                value,
            ));
        }
        let cell = ValueCell::Inline(value);
        let shard = self.shared.shard_of(&key);
        let key_hash = self.shared.put_hash(&key);
        self.put_in_shard(shard, charge, key_hash, |m, now, fx| {
            m.set_next_ttl(ttl_ns, now);
            let r = m.put(key, cell, charge, now, fx);
            m.clear_next_ttl();
            r
        })
    }

    /// Removes every expired entry now (reason EXPIRED); returns how many
    /// this call removed, those that earlier reads had found expired
    /// included. Reads never return an expired entry whether or not a
    /// sweep ran.
    pub fn sweep_expired(&self) -> usize {
        self.shared
            .each(|m, now, fx| m.sweep_expired(now, fx))
            .into_iter()
            .sum()
    }
}
