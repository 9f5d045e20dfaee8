import CNexusStore
import Foundation

/// A failed call: the C status and the library's message for it.
///
/// Every failing call of this package throws one. `code` says what kind of
/// failure it was; `message` is the text `nexus_last_error_message()` gave
/// on the failing thread.
public struct NexusError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A C status (`NEXUS_STATUS_*`) other than OK.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let notFound = Code(rawValue: UInt32(NEXUS_STATUS_NOT_FOUND))
        public static let empty = Code(rawValue: UInt32(NEXUS_STATUS_EMPTY))
        public static let nullArgument = Code(rawValue: UInt32(NEXUS_STATUS_ERR_NULL_ARGUMENT))
        public static let invalidArgument = Code(rawValue: UInt32(NEXUS_STATUS_ERR_INVALID_ARGUMENT))
        public static let invalidHandle = Code(rawValue: UInt32(NEXUS_STATUS_ERR_INVALID_HANDLE))
        public static let tooLarge = Code(rawValue: UInt32(NEXUS_STATUS_ERR_TOO_LARGE))
        public static let overBudget = Code(rawValue: UInt32(NEXUS_STATUS_ERR_OVER_BUDGET))
        public static let callback = Code(rawValue: UInt32(NEXUS_STATUS_ERR_CALLBACK))
        public static let bufferTooSmall = Code(rawValue: UInt32(NEXUS_STATUS_ERR_BUFFER_TOO_SMALL))
        public static let busy = Code(rawValue: UInt32(NEXUS_STATUS_ERR_BUSY))
        public static let outOfMemory = Code(rawValue: UInt32(NEXUS_STATUS_ERR_OUT_OF_MEMORY))
        public static let panic = Code(rawValue: UInt32(NEXUS_STATUS_ERR_PANIC))

        /// Every status the library knows but OK: what a load may fail with.
        static let failures: Set<Code> = [.notFound, .empty, .nullArgument, .invalidArgument, .invalidHandle,
                                          .tooLarge, .overBudget, .callback, .bufferTooSmall, .busy,
                                          .outOfMemory, .panic]

        /// The library's short description ("not found", "over budget", ...).
        public var description: String { String(cString: nexus_status_str(rawValue)) }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        message.isEmpty ? "NexusError(\(code))" : "NexusError(\(code)): \(message)"
    }

    /// The error for `status`, with this thread's last error message. Call
    /// it right after the failing call, on the same thread.
    static func last(_ status: NexusStatus) -> NexusError {
        NexusError(Code(rawValue: status), message: String(cString: nexus_last_error_message()))
    }

    /// Throws unless `status` is OK.
    static func check(_ status: NexusStatus) throws {
        if status != NexusStatus(NEXUS_STATUS_OK) { throw last(status) }
    }
}

/// `localizedDescription` (what apps show and log) is `description`, the
/// code and the library's message, not Foundation's "The operation could
/// not be completed. (NexusStore.NexusError error 1.)"; bridged to
/// `NSError`, the domain is "NexusStore" and the code the C status.
extension NexusError: LocalizedError, CustomNSError {
    public var errorDescription: String? { description }
    public static var errorDomain: String { "NexusStore" }
    public var errorCode: Int { Int(code.rawValue) }
    /// Given explicitly: Linux's Foundation reads an error's description
    /// for `localizedDescription` from here, not from `LocalizedError`.
    public var errorUserInfo: [String: Any] { [NSLocalizedDescriptionKey: description] }
}

let statusOK = NexusStatus(NEXUS_STATUS_OK)
let statusNotFound = NexusStatus(NEXUS_STATUS_NOT_FOUND)

/// Throws `.invalidArgument` "<name> must not be negative (got <value>)"
/// when `value` is negative: a cost, count or size given to the wrapper is
/// never taken as 0.
func requireNonNegative(_ value: Int, _ name: String) throws {
    guard value >= 0 else {
        throw NexusError(.invalidArgument, message: "\(name) must not be negative (got \(value))")
    }
}

/// `requireNonNegative`, then `.invalidArgument` "<name> must be at least 1
/// (got 0)" for 0: a count the library needs at least one of, named as the
/// wrapper names it.
func requireAtLeastOne(_ value: Int, _ name: String) throws {
    try requireNonNegative(value, name)
    guard value >= 1 else {
        throw NexusError(.invalidArgument, message: "\(name) must be at least 1 (got \(value))")
    }
}
