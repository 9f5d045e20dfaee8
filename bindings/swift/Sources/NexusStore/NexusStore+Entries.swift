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
