import CNexusStore
import Foundation

extension NexusStore {
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

    /// Inserts or replaces `key` with a copy of `value` that expires `ttl`
    /// seconds from now (instead of after the configuration's `ttl`; rounded
    /// up to whole milliseconds). Turns expiry on for the store if its
    /// configuration had none; a later `put` without a TTL gives the key the
    /// store's own again. Throws `.invalidArgument` for a `ttl` that is not
    /// positive and finite (or beyond `UInt64.max` ms), and what `put` throws.
    public func put(_ value: some DataProtocol, forKey key: some NexusKeyConvertible, ttl: TimeInterval) throws {
        // An entry's own TTL must be positive (0 is not "none" here), so a
        // negative or NaN one is refused with that rule, not ">= 0".
        guard ttl > 0 else { throw NexusError(.invalidArgument, message: "ttl must be > 0 (got \(ttl))") }
        let ms = try milliseconds(ttl, "ttl")
        try DataProtocolKey(data: value).withNexusKeyBytes { v in
            try key.withNexusKeyBytes { k in
                try call { nexus_store_put_ttl($0, k.cBytes, k.count, v.cBytes, v.count, ms) }
            }
        }
    }

    /// Removes every expired entry now (eviction reason `.expired`) and
    /// returns how many. Reads never return an expired entry whether or not
    /// a sweep ran; the sweep gives their memory back.
    @discardableResult
    public func sweepExpired() throws -> Int {
        var count = 0
        try call { nexus_store_sweep_expired($0, &count) }
        return count
    }

    /// A copy of `key`'s bytes, or `nil` when absent. A hit is an access.
    /// An object entry (put through a `NexusObjectCache` on this store) has
    /// no bytes: `.invalidArgument` ("the value is an object").
    public func value(forKey key: some NexusKeyConvertible) throws -> Data? {
        try valueHandle(forKey: key).map { $0.data }
    }

    /// A read handle on `key`'s value without copying it, or `nil` when
    /// absent. While it lives the entry is never evicted; its bytes stay
    /// valid after the entry is removed and after the store is gone. An
    /// object entry: `.invalidArgument`, as for `value(forKey:)`.
    public func valueHandle(forKey key: some NexusKeyConvertible) throws -> NexusValue? {
        try entryHandle(forKey: key)?.requireBytes()
    }

    /// A read handle on `key`'s entry, bytes or object, or `nil` when absent.
    func entryHandle(forKey key: some NexusKeyConvertible) throws -> NexusValue? {
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

    /// Removes every entry, pinned ones too (pins stay). Returns how many
    /// (expired entries leave first, as `.expired`, and are not counted).
    @discardableResult
    public func removeAll() throws -> Int {
        var removed = 0
        try call { nexus_store_clear($0, &removed) }
        return removed
    }
}

// MARK: - DataProtocol keys

extension NexusStore {
    @_disfavoredOverload
    public func put(_ value: some DataProtocol, forKey key: some DataProtocol) throws {
        try put(value, forKey: DataProtocolKey(data: key))
    }
    @_disfavoredOverload
    public func put(_ value: some DataProtocol, forKey key: some DataProtocol, ttl: TimeInterval) throws {
        try put(value, forKey: DataProtocolKey(data: key), ttl: ttl)
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
