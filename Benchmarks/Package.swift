// swift-tools-version:6.0
//
// tokend-bench, kept out of tokend's own package graph (as swift-nio and
// hummingbird keep their benchmarks): the performance run with its
// hdrhistogram dependency, the NIO floor server, and the command line for
// the chaos, fleet chaos and abuse runs of TokendStress (the test suite runs
// two of them in process). `make bench`, `make chaos`, `make abuse`,
// `make chaos-fleet` build it in release.
import PackageDescription

let package = Package(
    name: "tokend-benchmarks",
    products: [
        .executable(name: "tokend-bench", targets: ["tokend-bench"]),
    ],
    dependencies: [
        .package(name: "tokend", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "tokend-bench",
            dependencies: [
                .product(name: "TestIdP", package: "tokend"),
                .product(name: "TokendStress", package: "tokend"),
                .product(name: "TokendTesting", package: "tokend"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)

// The main package's settings: every warning an error, `any` spelled out,
// members visible only where their module is imported.
for target in package.targets {
    target.swiftSettings = [
        .unsafeFlags(["-warnings-as-errors"]),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
