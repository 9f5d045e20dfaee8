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
/// CRITICAL, `.normal` -> NONE) and UIKit's memory warning (CRITICAL,
/// decaying to MODERATE and then NONE, since no "normal" follows it).
///
/// `start()` installs the hooks where they exist (Darwin; UIKit) and says
/// whether it did. `receive(_:)` and `receiveMemoryWarning()` are what the
/// hooks call, and may be called directly (tests, other platforms). They
/// call `signal` on the calling thread, unless another thread is inside
/// `signal` already: then that thread signals the new level once it is
/// done, and the call returns at once. The stores always end at `level`.
public final class MemoryPressureMonitor: @unchecked Sendable {
    public typealias Signal = @Sendable (MemoryPressureLevel) -> Void
    public typealias Scheduler = @Sendable (_ delay: TimeInterval, _ work: @escaping @Sendable () -> Void) -> Void

    private let signal: Signal
    private let scheduler: Scheduler
    private let warningDecay: TimeInterval
    private let lock = NSLock()
    private var current: MemoryPressureLevel = .none
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
    ///   - signal: what a level change does; by default signals every store.
    ///   - scheduler: runs the decay steps later; by default a global queue.
    public init(warningDecay: TimeInterval = 30,
                signal: @escaping Signal = { try? NexusStore.signalPressureAll($0) },
                scheduler: @escaping Scheduler = { delay, work in
                    DispatchQueue.global().asyncAfter(deadline: .now() + delay, execute: work)
                }) throws {
        _ = try milliseconds(warningDecay, "warningDecay")
        self.warningDecay = warningDecay
        self.signal = signal
        self.scheduler = scheduler
    }

    deinit { stop() }

    /// The last level this monitor signalled.
    public var level: MemoryPressureLevel {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// What Dispatch's memory pressure source reported.
    public func receive(_ pressure: DispatchMemoryPressure) {
        let level = MemoryPressureMapping.level(for: pressure)
        lock.lock()
        generation += 1
        current = level
        deliver()
    }

    /// A memory warning (UIKit's): CRITICAL now, decaying step by step.
    public func receiveMemoryWarning() {
        lock.lock()
        generation += 1
        let warning = generation
        current = .critical
        deliver()
        for step in MemoryPressureMapping.memoryWarningSteps(decay: warningDecay) {
            scheduler(step.after) { [weak self] in self?.decay(to: step.level, ifStill: warning) }
        }
    }

    private func decay(to level: MemoryPressureLevel, ifStill warning: UInt64) {
        lock.lock()
        guard generation == warning else { lock.unlock(); return }
        current = level
        deliver()
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

    /// Installs the OS hooks that exist on this platform; false where none
    /// do (Linux: call `receive` yourself).
    @discardableResult
    public func start() -> Bool {
        var installed = false
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

    /// Removes the OS hooks.
    public func stop() {
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
}
