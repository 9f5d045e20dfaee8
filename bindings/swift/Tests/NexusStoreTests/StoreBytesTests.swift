import Foundation
import XCTest
@testable import NexusStore
import CNexusStore

final class StoreBytesTests: XCTestCase {
    func testPutReadReplaceAndRemoveWithStringKeys() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        XCTAssertNil(try store.value(forKey: "k"))
        try store.put(bytes("one"), forKey: "k")
        XCTAssertEqual(try store.value(forKey: "k"), bytes("one"))
        try store.put(bytes("two"), forKey: "k")
        XCTAssertEqual(try store.value(forKey: "k"), bytes("two"))
        XCTAssertTrue(try store.contains("k"))
        XCTAssertTrue(try store.removeValue(forKey: "k"))
        XCTAssertFalse(try store.removeValue(forKey: "k"))
        XCTAssertFalse(try store.contains("k"))
        XCTAssertNil(try store.value(forKey: "k"))
    }

    func testKeysOfEveryKindAreTheirBytes() throws {
        let store = try NexusStore()
        try store.put(bytes("from string"), forKey: "abc")
        // The same bytes as Data, [UInt8], a Data slice and a raw buffer.
        XCTAssertEqual(try store.value(forKey: Data("abc".utf8)), bytes("from string"))
        XCTAssertEqual(try store.value(forKey: [UInt8]("abc".utf8)), bytes("from string"))
        XCTAssertEqual(try store.value(forKey: Data("xabcx".utf8).dropFirst().dropLast()), bytes("from string"))
        XCTAssertEqual(try store.value(forKey: Substring("zabc").dropFirst()), bytes("from string"))
        try "abc".utf8.withContiguousStorageIfAvailable { buffer in
            XCTAssertEqual(try store.value(forKey: UnsafeRawBufferPointer(buffer)), bytes("from string"))
        }
        // A non-contiguous DataProtocol (DispatchData of two regions).
        var dispatch = DispatchData.empty
        "a".utf8.withContiguousStorageIfAvailable { dispatch.append(UnsafeRawBufferPointer($0)) }
        "bc".utf8.withContiguousStorageIfAvailable { dispatch.append(UnsafeRawBufferPointer($0)) }
        XCTAssertEqual(try store.value(forKey: dispatch), bytes("from string"))
        // Integers are little-endian bytes; UUIDs their 16 bytes.
        try store.put(bytes("int"), forKey: 0x0102)
        XCTAssertEqual(try store.value(forKey: [UInt8]([0x02, 0x01, 0, 0, 0, 0, 0, 0])), bytes("int"))
        let id = UUID()
        try store.put(bytes("uuid"), forKey: id)
        XCTAssertEqual(try store.value(forKey: withUnsafeBytes(of: id.uuid) { Data($0) }), bytes("uuid"))
        // Values may be any DataProtocol too.
        try store.put([UInt8](repeating: 9, count: 3), forKey: "arr")
        XCTAssertEqual(try store.value(forKey: "arr"), Data([9, 9, 9]))
    }

    func testEmptyKeyAndEmptyValue() throws {
        let store = try NexusStore()
        try store.put(Data(), forKey: "")
        XCTAssertEqual(try store.value(forKey: ""), Data())
        XCTAssertTrue(try store.contains(Data()))
        XCTAssertEqual(try store.memoryMetrics.currentUsage, defaultCharge(key: 0, value: 0))
    }

    func testMetricsCountWhatHappened() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("12345"), forKey: "key")
        _ = try store.value(forKey: "key")
        _ = try store.value(forKey: "missing")
        let m = try store.memoryMetrics
        XCTAssertEqual(m.currentUsage, defaultCharge(key: 3, value: 5))
        XCTAssertEqual(m.entryCount, 1)
        XCTAssertEqual(m.hitCount, 1)
        XCTAssertEqual(m.missCount, 1)
        XCTAssertEqual(m.insertCount, 1)
        XCTAssertEqual(m.maxCacheBytes, 1 << 20)
        XCTAssertEqual(m.effectiveBudget, 1 << 20)
        XCTAssertEqual(m.pressureLevel, .none)
        let json = try store.metricsJSON()
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual(object?["current_usage"] as? Int, Int(m.currentUsage))
        XCTAssertEqual(object?["hit_count"] as? Int, 1)
        try store.resetMetrics()
        let reset = try store.memoryMetrics
        XCTAssertEqual(reset.hitCount, 0)
        XCTAssertEqual(reset.missCount, 0)
        XCTAssertEqual(reset.currentUsage, m.currentUsage)
    }

    func testTooLargeAndOverBudgetThrowWithMessagesAndChangeNothing() throws {
        let store = try NexusStore(maxCacheBytes: 1000)
        XCTAssertThrowsNexus(.tooLarge, try store.put(Data(count: 2000), forKey: "big"))
        XCTAssertEqual(try store.memoryMetrics.entryCount, 0)
        try store.put(Data(count: 600), forKey: "pinned")
        try store.pin("pinned")
        XCTAssertThrowsNexus(.overBudget, try store.put(Data(count: 500), forKey: "other"))
        XCTAssertTrue(try store.contains("pinned"))
        XCTAssertFalse(try store.contains("other"))
    }

    func testReadHandleIsZeroCopyAndHoldsTheEntry() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("held value"), forKey: "h")
        let handle = try XCTUnwrap(try store.valueHandle(forKey: "h"))
        XCTAssertEqual(handle.count, 10)
        XCTAssertEqual(handle.data, bytes("held value"))
        // A held entry is not evictable.
        XCTAssertEqual(try store.clearUnpinnedCache(), 0)
        XCTAssertGreaterThan(try store.memoryMetrics.inUseBytes, 0)
        try store.removeValue(forKey: "h")
        handle.withUnsafeBytes { XCTAssertEqual(Data($0), bytes("held value")) }
        XCTAssertNil(try store.valueHandle(forKey: "h"))
    }

    func testValuesAndHandlesOutliveTheirStore() throws {
        var store: NexusStore? = try NexusStore()
        try store!.put(bytes("copied"), forKey: "a")
        try store!.put(bytes("handled"), forKey: "b")
        let copy = try store!.value(forKey: "a")
        let handle = try store!.valueHandle(forKey: "b")
        weak var weakStore = store
        store = nil
        XCTAssertNil(weakStore)
        XCTAssertEqual(copy, bytes("copied"))
        XCTAssertEqual(handle?.data, bytes("handled"))
    }

    func testPinsUnpinsAndPinnedKeysInPinOrder() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.pin("b")
        try store.pin("a")
        try store.pin("b")  // again: keeps its place
        XCTAssertEqual(try store.pinnedKeys(), [bytes("b"), bytes("a")])
        XCTAssertTrue(try store.isPinned("a"))
        XCTAssertFalse(try store.isPinned("c"))
        try store.put(bytes("1"), forKey: "a")
        try store.put(bytes("2"), forKey: "c")
        XCTAssertEqual(try store.clearUnpinnedCache(), 1)  // c only
        XCTAssertTrue(try store.contains("a"))
        XCTAssertEqual(try store.memoryMetrics.pinnedCount, 1)
        XCTAssertTrue(try store.unpin("a"))
        XCTAssertFalse(try store.unpin("a"))
        XCTAssertEqual(try store.pinnedKeys(), [bytes("b")])
        XCTAssertEqual(try store.clearUnpinnedCache(), 1)
        XCTAssertFalse(try store.contains("a"))
    }

    func testEvictLeastRecentlyUsedEvictsOldestFirst() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        for key in ["a", "b", "c", "d"] { try store.put(bytes(key), forKey: key) }
        _ = try store.value(forKey: "a")  // a is now the most recent
        XCTAssertEqual(try store.evictLeastRecentlyUsed(2), 2)
        XCTAssertEqual(try ["a", "b", "c", "d"].map { try store.contains($0) }, [true, false, false, true])
        XCTAssertEqual(try store.memoryMetrics.evictionCount, 2)
        XCTAssertEqual(try store.evict(10), 2)
        XCTAssertEqual(try store.memoryMetrics.entryCount, 0)
    }

    /// A negative count is refused, as in Kotlin (it silently evicted 0).
    func testANegativeEvictCountIsRefused() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(bytes("v"), forKey: "a")
        XCTAssertThrowsNexus(.invalidArgument, try store.evict(-1))
        XCTAssertThrowsNexus(.invalidArgument, try store.evictLeastRecentlyUsed(-1))
        XCTAssertTrue(try store.contains("a"))
    }

    func testSizeStrategyEvictsLargestFirst() throws {
        var config = MemoryConfig(maxCacheBytes: 1 << 20)
        config.strategy = .size
        let store = try NexusStore(config: config)
        try store.put(Data(count: 10), forKey: "small")
        try store.put(Data(count: 500), forKey: "large")
        try store.put(Data(count: 100), forKey: "medium")
        XCTAssertEqual(try store.evict(1), 1)
        XCTAssertFalse(try store.contains("large"))
        XCTAssertTrue(try store.contains("small"))
        XCTAssertTrue(try store.contains("medium"))
    }

    func testRemoveAllRemovesPinnedEntriesButKeepsPins() throws {
        let store = try NexusStore()
        try store.put(bytes("1"), forKey: "p")
        try store.pin("p")
        try store.put(bytes("2"), forKey: "q")
        XCTAssertEqual(try store.removeAll(), 2)
        XCTAssertEqual(try store.memoryMetrics.entryCount, 0)
        XCTAssertTrue(try store.isPinned("p"))
    }

    func testMaxCacheBytesCanBeChangedAndEvictsDownToIt() throws {
        let store = try NexusStore(maxCacheBytes: 10_000)
        XCTAssertEqual(try store.maxCacheBytes, 10_000)
        // Each entry charges key (2 bytes) + value + the fixed overhead: 500 bytes.
        let valueLength = 500 - 2 - MemoryConfig.entryOverheadBytes
        for i in 0..<10 { try store.put(Data(count: valueLength), forKey: "k\(i)") }
        XCTAssertEqual(try store.memoryMetrics.currentUsage, 5_000)
        try store.setMaxCacheBytes(2_000)
        XCTAssertEqual(try store.maxCacheBytes, 2_000)
        XCTAssertLessThanOrEqual(try store.memoryMetrics.currentUsage, 2_000)
        XCTAssertFalse(try store.contains("k0"))
        XCTAssertTrue(try store.contains("k9"))
        // Pinned entries alone above the new budget: refused, nothing changed.
        try store.pin("k9")
        XCTAssertThrowsNexus(.overBudget, try store.setMaxCacheBytes(100))
        XCTAssertEqual(try store.maxCacheBytes, 2_000)
    }

    func testLibraryVersionMatchesTheHeader() {
        XCTAssertEqual(NexusStore.libraryVersion, "\(NEXUS_VERSION_MAJOR).\(NEXUS_VERSION_MINOR).\(NEXUS_VERSION_PATCH)")
    }

    func testErrorCodesDescribeThemselves() {
        XCTAssertEqual(NexusError.Code.notFound.description, "not found")
        let error = NexusError(.busy, message: "why")
        XCTAssertEqual(error.description, "NexusError(\(NexusError.Code.busy)): why")
    }
}
