import CNexusStore
import Foundation

/// The store's one C event callback context: hands each event to every
/// live `events`/`pressureLevels` stream, and finishes them all when the
/// store's destroy releases it.
final class EventBroadcaster: @unchecked Sendable {
    /// Recursive: `add`'s `start` reads the store's level, which may apply
    /// a decayed signal and deliver its event on this thread, under `add`.
    private let lock = NSRecursiveLock()
    private var sinks: [UInt64: Sink] = [:]
    private var nextID: UInt64 = 0
    private var finished = false

    struct Sink {
        let receive: (CNexusStore.NexusEvent) -> Void
        let finish: () -> Void
    }

    /// Adds a sink; `start` runs first, under the lock, so no event slips
    /// between it and the sink's first event. Returns nil (and finishes the
    /// sink) when the store is already gone.
    func add(_ sink: Sink, start: () -> Void = {}) -> UInt64? {
        lock.lock()
        guard !finished else {
            lock.unlock()
            sink.finish()
            return nil
        }
        start()
        nextID += 1
        let id = nextID
        sinks[id] = sink
        lock.unlock()
        return id
    }

    func remove(_ id: UInt64) {
        lock.lock()
        sinks[id] = nil
        lock.unlock()
    }

    func deliver(_ event: CNexusStore.NexusEvent) {
        lock.lock()
        let current = Array(sinks.values)
        lock.unlock()
        for sink in current { sink.receive(event) }
    }

    func finishAll() {
        lock.lock()
        finished = true
        let current = Array(sinks.values)
        sinks = [:]
        lock.unlock()
        for sink in current { sink.finish() }
    }
}

let eventTrampoline: NexusEventFn = { ctx, event in
    guard let ctx, let event else { return }
    Unmanaged<EventBroadcaster>.fromOpaque(ctx).takeUnretainedValue().deliver(event.pointee)
}

/// The event callback's destroy: the store is gone, so every stream ends.
let releaseEventBroadcaster: NexusDestroyFn = { ctx in
    guard let ctx else { return }
    let broadcaster = Unmanaged<EventBroadcaster>.fromOpaque(ctx).takeRetainedValue()
    broadcaster.finishAll()
}

extension NexusStore {
    /// Every event of this store from now on (by default pressure changes
    /// and eviction runs: see `setDeliveredEvents`), in the order the
    /// callbacks ran. The stream ends when the store
    /// is freed. Keeps the newest 1024 events a slow reader has not taken.
    public var events: AsyncStream<NexusEvent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1024)) { continuation in
            let sink = EventBroadcaster.Sink(
                receive: { if let event = NexusEvent($0) { continuation.yield(event) } },
                finish: { continuation.finish() })
            guard let id = broadcaster.add(sink) else { return }
            continuation.onTermination = { [broadcaster] _ in broadcaster.remove(id) }
        }
    }

    /// The reported pressure level: the current one first, then each
    /// change (while `.pressureChanged` events are delivered, as by default). The stream ends when the store is freed. Keeps the newest 64
    /// levels a slow reader has not taken.
    public var pressureLevels: AsyncStream<MemoryPressureLevel> {
        let store = self
        return AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let sink = EventBroadcaster.Sink(
                receive: { event in
                    if event.kind == NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED) {
                        continuation.yield(MemoryPressureLevel(c: event.level))
                    }
                },
                finish: { continuation.finish() })
            let id = broadcaster.add(sink) {
                if let level = try? store.pressureLevel { continuation.yield(level) }
            }
            guard let id else { return }
            continuation.onTermination = { [broadcaster] _ in broadcaster.remove(id) }
        }
    }
}
