import Foundation
import Glibc
import TestIdP
import TokendTesting

/// `tokend-bench chaos --fleet N`: N tokend instances share one profile
/// through a real three-member etcd cluster (SPEC §14) while the IdP fails
/// a share of requests, the etcd leader is killed (-9) and restarted, and
/// then the whole cluster is stopped and started again. One client per
/// instance GETs continuously. It reports the IdP's requests per renewal
/// period, expired tokens served (must be 0) and errors answered while a
/// valid token existed anywhere in the fleet (must be 0).
public struct FleetChaosRun: Sendable {
    var tokend: String
    var duration: Double
    var instances: Int
    /// false: the same run without the fleet store (`fleet = false`), for comparison.
    var shared = true
    var faultProbability = 0.2
    var maxLatency = 0.3
    let lifetime = 30.0, renewAt = 0.3, jitter = 0.05, retryMin = 0.5, retryMax = 2.0, timeout = 2.0
    let servableMargin = 1.5

    public init(tokend: String, duration: Double, instances: Int, shared: Bool = true) {
        self.tokend = tokend
        self.duration = duration
        self.instances = instances
        self.shared = shared
    }

    struct Seen {
        var firstSeen: UInt64
        var lastSeen: UInt64
        /// The instances that served it.
        var hosts: Set<Int> = []
    }

    final class Tally: @unchecked Sendable {  // every field under `lock`
        let lock = NSLock()
        var seen: [String: Seen] = [:]
        var refusals: [(host: Int, sentAt: UInt64, receivedAt: UInt64, message: String)] = []
        var answers = 0
        var lost = 0
    }

    public func run(report: RunReport = RunReport()) async throws -> Bool {
        TestFiles.raiseDescriptorLimit()
        let cluster = try EtcdCluster(size: 3)
        let idp = try await TestIdP.start(settings: TestIdP.Settings(
            clients: [.init(id: "fleet-client", secret: "fleet-secret")], lifetime: lifetime,
            chaos: TestIdP.Chaos(faultProbability: faultProbability, maxLatency: maxLatency, timeoutSeconds: timeout)))
        let directory = TestFiles.temporaryDirectory(prefix: "tokend-fleet-chaos")
        try TestFiles.write(directory + "/key", String(repeating: "3c", count: 32) + "\n", mode: 0o600)
        let config = """
            log_level = "info"
            cache_key_file = "\(directory)/key"
            [fleet]
            endpoints = [\(cluster.endpoints.map { "\"\($0)\"" }.joined(separator: ", "))]
            timeout = "1s"
            max_clock_skew = "2s"
            [profile.api]
            token_url = "\(idp.tokenURL)"
            client_id = "fleet-client"
            client_secret = "fleet-secret"
            renew_at = \(renewAt)
            jitter = \(jitter)
            retry_min = \(retryMin)
            retry_max = \(retryMax)
            timeout = \(timeout)
            fleet = \(shared)

            """
        var daemons: [DaemonProcess] = []
        for index in 0..<instances {
            let home = directory + "/host-\(index)"
            mkdir(home, 0o700)
            daemons.append(try DaemonProcess.started(tokend: tokend, directory: home, configuration: config))
        }
        let tally = Tally()
        let started = Clocks.monotonic()
        let deadline = started + UInt64(duration * 1e9)
        let finished = DispatchGroup()
        for (host, daemon) in daemons.enumerated() {
            finished.enter()
            let socket = daemon.socket
            Thread.detachNewThread {
                defer { finished.leave() }
                var seen: [String: Seen] = [:]
                var refusals: [(Int, UInt64, UInt64, String)] = []
                var answers = 0, lost = 0
                while Clocks.monotonic() < deadline {
                    let sentAt = Clocks.boot()
                    guard let client = LineClient.connect(socket), let line = client.request("GET api", timeout: timeout + 5) else {
                        lost += 1
                        continue
                    }
                    client.close()
                    let receivedAt = Clocks.boot()
                    answers += 1
                    let parts = line.split(separator: " ")
                    if parts.count == 3, parts[0] == "OK" {
                        let token = String(parts[1])
                        if var s = seen[token] { s.lastSeen = receivedAt; seen[token] = s }
                        else { seen[token] = Seen(firstSeen: receivedAt, lastSeen: receivedAt, hosts: [host]) }
                    } else {
                        refusals.append((host, sentAt, receivedAt, line))
                    }
                    usleep(20_000)
                }
                tally.lock.withLock {
                    for (token, s) in seen {
                        if var merged = tally.seen[token] {
                            merged.firstSeen = min(merged.firstSeen, s.firstSeen)
                            merged.lastSeen = max(merged.lastSeen, s.lastSeen)
                            merged.hosts.formUnion(s.hosts)
                            tally.seen[token] = merged
                        } else {
                            tally.seen[token] = s
                        }
                    }
                    tally.refusals += refusals.map { (host: $0.0, sentAt: $0.1, receivedAt: $0.2, message: $0.3) }
                    tally.answers += answers
                    tally.lost += lost
                }
            }
        }
        // The etcd faults, at fixed shares of the run.
        var events: [String] = []
        func at(_ share: Double, _ what: String, _ action: () throws -> Void) rethrows {
            let moment = started + UInt64(duration * share * 1e9)
            let now = Clocks.monotonic()
            if moment > now { Clocks.sleep(seconds: Double(moment - now) / 1e9) }
            try action()
            events.append("\(Format.fixed(Double(Clocks.monotonic() - started) / 1e9, 1)) s: \(what)")
        }
        var killed: Int?
        at(0.25, "etcd leader killed (-9)") { killed = cluster.leader(); if let killed { cluster.kill(killed) } }
        try at(0.35, "the killed member restarted") { if let killed { try cluster.start(killed) } }
        var outageStart: UInt64 = 0, outageEnd: UInt64 = 0
        at(0.5, "the whole etcd cluster stopped") { cluster.stopAll(); outageStart = Clocks.boot() }
        try at(0.7, "the whole etcd cluster started") { try cluster.startAll(); outageEnd = Clocks.boot() }
        finished.wait()
        var statuses: [Int32] = []
        for daemon in daemons { statuses.append(daemon.stop()) }
        try? await idp.shutdown()

        var violations: [String] = []
        func violation(_ text: String) { if violations.count < 20 { report.line("VIOLATION: \(text)") }; violations.append(text) }
        var issued: [String: TestIdP.IssuedToken] = [:]
        for token in idp.issued { issued[token.token] = token }
        let seen = tally.lock.withLock { tally.seen }
        let refusals = tally.lock.withLock { tally.refusals }
        var expiredServed = 0
        for (token, s) in seen {
            guard let record = issued[token] else { violation("a token the IdP never issued was served"); continue }
            if s.lastSeen >= record.expiresAt {
                expiredServed += 1
                violation("a token served \(Format.fixed(Double(s.lastSeen - record.expiresAt) / 1e6, 1)) ms after its expiry")
            }
        }
        var refusedWhileValid = 0
        for refusal in refusals {
            // Sharing, any instance's valid token counts; alone, only the instance's own.
            let valid = seen.contains { token, s in
                guard let record = issued[token], shared || s.hosts.contains(refusal.host) else { return false }
                return s.firstSeen <= refusal.sentAt && record.expiresAt > refusal.receivedAt + UInt64(servableMargin * 1e9)
            }
            if valid {
                refusedWhileValid += 1
                violation("host \(refusal.host): \"\(refusal.message.prefix(80))\" while a valid token existed")
            }
        }
        for (index, status) in statuses.enumerated() where status != 0 { violation("tokend \(index) exited with status \(status)") }
        let lost = tally.lock.withLock { tally.lost }
        if lost > 0 { violation("\(lost) requests got no answer") }

        let period = lifetime * renewAt
        let periods = duration / period
        let requests = idp.requests.count
        // The full outage, and one period after it for the hosts to find etcd again.
        let recovered = outageEnd + UInt64(period * 1e9)
        let duringOutage = idp.requests.filter { $0.receivedAt >= outageStart && $0.receivedAt < recovered }.count
        let outagePeriods = Double(recovered - outageStart) / 1e9 / period
        let sharedPeriods = periods - outagePeriods
        report.line("")
        report.line("Fleet chaos run: \(Format.fixed(duration, 0)) s, \(instances) instances \(shared ? "sharing through a 3-member etcd cluster" : "without the fleet store"), lifetime \(Format.fixed(lifetime, 0)) s, renewal period \(Format.fixed(period, 0)) s, \(Int(faultProbability * 100)) % IdP faults")
        for event in events { report.line("  \(event)") }
        report.line("")
        report.line("| measure | result |")
        report.line("| --- | --- |")
        report.line("| answers | \(Format.thousands(Double(tally.lock.withLock { tally.answers }))) |")
        report.line("| IdP requests | \(requests) |")
        report.line("| IdP tokens issued | \(issued.count) |")
        report.line("| renewal periods | \(Format.fixed(periods, 1)) |")
        report.line("| IdP requests per period | \(Format.fixed(Double(requests) / periods, 2)) |")
        report.line("| IdP tokens per period | \(Format.fixed(Double(issued.count) / periods, 2)) |")
        report.line("| IdP requests per period, etcd up (\(Format.fixed(sharedPeriods, 1)) periods) | \(Format.fixed(Double(requests - duringOutage) / sharedPeriods, 2)) |")
        report.line("| IdP requests per period, etcd down and one period after (\(Format.fixed(outagePeriods, 1)) periods) | \(Format.fixed(Double(duringOutage) / outagePeriods, 2)) |")
        report.line("| expired tokens served | \(expiredServed) |")
        report.line("| ERR answers | \(refusals.count) |")
        report.line("| ERR while a valid token existed\(shared ? " in the fleet" : " on that instance") | \(refusedWhileValid) |")
        report.line("| violations | \(violations.count) |")
        report.line("")
        report.line("logs: \(directory)/host-*/tokend.log")
        return violations.isEmpty
    }
}
