// swift-tools-version:5.9
// The Swift wrapper of nexus_store: a thin layer over the C API in
// include/nexus_store.h.
//
// The C module CNexusStore is either
//   - CNexusStore.xcframework, when `make xcframework` has built it here (on a
//     Mac: the Rust static library for iOS device, iOS simulator and macOS), or
//   - a system library (Sources/CNexusStore: module map over the header,
//     linking nexus_store): put the folder holding libnexus_store.a (built by
//     `make lib`) on the linker path, e.g.
//       swift build -Xlinker -L<dir holding only libnexus_store.a>
import Foundation
import PackageDescription

let xcframework = "CNexusStore.xcframework"
let hasXCFramework = FileManager.default.fileExists(atPath: Context.packageDirectory + "/" + xcframework)
let cModule: Target = hasXCFramework
    ? .binaryTarget(name: "CNexusStore", path: xcframework)
    : .systemLibrary(name: "CNexusStore", path: "Sources/CNexusStore")

let package = Package(
    name: "NexusStore",
    // Only the platforms scripts/make-xcframework.sh builds slices for (iOS
    // device and simulator, macOS; run_tests.sh checks this). tvOS and
    // watchOS are not supported: the XCFramework has no slice for them, so
    // such an app would fail to link.
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "NexusStore", targets: ["NexusStore"]),
    ],
    targets: [
        cModule,
        .target(name: "NexusStore", dependencies: ["CNexusStore"]),
        .testTarget(name: "NexusStoreTests", dependencies: ["NexusStore"]),
    ]
)
