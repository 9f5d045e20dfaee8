import Foundation

/// A type whose values are a store's keys, as bytes: `String` (UTF-8),
/// `Data`, `[UInt8]`, fixed-width integers (little-endian) and `UUID`
/// conform; any `DataProtocol` is accepted by the store's methods too.
public protocol NexusKeyConvertible {
    /// Calls `body` with the key's bytes (valid only during the call).
    func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension String: NexusKeyConvertible {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(utf8).withUnsafeBytes(body)
    }
}

extension Substring: NexusKeyConvertible {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try String(self).withNexusKeyBytes(body)
    }
}

extension Data: NexusKeyConvertible {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension Array: NexusKeyConvertible where Element == UInt8 {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}

extension UUID: NexusKeyConvertible {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var bytes = uuid
        return try Swift.withUnsafeBytes(of: &bytes, body)
    }
}

extension FixedWidthInteger {
    public func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var little = littleEndian
        return try Swift.withUnsafeBytes(of: &little, body)
    }
}

extension Int: NexusKeyConvertible {}
extension Int64: NexusKeyConvertible {}
extension Int32: NexusKeyConvertible {}
extension UInt: NexusKeyConvertible {}
extension UInt64: NexusKeyConvertible {}
extension UInt32: NexusKeyConvertible {}

/// Any `DataProtocol` as a key (copied once when it is not contiguous).
struct DataProtocolKey<D: DataProtocol>: NexusKeyConvertible {
    let data: D
    func withNexusKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try data.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(data).withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer {
    /// The C view of a key or value: a pointer and a length (NULL for empty
    /// is an empty key, as the C API allows).
    var cBytes: UnsafePointer<UInt8>? { baseAddress?.assumingMemoryBound(to: UInt8.self) }
}
