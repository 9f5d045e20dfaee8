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
    /// Makes `setDeliveredEvents`' two steps one (recursive: a listener
    /// that the store call runs may call it again on this thread).
    let eventKindsLock = NSRecursiveLock()

    /// Creates a store with `config`. Throws `NexusError` (`.invalidArgument`
    /// for a config breaking a rule, with the rule in the message).
    public init(config: MemoryConfig = MemoryConfig()) throws {
        // Every rule checked before any closure context is handed over.
        try config.validate()
        var c = try config.cConfigWithEstimator()
        var out: OpaquePointer?
        try NexusError.check(nexus_store_new(&c, &out))
        let handle = out!
        self.handle = handle
        // The level streams read the level through the handle, not the
        // store: the broadcaster must not keep the store alive.
        broadcaster = EventBroadcaster(readLevel: {
            var level = NexusPressureLevel(0)
            guard nexus_store_pressure_level(handle, &level) == statusOK else { return nil }
            return MemoryPressureLevel(c: level)
        })
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
}
