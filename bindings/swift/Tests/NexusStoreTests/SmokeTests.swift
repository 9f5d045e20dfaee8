import XCTest
@testable import NexusStore

final class SmokeTests: XCTestCase {
    func testPutAndRead() throws {
        let store = try NexusStore(maxCacheBytes: 1 << 20)
        try store.put(Data("v".utf8), forKey: "k")
        XCTAssertEqual(try store.value(forKey: "k"), Data("v".utf8))
    }
}
