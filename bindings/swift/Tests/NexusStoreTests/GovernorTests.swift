import CNexusStore
import Foundation
import XCTest
@testable import NexusStore

/// Every entry of these tests: a 3-byte key ("k00".."k99") and a 100-byte value.
private let value = Data(repeating: 7, count: 100)
private let E = defaultCharge(key: 3, value: 100)

private func key(_ i: Int) -> String { String(format: "k%02d", i) }

/// Puts entries `from..<until` into `store`.
private func fill(_ store: NexusStore, _ until: Int, from: Int = 0) throws {
    for i in from..<until { try store.put(value, forKey: key(i)) }
}

/// An unbounded store: only the governor takes from it.
private func plainStore() throws -> NexusStore { try NexusStore(config: MemoryConfig()) }

private func entries(_ store: NexusStore) throws -> UInt64 { try store.memoryMetrics.entryCount }

final class GovernorTests: XCTestCase {
    func testTheLowestPriorityStoreIsShedFirstWhicheverStoreWentOver() throws {
        let gov = try Governor(budgetBytes: 15 * E)
        let low = try plainStore(), high = try plainStore()
        try gov.join(low, priority: 1)
        try gov.join(high, priority: 10)
        try fill(low, 10)
        try fill(high, 10)  // the puts into high take the total over: low pays
        XCTAssertEqual(try entries(low), 5)
        XCTAssertEqual(try entries(high), 10)
        XCTAssertEqual(try gov.metrics.totalUsage, 15 * E)
        XCTAssertEqual(try gov.memberMetrics(for: low)?.shedBytesOverBudget, 5 * E)
        XCTAssertEqual(try gov.memberMetrics(for: high)?.shedEntries, 0)
        // Least recently used first.
        XCTAssertNil(try low.value(forKey: "k00"))
        XCTAssertNotNil(try low.value(forKey: "k09"))
    }

    func testEntriesTheGovernorTakesLeaveWithReasonGovernor() throws {
        let gov = try Governor(budgetBytes: 2 * E)
        let store = try plainStore()
        let heard = Recorder<(String, EvictionReason)>()
        try store.setEvictionListener { k, reason, _ in heard.append((String(decoding: k, as: UTF8.self), reason)) }
        try gov.join(store)
        try fill(store, 3)
        XCTAssertEqual(heard.all.map(\.0), ["k00"])
        XCTAssertEqual(heard.all.map(\.1), [.governor])
    }

    func testAFloorHoldsAndTheNextPriorityGivesTheRest() throws {
        let gov = try Governor(budgetBytes: 15 * E)
        let low = try plainStore(), high = try plainStore()
        try gov.join(low, priority: 1, floorBytes: 8 * E)
        try gov.join(high, priority: 10)
        try fill(low, 10)
        try fill(high, 10)
        XCTAssertEqual(try entries(low), 8)
        XCTAssertEqual(try entries(high), 7)
        XCTAssertEqual(try gov.memberMetrics(for: low)?.shedBytesOverBudget, 2 * E)
        XCTAssertEqual(try gov.memberMetrics(for: high)?.shedBytesOverBudget, 3 * E)
        let m = try gov.metrics
        XCTAssertEqual(m.totalUsage, 15 * E)
        XCTAssertEqual(m.shedEntries, 5)
        XCTAssertEqual(m.shedBytes, 5 * E)

        // .emergency takes every member to its floor, and no lower.
        try gov.signalPressure(.emergency)
        XCTAssertEqual(try entries(low), 8)
        XCTAssertEqual(try entries(high), 0)
        XCTAssertEqual(try gov.memberMetrics(for: high)?.shedBytesPressure, 7 * E)
        XCTAssertEqual(try gov.metrics.level, .emergency)
        // The members' own levels do not change.
        XCTAssertEqual(try low.signalledLevel, MemoryPressureLevel.none)
    }

    func testACeilingCapsAStoreUnderARoomyBudget() throws {
        let gov = try Governor(budgetBytes: 1 << 20)
        let store = try plainStore()
        try gov.join(store, priority: 5, ceilingBytes: 3 * E)
        try fill(store, 10)
        XCTAssertEqual(try entries(store), 3)
        let m = try XCTUnwrap(try gov.memberMetrics(for: store))
        XCTAssertEqual(m.usageBytes, 3 * E)
        XCTAssertEqual(m.shedBytesCeiling, 7 * E)
        XCTAssertEqual(m.shedBytesOverBudget, 0)
        XCTAssertEqual(m.ceilingBytes, 3 * E)
        XCTAssertEqual(m.priority, 5)
        XCTAssertEqual(m.storeID, try store.id)
        let sheds = try gov.drainEvents().filter { $0.kind == .shed }
        XCTAssertEqual(sheds.count, 7)
        let id = try store.id
        XCTAssertTrue(sheds.allSatisfy { $0.cause == .ceiling && $0.storeID == id && $0.bytes == E })

        // A new ceiling applies at once; 0 removes it.
        try gov.setMember(store, priority: 5, ceilingBytes: 1 * E)
        XCTAssertEqual(try entries(store), 1)
        try gov.setMember(store, priority: 5)
        try fill(store, 10)
        XCTAssertEqual(try entries(store), 10)
    }

    func testEventsComeAsJoinedShedLevelChangedLeftNumberedFromOne() throws {
        let gov = try Governor(config: GovernorConfig(budgetBytes: 4 * E))
        let store = try plainStore()
        try gov.join(store)
        try fill(store, 4)
        try gov.signalPressure(.moderate)  // keeps 0.75: 3 of 4 entries
        XCTAssertTrue(try gov.leave(store))
        let events = try gov.drainEvents()
        XCTAssertEqual(events.map(\.sequence), Array(1...UInt64(events.count)))
        let id = try store.id
        XCTAssertEqual(events.first?.kind, .joined)
        XCTAssertEqual(events.first?.storeID, id)
        let levels = events.filter { $0.kind == .levelChanged }
        XCTAssertEqual(levels.count, 1)
        XCTAssertEqual(levels.first?.previousLevel, MemoryPressureLevel.none)
        XCTAssertEqual(levels.first?.level, .moderate)
        let sheds = events.filter { $0.kind == .shed }
        XCTAssertEqual(sheds.count, 1)
        XCTAssertEqual(sheds.first?.cause, .pressure)
        XCTAssertEqual(sheds.first?.count, 1)
        XCTAssertEqual(sheds.first?.storeUsage, 3 * E)
        XCTAssertEqual(sheds.first?.budgetInForce, 3 * E)  // floor(4E x 0.75)
        XCTAssertEqual(events.last?.kind, .left)
        XCTAssertEqual(events.last?.storeID, id)
        XCTAssertNil(try gov.pollEvent())
        XCTAssertEqual(try entries(store), 3)
    }

    func testAnEventHandlerHearsInsteadOfTheQueueAndIsReleasedOnce() throws {
        let releases = Counter()
        let heard = Recorder<GovernorEvent>()
        var gov: Governor? = try Governor(budgetBytes: 2 * E)
        let store = try plainStore()
        do {
            let probe = CaptureProbe(releases)
            try gov!.setEventHandler { event in probe.touch(); heard.append(event) }
        }
        try gov!.join(store)
        try fill(store, 3)
        XCTAssertEqual(heard.all.map(\.kind), [.joined, .shed])
        XCTAssertEqual(heard.all.last?.storeID, try store.id)
        XCTAssertNil(try gov!.pollEvent())  // nothing queued while a handler is set
        XCTAssertEqual(releases.value, 0)
        gov = nil  // the governor's free releases the handler, once
        XCTAssertEqual(releases.value, 1)
        try fill(store, 10, from: 3)
        XCTAssertEqual(try entries(store), 9)  // a plain store again
    }

    func testSetBudgetShedsAtOnceAndSignalsHoldALowerBudgetUntilNone() throws {
        let gov = try Governor(budgetBytes: 10 * E)
        let store = try plainStore()
        try gov.join(store)
        try fill(store, 10)
        try gov.setBudget(6 * E)
        XCTAssertEqual(try entries(store), 6)
        XCTAssertEqual(try gov.metrics.budgetBytes, 6 * E)
        try gov.signalPressure(.critical)  // 0.5
        XCTAssertEqual(try entries(store), 3)
        XCTAssertEqual(try gov.metrics.budgetInForce, 3 * E)
        try fill(store, 20, from: 10)
        XCTAssertEqual(try entries(store), 3)
        try gov.signalPressure(.none)
        XCTAssertEqual(try gov.metrics.budgetInForce, 6 * E)
        try fill(store, 30, from: 20)
        XCTAssertEqual(try entries(store), 6)
    }

    func testEnforceTakesWhatPinsHeldOnceTheyAreGone() throws {
        let gov = try Governor(budgetBytes: 5 * E)
        let store = try plainStore()
        try gov.join(store)
        for i in 0..<10 { try store.pin(key(i)) }
        try fill(store, 10)
        XCTAssertEqual(try entries(store), 10)
        XCTAssertEqual(try gov.metrics.unmetBytes, 5 * E)
        let unmet = try gov.drainEvents().filter { $0.kind == .unmet }
        XCTAssertEqual(unmet.map(\.bytes), [E])  // once, at the first put over the budget
        for i in 0..<10 { try store.unpin(key(i)) }
        XCTAssertEqual(try entries(store), 10)  // an unpin is no trigger
        try gov.enforce()
        XCTAssertEqual(try entries(store), 5)
        XCTAssertEqual(try gov.metrics.unmetBytes, 0)
    }

    func testAStoreThatLeavesIsGovernedNoMoreAndMayJoinAgain() throws {
        let gov = try Governor(budgetBytes: 5 * E)
        let store = try plainStore()
        try gov.join(store)
        XCTAssertEqual(try gov.metrics.memberCount, 1)
        XCTAssertTrue(try gov.leave(store))
        XCTAssertFalse(try gov.leave(store))
        XCTAssertNil(try gov.memberMetrics(for: store))
        XCTAssertEqual(try gov.metrics.memberCount, 0)
        try fill(store, 10)
        XCTAssertEqual(try entries(store), 10)
        XCTAssertThrowsNexus(.notFound, try gov.setMember(store, priority: 1))
        try gov.join(store)  // enforces at once
        XCTAssertEqual(try entries(store), 5)
    }

    func testAFreedMemberLeavesTheGovernor() throws {
        let gov = try Governor(budgetBytes: 5 * E)
        var store: NexusStore? = try plainStore()
        try gov.join(store!)
        try fill(store!, 3)
        let id = try store!.id
        store = nil
        XCTAssertEqual(try gov.metrics.memberCount, 0)
        XCTAssertEqual(try gov.metrics.totalUsage, 0)
        let left = try gov.drainEvents().last
        XCTAssertEqual(left?.kind, .left)
        XCTAssertEqual(left?.storeID, id)
    }

    func testAFreedGovernorsMembersGoOnAsPlainStores() throws {
        let store = try plainStore()
        var gov: Governor? = try Governor(budgetBytes: 2 * E)
        try gov!.join(store)
        gov = nil
        try fill(store, 10)
        XCTAssertEqual(try entries(store), 10)
        let other = try Governor(budgetBytes: 5 * E)
        try other.join(store)  // in no governor any more
        XCTAssertEqual(try entries(store), 5)
    }

    func testAStoreIsInOneGovernorAtMost() throws {
        let a = try Governor(budgetBytes: 10 * E), b = try Governor(budgetBytes: 10 * E)
        let store = try plainStore()
        try a.join(store)
        XCTAssertThrowsNexus(.busy, try a.join(store))
        XCTAssertThrowsNexus(.busy, try b.join(store))
        XCTAssertFalse(try b.leave(store))
        XCTAssertNil(try b.memberMetrics(for: store))
    }

    func testBadArgumentsAreInvalidArgument() throws {
        func config(_ change: (inout GovernorConfig) -> Void) -> GovernorConfig {
            var c = GovernorConfig(budgetBytes: 100)
            change(&c)
            return c
        }
        XCTAssertThrowsNexus(.invalidArgument, try Governor(budgetBytes: 0))
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: config { $0.signalModerateKeep = 0.5; $0.signalCriticalKeep = 0.75 }))
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: config { $0.signalCriticalKeep = 0 }))
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: config { $0.signalModerateKeep = 1.5 }))
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: config { $0.eventQueueCapacity = 0 }))
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: config { $0.eventQueueCapacity = -1 }))

        let gov = try Governor(budgetBytes: 10 * E)
        let a = try plainStore(), b = try plainStore()
        XCTAssertThrowsNexus(.invalidArgument, try gov.join(a, floorBytes: 2 * E, ceilingBytes: E))  // ceiling below floor
        XCTAssertThrowsNexus(.invalidArgument, try gov.join(a, floorBytes: 11 * E))  // floors above the budget
        XCTAssertNil(try gov.memberMetrics(for: a))  // refused joins left nothing behind
        try gov.join(a, floorBytes: 6 * E)
        XCTAssertThrowsNexus(.invalidArgument, try gov.join(b, floorBytes: 5 * E))  // 6E + 5E > 10E
        XCTAssertThrowsNexus(.invalidArgument, try gov.setBudget(5 * E))  // below the floors
        XCTAssertThrowsNexus(.invalidArgument, try gov.setBudget(0))
        XCTAssertThrowsNexus(.invalidArgument, try gov.setMember(a, priority: 1, floorBytes: 11 * E))
        XCTAssertEqual(try gov.memberMetrics(for: a)?.floorBytes, 6 * E)
        XCTAssertEqual(try gov.metrics.budgetBytes, 10 * E)
    }

    func testEnumsFollowTheHeader() {
        for cause in ShedCause.allCases where cause != .unknown {
            XCTAssertEqual(String(cString: nexus_shed_cause_str(cause.rawValue)),
                           ["OVER_BUDGET", "PRESSURE", "CEILING"][Int(cause.rawValue)])
        }
        XCTAssertEqual(ShedCause(c: 99), .unknown)
        XCTAssertEqual(GovernorEventKind.allCases.filter { $0 != .unknown }.map {
            String(cString: nexus_governor_event_kind_str($0.rawValue))
        }, ["SHED", "UNMET", "JOINED", "LEFT", "LEVEL_CHANGED"])
        XCTAssertEqual(GovernorEventKind(c: 99), .unknown)
    }

    /// README.md's Swift governor example, as written there.
    func testTheReadmeGovernorExampleRuns() throws {
        let governor = try Governor(budgetBytes: 48 << 20)  // or Governor(config: GovernorConfig(...))
        let thumbnails = try NexusStore(), audio = try NexusStore()
        try governor.join(thumbnails, priority: 1, floorBytes: 4 << 20)  // shed first, never below 4 MB
        try governor.join(audio, priority: 9, ceilingBytes: 32 << 20)     // kept longest, never above 32 MB
        try governor.signalPressure(.critical)  // the total to half, held until .none
        print(try governor.metrics.totalUsage, try governor.memberMetrics(for: audio)?.shedBytesCeiling ?? 0)
        while let event = try governor.pollEvent() { print(event.kind, event.storeID, event.bytes) }
        XCTAssertEqual(try governor.metrics.memberCount, 2)
        XCTAssertEqual(try governor.metrics.budgetInForce, 24 << 20)
    }

    func testPutsFromFourThreadsIntoFourMembersEndWithinTheBudgetWithExactAccounting() throws {
        let gov = try Governor(budgetBytes: 100 * E)
        let stores = try (0..<4).map { _ in try plainStore() }
        for (i, store) in stores.enumerated() { try gov.join(store, priority: UInt32(i + 1)) }
        let group = DispatchGroup()
        let failures = Recorder<Error>()
        for store in stores {
            onNewThread(group) {
                do {
                    for i in 0..<300 { try store.put(value, forKey: String(format: "%03d", i)) }  // each charged E
                } catch { failures.append(error) }
            }
        }
        group.wait()
        XCTAssertEqual(failures.all.count, 0)
        let m = try gov.metrics
        let usages = try stores.map { try $0.memoryMetrics.currentUsage }
        XCTAssertEqual(usages.reduce(0, +), m.totalUsage)
        XCTAssertLessThanOrEqual(m.totalUsage, 100 * E)
        XCTAssertEqual(m.unmetBytes, 0)
        // Everything put is either still there or was taken by the governor.
        XCTAssertEqual(m.shedBytes, 1200 * E - m.totalUsage)
        XCTAssertEqual(m.shedEntries, 1200 - (try stores.map { try entries($0) }.reduce(0, +)))
        let members = try stores.map { try XCTUnwrap(try gov.memberMetrics(for: $0)) }
        XCTAssertEqual(members.map(\.shedBytesOverBudget).reduce(0, +), m.shedBytes)
        XCTAssertEqual(members.map(\.usageBytes), usages)
    }
}
