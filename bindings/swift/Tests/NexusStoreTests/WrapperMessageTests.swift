import Foundation
import XCTest
@testable import NexusStore

/// Messages in the wrapper's words, with the value.
final class WrapperMessageTests: XCTestCase {
    private func message(_ body: () throws -> Any?) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    /// Fields in the wrapper's names, with the value given.
    func testConfigMessagesNameTheSwiftFieldAndTheValue() throws {
        var c = MemoryConfig()
        c.evictionBatchSize = 0
        XCTAssertThrowsNexus(.invalidArgument, try NexusStore(config: c))
        XCTAssertTrue(message { try NexusStore(config: c) }.contains("evictionBatchSize must be at least 1 (got 0)"),
                      message { try NexusStore(config: c) })
        c = MemoryConfig()
        c.eventQueueCapacity = 0
        XCTAssertTrue(message { try c.validate() }.contains("eventQueueCapacity must be at least 1 (got 0)"),
                      message { try c.validate() })

        var g = GovernorConfig(budgetBytes: 100)
        g.eventQueueCapacity = -5
        XCTAssertThrowsNexus(.invalidArgument, try Governor(config: g))
        XCTAssertTrue(message { try Governor(config: g) }.contains("eventQueueCapacity must not be negative (got -5)"),
                      message { try Governor(config: g) })
        g.eventQueueCapacity = 0
        XCTAssertTrue(message { try Governor(config: g) }.contains("eventQueueCapacity must be at least 1 (got 0)"),
                      message { try Governor(config: g) })
    }

    /// Cost 0 without an estimator names MemoryConfig.sizeEstimator, not the C struct.
    func testObjectCostZeroNamesTheSwiftEstimator() throws {
        let cache = try NexusObjectCache<String, NSObject>(totalCostLimit: 1000)
        for text in [message { try cache.setObject(NSObject(), forKey: "o", cost: 0) },
                     message { try cache.object(forKey: "z") { _ in (NSObject(), 0) } }] {
            XCTAssertTrue(text.contains("invalid argument"), text)
            XCTAssertTrue(text.contains("MemoryConfig.sizeEstimator"), text)
            XCTAssertFalse(text.contains("NexusMemoryConfig"), text)
        }
    }

    /// A loader throwing a NexusError whose code the library
    /// refuses for a failure (OK, an unknown one): its waiters got "the
    /// loader returned status 4", without the loader's message.
    func testWaitersOfALoaderThrowingAnOddCodeGetItsMessage() throws {
        for raw in [UInt32(0), 999] {
            let store = try NexusStore(maxCacheBytes: 100_000)
            let started = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            let caller = Recorder<String>()
            let waiters = Recorder<NexusError>()
            onNewThread(group) {
                do {
                    _ = try store.value(forKey: "k") { _ in
                        started.signal()
                        usleep(500_000)  // the waiters join (they are checked, not timed)
                        throw NexusError(NexusError.Code(rawValue: raw), message: "odd \(raw)")
                    }
                    caller.append("a value")
                } catch let e as NexusError { caller.append(e.message) } catch { caller.append("\(error)") }
            }
            started.wait()
            for _ in 0..<3 {
                onNewThread(group) {
                    do { _ = try store.value(forKey: "k") { _ in Data([9]) } } catch let e as NexusError { waiters.append(e) } catch {}
                }
            }
            group.wait()
            XCTAssertEqual(caller.all, ["odd \(raw)"], "the loader's caller gets its error as is")
            // A waiter that came after the load ended loads its own value:
            // only the ones that joined it fail, each with the message.
            for e in waiters.all {
                XCTAssertEqual(e.code, .callback, "\(e)")
                XCTAssertTrue(e.message.contains("odd \(raw)"), "\(e)")
            }
            XCTAssertFalse(waiters.all.isEmpty, "no waiter joined the load (raw \(raw))")
        }
    }
}
