import CNexusStore
import Foundation

/// A memory-pressure-aware cache of byte values: a thin wrapper over one C
/// store handle (`include/nexus_store.h`).
///
/// Every method may be called from any thread or task at once. Failing
/// calls throw `NexusError`. Dropping the last reference frees the store
/// with `nexus_store_free_deferred`, which never blocks and may happen
/// inside one of the store's own callbacks; values already read stay valid.
public final class NexusStore: @unchecked Sendable {
    /// The C handle (generation-checked: a freed one is detected).
    let handle: OpaquePointer
    /// Fans the C event callback out to the `events`/`pressureLevels` streams.
    let broadcaster: EventBroadcaster

    /// Creates a store with `config`. Throws `NexusError` (`.invalidArgument`
    /// for a config breaking a rule, with the rule in the message).
    public init(config: MemoryConfig = MemoryConfig()) throws {
        // Every rule checked before any closure context is handed over.
        try config.validate()
        var c = try config.cConfigWithEstimator()
        var out: OpaquePointer?
        try NexusError.check(nexus_store_new(&c, &out))
        handle = out!
        broadcaster = EventBroadcaster()
        // The event callback and the loader live as long as the store: their
        // contexts are retained here and released by the store's destroy.
        let events = Unmanaged.passRetained(broadcaster).toOpaque()
        let loader = Unmanaged.passRetained(LoaderContext()).toOpaque()
        let eventStatus = nexus_store_set_event_callback(handle, eventTrampoline, events, releaseEventBroadcaster)
        let loaderStatus = nexus_store_set_loader(handle, loaderTrampoline, loader, releaseCallbackBox)
        // (On failure deinit frees the store; a failed registration has
        // already destroyed its context.)
        try NexusError.check(eventStatus)
        try NexusError.check(loaderStatus)
    }

    /// A store with the default configuration and this budget (0 = unbounded).
    public convenience init(maxCacheBytes: UInt64) throws {
        try self.init(config: MemoryConfig(maxCacheBytes: maxCacheBytes))
    }

    deinit {
        // Never blocks; safe from inside this store's own callbacks (the
        // store is then freed when that callback's call returns).
        nexus_store_free_deferred(handle)
    }

    /// The library's version, "MAJOR.MINOR.PATCH".
    public static var libraryVersion: String { String(cString: nexus_version()) }

    /// Signals `level` to every live store and makes it the starting level of
    /// stores created later (what `MemoryPressureMonitor` calls).
    public static func signalPressureAll(_ level: MemoryPressureLevel) throws {
        try NexusError.check(nexus_signal_pressure_all(level.rawValue))
    }

    /// Runs a C call on this store, keeping `self` alive until it returns.
    @inline(__always)
    func call(_ body: (OpaquePointer) -> NexusStatus) throws {
        let status = withExtendedLifetime(self) { body(handle) }
        try NexusError.check(status)
    }

    /// Like `call`, but NOT_FOUND is `false` instead of an error.
    @inline(__always)
    func callFound(_ body: (OpaquePointer) -> NexusStatus) throws -> Bool {
        let status = withExtendedLifetime(self) { body(handle) }
        if status == statusNotFound { return false }
        try NexusError.check(status)
        return true
    }

    // MARK: - Bytes

    /// Inserts or replaces `key` with a copy of `value`. Throws `.tooLarge`
    /// (above the budget), `.overBudget` (cannot fit), ...; on failure
    /// nothing changed.
    public func put(_ value: some DataProtocol, forKey key: some NexusKeyConvertible) throws {
        try DataProtocolKey(data: value).withNexusKeyBytes { v in
            try key.withNexusKeyBytes { k in
                try call { nexus_store_put($0, k.cBytes, k.count, v.cBytes, v.count) }
            }
        }
    }

    /// A copy of `key`'s bytes, or `nil` when absent. A hit is an access.
    public func value(forKey key: some NexusKeyConvertible) throws -> Data? {
        try valueHandle(forKey: key).map { $0.data }
    }

    /// A read handle on `key`'s value without copying it, or `nil` when
    /// absent. While it lives the entry is never evicted; its bytes stay
    /// valid after the entry is removed and after the store is gone.
    public func valueHandle(forKey key: some NexusKeyConvertible) throws -> NexusValue? {
        var out: OpaquePointer?
        let found = try key.withNexusKeyBytes { k in
            try callFound { nexus_store_get($0, k.cBytes, k.count, &out) }
        }
        return found ? NexusValue(out!) : nil
    }

    /// Whether `key` is present. Not an access.
    public func contains(_ key: some NexusKeyConvertible) throws -> Bool {
        var present = false
        try key.withNexusKeyBytes { k in try call { nexus_store_contains($0, k.cBytes, k.count, &present) } }
        return present
    }

    /// Removes `key` (pinned or not; its pin stays). Returns whether it was present.
    @discardableResult
    public func removeValue(forKey key: some NexusKeyConvertible) throws -> Bool {
        try key.withNexusKeyBytes { k in try callFound { nexus_store_remove($0, k.cBytes, k.count) } }
    }

    /// Removes every entry, pinned ones too (pins stay). Returns how many.
    @discardableResult
    public func removeAll() throws -> Int {
        var removed = 0
        try call { nexus_store_clear($0, &removed) }
        return removed
    }

    // MARK: - Pins

    /// Pins `key`, present or not: a pinned entry is never evicted.
    public func pin(_ key: some NexusKeyConvertible) throws {
        try key.withNexusKeyBytes { k in try call { nexus_store_pin($0, k.cBytes, k.count) } }
    }

    /// Ends `key`'s pin. Returns whether it was pinned.
    @discardableResult
    public func unpin(_ key: some NexusKeyConvertible) throws -> Bool {
        try key.withNexusKeyBytes { k in try callFound { nexus_store_unpin($0, k.cBytes, k.count) } }
    }

    /// Whether `key` is pinned (present or not).
    public func isPinned(_ key: some NexusKeyConvertible) throws -> Bool {
        var pinned = false
        try key.withNexusKeyBytes { k in try call { nexus_store_is_pinned($0, k.cBytes, k.count, &pinned) } }
        return pinned
    }

    /// Every pinned key, present or not, in pin order.
    public func pinnedKeys() throws -> [Data] {
        var list: OpaquePointer?
        try call { nexus_store_pinned_ids($0, &list) }
        defer { nexus_key_list_free(list) }
        return (0..<nexus_key_list_len(list)).map { index in
            var length = 0
            let bytes = nexus_key_list_get(list, index, &length)
            return Data(bytes: bytes!, count: length)
        }
    }

    // MARK: - Eviction

    /// Evicts up to `count` evictable entries, least recently used first
    /// whatever the strategy. Returns how many.
    @discardableResult
    public func evictLeastRecentlyUsed(_ count: Int) throws -> Int {
        var evicted = 0
        try call { nexus_store_evict_lru($0, max(count, 0), &evicted) }
        return evicted
    }

    /// Evicts up to `count` evictable entries in the strategy's order.
    @discardableResult
    public func evict(_ count: Int) throws -> Int {
        var evicted = 0
        try call { nexus_store_evict($0, max(count, 0), &evicted) }
        return evicted
    }

    /// Evicts every entry that is neither pinned nor read. Returns how many.
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

    // MARK: - Eviction listener

    /// Called once for every entry that leaves the store: its key, why, and
    /// its charge; on the thread whose call removed it, with no lock held
    /// (it may call back into the store). `nil` unregisters. Replacing it
    /// returns after the old listener's calls on other threads have ended.
    public func setEvictionListener(_ listener: (@Sendable (_ key: Data, _ reason: EvictionReason, _ bytes: UInt64) -> Void)?) throws {
        guard let listener else {
            try call { nexus_store_set_eviction_listener($0, nil, nil, nil) }
            return
        }
        let ctx = CallbackBox<EvictionListener>(listener).retainedContext()
        // On failure the C call has already run the destroy (released ctx).
        try call { nexus_store_set_eviction_listener($0, evictionTrampoline, ctx, releaseCallbackBox) }
    }
}

typealias EvictionListener = @Sendable (Data, EvictionReason, UInt64) -> Void

private let evictionTrampoline: NexusEvictionListenerFn = { ctx, key, keyLength, reason, bytes in
    let listener = CallbackBox<EvictionListener>.from(ctx).body
    let keyData = keyLength == 0 ? Data() : Data(bytes: key!, count: keyLength)
    listener(keyData, EvictionReason(c: reason), bytes)
}

// MARK: - DataProtocol keys

extension NexusStore {
    @_disfavoredOverload
    public func put(_ value: some DataProtocol, forKey key: some DataProtocol) throws {
        try put(value, forKey: DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func value(forKey key: some DataProtocol) throws -> Data? {
        try value(forKey: DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func valueHandle(forKey key: some DataProtocol) throws -> NexusValue? {
        try valueHandle(forKey: DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func contains(_ key: some DataProtocol) throws -> Bool {
        try contains(DataProtocolKey(data: key))
    }
    @_disfavoredOverload @discardableResult
    public func removeValue(forKey key: some DataProtocol) throws -> Bool {
        try removeValue(forKey: DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func pin(_ key: some DataProtocol) throws {
        try pin(DataProtocolKey(data: key))
    }
    @_disfavoredOverload @discardableResult
    public func unpin(_ key: some DataProtocol) throws -> Bool {
        try unpin(DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func isPinned(_ key: some DataProtocol) throws -> Bool {
        try isPinned(DataProtocolKey(data: key))
    }
}
