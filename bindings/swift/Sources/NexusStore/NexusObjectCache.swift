import CNexusStore
import Foundation

/// A cache of class instances in NSCache's shape, over a `NexusStore`.
///
/// An object is retained (`Unmanaged.passRetained`) when it is stored and
/// released exactly once by the store's release callback, when its entry
/// is gone and nobody is reading it: on the thread of the call that ended
/// it (a remove, a replacing put, an eviction, a pressure signal, the
/// store's free). Keys become bytes through `NexusKeyConvertible` (or the
/// `keyBytes` function given to `init`); equal keys must give equal bytes.
public final class NexusObjectCache<Key: Hashable, Value: AnyObject>: @unchecked Sendable {
    /// The underlying store: pins, metrics, pressure, listeners, streams.
    public let store: NexusStore
    private let keyBytes: (Key) -> Data
    /// The configuration has a `sizeEstimator`: cost 0 asks it.
    private let hasSizeEstimator: Bool

    /// A cache whose keys become bytes through `keyBytes`.
    public init(config: MemoryConfig = MemoryConfig(), keyBytes: @escaping (Key) -> Data) throws {
        store = try NexusStore(config: config)
        self.keyBytes = keyBytes
        hasSizeEstimator = config.sizeEstimator != nil
    }

    /// Refuses a negative cost, and a cost of 0 with no estimator to ask,
    /// in the wrapper's words (the library's message names its C struct).
    private func checkCost(_ cost: Int) throws {
        try requireNonNegative(cost, "cost")
        if cost == 0 && !hasSizeEstimator {
            throw NexusError(.invalidArgument, message: "an object's cost is 0 and this cache has no size "
                + "estimator to size it: pass the object's size in bytes as `cost` (or set MemoryConfig.sizeEstimator)")
        }
    }

    /// Stores `object` under `key`, charged `cost` bytes: what the object
    /// really holds, so that the byte budget stays true. `cost` 0 asks the
    /// configuration's `sizeEstimator` (which sees an empty value); without
    /// one it throws `.invalidArgument`, as a negative `cost` does. Replaces
    /// (and releases) any previous object of the key.
    public func setObject(_ object: Value, forKey key: Key, cost: Int) throws {
        try checkCost(cost)
        let retained = Unmanaged<AnyObject>.passRetained(object as AnyObject).toOpaque()
        do {
            try keyBytes(key).withUnsafeBytes { k in
                try store.call {
                    nexus_store_put_object($0, k.cBytes, k.count, retained, cost, releaseObject, nil)
                }
            }
        } catch {
            // On failure the store took no ownership.
            Unmanaged<AnyObject>.fromOpaque(retained).release()
            throw error
        }
    }

    /// The object under `key`, or nil when absent. A hit is an access. A
    /// bytes entry (put through `store`) holds no object: `.invalidArgument`
    /// ("the value is bytes"), not nil, since the key is present.
    public func object(forKey key: Key) throws -> Value? {
        try keyBytes(key).withUnsafeBytes { k in try store.entryHandle(forKey: DataProtocolKey(data: k)) }?
            .requireObject() as? Value
    }

    /// The object under `key`; on a miss `loader` makes it (nil: absent,
    /// nothing cached), charged `cost`. Single flight, as
    /// `NexusStore.value(forKey:loader:)`. A bytes entry (or a bytes load
    /// this call waited for): `.invalidArgument`, and the loader is not called.
    /// An object the cache cannot hold (a cost above its limit, or refused
    /// under an EMERGENCY signal) is still returned, and not cached.
    public func object(forKey key: Key, loader: (_ key: Key) throws -> (object: Value, cost: Int)?) throws -> Value? {
        try withoutActuallyEscaping(loader) { loader in
            try keyBytes(key).withUnsafeBytes { k in
                try store.getOrLoad(k) { _, sink in
                    guard let made = try loader(key) else { return statusNotFound }
                    try self.checkCost(made.cost)
                    let retained = Unmanaged<AnyObject>.passRetained(made.object as AnyObject).toOpaque()
                    let status = nexus_load_sink_put_object(sink, retained, made.cost, releaseObject, nil)
                    if status != statusOK { Unmanaged<AnyObject>.fromOpaque(retained).release() }
                    return sinkPutStatus(sink, status)
                }?.requireObject() as? Value
            }
        }
    }

    /// Removes (and releases, unless being read) the object under `key`.
    /// Returns whether it was present.
    @discardableResult
    public func removeObject(forKey key: Key) throws -> Bool {
        try keyBytes(key).withUnsafeBytes { k in try store.removeValue(forKey: k) }
    }

    /// Removes every object (pinned ones too).
    public func removeAllObjects() throws {
        try store.removeAll()
    }

    /// The budget in charged bytes (0 = unbounded), NSCache's `totalCostLimit`.
    public var totalCostLimit: UInt64 {
        get throws { try store.maxCacheBytes }
    }

    /// Changes the budget, evicting down to it.
    public func setTotalCostLimit(_ limit: UInt64) throws {
        try store.setMaxCacheBytes(limit)
    }

    /// Pins `key`: its object is never evicted until `unpin`.
    public func pin(_ key: Key) throws {
        try keyBytes(key).withUnsafeBytes { k in try store.pin(k) }
    }

    /// Ends `key`'s pin. Returns whether it was pinned.
    @discardableResult
    public func unpin(_ key: Key) throws -> Bool {
        try keyBytes(key).withUnsafeBytes { k in try store.unpin(k) }
    }
}

extension NexusObjectCache where Key: NexusKeyConvertible {
    /// A cache with the store configured by `config`; keys as their bytes.
    public convenience init(config: MemoryConfig = MemoryConfig()) throws {
        try self.init(config: config) { key in key.withNexusKeyBytes { Data($0) } }
    }

    /// A cache with this budget in charged bytes (0 = unbounded).
    public convenience init(totalCostLimit: UInt64) throws {
        try self.init(config: MemoryConfig(maxCacheBytes: totalCostLimit))
    }
}

/// The store's release callback for objects: balances the retain of
/// `setObject` (or of a loader's value).
let releaseObject: NexusReleaseFn = { _, object in
    guard let object else { return }
    Unmanaged<AnyObject>.fromOpaque(object).release()
}
