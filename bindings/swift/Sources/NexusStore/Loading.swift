import CNexusStore
import Foundation

/// One `get_or_load` call in progress on this thread: what the store's loader
/// trampoline runs if the library asks this thread to load.
///
/// The C loader is registered once per store; the library calls it on the
/// thread whose `nexus_store_get_or_load` missed (single flight: one thread
/// per key loads, the others wait for its result). So the closure of the
/// call is found in a per-thread stack (loaders may nest across keys and
/// stores).
final class LoadFrame {
    /// Gives the value through the sink; returns the C status for the load.
    let load: (UnsafeRawBufferPointer, OpaquePointer) throws -> NexusStatus
    /// The Swift error the closure threw, rethrown as is to its caller.
    var thrown: Error?

    init(_ load: @escaping (UnsafeRawBufferPointer, OpaquePointer) throws -> NexusStatus) {
        self.load = load
    }
}

/// The per-thread stack of `LoadFrame`s.
enum LoadFrames {
    private static let key = "org.nexus_store.swift.load-frames"

    static var stack: [LoadFrame] {
        get { Thread.current.threadDictionary[key] as? [LoadFrame] ?? [] }
        set { Thread.current.threadDictionary[key] = newValue }
    }

    static func with<R>(_ frame: LoadFrame, _ body: () throws -> R) rethrows -> R {
        stack.append(frame)
        defer { stack.removeLast() }
        return try body()
    }
}

/// The store's loader context (one per store; it holds nothing: the
/// closure is the calling thread's top `LoadFrame`).
final class LoaderContext {}

let loaderTrampoline: NexusLoaderFn = { _, key, keyLength, sink in
    guard let sink, let frame = LoadFrames.stack.last else { return statusNotFound }
    let keyBytes = UnsafeRawBufferPointer(start: keyLength == 0 ? nil : key, count: keyLength)
    do {
        return try frame.load(keyBytes, sink)
    } catch {
        frame.thrown = error
        if error is CancellationError {
            // This caller's task was cancelled, not the waiters': they look
            // the key up again (one of them runs its own loader).
            let abandoned = nexus_load_sink_abandon(sink, cancelledLoadMessage)
            return abandoned == statusOK ? NexusError.Code.callback.rawValue : abandoned
        }
        let (code, message) = loadFailure(error)
        // Every waiter gets `code` and this message.
        let failed = nexus_load_sink_fail(sink, code.rawValue, message)
        return failed == statusOK ? code.rawValue : failed
    }
}

/// The status and message a load fails with for its waiters when the loader
/// threw `error`: a `NexusError`'s own code and message, except that a code
/// the library does not take for a failure (OK, or one it does not know) and
/// `.notFound` (from a load it means "absent": nil, and the waiters must see
/// an error) become `.callback`, the message then saying what was thrown.
/// Any other error is `.callback` "loader threw <error>". (A
/// `CancellationError` abandons the load instead: `loaderTrampoline`.)
func loadFailure(_ error: Error) -> (NexusError.Code, String) {
    guard let nexus = error as? NexusError else { return (.callback, "loader threw \(error)") }
    if nexus.code == .notFound { return (.callback, nexus.message) }
    if NexusError.Code.failures.contains(nexus.code) { return (nexus.code, nexus.message) }
    return (.callback, "loader threw a NexusError with status \(nexus.code.rawValue), which is no failure status: \(nexus.message)")
}

/// The message of a load abandoned because its loader threw
/// `CancellationError` (`nexus_load_sink_abandon`: the task that was
/// loading was cancelled, not the waiters', who look the key up again).
/// Only the loading caller could see it, and it gets the
/// `CancellationError` itself.
let cancelledLoadMessage = "the loader's task was cancelled (CancellationError); waiters load again"

/// The status of a put into a load's sink. When the store refused the value
/// (too large, an object with cost 0 and no size estimator, ...), the sink
/// is failed with the library's own message, so the caller and every waiter
/// read why, not "the loader returned status N".
func sinkPutStatus(_ sink: OpaquePointer, _ status: NexusStatus) -> NexusStatus {
    if status == statusOK { return status }
    let message = String(cString: nexus_last_error_message())
    let failed = nexus_load_sink_fail(sink, status, message)
    return failed == statusOK ? status : failed
}

extension NexusStore {
    /// Runs `nexus_store_get_or_load` with `load` as this call's loader.
    /// Returns the read handle, or nil when the loader said "absent".
    func getOrLoad(_ key: UnsafeRawBufferPointer,
                   _ load: @escaping (UnsafeRawBufferPointer, OpaquePointer) throws -> NexusStatus) throws -> NexusValue? {
        let frame = LoadFrame(load)
        var out: OpaquePointer?
        let status = LoadFrames.with(frame) {
            withExtendedLifetime(self) { nexus_store_get_or_load(handle, key.cBytes, key.count, &out) }
        }
        if let thrown = frame.thrown { throw thrown }
        if status == statusNotFound { return nil }
        try NexusError.check(status)
        return NexusValue(out!)
    }

    /// `key`'s bytes; on a miss `loader` makes them (return nil for "absent":
    /// the call returns nil and caches nothing). Single flight: while one
    /// caller's loader runs for a key, other callers of that key wait for
    /// its value (their own loaders are not called). An error the loader
    /// throws is rethrown as is to its own caller; waiters on other threads
    /// get a `NexusError` with its code (`.callback` unless it was a
    /// `NexusError` with a failure status other than `.notFound`) and
    /// description, except a `CancellationError` (the loading caller's task
    /// was cancelled, not theirs): waiters then miss again, and one of them
    /// runs its own loader. Waiting blocks the calling thread (in a task, a
    /// thread of the cooperative pool). The loader runs on the calling thread
    /// with no lock held: it may use the store (the same key gives `.busy`).
    /// An object entry (or an object load this call waited for) has no
    /// bytes: `.invalidArgument`, and the loader is not called. A value the
    /// store cannot hold (charged more than its budget, or refused under an
    /// EMERGENCY signal) is still returned, and not cached: the next miss
    /// calls the loader again (`setObject`/`put` of it would throw). A put
    /// or remove of the key while its loader runs wins: the loaded value is
    /// returned (to the waiters too) and not cached.
    public func value(forKey key: some NexusKeyConvertible,
                      loader: (_ key: Data) throws -> Data?) throws -> Data? {
        try withoutActuallyEscaping(loader) { loader in
            try key.withNexusKeyBytes { k in
                try getOrLoad(k) { keyBytes, sink in
                    guard let value = try loader(Data(keyBytes)) else { return statusNotFound }
                    return sinkPutStatus(sink, value.withUnsafeBytes { v in
                        nexus_load_sink_put_bytes(sink, v.cBytes, v.count)
                    })
                }?.requireBytes().data
            }
        }
    }

    @_disfavoredOverload
    public func value(forKey key: some DataProtocol, loader: (_ key: Data) throws -> Data?) throws -> Data? {
        try value(forKey: DataProtocolKey(data: key), loader: loader)
    }
}
