import Foundation
#if canImport(Darwin)
import Dispatch
#endif
#if canImport(UIKit) && !os(watchOS)
import UIKit
#endif
#if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
import os
#endif

/// Connects the OS memory signals to every store (`NexusStore.signalPressureAll`):
/// Dispatch's memory pressure source (`.warning` -> MODERATE, `.critical` ->
/// CRITICAL, `.normal` -> NONE), UIKit's memory warning (CRITICAL,
/// decaying to MODERATE and then NONE, since no "normal" follows it), and
/// the process's headroom: what it may still allocate before jetsam ends it
/// (`os_proc_available_memory()`), against its limit (that plus its
/// footprint), polled every `HeadroomOptions.interval` seconds; at most 10%
/// left is MODERATE, 5% CRITICAL, 2% EMERGENCY, as the Linux monitor's
/// headroom source. The level signalled is the highest of the three.
/// Headroom is the only early sign before a jetsam kill: Dispatch's source
/// speaks of the whole system, and the warning may come late or never.
///
/// `start()` installs the hooks where they exist (Darwin; UIKit; headroom
/// polling where a reader exists) and says whether it did. `receive(_:)`,
/// `receiveMemoryWarning()` and `receive(headroom:)` are what the hooks
/// call, and may be called directly (tests, other platforms). They call
/// `signal` on the calling thread, unless another thread is inside
/// `signal` already: then that thread signals the new level once it is
/// done, and the call returns at once. The stores always end at `level`.
public final class MemoryPressureMonitor: @unchecked Sendable {
    public typealias Signal = @Sendable (MemoryPressureLevel) -> Void
    public typealias Scheduler = @Sendable (_ delay: TimeInterval, _ work: @escaping @Sendable () -> Void) -> Void
    /// Reads the process's headroom now; nil when it cannot (no reading).
    public typealias HeadroomReader = @Sendable () -> MemoryHeadroom?

    /// How the headroom is polled, with the Linux monitor's rules: a higher
    /// level is signalled at once, the level in force again every
    /// `resignal` seconds while it lasts (every store sheds again: the
    /// process is still short), and a lower one (NONE included) only after
    /// `minLevel` seconds without a reading at the higher level.
    public struct HeadroomOptions: Sendable {
        /// Seconds between readings; 0 polls never (readings come only
        /// through `receive(headroom:)`). Polls come at most every
        /// `MemoryPressureMonitor.minimumPollInterval` (10 ms): a shorter
        /// interval polls that often. Default 1.
        public var interval: TimeInterval
        /// Default 5.
        public var minLevel: TimeInterval
        /// 0 = never. Default 5.
        public var resignal: TimeInterval
        /// The reading; by default `MemoryPressureMonitor.processHeadroom`
        /// (nil where the OS has none: macOS, Linux), nil for no headroom.
        public var read: HeadroomReader?
        /// Seconds on a monotonic clock, for `minLevel` and `resignal`; by
        /// default `ProcessInfo.systemUptime`.
        public var clock: @Sendable () -> TimeInterval

        public init(interval: TimeInterval = 1, minLevel: TimeInterval = 5, resignal: TimeInterval = 5,
                    read: HeadroomReader? = MemoryPressureMonitor.processHeadroom,
                    clock: @escaping @Sendable () -> TimeInterval = { ProcessInfo.processInfo.systemUptime }) {
            self.interval = interval
            self.minLevel = minLevel
            self.resignal = resignal
            self.read = read
            self.clock = clock
        }
    }

    /// The shortest delay between two headroom polls, in seconds: a
    /// shorter `HeadroomOptions.interval` (1e-9 passes its check) would
    /// spend a core on polling.
    public static let minimumPollInterval: TimeInterval = 0.01

    private let signal: Signal
    private let scheduler: Scheduler
    private let warningDecay: TimeInterval
    private let headroom: HeadroomOptions
    private let lock = NSLock()
    /// The level signalled last: the higher of `osLevel` and `headroomLevel`.
    private var current: MemoryPressureLevel = .none
    /// Dispatch's level, or a memory warning's step.
    private var osLevel: MemoryPressureLevel = .none
    /// The headroom's level in force (with its hold, see `HeadroomOptions`).
    private var heldHeadroom: MemoryPressureLevel = .none
    /// When (`HeadroomOptions.clock`) the level in force was last read and
    /// last signalled.
    private var headroomLevelReadAt: TimeInterval = 0
    private var headroomSignalledAt: TimeInterval = 0
    /// Bumped by `stop()`: a poll of an older `start()` ends.
    private var pollGeneration: UInt64 = 0
    private var polling = false
    /// Bumped by every OS signal: a decay step of an older warning is stale.
    private var generation: UInt64 = 0
    /// A thread is handing levels to `signal` (see `deliver`).
    private var delivering = false
    /// A level was set while that thread was in `signal`: it goes round again.
    private var redeliver = false
    #if canImport(Darwin)
    private var source: DispatchSourceMemoryPressure?
    #endif
    #if canImport(UIKit) && !os(watchOS)
    private var warningObserver: NSObjectProtocol?
    #endif

    /// - Parameters:
    ///   - warningDecay: seconds a memory warning's CRITICAL (then MODERATE)
    ///     lasts. Negative, NaN, infinite or beyond `UInt64.max` ms throws
    ///     `.invalidArgument`, as every duration of this package does (a
    ///     warning would hold CRITICAL for good).
    ///   - headroom: how the headroom is read and polled; its durations
    ///     throw `.invalidArgument` as `warningDecay` does.
    ///   - signal: what a level change does; by default signals every store.
    ///   - scheduler: runs the decay steps and the headroom polls `delay`
    ///     seconds later (not inside its own call: such a scheduler gets no
    ///     polling, see `start()`); by default a global queue.
    public init(warningDecay: TimeInterval = 30,
                headroom: HeadroomOptions = HeadroomOptions(),
                signal: @escaping Signal = { try? NexusStore.signalPressureAll($0) },
                scheduler: @escaping Scheduler = { delay, work in
                    DispatchQueue.global().asyncAfter(deadline: .now() + delay, execute: work)
                }) throws {
        _ = try milliseconds(warningDecay, "warningDecay")
        _ = try milliseconds(headroom.interval, "headroom.interval")
        _ = try milliseconds(headroom.minLevel, "headroom.minLevel")
        _ = try milliseconds(headroom.resignal, "headroom.resignal")
        self.warningDecay = warningDecay
        self.headroom = headroom
        self.signal = signal
        self.scheduler = scheduler
    }

    deinit { stop() }

    /// The last level this monitor signalled: the highest of Dispatch's (or
    /// a memory warning's) and the headroom's.
    public var level: MemoryPressureLevel {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// The headroom's level in force (NONE before any reading).
    public var headroomLevel: MemoryPressureLevel {
        lock.lock(); defer { lock.unlock() }
        return heldHeadroom
    }

    /// What Dispatch's memory pressure source reported.
    public func receive(_ pressure: DispatchMemoryPressure) {
        let level = MemoryPressureMapping.level(for: pressure)
        lock.lock()
        generation += 1
        osLevel = level
        deliverOSLevel()
    }

    /// Hands the level to the stores after the OS level changed (called
    /// with `lock` held; returns with it released). An OS event is
    /// delivered as it comes (a repeat sheds again), unless the headroom's
    /// higher level hides it: then only a change of the level is.
    private func deliverOSLevel() {
        let combined = max(osLevel, heldHeadroom)
        if combined == current && osLevel < heldHeadroom {
            lock.unlock()
            return
        }
        current = combined
        deliver()
    }

    /// A memory warning (UIKit's): CRITICAL now, decaying step by step.
    /// UIKit posts it on the main thread: the stores shed there (objects
    /// released there too), unless another thread is signalling already.
    public func receiveMemoryWarning() {
        lock.lock()
        generation += 1
        let warning = generation
        osLevel = .critical
        deliverOSLevel()
        for step in MemoryPressureMapping.memoryWarningSteps(decay: warningDecay) {
            scheduler(step.after) { [weak self] in self?.decay(to: step.level, ifStill: warning) }
        }
    }

    private func decay(to level: MemoryPressureLevel, ifStill warning: UInt64) {
        lock.lock()
        guard generation == warning else { lock.unlock(); return }
        osLevel = level
        deliverOSLevel()
    }

    /// A headroom reading (what each poll calls; call it yourself where no
    /// reader polls). Signals when the level in force changes (a higher one
    /// at once, a lower one once `minLevel` seconds passed without a
    /// reading at the level in force), or when it is above NONE and
    /// `resignal` seconds passed since it was last signalled; not when
    /// Dispatch's or a warning's higher level hides it.
    public func receive(headroom reading: MemoryHeadroom) {
        let read = MemoryPressureMapping.level(for: reading)
        let now = headroom.clock()
        lock.lock()
        var signal = false
        if read > heldHeadroom {
            heldHeadroom = read
            headroomLevelReadAt = now
            headroomSignalledAt = now
            signal = true
        } else if read == heldHeadroom {
            headroomLevelReadAt = now
            // Read again while it lasts: signalled again every `resignal`
            // (only then, as the Linux monitor: a lower reading held by
            // `minLevel` is no reason to shed again).
            if heldHeadroom > .none, headroom.resignal > 0, now - headroomSignalledAt >= headroom.resignal {
                headroomSignalledAt = now
                signal = true
            }
        } else if now - headroomLevelReadAt >= headroom.minLevel {
            heldHeadroom = read
            headroomLevelReadAt = now
            headroomSignalledAt = now
            signal = true
        }
        let combined = max(osLevel, heldHeadroom)
        // A change of the headroom's level that the OS level hides changes
        // nothing the stores see.
        guard signal, combined != current || combined == heldHeadroom else {
            lock.unlock()
            return
        }
        current = combined
        deliver()
    }

    /// One poll: reads, then schedules the next unless `stop()` came since.
    private func poll(_ started: UInt64) {
        lock.lock()
        guard polling, pollGeneration == started, let read = headroom.read else { lock.unlock(); return }
        lock.unlock()
        if let reading = read() { receive(headroom: reading) }
        schedulePoll(started)
    }

    /// Schedules the next poll. A scheduler that runs `work` inside its own
    /// call (not later) would poll again inside the poll, without end (a
    /// stack overflow): such a run polls nothing, and polling stops
    /// (returns false).
    @discardableResult
    private func schedulePoll(_ started: UInt64) -> Bool {
        let call = SchedulerCall()
        scheduler(max(headroom.interval, Self.minimumPollInterval)) { [weak self] in
            guard !call.isInside() else { return }
            self?.poll(started)
        }
        guard call.end() else { return true }
        lock.lock()
        if pollGeneration == started { polling = false }
        lock.unlock()
        return false
    }

    /// Hands `current` to `signal`; called with `lock` held, returns with it
    /// released. One thread at a time delivers, without the lock while
    /// `signal` runs: a level set meanwhile (on another thread, or from
    /// inside `signal`) is left to that thread, which goes round again with
    /// whatever is current once `signal` returns. So the last level the
    /// stores get is always `level`, even when a slow shed for one signal
    /// overlaps the next (two threads calling `signal` themselves could end
    /// in either order).
    private func deliver() {
        if delivering {
            redeliver = true
            lock.unlock()
            return
        }
        delivering = true
        while true {
            let level = current
            redeliver = false
            lock.unlock()
            signal(level)
            lock.lock()
            if !redeliver {
                delivering = false
                lock.unlock()
                return
            }
        }
    }

    /// Installs the OS hooks that exist on this platform, and starts polling
    /// the headroom where a reader exists (`HeadroomOptions.read`, interval
    /// above 0); false where there is nothing to install (Linux with the
    /// default options: call `receive` yourself). A second `start()` adds
    /// nothing. The `scheduler` must run the polls later, not inside its
    /// call: one that runs `work` at once polls nothing (false on Linux).
    @discardableResult
    public func start() -> Bool {
        var installed = false
        if headroom.read != nil, headroom.interval > 0 {
            lock.lock()
            let started = polling ? nil : pollGeneration
            polling = true
            lock.unlock()
            installed = started.map { schedulePoll($0) } ?? true
        }
        #if canImport(Darwin)
        if source == nil {
            let source = DispatchSource.makeMemoryPressureSource(eventMask: [.normal, .warning, .critical], queue: .global())
            source.setEventHandler { [weak self, weak source] in
                guard let self, let source,
                      let pressure = MemoryPressureMapping.dispatchPressure(rawFlags: source.data.rawValue) else { return }
                self.receive(pressure)
            }
            source.resume()
            self.source = source
        }
        installed = true
        #endif
        #if canImport(UIKit) && !os(watchOS)
        if warningObserver == nil {
            warningObserver = NotificationCenter.default.addObserver(
                forName: UIApplication.didReceiveMemoryWarningNotification, object: nil, queue: nil
            ) { [weak self] _ in self?.receiveMemoryWarning() }
        }
        installed = true
        #endif
        return installed
    }

    /// Removes the OS hooks and stops polling (a poll already running ends
    /// its reading). The level stays as it is.
    public func stop() {
        lock.lock()
        polling = false
        pollGeneration += 1
        lock.unlock()
        #if canImport(Darwin)
        source?.cancel()
        source = nil
        #endif
        #if canImport(UIKit) && !os(watchOS)
        if let warningObserver { NotificationCenter.default.removeObserver(warningObserver) }
        warningObserver = nil
        #endif
    }

    /// The memory this process may still allocate (`os_proc_available_memory()`),
    /// where it exists (iOS, tvOS, watchOS, visionOS); nil elsewhere.
    public static var availableMemory: Int? {
        #if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
        return Int(os_proc_available_memory())
        #else
        return nil
        #endif
    }

    /// The process's headroom where the OS tells it (iOS, tvOS, watchOS,
    /// visionOS devices): `os_proc_available_memory()` against itself plus
    /// the process's `phys_footprint` (`task_info(TASK_VM_INFO)`), which is
    /// what jetsam compares with the limit. `os_proc_available_memory()` is
    /// 0 when the process has already exceeded its limit (or is not an app,
    /// which code in an app on these systems always is): that reads as no
    /// room left, EMERGENCY. nil elsewhere: macOS and Linux, and the
    /// simulator, whose processes have no limit (it would read as 0); and
    /// where the footprint cannot be read.
    public static let processHeadroom: HeadroomReader? = {
        #if (os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)) && !targetEnvironment(simulator)
        return {
            guard let footprint = physFootprint() else { return nil }
            let available = UInt64(os_proc_available_memory())
            let (limit, overflow) = available.addingReportingOverflow(footprint)
            return overflow || limit == 0 ? nil : MemoryHeadroom(available: available, limit: limit)
        }
        #else
        return nil
        #endif
    }()

    #if os(iOS) || os(tvOS) || os(watchOS) || os(visionOS)
    private static func physFootprint() -> UInt64? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return result == KERN_SUCCESS ? info.phys_footprint : nil
    }
    #endif
}

/// One call of a monitor's scheduler for a poll: tells whether the
/// scheduler ran the work inside that call, on the calling thread.
private final class SchedulerCall: @unchecked Sendable {
    private let lock = NSLock()
    private let thread = pthread_self()
    private var inCall = true
    private var ranInside = false

    /// Called by the work: true (and remembered) when it runs inside the
    /// scheduler's call on the thread that made it.
    func isInside() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if inCall && pthread_equal(thread, pthread_self()) != 0 { ranInside = true }
        return ranInside && inCall
    }

    /// The scheduler's call returned: whether the work ran inside it.
    func end() -> Bool {
        lock.lock(); defer { lock.unlock() }
        inCall = false
        return ranInside
    }
}
