//! One entry as `Store::entries_snapshot` reports it (for tests and tools).

/// A present entry: its key, charge, access count and whether it is pinned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntrySnapshot<K> {
    /// The key.
    pub key: K,
    /// The bytes the entry is charged (computed once, at insertion).
    pub charge: u64,
    /// The LFU access count (1 for the other strategies).
    pub access_count: u64,
    /// Whether the key is pinned.
    pub pinned: bool,
}
