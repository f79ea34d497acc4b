// swift-tools-version:6.0
//
// The libFuzzer targets, kept out of tokend's own package graph: each is a
// `main` around one body of TokendFuzzing (which the test suite replays on
// every committed input). Built with `-sanitize=fuzzer,address -DFUZZING`
// (`make fuzz`, scripts/fuzz.sh) they run libFuzzer's driver; in a normal
// build each replays the files given to it.
import PackageDescription

let targets = ["request-line", "token-response", "configuration", "cache-entry", "private-key", "idp-limits", "presented-token", "etcd-response"]

let package = Package(
    name: "tokend-fuzz",
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [
        .package(name: "tokend", path: ".."),
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzReplay", dependencies: ["CLibFuzzer"]),
    ] + targets.map {
        .executableTarget(name: "fuzz-\($0)", dependencies: ["FuzzReplay", .product(name: "TokendFuzzing", package: "tokend")])
    }
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
