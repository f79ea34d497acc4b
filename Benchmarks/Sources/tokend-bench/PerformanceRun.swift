import Glibc
import Histogram
import TestIdP
import TokendTesting
import TokendStress

/// `tokend-bench perf`: starts tokend on the test IdP and measures what
/// the README reports, printing one Markdown table.
struct PerformanceRun {
    var tokend: String
    var tokenctl: String
    /// Requests in the long 64-connection run (the memory-growth check).
    var totalRequests: UInt64 = 10_000_000
    var idleSeconds: Double = 60
    var commandRuns = 200
    /// Token lifetime during the load phases: renewals happen while under load.
    var loadLifetime: Double = 8

    func run() async throws -> Bool {
        TestFiles.raiseDescriptorLimit()
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 3600))
        defer { Task { try? await idp.shutdown() } }
        let directory = TestFiles.temporaryDirectory()
        let daemon = try DaemonProcess.started(tokend: tokend, directory: directory, configuration: """
            log_level = "notice"
            max_connections = 4096
            idle_timeout = "1h"
            [profile.demo]
            token_url = "\(idp.tokenURL)"
            client_id = "demo"
            client_secret = "demo-secret"

            """)
        let probe = daemon.probe
        guard let first = LineClient.connect(daemon.socket), first.request("GET demo")?.hasPrefix("OK ") == true else {
            throw HarnessFailure("no first token; see \(daemon.logFile!)")
        }
        var rows: [(String, String, String)] = []
        func row(_ what: String, _ value: String, _ target: String = "") {
            rows.append((what, value, target))
            print("  \(what): \(value)")
        }

        // Idle: one token held, nothing to renew for `idleSeconds`.
        Clocks.sleep(seconds: 2)
        let idleRSS = probe.residentBytes
        let idleCPU0 = probe.cpuNanoseconds
        Clocks.sleep(seconds: idleSeconds)
        let idleCPU = Double(probe.cpuNanoseconds - idleCPU0) / 1e6 * (60 / idleSeconds)
        row("RSS idle", Report.mebibytes(idleRSS), "< 16 MiB")
        row("CPU per idle minute", Report.fixed(idleCPU, 2) + " ms", "< 10 ms")

        // Load phases run on short-lived tokens, so renewals happen under load.
        idp.update { $0.lifetime = loadLifetime }
        let refreshed = first.request("REFRESH demo")
        guard refreshed?.hasPrefix("OK ") == true else { throw HarnessFailure("REFRESH failed: \(refreshed ?? "no answer")") }
        first.close()
        let idpBefore = idp.requests.count
        let loadStarted = Clocks.monotonic()

        _ = LoadGenerator.run(.init(socket: daemon.socket, connections: 8, depth: 8, requests: 100_000))  // warm-up
        let single = LoadGenerator.run(.init(socket: daemon.socket, connections: 1, depth: 1, seconds: 5))
        row("GET/s, 1 connection × depth 1", Report.thousands(single.perSecond))
        row("latency p50/p99/p99.9/max, 1 connection", Report.latencies(single.latency))

        let spread = LoadGenerator.run(.init(socket: daemon.socket, connections: 64, depth: 1, seconds: 5))
        row("GET/s, 64 connections × depth 1", Report.thousands(spread.perSecond))
        row("latency p50/p99/p99.9/max, 64 connections × depth 1", Report.latencies(spread.latency), "p99 < 1 ms")

        let cpuBefore = probe.cpuNanoseconds
        let million = LoadGenerator.run(.init(socket: daemon.socket, connections: 64, depth: 8, requests: 1_000_000))
        let cpuPerMillion = Double(probe.cpuNanoseconds - cpuBefore) / 1e9 / (Double(million.completed) / 1e6)
        let rss1M = probe.residentBytes
        row("GET/s, 64 connections × depth 8", Report.thousands(million.perSecond), "≥ 100,000")
        row("latency p50/p99/p99.9/max, 64 connections × depth 8", Report.latencies(million.latency))
        row("CPU seconds per million GET", Report.fixed(cpuPerMillion, 2) + " s")
        row("RSS after 1 M requests", Report.mebibytes(rss1M))

        var long = LoadResult()
        if totalRequests > 1_000_000 {
            long = LoadGenerator.run(.init(socket: daemon.socket, connections: 64, depth: 8, requests: totalRequests - 1_000_000))
            let rssLong = probe.residentBytes
            let growth = Int64(rssLong) - Int64(rss1M)
            row("GET/s over the next \(Report.thousands(Double(long.completed))) requests", Report.thousands(long.perSecond))
            row("RSS after \(Report.thousands(Double(long.completed + million.completed))) requests at 64 × 8",
                Report.mebibytes(rssLong) + " (\(growth >= 0 ? "+" : "")\(Report.fixed(Double(growth) / 1024, 0)) KiB)", "growth < 1 MiB")
        }

        // 1,000 idle connections beside 16 busy ones.
        var idle: [LineClient] = []
        for _ in 0..<1000 { if let c = LineClient.connect(daemon.socket) { idle.append(c) } }
        guard let check = LineClient.connect(daemon.socket), check.request("PING") == "OK PONG" else { throw HarnessFailure("daemon unreachable with 1,000 idle connections") }
        check.close()
        let busy = LoadGenerator.run(.init(socket: daemon.socket, connections: 16, depth: 1, seconds: 5))
        row("GET/s, 16 busy × depth 1 beside \(idle.count) idle", Report.thousands(busy.perSecond))
        row("latency p99 of the busy ones", Report.microseconds(busy.latency.valueAtPercentile(99)))
        idle.forEach { $0.close() }

        let loadSeconds = Double(Clocks.monotonic() - loadStarted) / 1e9
        let idpDuringLoad = idp.requests.count - idpBefore
        let renewals = loadSeconds / (loadLifetime * 0.75)
        row("IdP requests during \(Report.fixed(loadSeconds, 0)) s of load", "\(idpDuringLoad)",
            "renewals only: ≈ \(Report.fixed(renewals, 1)) (lifetime \(Report.fixed(loadLifetime, 0)) s, renew_at 0.75)")
        let errors = single.errors + spread.errors + million.errors + long.errors + busy.errors
        row("error answers during load", "\(errors)", "0")

        // One-shot clients, as a script calls them.
        let request = directory + "/get-demo.txt"
        try TestFiles.write(request, "GET demo\n")
        let viaTokenctl = CommandTimer.time(tokenctl, ["--socket", daemon.socket, "get", "demo"], runs: commandRuns)
        let viaNC = CommandTimer.time("/usr/bin/nc", ["-U", "-N", daemon.socket], stdin: request, runs: commandRuns)
        let viaCurl = CommandTimer.time("/usr/bin/curl", ["-s", "-o", "/dev/null", "-f", "--data",
                                                          "grant_type=client_credentials&client_id=demo&client_secret=demo-secret", idp.tokenURL],
                                        runs: commandRuns)
        let ratio = viaTokenctl.medianMilliseconds / viaNC.medianMilliseconds
        row("`tokenctl get` median of \(commandRuns)", Report.fixed(viaTokenctl.medianMilliseconds, 2) + " ms (\(Report.fixed(ratio, 2)) × nc)", "≤ 1.5 × nc")
        row("`nc -U -N` one-shot median", Report.fixed(viaNC.medianMilliseconds, 2) + " ms")
        row("without tokend: `curl` POST to the token endpoint, median", Report.fixed(viaCurl.medianMilliseconds, 2) + " ms")
        let commandFailures = viaTokenctl.failures + viaNC.failures + viaCurl.failures

        let status = daemon.stop()
        print("")
        print("Machine: \(Report.machine())")
        print("")
        print("| measure | result | target |")
        print("| --- | --- | --- |")
        for (what, value, target) in rows { print("| \(what) | \(value) | \(target) |") }
        print("")
        print("tokend exit status \(status); its log: \(daemon.logFile!)")
        let healthy = status == 0 && errors == 0 && commandFailures == 0
        if !healthy { print("FAILED: errors during the run (answers \(errors), commands \(commandFailures), exit \(status))") }
        return healthy
    }
}
