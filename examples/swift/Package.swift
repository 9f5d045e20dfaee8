// swift-tools-version:5.9
// Example programs using the NexusStore Swift package (bindings/swift,
// through the NexusStorePackage symlink: a path dependency named "swift"
// would clash with this package's own folder name).
// Build with the Rust library on the linker path:
//   swift build -Xlinker -L<dir holding only libnexus_store.a>
import PackageDescription

let package = Package(
    name: "NexusStoreExamples",
    dependencies: [.package(path: "NexusStorePackage")],
    targets: [
        .executableTarget(name: "image-cache", dependencies: [.product(name: "NexusStore", package: "NexusStorePackage")]),
        .executableTarget(name: "readme-example", dependencies: [.product(name: "NexusStore", package: "NexusStorePackage")]),
    ]
)
