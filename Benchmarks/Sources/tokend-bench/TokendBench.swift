import ArgumentParser
import Glibc
import NIOCore
import TokendStress

/// Load, chaos and abuse runs against a real tokend.
@main
struct TokendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokend-bench",
        abstract: "Measure and stress a real tokend on the test IdP.",
        subcommands: [Perf.self, Chaos.self, Abuse.self, NIOFloorServer.self])

    struct Binaries: ParsableArguments {
        @Option(help: "The tokend binary to run.")
        var tokend: String = "tokend"
        @Option(help: "The tokenctl binary to time.")
        var tokenctl: String = "tokenctl"
    }

    struct Perf: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Throughput, latency, memory, CPU and one-shot client timings.")
        @OptionGroup var binaries: Binaries
        @Option(help: "Requests in the long 64-connection run.") var requests: UInt64 = 10_000_000
        @Option(help: "Seconds of idle CPU measurement.") var idleSeconds: Double = 60
        @Option(help: "Runs of each one-shot client.") var runs: Int = 200

        func run() async throws {
            let ok = try await PerformanceRun(tokend: binaries.tokend, tokenctl: binaries.tokenctl, totalRequests: requests,
                                              idleSeconds: idleSeconds, commandRuns: runs).run()
            if !ok { throw ExitCode(1) }
        }
    }

    struct NIOFloorServer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nio-floor",
            abstract: "A minimal SwiftNIO server of the line protocol (a constant answer), to measure beside the C reference.")
        @Option(help: "The socket to listen on.") var socket: String
        @Option(help: "Length of the constant token.") var tokenLength: Int = 32
        @Option(help: "Event loops (tokend: half the cores, 1 to 4).") var loops: Int = max(1, min(System.coreCount / 2, 4))

        func run() async throws {
            try await NIOFloor.run(socket: socket, tokenLength: tokenLength, loops: loops)
        }
    }

    struct Chaos: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clients against a faulty IdP: tokens never served expired.")
        @OptionGroup var binaries: Binaries
        @Option(help: "Seconds to run.") var duration: Double = 120
        @Option(help: "Client threads issuing GET continuously.") var clients: Int = 32
        @Option(help: "MiB the daemon's memory may grow after the first quarter of the run.") var memoryGrowthLimit: UInt64 = 4
        @Option(help: "Instances sharing one profile through a real etcd cluster, with etcd leader kills and a full outage (0: the single-daemon run).")
        var fleet: Int = 0
        @Flag(help: "With --fleet: the same instances without the fleet store, for comparison.") var withoutFleetStore = false

        func run() async throws {
            if fleet > 0 {
                let ok = try await FleetChaosRun(tokend: binaries.tokend, duration: duration, instances: fleet, shared: !withoutFleetStore).run()
                if !ok { throw ExitCode(1) }
                return
            }
            let ok = try await ChaosRun(tokend: binaries.tokend, duration: duration, clients: clients,
                                        memoryGrowthLimit: memoryGrowthLimit * 1_048_576).run()
            if !ok { throw ExitCode(1) }
        }
    }

    struct Abuse: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hostile and careless clients: service continues, resources come back.")
        @OptionGroup var binaries: Binaries
        @Option(help: "Seconds of abuse.") var duration: Double = 20
        @Option(help: "The longest a fresh client may wait for its token, in seconds.") var probeLimit: Double = 1
        @Option(help: "MiB above its idle level the daemon's memory may stay afterwards.") var memoryLimit: UInt64 = 16

        func run() async throws {
            let ok = try await AbuseRun(tokend: binaries.tokend, duration: duration, probeLimit: probeLimit,
                                        memoryLimit: memoryLimit * 1_048_576).run()
            if !ok { throw ExitCode(1) }
        }
    }
}
