import Foundation
import XCTest
@testable import NexusStore

/// The monitor's warningDecay.
final class MonitorDecayTests: XCTestCase {
    /// A negative or NaN warningDecay held CRITICAL forever.
    func testAWarningDecayThatIsNotAFiniteDurationThrows() throws {
        for decay in [-1, -0.001, .nan, .infinity, -.infinity] as [TimeInterval] {
            XCTAssertThrowsNexus(.invalidArgument, try MemoryPressureMonitor(warningDecay: decay, signal: { _ in }))
            do {
                _ = try MemoryPressureMonitor(warningDecay: decay, signal: { _ in })
            } catch let error as NexusError {
                XCTAssertTrue(error.message.contains("warningDecay"), error.message)
            }
        }
        for decay in [0, 0.5, 30] as [TimeInterval] {
            XCTAssertNoThrow(try MemoryPressureMonitor(warningDecay: decay, signal: { _ in }, scheduler: { _, _ in }))
        }
    }
}
