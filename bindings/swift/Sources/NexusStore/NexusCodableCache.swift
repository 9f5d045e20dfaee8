import Foundation

/// A cache of `Codable` values, kept as live values (reads decode nothing)
/// and charged by a JSON size estimate: the byte count of the value's JSON
/// encoding, computed once per put.
public final class NexusCodableCache<Key: Hashable, Value: Codable>: @unchecked Sendable {
    /// The values, boxed, in an object cache.
    private let objects: NexusObjectCache<Key, Boxed>
    private let encoder = JSONEncoder()

    final class Boxed {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// The underlying store: pins, metrics, pressure, listeners, streams.
    public var store: NexusStore { objects.store }

    public init(config: MemoryConfig = MemoryConfig(), keyBytes: @escaping (Key) -> Data) throws {
        objects = try NexusObjectCache(config: config, keyBytes: keyBytes)
    }

    /// The charge of `value`: its JSON encoding's byte count.
    public func charge(of value: Value) throws -> Int {
        try encoder.encode(value).count
    }

    /// Stores `value` under `key`, charged its JSON byte count. Throws the
    /// encoder's error for a value that cannot be encoded.
    public func setValue(_ value: Value, forKey key: Key) throws {
        try objects.setObject(Boxed(value), forKey: key, cost: max(charge(of: value), 1))
    }

    /// The value under `key`, or nil.
    public func value(forKey key: Key) throws -> Value? {
        try objects.object(forKey: key)?.value
    }

    /// Removes the value under `key`. Returns whether it was present.
    @discardableResult
    public func removeValue(forKey key: Key) throws -> Bool {
        try objects.removeObject(forKey: key)
    }
}

extension NexusCodableCache where Key: NexusKeyConvertible {
    public convenience init(config: MemoryConfig = MemoryConfig()) throws {
        try self.init(config: config) { key in key.withNexusKeyBytes { Data($0) } }
    }
}
