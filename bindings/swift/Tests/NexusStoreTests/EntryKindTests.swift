import Foundation
import XCTest
@testable import NexusStore

/// An entry read as the other kind (bytes / object).
final class EntryKindTests: XCTestCase {
    /// An object entry read as bytes, a bytes entry read
    /// as an object: `.invalidArgument` naming what the entry holds, instead of
    /// empty `Data` or nil ("absent") while `contains` is true.
    func testAnEntryReadAsTheOtherKindThrows() throws {
        let cache = try NexusObjectCache<String, NSObject>(totalCostLimit: 100_000)
        try cache.setObject(NSObject(), forKey: "obj", cost: 10)
        try cache.store.put(Data([1, 2, 3]), forKey: "bytes")
        let loads = Counter()

        XCTAssertThrowsNexus(.invalidArgument, try cache.store.value(forKey: "obj"))
        XCTAssertThrowsNexus(.invalidArgument, try cache.store.valueHandle(forKey: "obj"))
        XCTAssertThrowsNexus(.invalidArgument, try cache.store.value(forKey: "obj") { _ in loads.increment(); return Data([1]) })
        XCTAssertThrowsNexus(.invalidArgument, try cache.object(forKey: "bytes"))
        XCTAssertThrowsNexus(.invalidArgument, try cache.object(forKey: "bytes") { _ in loads.increment(); return (NSObject(), 10) })
        XCTAssertEqual(loads.value, 0, "the entry is present: no loader runs")
        do {
            _ = try cache.store.value(forKey: "obj")
        } catch let error as NexusError {
            XCTAssertTrue(error.message.contains("object"), error.message)
        }
        do {
            _ = try cache.object(forKey: "bytes")
        } catch let error as NexusError {
            XCTAssertTrue(error.message.contains("bytes"), error.message)
        }
        // Each entry still reads as its own kind; an empty bytes value is Data().
        XCTAssertNotNil(try cache.object(forKey: "obj"))
        XCTAssertEqual(try cache.store.value(forKey: "bytes"), Data([1, 2, 3]))
        try cache.store.put(Data(), forKey: "empty")
        XCTAssertEqual(try cache.store.value(forKey: "empty"), Data())
        XCTAssertEqual(try cache.store.valueHandle(forKey: "empty")?.count, 0)
        XCTAssertTrue(try cache.store.contains("obj"))
        XCTAssertTrue(try cache.store.contains("bytes"))
    }

    /// A bytes caller waiting on an object load gets the same refusal.
    func testABytesWaiterOfAnObjectLoadIsRefused() throws {
        let cache = try NexusObjectCache<String, NSObject>(totalCostLimit: 100_000)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        let waiter = Recorder<String>()
        onNewThread(group) {
            _ = try? cache.object(forKey: "k") { _ in
                started.signal()
                release.wait()
                return (NSObject(), 10)
            }
        }
        started.wait()
        onNewThread(group) {
            do { _ = try cache.store.value(forKey: "k") { _ in Data([1]) }; waiter.append("a value") }
            catch let e as NexusError { waiter.append("\(e.code)") }
            catch { waiter.append("\(error)") }
        }
        usleep(50_000)  // the waiter joins the load (either way it must be refused)
        release.signal()
        group.wait()
        XCTAssertEqual(waiter.all, ["\(NexusError.Code.invalidArgument)"])
    }
}
