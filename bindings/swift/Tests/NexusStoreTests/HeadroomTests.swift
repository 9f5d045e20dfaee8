import Foundation
import XCTest
@testable import NexusStore

/// The monitor's headroom source (`os_proc_available_memory()` on iOS),
/// driven by hand: readings, a manual clock and a manual scheduler.
final class HeadroomTests: XCTestCase {
    final class ManualClock: @unchecked Sendable {
        private let lock = NSLock()
        private var seconds: TimeInterval = 100
        var now: TimeInterval { lock.lock(); defer { lock.unlock() }; return seconds }
        func advance(_ by: TimeInterval) { lock.lock(); seconds += by; lock.unlock() }
    }

    /// `percent` of a 1 GB limit left.
    private func left(_ percent: UInt64) -> MemoryHeadroom {
        MemoryHeadroom(available: percent * 10_000_000, limit: 1_000_000_000)
    }

    func testHeadroomMapsToLevelsAtTenFiveAndTwoPercent() {
        XCTAssertEqual(MemoryPressureMapping.level(for: left(11)), .none)
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: 100_000_001, limit: 1_000_000_000)), .none)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(10)), .moderate)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(6)), .moderate)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(5)), .critical)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(3)), .critical)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(2)), .emergency)
        XCTAssertEqual(MemoryPressureMapping.level(for: left(0)), .emergency)
        // No limit is no reading; the extremes do not overflow.
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: 5, limit: 0)), .none)
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: .max, limit: .max)), .none)
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: .max / 10, limit: .max)), .moderate)
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: 1, limit: .max)), .emergency)
        // More left than the limit (a reading taken as the footprint fell).
        XCTAssertEqual(MemoryPressureMapping.level(for: MemoryHeadroom(available: 20, limit: 10)), .none)
    }

    private func makeMonitor(_ signalled: Recorder<MemoryPressureLevel>, _ clock: ManualClock,
                         interval: TimeInterval = 0, read: MemoryPressureMonitor.HeadroomReader? = nil,
                         scheduler: PressureTests.ManualScheduler? = nil) throws -> MemoryPressureMonitor {
        try MemoryPressureMonitor(
            headroom: .init(interval: interval, minLevel: 5, resignal: 5, read: read, clock: { clock.now }),
            signal: { signalled.append($0) },
            scheduler: { delay, work in scheduler?.schedule(delay, work) })
    }

    func testARiseIsSignalledAtOnceAndAFallOnlyAfterMinLevel() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let clock = ManualClock()
        let monitor = try makeMonitor(signalled, clock)
        monitor.receive(headroom: left(50))
        XCTAssertEqual(signalled.all, [])
        monitor.receive(headroom: left(9))
        XCTAssertEqual(signalled.all, [.moderate])
        clock.advance(1)
        monitor.receive(headroom: left(4))
        XCTAssertEqual(signalled.all, [.moderate, .critical])
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(monitor.headroomLevel, .critical)

        // The pressure eases: CRITICAL holds for 5 s after its last reading.
        clock.advance(1)
        monitor.receive(headroom: left(50))
        clock.advance(3.5)
        monitor.receive(headroom: left(50))
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(signalled.all, [.moderate, .critical])
        clock.advance(0.5)  // 5 s since CRITICAL was last read
        monitor.receive(headroom: left(8))
        XCTAssertEqual(signalled.all, [.moderate, .critical, .moderate], "steps down to the level read")
        clock.advance(5)
        monitor.receive(headroom: left(50))
        XCTAssertEqual(signalled.all, [.moderate, .critical, .moderate, .none])
        XCTAssertEqual(monitor.level, .none)
        XCTAssertEqual(monitor.headroomLevel, .none)
    }

    func testALastingShortageIsSignalledAgainEveryResignal() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let clock = ManualClock()
        let monitor = try makeMonitor(signalled, clock)
        monitor.receive(headroom: left(1))
        for _ in 0..<10 {
            clock.advance(1)
            monitor.receive(headroom: left(1))
        }
        // At 0 s, then 5 s and 10 s later: each makes every store shed again.
        XCTAssertEqual(signalled.all, [.emergency, .emergency, .emergency])
        // No readings under pressure: no repeats either (a poll is what repeats).
        clock.advance(60)
        XCTAssertEqual(signalled.all.count, 3)
    }

    func testTheLevelIsTheHighestOfDispatchAndHeadroom() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let clock = ManualClock()
        let monitor = try makeMonitor(signalled, clock)
        monitor.receive(headroom: left(4))  // CRITICAL
        monitor.receive(.warning)           // MODERATE: the headroom's CRITICAL stands
        XCTAssertEqual(monitor.level, .critical)
        monitor.receive(.normal)
        XCTAssertEqual(monitor.level, .critical, "Dispatch's normal does not end the process's own shortage")
        // Nor does it shed again: under the headroom's level, Dispatch's
        // events change nothing the stores see (audit 14).
        XCTAssertEqual(signalled.all, [.critical])

        // Dispatch above the headroom: the headroom's changes under it are silent.
        monitor.receive(.critical)
        clock.advance(6)
        monitor.receive(headroom: left(50))  // headroom falls to NONE: CRITICAL stays (Dispatch's)
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(monitor.headroomLevel, .none)
        monitor.receive(headroom: left(8))   // MODERATE under Dispatch's CRITICAL: nothing to say
        XCTAssertEqual(signalled.all.count, 2)
        monitor.receive(.normal)             // Dispatch ends: the headroom's MODERATE is left
        XCTAssertEqual(monitor.level, .moderate)
        XCTAssertEqual(signalled.all, [.critical, .critical, .moderate])

        // A memory warning's decay ends at the headroom's level, not at NONE.
        let scheduler = PressureTests.ManualScheduler()
        let warned = Recorder<MemoryPressureLevel>()
        let second = try MemoryPressureMonitor(
            warningDecay: 5, headroom: .init(interval: 0, read: nil, clock: { clock.now }),
            signal: { warned.append($0) }, scheduler: { scheduler.schedule($0, $1) })
        second.receive(headroom: left(9))
        second.receiveMemoryWarning()
        scheduler.runAll()
        XCTAssertEqual(warned.all, [.moderate, .critical, .moderate], "the last step changes nothing")
        XCTAssertEqual(second.level, .moderate)
    }

    /// As the Linux monitor: the level is signalled again only when it is
    /// read again, not on a lower reading that `minLevel` holds it through
    /// (audit 14: a MODERATE reading re-shed every store at CRITICAL).
    func testOnlyAReadingAtTheLevelSignalsItAgain() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let clock = ManualClock()
        let monitor = try makeMonitor(signalled, clock)
        monitor.receive(headroom: left(4))  // CRITICAL at 0 s
        clock.advance(3)
        monitor.receive(headroom: left(4))  // read again, 3 s: not yet
        clock.advance(2)
        monitor.receive(headroom: left(8))  // MODERATE at 5 s: held, not signalled again
        XCTAssertEqual(signalled.all, [.critical])
        clock.advance(1)
        monitor.receive(headroom: left(4))  // CRITICAL read at 6 s: again
        XCTAssertEqual(signalled.all, [.critical, .critical])
    }

    func testStartPollsTheReaderUntilStop() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let clock = ManualClock()
        let scheduler = PressureTests.ManualScheduler()
        let readings = Recorder<Int>()
        let next = Recorder<MemoryHeadroom?>()
        let monitor = try makeMonitor(signalled, clock, interval: 1, read: {
            readings.append(1)
            return next.all.last ?? nil
        }, scheduler: scheduler)
        XCTAssertTrue(monitor.start(), "a reader to poll is something installed")
        XCTAssertTrue(monitor.start())
        XCTAssertEqual(scheduler.delays, [1], "a second start adds no second poll")
        next.append(left(3))
        scheduler.runFirst()
        XCTAssertEqual(readings.all.count, 1)
        XCTAssertEqual(signalled.all, [.critical])
        XCTAssertEqual(scheduler.delays, [1], "each poll schedules the next")
        next.append(nil)  // a failed reading changes nothing
        scheduler.runFirst()
        XCTAssertEqual(monitor.level, .critical)
        XCTAssertEqual(scheduler.delays, [1])

        monitor.stop()
        scheduler.runAll()
        XCTAssertEqual(readings.all.count, 2, "the poll pending at stop() reads nothing")
        XCTAssertEqual(scheduler.delays, [], "and schedules nothing")
        XCTAssertEqual(monitor.level, .critical, "stop() keeps the level")

        // Started again: polls again.
        XCTAssertTrue(monitor.start())
        next.append(left(50))
        clock.advance(10)
        scheduler.runFirst()
        XCTAssertEqual(signalled.all, [.critical, .none])
        monitor.stop()
    }

    func testAPollAfterTheMonitorIsGoneDoesNothing() throws {
        let scheduler = PressureTests.ManualScheduler()
        let readings = Recorder<Int>()
        var monitor: MemoryPressureMonitor? = try MemoryPressureMonitor(
            headroom: .init(interval: 1, read: { readings.append(1); return nil }),
            signal: { _ in }, scheduler: { scheduler.schedule($0, $1) })
        XCTAssertTrue(monitor!.start())
        monitor = nil
        scheduler.runAll()
        XCTAssertEqual(readings.all.count, 0)
        XCTAssertEqual(scheduler.delays, [])
    }

    func testNoReaderOrNoIntervalInstallsNoPolling() throws {
        let scheduler = PressureTests.ManualScheduler()
        let withoutInterval = try MemoryPressureMonitor(
            headroom: .init(interval: 0, read: { nil }), signal: { _ in }, scheduler: { scheduler.schedule($0, $1) })
        let withoutReader = try MemoryPressureMonitor(
            headroom: .init(read: nil), signal: { _ in }, scheduler: { scheduler.schedule($0, $1) })
        #if !canImport(Darwin)
        XCTAssertFalse(withoutInterval.start())
        XCTAssertFalse(withoutReader.start())
        XCTAssertNil(MemoryPressureMonitor.processHeadroom, "Linux has no process limit to read")
        #else
        _ = withoutInterval.start(); _ = withoutReader.start()
        withoutInterval.stop(); withoutReader.stop()
        #endif
        XCTAssertEqual(scheduler.delays, [])
    }

    func testHeadroomDurationsThatAreNotDurationsThrow() throws {
        for bad in [-1, .nan, .infinity] as [TimeInterval] {
            for (options, name) in [
                (MemoryPressureMonitor.HeadroomOptions(interval: bad), "headroom.interval"),
                (MemoryPressureMonitor.HeadroomOptions(minLevel: bad), "headroom.minLevel"),
                (MemoryPressureMonitor.HeadroomOptions(resignal: bad), "headroom.resignal"),
            ] {
                XCTAssertThrowsNexus(.invalidArgument, try MemoryPressureMonitor(headroom: options, signal: { _ in }))
                do {
                    _ = try MemoryPressureMonitor(headroom: options, signal: { _ in })
                } catch let error as NexusError {
                    XCTAssertTrue(error.message.contains(name), error.message)
                }
            }
        }
    }

    func testTheDefaultSignalReachesEveryStoreFromAReading() throws {
        defer { try? NexusStore.signalPressureAll(.none) }
        let store = try NexusStore(maxCacheBytes: 1_000_000)
        for i in 0..<100 { try store.put(Data(count: 1_000), forKey: "k\(i)") }
        let before = try store.memoryMetrics.currentUsage
        let monitor = try MemoryPressureMonitor(headroom: .init(interval: 0, read: nil), scheduler: { _, _ in })
        monitor.receive(headroom: left(4))
        XCTAssertEqual(try store.pressureLevel, .critical)
        XCTAssertLessThan(try store.memoryMetrics.currentUsage, before, "the store shed")
    }
}
