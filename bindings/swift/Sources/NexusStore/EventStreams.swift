import CNexusStore
import Foundation

/// The store's one C event callback context: hands each event to every
/// live `events`/`pressureLevels` stream, and finishes them all when the
/// store's destroy releases it.
///
/// The library calls the callback on the thread that made each change,
/// after its locks are released, so two threads' events can arrive in
/// either order (and at once). Events are handed on under `lock`, in
/// sequence order: with a callback registered the store numbers them 1, 2,
/// 3, ... with no gap, so one that arrives before a lower number waits here
/// for it (the thread that delivers the missing one hands on the waiting
/// ones). A gap that lasts `gapTimeout` (a number this callback never gets:
/// an event queued while the store was being set up) is skipped; an event
/// numbered below what was handed on is handed on as it comes.
///
/// Sequence order is not the order of the changes themselves (the library
/// numbers an event as it hands it on), so after a PRESSURE_CHANGED is
/// handed on, the store's level is read and given to the level streams
/// (`Sink.level`). One thread at a time reads it, without `lock` (the read
/// may run the store's callbacks: a decayed signal's event, an expired
/// entry's listener), and reads again if another PRESSURE_CHANGED was
/// handed on meanwhile; so the last level given follows every change whose
/// event was handed on, and a level stream's last value is the store's level.
final class EventBroadcaster: @unchecked Sendable {
    /// Nothing that may call back into this broadcaster (a store call) runs
    /// under it.
    private let lock = NSLock()
    private var sinks: [UInt64: Sink] = [:]
    private var nextID: UInt64 = 0
    private var finished = false
    /// The sequence number of the next event to hand on.
    private var expected: UInt64 = 1
    /// Events that arrived before a lower-numbered one, by sequence.
    private var early: [UInt64: NexusEvent_C] = [:]
    /// A gap check is scheduled.
    private var gapCheckArmed = false
    /// A PRESSURE_CHANGED was handed on since the level was last read.
    private var levelStale = false
    /// The kinds the `events` streams get (`NexusStore.setDeliveredEvents`):
    /// the store itself always delivers PRESSURE_CHANGED here, for the level
    /// streams. DROPPED markers always come.
    private var eventKinds = NexusEventKinds.default.rawValue
    /// A thread is reading the level for the level sinks (`reportLevel`).
    private var reporting = false
    /// Sequence numbers skipped after `gapTimeout`, and events handed on
    /// after a higher number (read by tests through `skippedNumbers` and
    /// `lateEvents`).
    private var skipped: UInt64 = 0, late: UInt64 = 0
    var skippedNumbers: UInt64 { lock.lock(); defer { lock.unlock() }; return skipped }
    var lateEvents: UInt64 { lock.lock(); defer { lock.unlock() }; return late }
    /// How many streams are registered (read by tests).
    var sinkCount: Int { lock.lock(); defer { lock.unlock() }; return sinks.count }
    /// Reads the store's reported level (nil on failure).
    private let readLevel: () -> MemoryPressureLevel?
    /// How long a missing sequence number is waited for.
    static let gapTimeout: TimeInterval = 0.5

    init(readLevel: @escaping () -> MemoryPressureLevel? = { nil }) {
        self.readLevel = readLevel
    }

    struct Sink {
        let receive: (CNexusStore.NexusEvent) -> Void
        /// Gets only the kinds `setEventKinds` chose (an `events` stream).
        var chosenKindsOnly = false
        let finish: () -> Void
        /// The store's level, read after a PRESSURE_CHANGED was handed on.
        var level: ((MemoryPressureLevel) -> Void)? = nil
    }

    /// Adds a sink: it gets every event handed on from now on, and a level
    /// sink first the store's current level (read after it was added, so no
    /// change slips between). Returns nil (and finishes the sink) when the
    /// store is already gone.
    func add(_ sink: Sink) -> UInt64? {
        lock.lock()
        guard !finished else {
            lock.unlock()
            sink.finish()
            return nil
        }
        nextID += 1
        let id = nextID
        sinks[id] = sink
        if sink.level != nil { levelStale = true }
        lock.unlock()
        reportLevel()
        return id
    }

    func remove(_ id: UInt64) {
        lock.lock()
        sinks[id] = nil
        lock.unlock()
    }

    func deliver(_ event: CNexusStore.NexusEvent) {
        lock.lock()
        if event.sequence > expected {
            early[event.sequence] = event
            armGapCheck()
            lock.unlock()
            return
        }
        if event.sequence < expected { late += 1 }
        handOn(event)
        if event.sequence == expected {
            expected += 1
            handOnEarly()
        }
        lock.unlock()
        reportLevel()
    }

    /// The kinds the `events` streams get from now on.
    func setEventKinds(_ mask: UInt32) {
        lock.lock()
        eventKinds = mask
        lock.unlock()
    }

    /// Hands `event` to every sink that takes its kind. Called with `lock`
    /// held.
    private func handOn(_ event: CNexusStore.NexusEvent) {
        let chosen = event.kind == NexusEventKind(NEXUS_EVENT_KIND_DROPPED)
            || (event.kind < 32 && eventKinds & (UInt32(1) << event.kind) != 0)
        for sink in sinks.values where chosen || !sink.chosenKindsOnly { sink.receive(event) }
        if event.kind == NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED) { levelStale = true }
    }

    /// Hands on the early events that are next in sequence. Called with
    /// `lock` held.
    private func handOnEarly() {
        while let event = early.removeValue(forKey: expected) {
            expected += 1
            handOn(event)
        }
    }

    /// Gives the store's level to the level sinks if a PRESSURE_CHANGED was
    /// handed on since it was last read; called without `lock`. Another
    /// thread reading it already reads again (`levelStale`).
    private func reportLevel() {
        lock.lock()
        guard levelStale, !reporting else { lock.unlock(); return }
        reporting = true
        while levelStale {
            levelStale = false
            let wanted = !finished && sinks.values.contains(where: { $0.level != nil })
            lock.unlock()
            let level = wanted ? readLevel() : nil
            lock.lock()
            // Handed on during the read: the read may be older than it.
            if levelStale { continue }
            if let level { for sink in sinks.values { sink.level?(level) } }
        }
        reporting = false
        lock.unlock()
    }

    /// Schedules a check that skips the gap at `expected` if it still holds
    /// then. Called with `lock` held.
    private func armGapCheck() {
        guard !gapCheckArmed else { return }
        gapCheckArmed = true
        let gap = expected
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.gapTimeout) { [weak self] in
            self?.checkGap(gap)
        }
    }

    private func checkGap(_ gap: UInt64) {
        lock.lock()
        gapCheckArmed = false
        if let next = early.keys.min(), expected == gap {
            skipped += next - expected
            expected = next
            handOnEarly()
        }
        if !early.isEmpty { armGapCheck() }
        lock.unlock()
        reportLevel()
    }

    func finishAll() {
        lock.lock()
        finished = true
        let current = Array(sinks.values)
        sinks = [:]
        early = [:]
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
    /// and eviction runs: see `setDeliveredEvents`), in sequence order, also
    /// when several threads' calls report events at once. The stream ends
    /// when the store is freed (a task reading it that captures the store
    /// strongly keeps it: cancel the task, or capture it weakly). Keeps the
    /// newest 1024 events a slow reader has not taken.
    public var events: AsyncStream<NexusEvent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1024)) { continuation in
            let sink = EventBroadcaster.Sink(
                receive: { if let event = NexusEvent($0) { continuation.yield(event) } },
                chosenKindsOnly: true,
                finish: { continuation.finish() })
            guard let id = broadcaster.add(sink) else { return }
            continuation.onTermination = { [broadcaster] _ in broadcaster.remove(id) }
        }
    }

    /// The reported pressure level: the current one first, then each
    /// change (whatever `setDeliveredEvents` chose for `events`), a level
    /// the same as the one before left out. Changes made on several
    /// threads at once come in the order the store numbered their events,
    /// and the stream's last level is the store's level once the changes are
    /// delivered. The stream ends when the store is freed (a task reading
    /// it that captures the store strongly keeps it). Keeps the newest 64
    /// levels a slow reader has not taken.
    public var pressureLevels: AsyncStream<MemoryPressureLevel> {
        AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            // The last level yielded; only touched under the broadcaster's lock.
            final class Last { var level: MemoryPressureLevel? }
            let last = Last()
            let yield = { (level: MemoryPressureLevel) in
                if last.level != level {
                    last.level = level
                    continuation.yield(level)
                }
            }
            let sink = EventBroadcaster.Sink(
                receive: { event in
                    if event.kind == NexusEventKind(NEXUS_EVENT_KIND_PRESSURE_CHANGED) {
                        yield(MemoryPressureLevel(c: event.level))
                    }
                },
                finish: { continuation.finish() },
                level: yield)
            // Its first level is the store's, read by `add` (or by the
            // thread reading it for the other level streams at the moment).
            guard let id = broadcaster.add(sink) else { return }
            continuation.onTermination = { [broadcaster] _ in broadcaster.remove(id) }
        }
    }
}
