import Foundation
import XCTest
@testable import NexusStore

final class PressureTests: XCTestCase {
    func testSignalsShedAndLevelsAreReported() throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        for i in 0..<20 { try store.put(Data(count: 1000), forKey: "k\(i)") }
        try store.put(Data(count: 1000), forKey: "pinned")
        try store.pin("pinned")
        let before = try store.memoryMetrics.currentUsage
        try store.signalPressure(.critical)
        XCTAssertEqual(try store.pressureLevel, .critical)
        let after = try store.memoryMetrics
        XCTAssertLessThanOrEqual(after.currentUsage, before / 2)
        XCTAssertGreaterThan(after.evictionCount, 0)
        XCTAssertTrue(try store.contains("pinned"))
        try store.signalPressure(.none)
        XCTAssertEqual(try store.pressureLevel, .none)
        XCTAssertEqual(try store.memoryMetrics.effectiveBudget, 100_000)
    }

    func testEmergencyRefusesUnpinnedPutsUntilItEnds() throws {
        let store = try NexusStore(maxCacheBytes: 100_000)
        try store.put(bytes("v"), forKey: "gone")
        try store.signalPressure(.emergency)
        XCTAssertFalse(try store.contains("gone"))
        XCTAssertThrowsNexus(.overBudget, try store.put(bytes("v"), forKey: "refused"))
        try store.pin("allowed")
        XCTAssertNoThrow(try store.put(bytes("v"), forKey: "allowed"))
        try store.signalPressure(.none)
        XCTAssertNoThrow(try store.put(bytes("v"), forKey: "refused"))
    }

    func testSignalPressureAllReachesEveryStore() throws {
        defer { try? NexusStore.signalPressureAll(.none) }
        let a = try NexusStore(maxCacheBytes: 100_000)
        let b = try NexusStore(maxCacheBytes: 100_000)
        try a.put(bytes("1"), forKey: "k")
        try b.put(bytes("2"), forKey: "k")
        try NexusStore.signalPressureAll(.emergency)
        XCTAssertEqual(try a.pressureLevel, .emergency)
        XCTAssertEqual(try b.pressureLevel, .emergency)
        XCTAssertFalse(try a.contains("k"))
        XCTAssertFalse(try b.contains("k"))
        // Stores created later start at the last level signalled to all.
        let later = try NexusStore()
        XCTAssertEqual(try later.pressureLevel, .emergency)
        try NexusStore.signalPressureAll(.none)
        XCTAssertEqual(try later.pressureLevel, .none)
    }

    // MARK: - The mapping tables (the Darwin glue only calls these)

    func testDispatchEventsMapToLevels() {
        XCTAssertEqual(MemoryPressureMapping.level(for: .normal), .none)
        XCTAssertEqual(MemoryPressureMapping.level(for: .warning), .moderate)
        XCTAssertEqual(MemoryPressureMapping.level(for: .critical), .critical)
    }

    func testDispatchFlagsGiveTheMostSevereEvent() {
        // DISPATCH_MEMORYPRESSURE_NORMAL 0x1, WARN 0x2, CRITICAL 0x4.
        let table: [(UInt, DispatchMemoryPressure?)] = [
            (0x0, nil), (0x1, .normal), (0x2, .warning), (0x4, .critical),
            (0x3, .warning), (0x6, .critical), (0x7, .critical), (0x8, nil),
        ]
        for (flags, expected) in table {
            XCTAssertEqual(MemoryPressureMapping.dispatchPressure(rawFlags: flags), expected, "flags \(flags)")
        }
    }

    func testMemoryWarningDecaysFromCriticalToModerateToNone() {
        let table: [(TimeInterval, MemoryPressureLevel)] = [
            (0, .critical), (29.9, .critical), (30, .moderate), (59.9, .moderate), (60, .none), (1000, .none),
        ]
        for (elapsed, expected) in table {
            XCTAssertEqual(MemoryPressureMapping.levelAfterMemoryWarning(elapsed: elapsed, decay: 30), expected, "at \(elapsed)s")
        }
        let steps = MemoryPressureMapping.memoryWarningSteps(decay: 10)
        XCTAssertEqual(steps.map(\.after), [10, 20])
        XCTAssertEqual(steps.map(\.level), [.moderate, .none])
    }

    // MARK: - The monitor, driven by hand (no OS hooks on Linux)

    /// Collects the monitor's scheduled decay steps to run them by hand.
    final class ManualScheduler: @unchecked Sendable {
        private let lock = NSLock()
        private var pending: [(TimeInterval, @Sendable () -> Void)] = []
        func schedule(_ delay: TimeInterval, _ work: @escaping @Sendable () -> Void) {
            lock.lock(); pending.append((delay, work)); lock.unlock()
        }
        var delays: [TimeInterval] { lock.lock(); defer { lock.unlock() }; return pending.map(\.0) }
        func runAll() {
            lock.lock(); let work = pending; pending = []; lock.unlock()
            for (_, step) in work.sorted(by: { $0.0 < $1.0 }) { step() }
        }
        func runFirst() {
            lock.lock(); let step = pending.removeFirst(); lock.unlock()
            step.1()
        }
    }

    func testMonitorSignalsDispatchEventsAndDecaysWarnings() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let scheduler = ManualScheduler()
        let monitor = try MemoryPressureMonitor(warningDecay: 5, signal: { signalled.append($0) },
                                            scheduler: { scheduler.schedule($0, $1) })
        monitor.receive(.warning)
        monitor.receive(.critical)
        monitor.receive(.normal)
        XCTAssertEqual(signalled.all, [.moderate, .critical, .none])

        monitor.receiveMemoryWarning()
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(scheduler.delays, [5, 10])
        scheduler.runFirst()
        XCTAssertEqual(monitor.level, .moderate)
        scheduler.runFirst()
        XCTAssertEqual(monitor.level, .none)
        XCTAssertEqual(signalled.all, [.moderate, .critical, .none, .critical, .moderate, .none])
    }

    func testANewerSignalCancelsAnOlderWarningsDecay() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let scheduler = ManualScheduler()
        let monitor = try MemoryPressureMonitor(warningDecay: 5, signal: { signalled.append($0) },
                                            scheduler: { scheduler.schedule($0, $1) })
        monitor.receiveMemoryWarning()
        monitor.receive(.warning)  // Dispatch speaks after the warning: its level stands
        scheduler.runAll()
        XCTAssertEqual(monitor.level, .moderate)
        XCTAssertEqual(signalled.all, [.critical, .moderate])
    }

    func testTheStoresEndAtTheMonitorsLevelWhenSignalsOverlap() throws {
        // A slow `signal` for MODERATE (a long shed) is still running when
        // CRITICAL arrives on another thread: the stores must end at
        // CRITICAL, the monitor's level, not at the MODERATE that finished last.
        let signalled = Recorder<MemoryPressureLevel>()
        let inModerate = DispatchSemaphore(value: 0)
        let finishModerate = DispatchSemaphore(value: 0)
        let monitor = try MemoryPressureMonitor(signal: { level in
            if level == .moderate {
                inModerate.signal()
                finishModerate.wait()
            }
            signalled.append(level)
        }, scheduler: { _, _ in })
        let first = DispatchGroup()
        DispatchQueue.global().async(group: first) { monitor.receive(.warning) }
        inModerate.wait()
        monitor.receive(.critical)  // returns at once: the first thread delivers it
        finishModerate.signal()
        first.wait()
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(signalled.all, [.moderate, .critical])
    }

    func testASignalThatSignalsAgainFromInsideIsDeliveredAfterIt() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        var monitor: MemoryPressureMonitor?
        monitor = try MemoryPressureMonitor(signal: { level in
            signalled.append(level)
            if level == .critical { monitor?.receive(.normal) }
        }, scheduler: { _, _ in })
        monitor?.receive(.critical)
        XCTAssertEqual(monitor?.level, MemoryPressureLevel.none)
        XCTAssertEqual(signalled.all, [.critical, .none])
        monitor = nil
    }

    func testMonitorSignalsEveryStoreByDefault() throws {
        defer { try? NexusStore.signalPressureAll(.none) }
        let store = try NexusStore(maxCacheBytes: 10_000)
        let monitor = try MemoryPressureMonitor(scheduler: { _, _ in })
        monitor.receive(.critical)
        XCTAssertEqual(try store.pressureLevel, .critical)
        monitor.receive(.normal)
        XCTAssertEqual(try store.pressureLevel, .none)
    }

    func testOSHooksAndHeadroomExistOnlyOnApplePlatforms() throws {
        let monitor = try MemoryPressureMonitor(signal: { _ in }, scheduler: { _, _ in })
        #if canImport(Darwin)
        XCTAssertTrue(monitor.start())
        monitor.stop()
        #else
        XCTAssertFalse(monitor.start())
        XCTAssertNil(MemoryPressureMonitor.availableMemory)
        #endif
    }
}
