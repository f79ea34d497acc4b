// swift-tools-version:6.0
//
// The target list reads bottom-up like the layers in docs/ARCHITECTURE.md:
// C shims and TokendPlatform (facts of the host), then pure logic
// (TokendProtocol, TokendCore), then the I/O edges (TokendHTTP,
// TokendEngine, TokendServer, TokendSystemd), then executables. Each
// target's dependencies are exactly what its files import: the test command
// checks it (scripts/check-imports.py). Linux only (Glibc throughout).
import PackageDescription

let package = Package(
    name: "tokend",
    products: [
        .executable(name: "tokend", targets: ["tokend"]),
        .executable(name: "tokenctl", targets: ["tokenctl"]),
        // For the nested packages Benchmarks/ (tokend-bench) and Fuzz/ (the
        // libFuzzer targets), which keep their tools and dependencies out of
        // this graph; not an API.
        .library(name: "TokendStress", targets: ["TokendStress"]),
        .library(name: "TokendFuzzing", targets: ["TokendFuzzing"]),
        .library(name: "TokendTesting", targets: ["TokendTesting"]),
        .library(name: "TestIdP", targets: ["TestIdP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // libcurl as a system library, and typed wrappers for its variadic calls.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        // prctl, getrandom, closefrom for posix_spawn, pidfd_open, and signals
        // through a self-pipe: calls whose headers Swift's Glibc module does
        // not export, or that must be written in C (a signal handler).
        .target(name: "CProcessShim"),
        // tokend's signal handlers, installed by a constructor before any
        // Swift code runs; linked into tokend only.
        .target(name: "CEarlySignals", dependencies: ["CProcessShim"]),
        // SHA-256 and AES-256-GCM from OpenSSL's libcrypto, which libcurl
        // already brings to every host (see docs/ARCHITECTURE.md for why not
        // swift-crypto), and the thin Swift face of it.
        .target(name: "CCryptoShim", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "TokendCrypto", dependencies: ["CCryptoShim"]),
        // Facts and mechanisms of the host, below every other Swift target.
        .target(name: "TokendPlatform", dependencies: ["CProcessShim"]),

        // Pure logic: no sockets, no curl, no clocks. TokendProtocol is also
        // Foundation-free so that tokenctl can link it and still start fast.
        .target(name: "TokendProtocol"),
        // tokenctl's command line as a pure function, hand-written rather than
        // ArgumentParser (whose reflection and Foundation dominate a client's
        // start-up); a library so that it is unit-tested without a process.
        .target(name: "TokenctlCommandLine", dependencies: ["TokendProtocol"]),
        .target(
            name: "TokendCore",
            dependencies: [
                "TokendProtocol", "TokendPlatform", "TokendCrypto",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),

        // The series tokend exports (SPEC §10), through swift-metrics' API:
        // the engine and the server count, a backend (Prometheus) collects.
        .target(
            name: "TokendTelemetry",
            dependencies: ["TokendCore", "TokendPlatform", "TokendProtocol", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),

        // I/O edges.
        // The host as the configuration loader sees it: files, environment,
        // the user database (what `tokend --check` needs, without the engine).
        .target(name: "TokendHost", dependencies: ["CProcessShim", "TokendCore", "TokendPlatform"]),
        .target(
            name: "TokendHTTP",
            dependencies: [
                "TokendCore", "TokendProtocol", "TokendPlatform", "CCurlShim",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "TokendEngine",
            dependencies: [
                "TokendCore", "TokendCrypto", "TokendHTTP", "TokendHost", "TokendPlatform", "TokendProtocol", "TokendTelemetry",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TokendServer",
            dependencies: [
                "TokendProtocol", "TokendCore", "TokendEngine", "TokendPlatform", "TokendTelemetry",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `metrics_listen` (SPEC §10): the HTTP endpoint and the Prometheus backend.
        .target(
            name: "TokendMetrics",
            dependencies: [
                "TokendCore", "TokendEngine", "TokendPlatform", "TokendProtocol", "TokendServer", "TokendTelemetry",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "TokendSystemd",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "TestIdP",
            dependencies: [
                "TokendCore", "TokendCrypto", "TokendProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // The daemon as a library: the composition root, built from a
        // configuration and injected parts (fetchers, clock, notifier, metrics
        // registry, reload), so that tests run it in process with real sockets.
        .target(
            name: "TokendApp",
            dependencies: [
                "TokendCore", "TokendEngine", "TokendHost", "TokendHTTP", "TokendMetrics", "TokendPlatform", "TokendServer", "TokendSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What the tests and tokend-bench share: child processes, the daemon
        // harness, the line client, notifications and clocks; and for tests in
        // process, a manual clock and a scripted IdP behind the engine's
        // TokenFetcher seam.
        .target(
            name: "TokendTesting",
            dependencies: [
                "CProcessShim", "TokendApp", "TokendPlatform", "TokendCore", "TokendEngine", "TokendHost", "TokendSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),

        // Executables.
        .executableTarget(
            name: "tokend",
            dependencies: [
                "TokendApp", "TokendCore", "TokendHTTP", "TokendHost", "TokendMetrics", "TokendSystemd", "TokendPlatform", "TestIdP",
                "CProcessShim", "CEarlySignals",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tokenctl",
            dependencies: ["TokendProtocol", "TokenctlCommandLine"],
            // Scripts call tokenctl in loops: on Linux a release build links it
            // fully statically, as loading and relocating libstdc++ and friends
            // costs more than the rest of a call. Not in debug builds, which
            // sanitizers must be able to instrument.
            linkerSettings: [
                .unsafeFlags(["-static-executable"], .when(platforms: [.linux], configuration: .release)),
            ]
        ),

        // The chaos, fleet chaos and abuse runs against real tokend processes:
        // the suite runs two in process; tokend-bench (Benchmarks/) runs all
        // three at full length.
        .target(
            name: "TokendStress",
            dependencies: [
                "TestIdP", "TokendTesting",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The bodies of the libFuzzer targets (Fuzz/ drives them), replayed on
        // every committed input by the suite.
        .target(name: "TokendFuzzing", dependencies: ["TokendCore", "TokendCrypto", "TokendPlatform", "TokendProtocol"]),

        .testTarget(name: "TokendProtocolTests", dependencies: ["TokendProtocol"]),
        .testTarget(name: "TokendPlatformTests", dependencies: ["TokendPlatform"]),
        .testTarget(
            name: "TokendServerTests",
            dependencies: [
                "TokendServer", "TokendEngine", "TokendCore", "TokendPlatform", "TokendTelemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "TokenctlCommandLineTests", dependencies: ["TokenctlCommandLine"]),
        // The engine in process: a manual clock and a scripted IdP (TokendTesting).
        .testTarget(name: "TokendAppTests", dependencies: ["TokendApp", "TokendCore", "TokendPlatform", "TokendTesting"]),
        .testTarget(
            name: "TokendEngineTests",
            dependencies: [
                "TokendEngine", "TokendCore", "TokendPlatform", "TokendTesting",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "TokendCoreTests", dependencies: ["TokendCore", "TokendCrypto", "TokendPlatform"]),
        .testTarget(
            name: "TokendIntegrationTests",
            dependencies: ["TokendCore", "TokendFuzzing", "TokendHTTP", "TokendPlatform", "TokendStress", "TokendSystemd", "TestIdP", "TokendTesting"]
        ),
    ]
)

// Every warning in the project's own Swift code is an error (Swift 6 mode's
// concurrency checks included), so none can creep in; the dependencies'
// warnings are theirs. Two upcoming features, as hummingbird enables them:
// `any` spelled out for every existential, and a member usable only in a
// file that imports its module (it found Foundation's `range(of:)` used in
// TokendCore through TOMLKit). InternalImportsByDefault is not on: every
// public signature naming a NIO or TokendCore type would need `public import`.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-warnings-as-errors"]),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// The socket server's hot path: a connection's state is confined to its
// event loop, so release builds skip the run-time exclusivity checks, which
// cost ~9 % of the CPU at 64 pipelining connections (perf): TokendServer
// (the connection) and TokendCore (the token's servability on every GET).
// Debug and sanitizer builds, which the tests run, keep them.
let hotPath: Set<String> = ["TokendServer", "TokendCore"]

for target in package.targets where target.type != .system {
    target.swiftSettings = swiftSettings
        + (hotPath.contains(target.name) ? [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))] : [])
}
