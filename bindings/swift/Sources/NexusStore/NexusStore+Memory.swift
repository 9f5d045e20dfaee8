import CNexusStore
import Foundation

extension NexusStore {
    // MARK: - Eviction

    /// Evicts up to `count` evictable entries, least recently used first
    /// whatever the strategy. Returns how many. A negative `count` throws
    /// `.invalidArgument`.
    @discardableResult
    public func evictLeastRecentlyUsed(_ count: Int) throws -> Int {
        try requireNonNegative(count, "count")
        var evicted = 0
        try call { nexus_store_evict_lru($0, count, &evicted) }
        return evicted
    }

    /// Evicts up to `count` evictable entries in the strategy's order. A
    /// negative `count` throws `.invalidArgument`.
    @discardableResult
    public func evict(_ count: Int) throws -> Int {
        try requireNonNegative(count, "count")
        var evicted = 0
        try call { nexus_store_evict($0, count, &evicted) }
        return evicted
    }

    /// Evicts every entry that is neither pinned nor read. Returns how many
    /// (expired entries leave first, as `.expired`, and are not counted).
    @discardableResult
    public func clearUnpinnedCache() throws -> Int {
        var evicted = 0
        try call { nexus_store_clear_unpinned($0, &evicted) }
        return evicted
    }

    // MARK: - Memory

    /// A snapshot of the metrics.
    public var memoryMetrics: MemoryMetrics {
        get throws {
            var m = NexusMemoryMetrics()
            try call { nexus_store_memory_metrics($0, &m) }
            return MemoryMetrics(m)
        }
    }

    /// The metrics as the library's JSON object.
    public func metricsJSON() throws -> String {
        var needed = 0
        let status = withExtendedLifetime(self) { nexus_store_metrics_json(handle, nil, 0, &needed) }
        if status != NexusStatus(NEXUS_STATUS_ERR_BUFFER_TOO_SMALL) { try NexusError.check(status) }
        // Room to spare: the counters may grow between the two calls.
        var buffer = [CChar](repeating: 0, count: needed + 64)
        var written = 0
        try call { nexus_store_metrics_json($0, &buffer, buffer.count, &written) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Zeroes the counters and sets the peak to the current usage.
    public func resetMetrics() throws {
        try call { nexus_store_reset_metrics($0) }
    }

    /// The reported level: the higher of the usage level and the signalled one.
    public var pressureLevel: MemoryPressureLevel {
        get throws {
            var level = NexusPressureLevel(0)
            try call { nexus_store_pressure_level($0, &level) }
            return MemoryPressureLevel(c: level)
        }
    }

    /// The signalled level alone: the last level signalled to this store
    /// (here, through `signalPressureAll` or an OS hook), NONE once it ended
    /// or decayed. `pressureLevel` is the higher of it and the usage level.
    public var signalledLevel: MemoryPressureLevel {
        get throws {
            var level = NexusPressureLevel(0)
            try call { nexus_store_signalled_level($0, &level) }
            return MemoryPressureLevel(c: level)
        }
    }

    /// Chooses which kinds of event the store delivers to `events` from now
    /// on (default: `.default`, pressure changes and evictions). The
    /// `pressureLevels` streams follow the level whatever is chosen. Throws
    /// `.invalidArgument` for a bit that names no kind (nothing changed).
    public func setDeliveredEvents(_ kinds: NexusEventKinds) throws {
        // The store keeps delivering PRESSURE_CHANGED to the broadcaster,
        // which reads the level on it for the level streams and hands the
        // `events` streams only the kinds chosen. Two calls at once set the
        // store's mask and the filter as one (the event callback never
        // takes `eventKindsLock`).
        eventKindsLock.lock()
        defer { eventKindsLock.unlock() }
        try call { nexus_store_set_event_mask($0, kinds.union(.pressureChanged).rawValue) }
        broadcaster.setEventKinds(kinds.rawValue)
    }

    /// Signals `level` to this store: it sheds at once (see the C header).
    public func signalPressure(_ level: MemoryPressureLevel) throws {
        try call { nexus_store_signal_pressure($0, level.rawValue) }
    }

    /// The configured budget in charged bytes (0 = unbounded). Change it with
    /// `setMaxCacheBytes(_:)` (a Swift setter cannot throw).
    public var maxCacheBytes: UInt64 {
        get throws { try memoryMetrics.maxCacheBytes }
    }

    /// Changes the budget, evicting down to it. Throws `.overBudget` when
    /// pinned and in-use entries alone exceed it (nothing changed).
    public func setMaxCacheBytes(_ bytes: UInt64) throws {
        try call { nexus_store_set_max_bytes($0, bytes) }
    }
}
