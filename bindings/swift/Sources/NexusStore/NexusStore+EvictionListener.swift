import CNexusStore
import Foundation

extension NexusStore {
    /// Called once for every entry a call of the store removes (evicted,
    /// expired, removed, replaced): its key, why, and its charge; on the
    /// thread whose call removed it, with no lock held (it may call back
    /// into the store). Not called for the entries still present when the
    /// store is freed (`deinit`): those are released without it. `nil`
    /// unregisters. Replacing it returns after the old listener's calls on
    /// other threads have ended: a listener that waits for the thread that
    /// replaces it (`DispatchQueue.main.sync` while the main thread calls
    /// this) waits for good; dropping the store never waits. The store
    /// keeps the listener: one that
    /// captures this store strongly keeps it alive (with its entries) until
    /// it is replaced or set to nil; capture it `[weak store]`.
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

