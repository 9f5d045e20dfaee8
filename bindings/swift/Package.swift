// swift-tools-version:5.9
// The Swift wrapper of nexus_store: a thin layer over the C API in
// include/nexus_store.h. Link the Rust library built by `make lib`
// (target/release/libnexus_store.a), e.g.
//   swift build -Xlinker -L<dir holding only libnexus_store.a>
// or use the XCFramework made by `make xcframework` in an Xcode app.
import PackageDescription

let package = Package(
    name: "NexusStore",
    platforms: [.macOS(.v10_15), .iOS(.v13), .tvOS(.v13), .watchOS(.v6)],
    products: [
        .library(name: "NexusStore", targets: ["NexusStore"]),
    ],
    targets: [
        // The C API: a module map over include/nexus_store.h that links
        // libnexus_store.
        .systemLibrary(name: "CNexusStore", path: "Sources/CNexusStore"),
        .target(name: "NexusStore", dependencies: ["CNexusStore"]),
        .testTarget(name: "NexusStoreTests", dependencies: ["NexusStore"]),
    ]
)
