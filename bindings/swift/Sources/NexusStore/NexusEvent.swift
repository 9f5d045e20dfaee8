import CNexusStore

/// Something a store did, as its `events` stream reports it.
public struct NexusEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// The reported level (the higher of usage and signal) changed.
        case pressureChanged(from: MemoryPressureLevel, to: MemoryPressureLevel)
        /// One eviction run: `count` entries, `bytes` charged bytes.
        case eviction(reason: EvictionReason, count: UInt64, bytes: UInt64)
        /// `count` events were lost (the queue was full).
        case dropped(count: UInt64)
        /// The signalled level alone changed (delivered only when
        /// `NexusStore.setDeliveredEvents` includes `.signalChanged`).
        case signalChanged(from: MemoryPressureLevel, to: MemoryPressureLevel)
    }

    public var kind: Kind
    /// Per store, from 1; lost events leave gaps.
    public var sequence: UInt64
    /// Usage after the event.
    public var usageBytes: UInt64
    /// Monotonic nanoseconds.
    public var timestampNanoseconds: UInt64

    /// nil for a kind this wrapper does not know (a newer library).
    init?(_ e: NexusEvent_C) {
        switch e.kind {
        case NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED):
            kind = .pressureChanged(from: MemoryPressureLevel(c: e.previous_level), to: MemoryPressureLevel(c: e.level))
        case NexusEventKind(NEXUS_EVENT_KIND_EVICTION):
            kind = .eviction(reason: EvictionReason(c: e.reason), count: e.count, bytes: e.bytes)
        case NexusEventKind(NEXUS_EVENT_KIND_DROPPED):
            kind = .dropped(count: e.count)
        case NexusEventKind(NEXUS_EVENT_KIND_SIGNAL_CHANGED):
            kind = .signalChanged(from: MemoryPressureLevel(c: e.previous_level), to: MemoryPressureLevel(c: e.level))
        default:
            return nil
        }
        sequence = e.sequence
        usageBytes = e.usage_bytes
        timestampNanoseconds = e.timestamp_ns
    }
}

/// Which kinds of event a store delivers (`NexusStore.setDeliveredEvents`).
/// DROPPED markers always come.
public struct NexusEventKinds: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let pressureChanged = NexusEventKinds(rawValue: UInt32(NEXUS_EVENT_MASK_PRESSURE_CHANGED))
    public static let eviction = NexusEventKinds(rawValue: UInt32(NEXUS_EVENT_MASK_EVICTION))
    public static let signalChanged = NexusEventKinds(rawValue: UInt32(NEXUS_EVENT_MASK_SIGNAL_CHANGED))
    /// What a store delivers until told otherwise: pressure changes and evictions.
    public static let `default`: NexusEventKinds = [.pressureChanged, .eviction]
    public static let all: NexusEventKinds = [.pressureChanged, .eviction, .signalChanged]
}

typealias NexusEvent_C = CNexusStore.NexusEvent
