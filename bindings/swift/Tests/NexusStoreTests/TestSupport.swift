import Foundation
import XCTest
@testable import NexusStore

/// Counts things across threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// Records values across threads.
final class Recorder<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
    func removeAll() { lock.lock(); items = []; lock.unlock() }
}

/// An object whose deinit is counted (and whose thread is recorded): tells
/// whether the store released it exactly once, and where.
final class Tracked: @unchecked Sendable {
    let name: String
    let deinits: Counter
    let deinitThreads: Recorder<pthread_t>?
    init(_ name: String, deinits: Counter, threads: Recorder<pthread_t>? = nil) {
        self.name = name
        self.deinits = deinits
        self.deinitThreads = threads
    }
    deinit {
        deinits.increment()
        deinitThreads?.append(pthread_self())
    }
}

/// Something a closure captures, so that releasing the closure's context is
/// seen as this object's deinit.
final class CaptureProbe: @unchecked Sendable {
    let deinits: Counter
    init(_ deinits: Counter) { self.deinits = deinits }
    deinit { deinits.increment() }
    func touch() {}
}

/// The bytes of a UTF-8 string.
func bytes(_ s: String) -> Data { Data(s.utf8) }

/// The default charge of a bytes entry.
func defaultCharge(key: Int, value: Int) -> UInt64 {
    UInt64(key + value + MemoryConfig.entryOverheadBytes)
}

/// Waits (without a time assertion) until `condition` holds; fails the test
/// if it never does within a generous bound, instead of hanging.
func waitUntil(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: () -> Bool) {
    let deadline = Date().addingTimeInterval(30)
    while !condition() {
        if Date() > deadline { XCTFail("never happened: \(what)", file: file, line: line); return }
        usleep(200)
    }
}

/// Asserts that `body` throws a NexusError with `code` and a non-empty message.
func XCTAssertThrowsNexus<T>(_ code: NexusError.Code, _ body: @autoclosure () throws -> T,
                             file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        guard let nexus = error as? NexusError else {
            return XCTFail("not a NexusError: \(error)", file: file, line: line)
        }
        XCTAssertEqual(nexus.code, code, "\(nexus)", file: file, line: line)
        XCTAssertFalse(nexus.message.isEmpty, "no message for \(code)", file: file, line: line)
    }
}

/// Runs `body` on a new thread of its own, counted in `group` (GCD's pool
/// adds threads slowly when its threads block, as loader waiters do).
func onNewThread(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
    group.enter()
    Thread {
        body()
        group.leave()
    }.start()
}
