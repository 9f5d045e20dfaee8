import CNexusStore

/// Something a store did, as its `events` stream reports it.
public struct NexusEvent: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// The reported level changed.
        case pressureChanged(from: MemoryPressureLevel, to: MemoryPressureLevel)
        /// One eviction run: `count` entries, `bytes` charged bytes.
        case eviction(reason: EvictionReason, count: UInt64, bytes: UInt64)
        /// `count` events were lost (the queue was full).
        case dropped(count: UInt64)
    }

    public var kind: Kind
    /// Per store, from 1; lost events leave gaps.
    public var sequence: UInt64
    /// Usage after the event.
    public var usageBytes: UInt64
    /// Monotonic nanoseconds.
    public var timestampNanoseconds: UInt64

    init(_ e: NexusEvent_C) {
        switch e.kind {
        case NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED):
            kind = .pressureChanged(from: MemoryPressureLevel(c: e.previous_level), to: MemoryPressureLevel(c: e.level))
        case NexusEventKind(NEXUS_EVENT_KIND_EVICTION):
            kind = .eviction(reason: EvictionReason(c: e.reason), count: e.count, bytes: e.bytes)
        default:
            kind = .dropped(count: e.count)
        }
        sequence = e.sequence
        usageBytes = e.usage_bytes
        timestampNanoseconds = e.timestamp_ns
    }
}

typealias NexusEvent_C = CNexusStore.NexusEvent
