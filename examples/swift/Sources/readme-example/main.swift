import Foundation
import NexusStore

// A 64 MB cache of bytes that sheds memory when the OS asks.
let store = try NexusStore(maxCacheBytes: 64 << 20)
try store.put(Data("hello".utf8), forKey: "greeting")
print(String(decoding: try store.value(forKey: "greeting")!, as: UTF8.self))

// On a miss the loader runs once, however many callers wait for the key;
// what it throws is rethrown.
let avatar = try store.value(forKey: "avatar/42") { key in
    Data(repeating: 7, count: 1000)  // download or decode here
}
print("avatar:", avatar?.count ?? 0, "bytes")

// Class instances the NSCache way, released exactly once when they go.
final class Texture { let pixels = [UInt8](repeating: 0, count: 4096) }
let textures = try NexusObjectCache<String, Texture>(totalCostLimit: 1 << 20)
try textures.setObject(Texture(), forKey: "sky", cost: 4096)
try textures.pin("sky")  // never evicted until unpinned

// Connect the OS memory warnings (Dispatch, UIKit) to every store.
let monitor = try MemoryPressureMonitor()
monitor.start()  // false on Linux: no OS hooks there
monitor.receive(.critical)  // what Dispatch's critical event does
print("level:", try store.pressureLevel, "sky kept:", try textures.object(forKey: "sky") != nil)
monitor.receive(.normal)
