import CNexusStore

/// A pressure level, ordered `none < moderate < critical < emergency`.
public enum MemoryPressureLevel: UInt32, Comparable, CaseIterable, Sendable {
    /// No pressure.
    case none = 0
    /// Usage at or above the working size (rounded up), or the OS warned.
    case moderate = 1
    /// Usage at or above the critical threshold (rounded up), or the OS is
    /// critical.
    case critical = 2
    /// Shed everything that can go; refuse unpinned puts until it ends.
    case emergency = 3

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    init(c: NexusPressureLevel) {
        // The library only reports levels it defines.
        self = MemoryPressureLevel(rawValue: c) ?? .emergency
    }
}

/// The order in which a store evicts.
public enum EvictionStrategy: UInt32, CaseIterable, Sendable {
    /// Least recently used first.
    case lru = 0
    /// Fewest accesses first, ties by least recently used.
    case lfu = 1
    /// Largest charged size first, ties by least recently used.
    case size = 2
    /// W-TinyLFU: a small LRU window, then admission by a frequency sketch
    /// into a segmented main region: scan resistant (see the README).
    case tinyLfu = 3
}

/// Why entries left a store.
public enum EvictionReason: UInt32, CaseIterable, Sendable {
    /// The budget (a put that made room, a lowered budget).
    case capacity = 0
    /// A pressure signal.
    case pressure = 1
    /// `evictLeastRecentlyUsed`, `evict`, `clearUnpinnedCache`.
    case manual = 2
    /// A put of the same key replaced it (eviction listener only).
    case replaced = 3
    /// `removeValue(forKey:)` or `removeAll()` (eviction listener only).
    case removed = 4
    /// A budget governor took memory from the store.
    case governor = 5
    /// Its time to live or time to idle ran out (`MemoryConfig.ttl`/`tti`,
    /// `put(_:forKey:ttl:)`, `sweepExpired()`).
    case expired = 6

    /// A reason this wrapper does not know (from a newer library) reads as
    /// `.manual`.
    init(c: NexusEvictionReason) {
        self = EvictionReason(rawValue: c) ?? .manual
    }
}
