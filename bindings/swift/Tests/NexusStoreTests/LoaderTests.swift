import Foundation
import XCTest
@testable import NexusStore

final class LoaderTests: XCTestCase {
    struct DownloadFailed: Error, Equatable { let code: Int }

    func testALoaderRunsOnAMissAndItsValueIsCached() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let loads = Counter()
        for _ in 0..<3 {
            let value = try store.value(forKey: "k") { key in
                loads.increment()
                return Data("loaded ".utf8) + key
            }
            XCTAssertEqual(value, bytes("loaded k"))
        }
        XCTAssertEqual(loads.value, 1)
        XCTAssertEqual(try store.value(forKey: "k"), bytes("loaded k"))
        let m = try store.memoryMetrics
        XCTAssertEqual(m.loadCount, 1)
        XCTAssertEqual(m.insertCount, 1)
    }

    func testNilMeansAbsentAndCachesNothing() throws {
        let store = try NexusStore()
        XCTAssertNil(try store.value(forKey: "none") { _ in nil })
        XCTAssertFalse(try store.contains("none"))
    }

    func testAThrownErrorIsRethrownAsIsAndNothingIsCached() throws {
        let store = try NexusStore()
        XCTAssertThrowsError(try store.value(forKey: "k") { _ in throw DownloadFailed(code: 404) }) { error in
            XCTAssertEqual(error as? DownloadFailed, DownloadFailed(code: 404))
        }
        XCTAssertFalse(try store.contains("k"))
        XCTAssertEqual(try store.memoryMetrics.loadFailureCount, 1)
        // A NexusError keeps its code.
        XCTAssertThrowsNexus(.outOfMemory, try store.value(forKey: "k") { _ in
            throw NexusError(.outOfMemory, message: "no room for the decoded image")
        })
        // The next call loads again.
        XCTAssertEqual(try store.value(forKey: "k") { _ in bytes("ok") }, bytes("ok"))
    }

    func testSingleFlightEveryWaiterGetsTheOneLoadedValue() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let waiters = 7
        let loads = Counter()
        let results = Recorder<Data?>()
        let started = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        onNewThread(group) {
            let value = try? store.value(forKey: "shared") { _ in
                loads.increment()
                started.signal()
                // Hold the load until every waiter has missed the key (each
                // miss is counted before it waits).
                waitUntil("\(waiters) waiters") { ((try? store.memoryMetrics.missCount) ?? 0) >= UInt64(waiters + 1) }
                return bytes("the value")
            }
            results.append(value)
        }
        started.wait()
        for _ in 0..<waiters {
            onNewThread(group) {
                let value = try? store.value(forKey: "shared") { _ in
                    loads.increment()
                    return bytes("a second load")
                }
                results.append(value)
            }
        }
        group.wait()
        XCTAssertEqual(loads.value, 1)
        XCTAssertEqual(results.all, Array(repeating: bytes("the value"), count: waiters + 1))
    }

    /// `waiters` callers of `key`, each on its own thread, wait on one
    /// loader, which throws `error` once they all wait. Returns what every
    /// caller got: the errors (the loader's own caller's among them) and how
    /// many read nil.
    private func callersOfALoaderThatThrows(_ error: Error, store: NexusStore, key: String,
                                            waiters: Int) -> (errors: [Error], nils: Int) {
        let errors = Recorder<Error>()
        let nils = Recorder<Bool>()
        let started = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        onNewThread(group) {
            do {
                _ = try store.value(forKey: key) { _ -> Data? in
                    started.signal()
                    waitUntil("\(waiters) waiters") { ((try? store.memoryMetrics.missCount) ?? 0) >= UInt64(waiters + 1) }
                    throw error
                }
            } catch { errors.append(error) }
        }
        started.wait()
        for _ in 0..<waiters {
            onNewThread(group) {
                do {
                    if try store.value(forKey: key, loader: { _ in bytes("unexpected") }) == nil { nils.append(true) }
                } catch { errors.append(error) }
            }
        }
        group.wait()
        return (errors.all, nils.all.count)
    }

    func testWaitersGetTheLoadersErrorWithItsDescription() throws {
        let store = try NexusStore()
        let waiters = 4
        let (all, nils) = callersOfALoaderThatThrows(DownloadFailed(code: 503), store: store, key: "bad", waiters: waiters)
        XCTAssertEqual(nils, 0, "a waiter read nil")
        XCTAssertEqual(all.count, waiters + 1)
        XCTAssertEqual(all.compactMap { $0 as? DownloadFailed }, [DownloadFailed(code: 503)])  // the loader's caller
        let waiterErrors = all.compactMap { $0 as? NexusError }
        XCTAssertEqual(waiterErrors.count, waiters)
        for error in waiterErrors {
            XCTAssertEqual(error.code, .callback)
            XCTAssertTrue(error.message.contains("DownloadFailed(code: 503)"), error.message)
        }
        XCTAssertFalse(try store.contains("bad"))
    }

    /// A loader that throws `.notFound` fails its waiters too (as
    /// `.callback`: NOT_FOUND from a load would read as "absent", nil).
    func testWaitersOfALoaderThatThrowsNotFoundGetAnError() throws {
        let store = try NexusStore()
        let waiters = 3
        let (errors, nils) = callersOfALoaderThatThrows(NexusError(.notFound, message: "no such asset on the server"),
                                                        store: store, key: "gone", waiters: waiters)
        XCTAssertEqual(nils, 0, "a waiter read nil")
        let all = errors.compactMap { $0 as? NexusError }
        XCTAssertEqual(all.count, waiters + 1)
        XCTAssertEqual(all.filter { $0.code == .notFound }.count, 1)  // the loader's own caller: as thrown
        for error in all where error.code != .notFound {
            XCTAssertEqual(error.code, .callback)
            XCTAssertEqual(error.message, "no such asset on the server")
        }
    }

    func testALoaderMayUseTheStoreAndLoadOtherKeys() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        let value = try store.value(forKey: "outer") { _ in
            try store.put(bytes("side"), forKey: "side")
            let inner = try store.value(forKey: "inner") { _ in bytes("inner value") }
            XCTAssertEqual(try store.memoryMetrics.entryCount, 2)
            return bytes("outer+") + (inner ?? Data())
        }
        XCTAssertEqual(value, bytes("outer+inner value"))
        XCTAssertEqual(try store.value(forKey: "inner"), bytes("inner value"))
        XCTAssertEqual(try store.value(forKey: "side"), bytes("side"))
    }

    func testLoadingTheSameKeyFromItsOwnLoaderIsBusy() throws {
        let store = try NexusStore()
        var inner: Error?
        let value = try store.value(forKey: "self") { key in
            do { _ = try store.value(forKey: key) { _ in bytes("never") } } catch { inner = error }
            return bytes("outer")
        }
        XCTAssertEqual(value, bytes("outer"))
        XCTAssertEqual((inner as? NexusError)?.code, .busy)
    }

    func testLoadersOfTwoStoresNest() throws {
        let a = try NexusStore()
        let b = try NexusStore()
        let value = try a.value(forKey: "k") { _ in
            let fromB = try b.value(forKey: "k") { _ in bytes("b") } ?? Data()
            return bytes("a") + fromB
        }
        XCTAssertEqual(value, bytes("ab"))
        XCTAssertEqual(try b.value(forKey: "k"), bytes("b"))
    }

    func testAValueWithoutALoaderIsAPlainRead() throws {
        let store = try NexusStore()
        XCTAssertNil(try store.value(forKey: "k"))
        XCTAssertEqual(try store.memoryMetrics.loadCount, 0)
    }
}
