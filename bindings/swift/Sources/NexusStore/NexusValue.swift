import CNexusStore
import Foundation

/// A read handle on a cached value (`NexusStore.valueHandle(forKey:)`):
/// its bytes stay valid, and its entry is never evicted, until the handle
/// is deinitialized, even after the entry is removed or the store is gone.
public final class NexusValue: @unchecked Sendable {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { nexus_value_release(handle) }

    /// The value's length in bytes.
    public var count: Int { nexus_value_len(handle) }

    /// Calls `body` with the bytes, without copying them.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) {
            try body(UnsafeRawBufferPointer(start: nexus_value_data(handle), count: nexus_value_len(handle)))
        }
    }

    /// A copy of the bytes.
    public var data: Data { withUnsafeBytes { Data($0) } }

    /// The object of an object value (retained for the caller), else nil.
    var object: AnyObject? {
        withExtendedLifetime(self) {
            nexus_value_object(handle).map { Unmanaged<AnyObject>.fromOpaque($0).takeUnretainedValue() }
        }
    }

    /// This handle if its value is bytes; `.invalidArgument` if it is an
    /// object (`NexusObjectCache`'s), which has no bytes to read.
    func requireBytes() throws -> NexusValue {
        guard object == nil else {
            throw NexusError(.invalidArgument, message:
                "the value is an object: read it with NexusObjectCache.object(forKey:)")
        }
        return self
    }

    /// The object of an object value; `.invalidArgument` if the value is
    /// bytes (put through `NexusStore`), which holds no object.
    func requireObject() throws -> AnyObject {
        guard let object else {
            throw NexusError(.invalidArgument, message:
                "the value is bytes: read it with NexusStore.value(forKey:)")
        }
        return object
    }
}
