import CNexusStore
import Foundation

/// A governor's configuration (`NexusGovernorConfig`); the defaults are the
/// C library's, except the budget, which has none.
public struct GovernorConfig: Equatable, Sendable {
    /// The budget the members share, in charged bytes: at least 1, and at
    /// least the members' floors.
    public var budgetBytes: UInt64
    /// A `.moderate` signal to the governor sheds the members' total to this
    /// fraction of itself and holds the budget at this fraction until `.none`.
    public var signalModerateKeep: Double = 0.75
    /// The same for `.critical`; 0 < critical keep <= moderate keep <= 1.
    /// `.emergency` takes every member down to its floor.
    public var signalCriticalKeep: Double = 0.5
    /// Events kept for `pollEvent()` while no handler is set (the oldest
    /// dropped beyond); at least 1.
    public var eventQueueCapacity: Int = 1024

    public init(budgetBytes: UInt64) {
        self.budgetBytes = budgetBytes
    }

    /// The C struct; a negative or 0 `eventQueueCapacity` throws
    /// `.invalidArgument` (never taken as 0).
    func cConfig() throws -> NexusGovernorConfig {
        try requireAtLeastOne(eventQueueCapacity, "eventQueueCapacity")
        var c = NexusGovernorConfig()
        nexus_governor_config_init(&c)
        c.budget_bytes = budgetBytes
        c.signal_moderate_keep = signalModerateKeep
        c.signal_critical_keep = signalCriticalKeep
        c.event_queue_capacity = eventQueueCapacity
        return c
    }
}

/// Why a governor took memory from a store (`NEXUS_SHED_CAUSE_*`).
public enum ShedCause: UInt32, CaseIterable, Sendable {
    /// The members' total was above the budget.
    case overBudget = 0
    /// A pressure signal to the governor (or the lower budget it holds
    /// while the signal lasts).
    case pressure = 1
    /// The store was above its own ceiling.
    case ceiling = 2
    /// A cause this wrapper does not know (from a newer library).
    case unknown = 0xFFFF_FFFF

    init(c: NexusShedCause) { self = ShedCause(rawValue: c) ?? .unknown }
}

/// The kind of a `GovernorEvent` (`NEXUS_GOVERNOR_EVENT_KIND_*`).
public enum GovernorEventKind: UInt32, CaseIterable, Sendable {
    /// The governor took `bytes` (`count` entries) from store `storeID`.
    case shed = 0
    /// The total stayed `bytes` above the target after the governor took all
    /// it could (floors, pinned and in-use entries hold the rest); reported
    /// once until the target is met again.
    case unmet = 1
    /// Store `storeID` joined.
    case joined = 2
    /// Store `storeID` left (`leave(_:)`, or the store was freed).
    case left = 3
    /// The governor's signalled level changed from `previousLevel` to `level`.
    case levelChanged = 4
    /// A kind this wrapper does not know (from a newer library).
    case unknown = 0xFFFF_FFFF

    init(c: NexusGovernorEventKind) { self = GovernorEventKind(rawValue: c) ?? .unknown }
}

/// One governor event (`NexusGovernorEvent`); fields that do not apply to
/// its kind are 0.
public struct GovernorEvent: Equatable, Sendable {
    public var kind: GovernorEventKind
    /// Per governor, from 1.
    public var sequence: UInt64
    /// The store concerned (`NexusStore.id`); 0 for `.unmet`, `.levelChanged`.
    public var storeID: UInt64
    /// `.shed`, `.unmet`: why.
    public var cause: ShedCause
    /// `.shed`: charged bytes taken; `.unmet`: bytes still above the target.
    public var bytes: UInt64
    /// `.shed`: entries taken.
    public var count: UInt64
    /// `.shed`, `.joined`: the store's usage after the event.
    public var storeUsage: UInt64
    /// The members' total usage as the last pass read it: a JOINED or LEFT
    /// event does not re-read it (`metrics` reads it now).
    public var totalUsage: UInt64
    /// The budget in force after the event.
    public var budgetInForce: UInt64
    /// The governor's signalled level.
    public var level: MemoryPressureLevel
    /// `.levelChanged`: the level before; otherwise equal to `level`.
    public var previousLevel: MemoryPressureLevel
    /// The governor clock's time, in nanoseconds.
    public var timestampNs: UInt64

    init(_ e: NexusGovernorEvent) {
        kind = GovernorEventKind(c: e.kind)
        sequence = e.sequence
        storeID = e.store_id
        cause = ShedCause(c: e.cause)
        bytes = e.bytes
        count = e.count
        storeUsage = e.store_usage
        totalUsage = e.total_usage
        budgetInForce = e.budget_in_force
        level = MemoryPressureLevel(c: e.level)
        previousLevel = MemoryPressureLevel(c: e.previous_level)
        timestampNs = e.timestamp_ns
    }
}

/// A governor's figures (`NexusGovernorMetrics`). Sizes are charged bytes.
public struct GovernorMetrics: Equatable, Sendable {
    /// The configured budget.
    public var budgetBytes: UInt64
    /// The budget in force (lower while a signal lasts).
    public var budgetInForce: UInt64
    /// The signalled level.
    public var level: MemoryPressureLevel
    /// The members' total usage, each read in turn.
    public var totalUsage: UInt64
    /// Charged bytes taken from members since creation.
    public var shedBytes: UInt64
    /// Entries taken from members since creation.
    public var shedEntries: UInt64
    /// Bytes the total stayed above the target after the last check.
    public var unmetBytes: UInt64
    /// Members now.
    public var memberCount: UInt64

    init(_ m: NexusGovernorMetrics) {
        budgetBytes = m.budget_bytes
        budgetInForce = m.budget_in_force
        level = MemoryPressureLevel(c: m.level)
        totalUsage = m.total_usage
        shedBytes = m.shed_bytes
        shedEntries = m.shed_entries
        unmetBytes = m.unmet_bytes
        memberCount = m.member_count
    }
}

/// One member's figures (`NexusGovernorMemberMetrics`): its terms, its
/// usage, and what the governor took from it since it joined, by cause.
public struct GovernorMemberMetrics: Equatable, Sendable {
    /// The store (`NexusStore.id`).
    public var storeID: UInt64
    public var priority: UInt32
    public var floorBytes: UInt64
    /// 0 = no ceiling.
    public var ceilingBytes: UInt64
    public var usageBytes: UInt64
    public var entryCount: UInt64
    /// Charged bytes taken from it, cause `.overBudget`.
    public var shedBytesOverBudget: UInt64
    /// The same, cause `.pressure`.
    public var shedBytesPressure: UInt64
    /// The same, cause `.ceiling`.
    public var shedBytesCeiling: UInt64
    /// Entries taken from it.
    public var shedEntries: UInt64

    init(_ m: NexusGovernorMemberMetrics) {
        storeID = m.store_id
        priority = m.priority
        floorBytes = m.floor_bytes
        ceilingBytes = m.ceiling_bytes
        usageBytes = m.usage_bytes
        entryCount = m.entry_count
        shedBytesOverBudget = m.shed_bytes_over_budget
        shedBytesPressure = m.shed_bytes_pressure
        shedBytesCeiling = m.shed_bytes_ceiling
        shedEntries = m.shed_entries
    }
}

/// A budget governor (`nexus_governor_*`): one budget shared by several
/// stores, each with a priority (higher is kept longer), a floor the
/// governor never takes it below and an optional ceiling it is always shed
/// down to. When the members' total goes over the budget (checked after
/// each put into a member, and on `join`, `setMember`, `setBudget`,
/// `signalPressure` and `enforce`), the excess is taken from the lowest
/// priority first; those entries leave with `EvictionReason.governor`.
///
/// The governor never keeps a store alive: a store freed while a member
/// leaves (a `.left` event). Dropping the last reference to the governor
/// frees it (`nexus_governor_free_deferred`, which never blocks): its
/// members go on as plain stores. A store is in at most one governor.
///
/// Every method may be called from any thread. Failing calls throw
/// `NexusError` (`.invalidArgument` for bad terms or a bad config, `.busy`
/// for a store already in a governor).
public final class Governor: @unchecked Sendable {
    /// The C handle (generation-checked: a freed one is detected).
    let handle: OpaquePointer
    /// The configuration the governor was created with (`setBudget` changes
    /// the budget in force: read it from `metrics.budgetBytes`).
    public let config: GovernorConfig

    /// Creates a governor with no members. Throws `.invalidArgument` for a
    /// budget of 0, keeps out of order, a queue capacity below 1.
    public init(config: GovernorConfig) throws {
        var c = try config.cConfig()
        var out: OpaquePointer?
        try NexusError.check(nexus_governor_new(&c, &out))
        handle = out!
        self.config = config
    }

    /// A governor of `budgetBytes` with the other settings at their defaults.
    public convenience init(budgetBytes: UInt64) throws {
        try self.init(config: GovernorConfig(budgetBytes: budgetBytes))
    }

    deinit {
        // Never blocks; safe from inside a callback the governor caused.
        nexus_governor_free_deferred(handle)
    }

    /// Runs a C call on this governor, keeping `self` alive until it returns.
    @inline(__always)
    private func call(_ body: (OpaquePointer) -> NexusStatus) throws {
        let status = withExtendedLifetime(self) { body(handle) }
        try NexusError.check(status)
    }

    /// Runs a C call on this governor and `store`, keeping both alive; NOT_FOUND is `false`.
    @inline(__always)
    private func callFound(_ store: NexusStore, _ body: (OpaquePointer, OpaquePointer) -> NexusStatus) throws -> Bool {
        let status = withExtendedLifetime((self, store)) { body(handle, store.handle) }
        if status == statusNotFound { return false }
        try NexusError.check(status)
        return true
    }

    private static func member(priority: UInt32, floorBytes: UInt64, ceilingBytes: UInt64) -> NexusGovernorMember {
        var m = NexusGovernorMember()
        nexus_governor_member_init(&m)
        m.priority = priority
        m.floor_bytes = floorBytes
        m.ceiling_bytes = ceilingBytes
        return m
    }

    /// Adds `store` with these terms, then enforces the budget at once.
    /// `ceilingBytes` 0 = no ceiling, else at least `floorBytes`; the
    /// members' floors may not exceed the budget (`.invalidArgument`). A
    /// store already in a governor (this one or another): `.busy`.
    public func join(_ store: NexusStore, priority: UInt32 = 0, floorBytes: UInt64 = 0,
                     ceilingBytes: UInt64 = 0) throws {
        var m = Self.member(priority: priority, floorBytes: floorBytes, ceilingBytes: ceilingBytes)
        let status = withExtendedLifetime((self, store)) { nexus_governor_join(handle, store.handle, &m) }
        try NexusError.check(status)
    }

    /// Changes a member's terms (rules as for `join`), then enforces the
    /// budget. Not a member: `.notFound`.
    public func setMember(_ store: NexusStore, priority: UInt32, floorBytes: UInt64 = 0,
                          ceilingBytes: UInt64 = 0) throws {
        var m = Self.member(priority: priority, floorBytes: floorBytes, ceilingBytes: ceilingBytes)
        let status = withExtendedLifetime((self, store)) { nexus_governor_set_member(handle, store.handle, &m) }
        try NexusError.check(status)
    }

    /// Removes `store` from the governor: it is governed no more. `false` if
    /// it was not a member.
    @discardableResult
    public func leave(_ store: NexusStore) throws -> Bool {
        try callFound(store) { nexus_governor_leave($0, $1) }
    }

    /// Changes the budget (at least 1 and the members' floors), then
    /// enforces it at once.
    public func setBudget(_ budgetBytes: UInt64) throws {
        try call { nexus_governor_set_budget($0, budgetBytes) }
    }

    /// A pressure signal to the governor: a level at or above the one in
    /// force sheds the members' total to its keep fraction (`.moderate`,
    /// `.critical`) or every member to its floor (`.emergency`), lowest
    /// priority first, and holds the budget at that fraction (0 under
    /// `.emergency`) until `.none`. The members' own levels do not change.
    public func signalPressure(_ level: MemoryPressureLevel) throws {
        try call { nexus_governor_signal_pressure($0, level.rawValue) }
    }

    /// Checks the budget and the ceilings now. A member changed by other
    /// means (its own `setMaxCacheBytes`, an unpin) is otherwise seen at its
    /// next put.
    public func enforce() throws {
        try call { nexus_governor_enforce($0) }
    }

    /// The governor's figures.
    public var metrics: GovernorMetrics {
        get throws {
            var m = NexusGovernorMetrics()
            try call { nexus_governor_metrics($0, &m) }
            return GovernorMetrics(m)
        }
    }

    /// `store`'s figures as a member, or nil if it is not a member of this
    /// governor.
    public func memberMetrics(for store: NexusStore) throws -> GovernorMemberMetrics? {
        var m = NexusGovernorMemberMetrics()
        guard try callFound(store, { nexus_governor_member_metrics($0, $1, &m) }) else { return nil }
        return GovernorMemberMetrics(m)
    }

    /// The oldest queued event, or nil if none. Events are queued only while
    /// no handler is set (`setEventHandler`).
    public func pollEvent() throws -> GovernorEvent? {
        var e = NexusGovernorEvent()
        let status = withExtendedLifetime(self) { nexus_governor_poll_event(handle, &e) }
        if status == NexusStatus(NEXUS_STATUS_EMPTY) { return nil }
        try NexusError.check(status)
        return GovernorEvent(e)
    }

    /// Every queued event, oldest first, emptying the queue.
    public func drainEvents() throws -> [GovernorEvent] {
        var events: [GovernorEvent] = []
        while let e = try pollEvent() { events.append(e) }
        return events
    }

    /// Sets the handler told of each event instead of the queue (nil: back to
    /// the queue). It runs on the thread whose call produced the event (a
    /// member's put, a signal, a join) with no lock held, and may call into
    /// the governor and its stores. The governor holds the handler until it
    /// is replaced or the governor is freed: capture the governor weakly, or
    /// it is never freed.
    public func setEventHandler(_ handler: (@Sendable (GovernorEvent) -> Void)?) throws {
        guard let handler else {
            try call { nexus_governor_set_event_callback($0, nil, nil, nil) }
            return
        }
        // Retained here, released by the governor's destroy (on failure too).
        let ctx = CallbackBox<@Sendable (GovernorEvent) -> Void>(handler).retainedContext()
        try call { nexus_governor_set_event_callback($0, governorEventTrampoline, ctx, releaseCallbackBox) }
    }
}

private let governorEventTrampoline: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<NexusGovernorEvent>?) -> Void = { ctx, event in
    guard let event else { return }
    CallbackBox<@Sendable (GovernorEvent) -> Void>.from(ctx).body(GovernorEvent(event.pointee))
}

extension NexusStore {
    /// The store's id, unique in the process (`nexus_store_id`): the
    /// `storeID` of governor events and member metrics.
    public var id: UInt64 {
        get throws {
            var out: UInt64 = 0
            try call { nexus_store_id($0, &out) }
            return out
        }
    }
}
