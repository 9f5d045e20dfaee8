import CNexusStore
import Foundation

extension NexusStore {
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
}
