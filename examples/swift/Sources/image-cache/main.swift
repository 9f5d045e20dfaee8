// An app's image cache under memory pressure: decoded images (class
// instances) in a NexusObjectCache with a budget, thumbnails pinned, a
// listener and an event stream reporting what the store sheds when the OS
// warns, and a loader that decodes each missing image once.
import Foundation
import NexusStore

/// How many decoded images exist (the cache releases each exactly once).
final class LiveCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

final class DecodedImage {
    let name: String
    let pixels: [UInt8]
    let live: LiveCount
    init(name: String, bytes: Int, live: LiveCount) {
        self.name = name
        self.live = live
        pixels = [UInt8](repeating: 0xAB, count: bytes)
        live.add(1)
    }
    deinit { live.add(-1) }
}

let live = LiveCount()

var config = MemoryConfig(maxCacheBytes: 400_000)
config.strategy = .lru
let images = try NexusObjectCache<String, DecodedImage>(config: config)

let evictions = Counter()
try images.store.setEvictionListener { _, reason, _ in evictions.add(reason) }

// Thumbnails stay whatever happens.
for i in 0..<3 {
    try images.setObject(DecodedImage(name: "thumb\(i)", bytes: 10_000, live: live), forKey: "thumb\(i)", cost: 10_000)
    try images.pin("thumb\(i)")
}

// Scrolling through a gallery: each image decoded once, on its first miss.
var decoded = 0
for i in 0..<60 {
    _ = try images.object(forKey: "photo\(i % 12)") { key in
        decoded += 1
        return (DecodedImage(name: key, bytes: 20_000, live: live), 20_000)
    }
}
let metrics = try images.store.memoryMetrics
print("decoded \(decoded) photos for 60 views; \(metrics.entryCount) images cached, \(metrics.currentUsage) of \(metrics.maxCacheBytes) bytes")

// The OS warns: the store sheds, the stream reports it.
let events = images.store.events
try images.store.signalPressure(.critical)
try images.store.signalPressure(.none)
var iterator = events.makeAsyncIterator()
if let event = await iterator.next() { print("event:", event.kind) }

let after = try images.store.memoryMetrics
print("after a critical warning: \(after.entryCount) images cached (3 pinned thumbnails among them), \(after.currentUsage) bytes")
print("evictions by reason:", evictions.snapshot().sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
print("decoded images alive: \(live.value) (one per cached entry: \(after.entryCount))")

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [EvictionReason: Int] = [:]
    func add(_ reason: EvictionReason) { lock.lock(); counts[reason, default: 0] += 1; lock.unlock() }
    func snapshot() -> [EvictionReason: Int] { lock.lock(); defer { lock.unlock() }; return counts }
}

// Every image the cache let go of was released (once): the live ones are
// exactly the cached ones.
if live.value != Int(after.entryCount) {
    print("error: \(live.value) images alive for \(after.entryCount) entries")
    exit(1)
}
