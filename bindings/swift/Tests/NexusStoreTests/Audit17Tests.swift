import CNexusStore
import Foundation
import XCTest
@testable import NexusStore

/// Audit 17S: what a careless or hostile app developer does with the wrapper.
final class Audit17Tests: XCTestCase {
    // MARK: - Streams nobody reads

    /// `store.events` / `store.pressureLevels` made and dropped without
    /// being iterated (a view model that reads the property and keeps
    /// nothing, a `_ = store.events`): each must not stay registered with
    /// the store, collecting up to 1024 events, until the store is freed.
    func testAudit17StreamsDroppedUnreadAreUnregistered() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        for _ in 0..<50 {
            _ = store.events
            _ = store.pressureLevels
        }
        XCTAssertEqual(store.broadcaster.sinkCount, 0, "streams dropped unread still registered")
    }

    /// A stream dropped unread after events came does not keep them.
    func testAudit17StreamsDroppedUnreadAfterEventsAreUnregistered() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        do {
            let stream = store.events
            try store.signalPressure(.critical)
            try store.signalPressure(.none)
            _ = stream
        }
        XCTAssertEqual(store.broadcaster.sinkCount, 0)
    }

    /// A stream made before events and read after them still gets them (the
    /// registration is at creation, not at the first `next()`).
    func testAudit17AStreamReadLaterGetsEventsFromItsCreation() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let events = store.events
        let levels = store.pressureLevels
        try store.signalPressure(.critical)
        try store.signalPressure(.none)
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first?.kind, .pressureChanged(from: .none, to: .critical))
        var levelIterator = levels.makeAsyncIterator()
        let seen = [await levelIterator.next(), await levelIterator.next(), await levelIterator.next()]
        XCTAssertEqual(seen, [MemoryPressureLevel.none, .critical, MemoryPressureLevel.none])
    }

    /// A reader that stops early (break) unregisters its stream.
    func testAudit17AReaderThatBreaksUnregisters() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.signalPressure(.moderate)
        for await level in store.pressureLevels where level == .moderate { break }
        XCTAssertEqual(store.broadcaster.sinkCount, 0)
    }

    /// A reader that does not keep up: the stream holds the newest 1024
    /// events (README "Streams"), the loss shows as a gap in `sequence`, and
    /// the level stream's newest level is the store's.
    func testAudit17ASlowReaderKeepsTheNewest1024() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let events = store.events
        let levels = store.pressureLevels
        for i in 0..<2500 { try store.signalPressure(i % 2 == 0 ? .critical : .none) }
        try store.signalPressure(.moderate)  // event 2501
        var iterator = events.makeAsyncIterator()
        var sequences: [UInt64] = []
        for _ in 0..<1024 { sequences.append(await iterator.next()?.sequence ?? 0) }
        XCTAssertEqual(sequences.first, 2501 - 1023)
        XCTAssertEqual(sequences.last, 2501)
        var levelIterator = levels.makeAsyncIterator()
        var last: MemoryPressureLevel?
        for _ in 0..<64 { last = await levelIterator.next() }
        XCTAssertEqual(last, .moderate)
        XCTAssertEqual(try store.pressureLevel, .moderate)
    }

    // MARK: - Retain cycles

    /// A loader is non-escaping: capturing the store strongly in it is no cycle.
    func testAudit17ALoaderCapturingItsStoreDoesNotKeepIt() throws {
        weak var weakStore: NexusStore?
        do {
            let store = try NexusStore()
            weakStore = store
            _ = try store.value(forKey: "k") { _ in
                _ = try store.contains("other")
                return Data("v".utf8)
            }
        }
        XCTAssertNil(weakStore, "a store captured by its own loader was kept")
    }

    /// A listener capturing its store keeps it (documented); unregistering
    /// it frees the store.
    func testAudit17AListenerCapturingItsStoreKeepsItUntilUnregistered() throws {
        weak var weakStore: NexusStore?
        do {
            let store = try NexusStore()
            weakStore = store
            try store.setEvictionListener { _, _, _ in _ = try? store.contains("x") }
        }
        XCTAssertNotNil(weakStore)
        try weakStore!.setEvictionListener(nil)
        XCTAssertNil(weakStore)
    }

    /// A task reading a stream of a store it captures strongly keeps the
    /// store, and so the stream, alive for good (the stream ends only when
    /// the store is freed); cancelling the task ends both.
    func testAudit17ATaskReadingAStreamOfItsCapturedStoreKeepsIt() async throws {
        weak var weakStore: NexusStore?
        let seen = Counter()
        let task: Task<Void, Never>
        do {
            let store = try NexusStore(maxCacheBytes: 1 << 20)
            weakStore = store
            task = Task {
                for await _ in store.pressureLevels { seen.increment(); _ = try? store.contains("k") }
            }
        }
        waitUntil("the first level") { seen.value >= 1 }
        XCTAssertNotNil(weakStore)  // kept by the task
        task.cancel()
        await task.value
        waitUntil("the store freed once the task is cancelled") { weakStore == nil }
    }

    /// A listener that unregisters itself from inside its own call: its
    /// context is released once, after the call.
    func testAudit17AListenerUnregisteringItselfIsReleasedOnceAfterItsCall() throws {
        let deinits = Counter()
        let store = try NexusStore()
        let duringCall = Recorder<Int>()
        do {
            let probe = CaptureProbe(deinits)
            try store.setEvictionListener { [weak store] _, _, _ in
                probe.touch()
                try? store?.setEvictionListener(nil)
                duringCall.append(deinits.value)
            }
        }
        try store.put(bytes("1"), forKey: "a")
        try store.removeValue(forKey: "a")
        try store.put(bytes("1"), forKey: "b")
        try store.removeValue(forKey: "b")
        XCTAssertEqual(duringCall.all, [0])
        XCTAssertEqual(deinits.value, 1)
    }

    // MARK: - Keys

    /// NFC and NFD spellings are equal Strings and two keys (documented).
    func testAudit17NFCAndNFDAreTwoKeys() throws {
        let store = try NexusStore()
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        XCTAssertEqual(nfc, nfd)
        try store.put(bytes("nfc"), forKey: nfc)
        XCTAssertNil(try store.value(forKey: nfd))
        XCTAssertEqual(try store.value(forKey: nfd.precomposedStringWithCanonicalMapping), bytes("nfc"))
    }

    /// Integer keys are their bytes at their width (README).
    func testAudit17IntegerKeysOfTwoWidthsAreTwoKeys() throws {
        let store = try NexusStore()
        try store.put(bytes("int"), forKey: 5 as Int)
        XCTAssertNil(try store.value(forKey: 5 as Int32))
        XCTAssertEqual(try store.value(forKey: 5 as UInt64), bytes("int"))
        XCTAssertEqual(try store.value(forKey: Data([5, 0, 0, 0, 0, 0, 0, 0])), bytes("int"))
    }

    /// Keys with NUL bytes, an empty pinned key, and a huge key.
    func testAudit17OddKeys() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("a"), forKey: "x\0y")
        XCTAssertNil(try store.value(forKey: "x"))
        XCTAssertEqual(try store.value(forKey: "x\0y"), bytes("a"))
        try store.pin("")
        XCTAssertEqual(try store.pinnedKeys(), [Data()])
        let huge = String(repeating: "k", count: 2 << 20)
        XCTAssertThrowsNexus(.tooLarge, try store.put(bytes("v"), forKey: huge))
        XCTAssertEqual(try store.value(forKey: "x\0y"), bytes("a"))
    }

    // MARK: - Extreme configurations

    /// Extreme values work (the largest budgets, capacities and durations)
    /// or throw `.invalidArgument` naming the rule, as documented.
    func testAudit17ExtremeConfigsThrowOrWorkWithoutCrashing() throws {
        /// nil when the store worked through a put, a read and two signals;
        /// else the error's message (after checking it is invalidArgument).
        func attempt(_ name: String, _ change: (inout MemoryConfig) -> Void) -> String? {
            var config = MemoryConfig(maxCacheBytes: 1 << 20)
            change(&config)
            do {
                let store = try NexusStore(config: config)
                try store.put(bytes("v"), forKey: "k")
                XCTAssertEqual(try store.value(forKey: "k"), bytes("v"), name)
                try store.signalPressure(.critical)  // sheds it
                try store.signalPressure(.none)
                XCTAssertNil(try store.value(forKey: "k"), name)
                return nil
            } catch {
                let nexus = error as? NexusError
                XCTAssertEqual(nexus?.code, .invalidArgument, "\(name): \(error)")
                return nexus?.message ?? "\(error)"
            }
        }
        XCTAssertNil(attempt("maxCacheBytes UInt64.max") { $0.maxCacheBytes = .max })
        XCTAssertNil(attempt("eventQueueCapacity Int.max") { $0.eventQueueCapacity = .max })
        XCTAssertNil(attempt("evictionBatchSize Int.max") { $0.evictionBatchSize = .max })
        XCTAssertNil(attempt("signalDecayMilliseconds UInt64.max") { $0.signalDecayMilliseconds = .max })
        XCTAssertNil(attempt("maxEntries UInt64.max") { $0.maxEntries = .max })
        XCTAssertNil(attempt("ttl 1e15") { $0.ttl = 1e15 })
        XCTAssertNil(attempt("tti 1e15") { $0.tti = 1e15 })
        let refusals: [(String, String, (inout MemoryConfig) -> Void)] = [
            ("thresholds NaN", "thresholds must be finite", { $0.moderateThreshold = .nan }),
            ("keep infinity", "keeps must satisfy", { $0.signalModerateKeep = .infinity }),
            ("shards 0", "shards must be between 1 and 64", { $0.shards = 0 }),
            ("shards Int.max", "shards must be at most 64", { $0.shards = .max }),
        ]
        for (name, rule, change) in refusals {
            let message = attempt(name, change)
            XCTAssertTrue(message?.contains(rule) == true, "\(name): \(message ?? "accepted")")
        }
        var g = GovernorConfig(budgetBytes: .max)
        g.eventQueueCapacity = .max
        let governor = try Governor(config: g)
        try governor.signalPressure(.critical)
        try governor.signalPressure(.none)
    }

    // MARK: - Codable

    struct Doc: Codable, Equatable { var score: Double }

    /// A value that cannot be encoded throws and leaves the key's value as it was.
    func testAudit17AnUnencodableValueLeavesTheCachedOne() throws {
        let cache = try NexusCodableCache<String, Doc>(config: MemoryConfig(maxCacheBytes: 1 << 20))
        try cache.setValue(Doc(score: 1), forKey: "d")
        XCTAssertThrowsError(try cache.setValue(Doc(score: .nan), forKey: "d")) { error in
            XCTAssertTrue(error is EncodingError, "\(error)")
        }
        XCTAssertEqual(try cache.value(forKey: "d"), Doc(score: 1))
    }

    /// Puts from many threads share the one encoder (ThreadSanitizer run).
    func testAudit17CodablePutsFromManyThreads() throws {
        let cache = try NexusCodableCache<Int, Doc>(config: MemoryConfig(maxCacheBytes: 1 << 20))
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<200 { try? cache.setValue(Doc(score: Double(i)), forKey: thread * 1000 + i) }
        }
        XCTAssertEqual(try cache.value(forKey: 7199), Doc(score: 199))
    }

    // MARK: - Object release re-entrancy

    final class Reentrant {
        let onDeinit: () -> Void
        init(_ onDeinit: @escaping () -> Void) { self.onDeinit = onDeinit }
        deinit { onDeinit() }
    }

    /// An object whose deinit puts into (and removes from) its own cache,
    /// released by a replace, a remove, an eviction and the cache's free.
    func testAudit17AnObjectsDeinitMayUseItsCache() throws {
        let deinits = Counter()
        var cache: NexusObjectCache<String, AnyObject>? = try NexusObjectCache(totalCostLimit: 1 << 20)
        weak var weakCache = cache
        func make(_ name: String) -> Reentrant {
            Reentrant {
                deinits.increment()
                guard let cache = weakCache else { return }
                try? cache.setObject(Tracked("from-\(name)", deinits: deinits), forKey: "from-deinit", cost: 10)
                try? cache.removeObject(forKey: "other")
            }
        }
        try cache!.setObject(make("a"), forKey: "a", cost: 10)
        try cache!.setObject(make("a2"), forKey: "a", cost: 10)    // replaces a
        try cache!.setObject(make("b"), forKey: "other", cost: 10)
        try cache!.removeObject(forKey: "a")                       // a2
        try cache!.store.evictLeastRecentlyUsed(10)
        cache = nil
        // a, a2, b, and every Tracked put by a deinit but the one left in the
        // cache when it was freed (released without re-entering it).
        XCTAssertNil(weakCache)
        XCTAssertGreaterThanOrEqual(deinits.value, 4)
    }

    /// A loader that puts the key it is loading: each object released once.
    func testAudit17AnObjectLoaderThatPutsItsOwnKey() throws {
        let deinits = Counter()
        var cache: NexusObjectCache<String, Tracked>? = try NexusObjectCache(totalCostLimit: 1 << 20)
        let loaded = try cache!.object(forKey: "k") { key in
            try cache!.setObject(Tracked("put", deinits: deinits), forKey: key, cost: 10)
            return (Tracked("loaded", deinits: deinits), 10)
        }
        XCTAssertNotNil(loaded)
        let cached = try cache!.object(forKey: "k")
        XCTAssertEqual(loaded?.name, "loaded")   // a put during the load wins (C docs)
        XCTAssertEqual(cached?.name, "put")
        cache = nil
        XCTAssertEqual(deinits.value, 0)  // both still referenced here
        _ = (loaded, cached)
    }

    // MARK: - Handles and pins under pressure

    /// A read handle keeps its entry through a CRITICAL signal; releasing
    /// it gives the entry up at once when it alone keeps usage above the
    /// held budget (README "Choices": the release of the last read handle
    /// restores the budget). A pin keeps its entry under EMERGENCY, which
    /// refuses unpinned puts.
    func testAudit17AHandleHeldThroughASignalIsShedWhenReleased() throws {
        let store = try NexusStore(maxCacheBytes: 10_000)
        try store.put(Data(count: 5000), forKey: "big")
        var handle = try store.valueHandle(forKey: "big")
        try store.signalPressure(.critical)  // held budget 3500
        XCTAssertTrue(try store.contains("big"))
        XCTAssertEqual(handle?.count, 5000)
        handle = nil
        XCTAssertFalse(try store.contains("big"))
        try store.pin("p")
        try store.put(Data(count: 100), forKey: "p")
        try store.signalPressure(.emergency)
        XCTAssertThrowsNexus(.overBudget, try store.put(Data(count: 100), forKey: "u"))
        try store.signalPressure(.none)
        XCTAssertTrue(try store.contains("p"))
    }

    // MARK: - Monitor

    /// start() twice polls once; stop() twice is fine; start after stop polls again.
    func testAudit17MonitorStartAndStopTwice() throws {
        let pending = Recorder<@Sendable () -> Void>()
        let reads = Counter()
        let options = MemoryPressureMonitor.HeadroomOptions(read: {
            reads.increment()
            return MemoryHeadroom(available: 100, limit: 100)
        })
        let monitor = try MemoryPressureMonitor(headroom: options, signal: { _ in },
                                                scheduler: { _, work in pending.append(work) })
        XCTAssertTrue(monitor.start())
        XCTAssertTrue(monitor.start())
        XCTAssertEqual(pending.all.count, 1)
        monitor.stop()
        monitor.stop()
        XCTAssertTrue(monitor.start())
        let works = pending.all
        pending.removeAll()
        for work in works { work() }
        XCTAssertEqual(reads.value, 1)  // the stale poll read nothing
        XCTAssertEqual(pending.all.count, 1)
    }

    /// A scheduler that runs the work inside its call (a test's "run it now"
    /// scheduler): polling would call itself without end (a stack overflow,
    /// signal 11, before the fix); now it polls nothing and start() says so,
    /// and a warning still decays step by step.
    func testAudit17ASchedulerRunningWorkAtOnceDoesNotCrash() throws {
        let reads = Counter()
        let signalled = Recorder<MemoryPressureLevel>()
        let monitor = try MemoryPressureMonitor(
            headroom: .init(read: { reads.increment(); return MemoryHeadroom(available: 1, limit: 100) }),
            signal: { signalled.append($0) }, scheduler: { _, work in work() })
        XCTAssertFalse(monitor.start())
        XCTAssertEqual(reads.value, 0)
        monitor.receiveMemoryWarning()
        XCTAssertEqual(signalled.all, [.critical, .moderate, .none])
        // A scheduler that runs the work at once on another thread polls.
        let other = try MemoryPressureMonitor(
            headroom: .init(interval: 0.001, read: { reads.increment(); return MemoryHeadroom(available: 100, limit: 100) }),
            signal: { _ in }, scheduler: { _, work in
                guard reads.value < 3 else { return }  // three polls, then no more
                let done = DispatchSemaphore(value: 0)
                Thread { work(); done.signal() }.start()
                done.wait()  // the work ran during this call, on another thread
            })
        XCTAssertTrue(other.start())
        XCTAssertEqual(reads.value, 3)
        other.stop()
    }

    /// A headroom interval under 10 ms (1e-9 passes the duration check)
    /// is polled every 10 ms, not once per wake-up.
    func testAudit17TinyHeadroomIntervalsPollEveryTenMilliseconds() throws {
        for interval in [1e-9, 0.004, 0.01, 0.25] {
            let delays = Recorder<TimeInterval>()
            let monitor = try MemoryPressureMonitor(
                headroom: .init(interval: interval, read: { MemoryHeadroom(available: 100, limit: 100) }),
                signal: { _ in }, scheduler: { delay, _ in delays.append(delay) })
            XCTAssertTrue(monitor.start())
            XCTAssertEqual(delays.all, [max(interval, 0.01)], "interval \(interval)")
            monitor.stop()
        }
        XCTAssertEqual(MemoryPressureMonitor.minimumPollInterval, 0.01)
    }

    /// A monitor freed with a warning's decay steps pending: they do nothing.
    func testAudit17AMonitorFreedWithPendingDecay() throws {
        let pending = Recorder<@Sendable () -> Void>()
        let signalled = Recorder<MemoryPressureLevel>()
        var monitor: MemoryPressureMonitor? = try MemoryPressureMonitor(
            warningDecay: 1, headroom: .init(read: nil), signal: { signalled.append($0) },
            scheduler: { _, work in pending.append(work) })
        monitor!.receiveMemoryWarning()
        monitor = nil
        for work in pending.all { work() }
        XCTAssertEqual(signalled.all, [.critical])
    }

    // MARK: - Async

    /// Many tasks loading one key: one load, every task the value.
    func testAudit17ManyTasksLoadingOneKey() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let loads = Counter()
        let values = try await withThrowingTaskGroup(of: Data?.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try store.value(forKey: "one") { _ in
                        loads.increment()
                        usleep(20_000)
                        return Data("v".utf8)
                    }
                }
            }
            var all: [Data?] = []
            for try await value in group { all.append(value) }
            return all
        }
        XCTAssertEqual(loads.value, 1)
        XCTAssertEqual(Set(values), [Data("v".utf8)])
    }

    /// A task cancelled while its loader runs: the load finishes and is cached.
    func testAudit17ACancelledTasksLoadStillCaches() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let started = Counter()
        let task = Task {
            try store.value(forKey: "k") { _ in
                started.increment()
                usleep(50_000)
                return Data("v".utf8)
            }
        }
        // Suspends (no blocking wait: the task needs a cooperative thread).
        while started.value == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        task.cancel()
        let value = try await task.value
        XCTAssertEqual(value, Data("v".utf8))
        XCTAssertEqual(try store.value(forKey: "k"), Data("v".utf8))
    }

    // MARK: - Loaded values the store cannot hold

    /// A loaded value above the budget is returned and not cached (README:
    /// "A value the store cannot hold ... is still returned, and not cached").
    func testAudit17ALoadedValueTooLargeIsReturnedNotCached() throws {
        let store = try NexusStore(maxCacheBytes: 1000)
        let loads = Counter()
        for _ in 0..<2 {
            let value = try store.value(forKey: "big") { _ in loads.increment(); return Data(count: 5000) }
            XCTAssertEqual(value?.count, 5000)
        }
        XCTAssertEqual(loads.value, 2)
        XCTAssertFalse(try store.contains("big"))
        let deinits = Counter()
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 1000)
        let object = try cache.object(forKey: "big") { key in (Tracked(key, deinits: deinits), 5000) }
        XCTAssertEqual(object?.name, "big")
        XCTAssertNil(try cache.object(forKey: "big"))
        try cache.store.signalPressure(.emergency)
        let refused = try cache.object(forKey: "e") { key in (Tracked(key, deinits: deinits), 10) }
        XCTAssertEqual(refused?.name, "e")
        XCTAssertNil(try cache.object(forKey: "e"))
        try cache.store.signalPressure(.none)
        _ = (object, refused)
    }

    // MARK: - Values that are slices or not contiguous

    func testAudit17SlicesAndNonContiguousData() throws {
        let store = try NexusStore()
        let big = Data((0..<100).map { UInt8($0) })
        let slice = big[10..<20]
        try store.put(slice, forKey: slice)
        XCTAssertEqual(try store.value(forKey: Data((10..<20).map { UInt8($0) })), Data((10..<20).map { UInt8($0) }))
        let array: [UInt8] = [1, 2, 3, 4, 5]
        try store.put(array[1..<3], forKey: "arrayslice")
        XCTAssertEqual(try store.value(forKey: "arrayslice"), Data([2, 3]))
        var joined = DispatchData.empty
        Data([1, 2]).withUnsafeBytes { joined.append($0) }
        Data([3, 4]).withUnsafeBytes { joined.append($0) }
        try store.put(joined, forKey: joined)
        XCTAssertEqual(try store.value(forKey: Data([1, 2, 3, 4])), Data([1, 2, 3, 4]))
        XCTAssertEqual(Array(joined.regions).count, 2)
    }

    // MARK: - Estimators

    /// An estimator that returns Int.max: the put throws, the old value stays.
    func testAudit17AnEstimatorReturningIntMax() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.sizeEstimator = { _, value in value.count == 3 ? Int.max : nil }
        let store = try NexusStore(config: config)
        try store.put(bytes("ok"), forKey: "k")
        XCTAssertThrowsNexus(.tooLarge, try store.put(bytes("big"), forKey: "k"))
        XCTAssertEqual(try store.value(forKey: "k"), bytes("ok"))
    }

    // MARK: - Lifetimes

    /// The store's broadcaster (the event callback's context) is released
    /// when the store is freed and no stream is left.
    func testAudit17TheBroadcasterGoesWithTheStore() throws {
        weak var broadcaster: EventBroadcaster?
        do {
            let store = try NexusStore()
            broadcaster = store.broadcaster
            _ = store.events
            try store.signalPressure(.critical)
        }
        XCTAssertNil(broadcaster)
    }

    /// A store made while a global signal is in force: its streams are not
    /// held up by a sequence gap.
    func testAudit17AStoreMadeUnderAGlobalSignalStreamsPromptly() async throws {
        try NexusStore.signalPressureAll(.critical)
        defer { try? NexusStore.signalPressureAll(.none) }
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        var levels = store.pressureLevels.makeAsyncIterator()
        let first = await levels.next()
        var events = store.events.makeAsyncIterator()
        try store.signalPressure(.none)
        let event = await events.next()
        XCTAssertEqual(first, .critical)
        XCTAssertEqual(event?.kind, .pressureChanged(from: .critical, to: .none))
    }

    // MARK: - Cancellation of the loading task

    /// The loading task is cancelled and its loader throws CancellationError:
    /// it gets the error; a caller waiting for the key (whose task was not
    /// cancelled) misses again and loads it itself, instead of failing with
    /// "loader threw CancellationError()".
    func testAudit17WaitersOfALoaderCancelledByItsTaskLoadAgain() async throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let started = Counter()
        let loader = Task { () -> Data? in
            try store.value(forKey: "k") { _ in
                started.increment()
                usleep(300_000)
                try Task.checkCancellation()
                return Data("v".utf8)
            }
        }
        while started.value == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        let waiterDone = DispatchSemaphore(value: 0)
        let waiterResult = Recorder<Result<Data?, Error>>()
        let waiterLoads = Counter()
        Thread {
            waiterResult.append(Result { try store.value(forKey: "k") { _ in waiterLoads.increment(); return Data("w".utf8) } })
            waiterDone.signal()
        }.start()
        try await Task.sleep(nanoseconds: 50_000_000)  // the waiter is waiting for the loader's value
        loader.cancel()
        let loaderResult = await loader.result
        waiterDone.wait()
        XCTAssertThrowsError(try loaderResult.get()) { XCTAssertTrue($0 is CancellationError, "\($0)") }
        let waited = waiterResult.all.first
        XCTAssertEqual(try waited?.get(), Data("w".utf8), "\(String(describing: waited))")
        XCTAssertEqual(waiterLoads.value, 1)
        XCTAssertEqual(try store.value(forKey: "k"), Data("w".utf8))
    }

    /// The same through an object cache's loader.
    func testAudit17ObjectWaitersOfACancelledLoadLoadAgain() async throws {
        let deinits = Counter()
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 1 << 20)
        let started = Counter()
        let loader = Task { () -> Tracked? in
            try cache.object(forKey: "k") { key in
                started.increment()
                usleep(300_000)
                try Task.checkCancellation()
                return (Tracked("cancelled", deinits: deinits), 10)
            }
        }
        while started.value == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        let waiterDone = DispatchSemaphore(value: 0)
        let waited = Recorder<String>()
        Thread {
            let object = try? cache.object(forKey: "k") { _ in (Tracked("waiter", deinits: deinits), 10) }
            waited.append(object?.name ?? "error")
            waiterDone.signal()
        }.start()
        try await Task.sleep(nanoseconds: 50_000_000)
        loader.cancel()
        _ = await loader.result
        waiterDone.wait()
        XCTAssertEqual(waited.all, ["waiter"])
        XCTAssertEqual(try cache.object(forKey: "k")?.name, "waiter")
        XCTAssertEqual(deinits.value, 0)  // the cancelled loader made none
    }

    /// A loader that drops the caller's only reference to the store.
    func testAudit17ALoaderDroppingTheLastReference() throws {
        var store: NexusStore? = try NexusStore()
        weak var weakStore = store
        let value = try store!.value(forKey: "k") { _ in
            store = nil
            return Data("v".utf8)
        }
        XCTAssertEqual(value, Data("v".utf8))
        XCTAssertNil(weakStore)
    }

    // MARK: - Governor callbacks

    /// A governor event handler that reads the governor, replaces itself
    /// from inside its call, and a governor dropped inside its own handler.
    func testAudit17GovernorHandlerReentrancy() throws {
        let deinits = Counter()
        let heard = Counter()
        var governor: Governor? = try Governor(budgetBytes: 1 << 20)
        weak var weakGovernor = governor
        do {
            let probe = CaptureProbe(deinits)
            try governor!.setEventHandler { [weak governor] _ in
                probe.touch()
                heard.increment()
                _ = try? governor?.metrics
                try? governor?.setEventHandler(nil)
            }
        }
        let store = try NexusStore()
        try governor!.join(store)  // a JOINED event
        XCTAssertEqual(heard.value, 1)
        XCTAssertEqual(deinits.value, 1)  // released once, after its call
        try governor!.leave(store)
        XCTAssertEqual(heard.value, 1)
        // Dropped inside its own handler: freed after the call.
        let holder = Recorder<Governor>()
        holder.append(governor!)
        governor = nil
        try holder.all[0].setEventHandler { _ in holder.removeAll() }
        try holder.all[0].join(store)
        XCTAssertNil(weakGovernor)
        // Its member is a plain store again: it may join another governor.
        let other = try Governor(budgetBytes: 1 << 20)
        try other.join(store)
    }

    /// Bad governor terms throw `.invalidArgument` with a message.
    func testAudit17GovernorExtremeTerms() throws {
        let governor = try Governor(budgetBytes: 1 << 20)
        let store = try NexusStore()
        XCTAssertThrowsError(try governor.join(store, priority: .max, floorBytes: .max, ceilingBytes: 1)) {
            XCTAssertEqual(($0 as? NexusError)?.code, .invalidArgument)
            XCTAssertTrue("\($0)".contains("below the floor"), "\($0)")
        }
        XCTAssertThrowsError(try governor.join(store, priority: .max, floorBytes: .max)) {
            XCTAssertEqual(($0 as? NexusError)?.code, .invalidArgument)
            XCTAssertTrue("\($0)".contains("above the governor's budget"), "\($0)")
        }
        try? governor.setBudget(0)
        try governor.enforce()
    }

    /// Durations at the edge for the monitor: accepted ones do not crash the
    /// default scheduler (DispatchTime clamps).
    func testAudit17MonitorHugeDurations() throws {
        let signalled = Recorder<MemoryPressureLevel>()
        let monitor = try MemoryPressureMonitor(warningDecay: 1.8e16, headroom: .init(read: nil),
                                                signal: { signalled.append($0) })
        monitor.receiveMemoryWarning()
        XCTAssertEqual(signalled.all, [.critical])
        XCTAssertThrowsNexus(.invalidArgument, try MemoryPressureMonitor(warningDecay: 1.9e16))
    }

    // MARK: - The last reference dropped while other threads use the store

    /// Four threads use an object cache through weak references (each call
    /// holds it strongly) while the test drops the only strong one, with a
    /// listener and objects being released: every object released once, no
    /// use after free (ASan), no race in the wrapper (TSan).
    func testAudit17TheLastReferenceGoesWhileThreadsUseTheCache() throws {
        for round in 0..<5 {
            let made = Counter(), released = Counter(), heard = Counter()
            var cache: NexusObjectCache<Int, Tracked>? = try NexusObjectCache(totalCostLimit: 20_000)
            try cache!.store.setEvictionListener { _, _, _ in heard.increment() }
            weak var weakCache = cache
            let group = DispatchGroup()
            for thread in 0..<4 {
                onNewThread(group) {
                    for i in 0..<2000 {
                        guard let cache = weakCache else { return }
                        made.increment()
                        if (try? cache.setObject(Tracked("o", deinits: released), forKey: thread * 10_000 + i % 50, cost: 100)) == nil {
                            // refused: released at once by the wrapper
                        }
                        _ = try? cache.object(forKey: thread * 10_000 + (i * 7) % 50)
                        if i % 100 == 0 { try? cache.store.signalPressure(i % 200 == 0 ? .critical : .none) }
                    }
                }
            }
            usleep(UInt32(2_000 + round * 3_000))
            cache = nil
            group.wait()
            waitUntil("every object released") { released.value == made.value }
            XCTAssertNil(weakCache)
            XCTAssertEqual(released.value, made.value)
        }
    }

    // MARK: - A listener that waits for the thread replacing it

    /// Replacing a listener waits for its calls on other threads: a listener
    /// that waits for the replacing thread (as `DispatchQueue.main.sync`
    /// from a listener while the main thread replaces it) would wait for
    /// good. Here the wait is seen, then broken by the test. Dropping the
    /// store instead never waits.
    func testAudit17ReplacingAListenerWaitsForItsRunningCall() throws {
        let store = try NexusStore()
        let inListener = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        try store.setEvictionListener { _, _, _ in
            inListener.signal()
            release.wait()
        }
        try store.put(bytes("v"), forKey: "k")
        let group = DispatchGroup()
        onNewThread(group) { _ = try? store.removeValue(forKey: "k") }
        inListener.wait()
        let replaced = DispatchSemaphore(value: 0)
        onNewThread(group) {
            try? store.setEvictionListener(nil)
            replaced.signal()
        }
        XCTAssertEqual(replaced.wait(timeout: .now() + 0.3), .timedOut, "replacing did not wait")
        release.signal()
        XCTAssertEqual(replaced.wait(timeout: .now() + 10), .success)
        group.wait()
    }

    // MARK: - The message where an app shows it

    /// An app shows `error.localizedDescription` (alerts, logs, Crashlytics):
    /// it must carry the library's message, not "The operation could not be
    /// completed. (NexusStore.NexusError error 1.)".
    func testAudit17LocalizedDescriptionCarriesTheMessage() throws {
        let store = try NexusStore(maxCacheBytes: 100)
        do {
            try store.put(Data(count: 1000), forKey: "k")
            XCTFail("no error")
        } catch {
            let nexus = try XCTUnwrap(error as? NexusError)
            XCTAssertEqual(error.localizedDescription, nexus.description)
            XCTAssertTrue(error.localizedDescription.contains(nexus.message), error.localizedDescription)
            XCTAssertEqual((error as NSError).localizedDescription, nexus.description)
            XCTAssertEqual((error as NSError).domain, "NexusStore")
            XCTAssertEqual((error as NSError).code, Int(NEXUS_STATUS_ERR_TOO_LARGE))
        }
        let wrapper = NexusError(.invalidArgument, message: "")
        XCTAssertEqual((wrapper as Error).localizedDescription, "NexusError(invalid argument)")
    }

    // MARK: - Signals from inside callbacks

    /// A listener that signals every store (as a monitor's `signal` would)
    /// from inside a put's eviction, and an object whose deinit does the
    /// same: no deadlock, and the stores end at the last level signalled.
    func testAudit17SignalPressureAllFromInsideCallbacks() throws {
        let done = DispatchSemaphore(value: 0)
        let failure = Recorder<String>()
        Thread {
            do {
                let store = try NexusStore(maxCacheBytes: 10_000)
                let other = try NexusObjectCache<String, Reentrant>(totalCostLimit: 10_000)
                let once = Counter()
                try store.setEvictionListener { _, _, _ in
                    once.increment()
                    if once.value == 1 {
                        do { try NexusStore.signalPressureAll(.critical) } catch { failure.append("in listener: \(error)") }
                    }
                }
                try other.setObject(Reentrant { try? NexusStore.signalPressureAll(.none) }, forKey: "o", cost: 100)
                try other.pin("o")  // not shed by the CRITICAL signal
                for i in 0..<100 { try store.put(Data(count: 200), forKey: "k\(i)") }
                XCTAssertEqual(try store.pressureLevel, .critical)
                try other.removeObject(forKey: "o")  // its deinit signals NONE
                XCTAssertEqual(try store.signalledLevel, MemoryPressureLevel.none)
                XCTAssertEqual(try other.store.signalledLevel, MemoryPressureLevel.none)
            } catch { failure.append("\(error)") }
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "deadlock")
        XCTAssertEqual(failure.all, [])
        try NexusStore.signalPressureAll(.none)
    }

    // MARK: - Messages of the common mistakes

    /// What a careless app reads for the usual refusals: each message says
    /// what happened and with which numbers.
    func testAudit17MessagesOfCommonRefusals() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return error.localizedDescription }
        }
        let store = try NexusStore(maxCacheBytes: 1000)
        try store.signalPressure(.emergency)
        let emergency = message { try store.put(Data(count: 10), forKey: "k") }
        try store.signalPressure(.none)
        let tooLarge = message { try store.put(Data(count: 2000), forKey: "k") }
        let negative = message { try store.evict(-1) }
        let ttl = message { try store.put(Data(count: 1), forKey: "k", ttl: -1) }
        let cache = try NexusObjectCache<String, Tracked>(totalCostLimit: 1000)
        let cost = message { try cache.setObject(Tracked("t", deinits: Counter()), forKey: "t", cost: 0) }
        var config = MemoryConfig(maxCacheBytes: 1000)
        config.criticalThreshold = 0.5
        let thresholds = message { _ = try NexusStore(config: config) }
        for (what, text) in [("emergency", emergency), ("tooLarge", tooLarge), ("negative", negative),
                             ("ttl", ttl), ("cost", cost), ("thresholds", thresholds)] {
            XCTAssertTrue(text.hasPrefix("NexusError("), "\(what): \(text)")
            XCTAssertGreaterThan(text.count, 30, "\(what): \(text)")
        }
        // An entry's own TTL must be > 0: a negative or NaN one was told
        // ">= 0", which 0 does not satisfy either.
        XCTAssertTrue(ttl.contains("ttl must be > 0 (got -1.0)"), ttl)
        let nan = message { try store.put(Data(count: 1), forKey: "k", ttl: .nan) }
        XCTAssertTrue(nan.contains("ttl must be > 0"), nan)
        let infinite = message { try store.put(Data(count: 1), forKey: "k", ttl: .infinity) }
        XCTAssertTrue(infinite.contains("finite"), infinite)
    }
}
