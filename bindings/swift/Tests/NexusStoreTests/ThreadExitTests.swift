import Foundation
import XCTest
@testable import NexusStore

final class ThreadExitTests: XCTestCase {
    /// The last reference to a store may go with a thread's closure, which
    /// Foundation releases while the thread exits (in its thread-local
    /// storage destructors): the store and its objects are still freed.
    func testAStoreWhoseLastReferenceGoesWithAnExitingThread() throws {
        let deinits = Counter()
        let exited = DispatchSemaphore(value: 0)
        weak var weakCache: NexusObjectCache<String, Tracked>?
        do {
            let cache = try NexusObjectCache<String, Tracked>()
            for i in 0..<3 { try cache.setObject(Tracked("o\(i)", deinits: deinits), forKey: "o\(i)", cost: 100) }
            weakCache = cache
            Thread {
                _ = try? cache.object(forKey: "o1")
                exited.signal()
            }.start()
        }
        exited.wait()
        waitUntil("the thread's closure released the cache") { weakCache == nil }
        waitUntil("all three objects released") { deinits.value == 3 }
        XCTAssertEqual(deinits.value, 3)
    }
}
