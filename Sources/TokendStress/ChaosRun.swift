import Foundation
import Glibc
import TokendTesting
import TestIdP

/// `tokend-bench chaos`: 32 clients GET continuously while each profile's IdP
/// answers 30 % of requests with a random fault and adds random latency.
/// Every answer is checked against the IdP's own record of what it issued.
public struct ChaosRun: Sendable {
    var tokend: String
    var duration: Double
    var clients: Int
    var lifetimes: [Double] = [2, 3, 4, 5]
    /// How much resident memory may grow between a quarter of the run and its end.
    var memoryGrowthLimit: UInt64 = 4 * 1_048_576
    var faultProbability = 0.3
    var maxLatency = 0.3
    // Profile settings (the same for every profile).
    let renewAt = 0.5, jitter = 0.1, retryMin = 0.2, retryMax = 1.0, timeout = 1.0
    /// The daemon serves nothing with less than 1 s left; answers are also
    /// decided a little before the client reads them.
    let servableMargin = 1.5

    public init(tokend: String, duration: Double, clients: Int, memoryGrowthLimit: UInt64 = 4 * 1_048_576) {
        self.tokend = tokend
        self.duration = duration
        self.clients = clients
        self.memoryGrowthLimit = memoryGrowthLimit
    }

    struct Seen {
        var profile: Int
        var firstSeen: UInt64
        var lastSeen: UInt64
        /// The latest moment an answer said the token is good until.
        var promisedUntil: UInt64
    }

    struct Refusal {
        var profile: Int
        var sentAt: UInt64
        var receivedAt: UInt64
        var message: String
    }

    final class Tally: @unchecked Sendable {  // every field is read and written under `lock`
        let lock = NSLock()
        var seen: [String: Seen] = [:]
        var refusals: [Refusal] = []
        var answers = 0
        var lost = 0
    }

    public func run(report: RunReport = RunReport()) async throws -> Bool {
        TestFiles.raiseDescriptorLimit()
        var idps: [TestIdP] = []
        for (i, lifetime) in lifetimes.enumerated() {
            idps.append(try await TestIdP.start(settings: TestIdP.Settings(
                clients: [.init(id: "client-\(i)", secret: "secret-\(i)")], lifetime: lifetime,
                chaos: TestIdP.Chaos(faultProbability: faultProbability, maxLatency: maxLatency, timeoutSeconds: timeout))))
        }
        defer { let all = idps; Task { for idp in all { try? await idp.shutdown() } } }
        var config = "log_level = \"warning\"\n"
        for (i, idp) in idps.enumerated() {
            config += """
                [profile.p\(i)]
                token_url = "\(idp.tokenURL)"
                client_id = "client-\(i)"
                client_secret = "secret-\(i)"
                renew_at = \(renewAt)
                jitter = \(jitter)
                retry_min = \(retryMin)
                retry_max = \(retryMax)
                timeout = \(timeout)

                """
        }
        let daemon = try DaemonProcess.started(tokend: tokend, directory: TestFiles.temporaryDirectory(), configuration: config)
        let probe = daemon.probe
        let tally = Tally()
        let started = Clocks.monotonic()
        let deadline = started + UInt64(duration * 1e9)
        let finished = DispatchGroup()
        let profiles = lifetimes.count
        let socket = daemon.socket
        for c in 0..<clients {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                var seen: [String: Seen] = [:]
                var refusals: [Refusal] = []
                var answers = 0, lost = 0
                var client = LineClient.connect(socket)
                var p = c % profiles
                while Clocks.monotonic() < deadline {
                    guard let connection = client else { lost += 1; client = LineClient.connect(socket); continue }
                    let sentAt = Clocks.boot()
                    guard let line = connection.request("GET p\(p)", timeout: timeout + 5) else {
                        lost += 1
                        connection.close()
                        client = LineClient.connect(socket)
                        continue
                    }
                    let receivedAt = Clocks.boot()
                    answers += 1
                    let parts = line.split(separator: " ")
                    if parts.count == 3, parts[0] == "OK", let left = UInt64(parts[2]) {
                        let token = String(parts[1])
                        let promised = receivedAt + left * 1_000_000_000
                        if var s = seen[token] {
                            s.lastSeen = receivedAt
                            s.promisedUntil = max(s.promisedUntil, promised)
                            seen[token] = s
                        } else {
                            seen[token] = Seen(profile: p, firstSeen: receivedAt, lastSeen: receivedAt, promisedUntil: promised)
                        }
                    } else if refusals.count < 100_000 {
                        refusals.append(Refusal(profile: p, sentAt: sentAt, receivedAt: receivedAt, message: line))
                    }
                    p = (p + 1) % profiles
                }
                client?.close()
                tally.lock.withLock {
                    for (token, s) in seen {
                        if var merged = tally.seen[token] {
                            merged.firstSeen = min(merged.firstSeen, s.firstSeen)
                            merged.lastSeen = max(merged.lastSeen, s.lastSeen)
                            merged.promisedUntil = max(merged.promisedUntil, s.promisedUntil)
                            tally.seen[token] = merged
                        } else {
                            tally.seen[token] = s
                        }
                    }
                    tally.refusals += refusals
                    tally.answers += answers
                    tally.lost += lost
                }
            }
        }
        // Memory once the run has settled, and at the end.
        Clocks.sleep(seconds: duration / 4)
        let rssEarly = probe.residentBytes
        finished.wait()
        let rssLate = probe.residentBytes
        let status = daemon.stop()

        var violations: [String] = []
        func violation(_ text: String) { if violations.count < 20 { report.line("VIOLATION: \(text)") }; violations.append(text) }
        var issued: [String: TestIdP.IssuedToken] = [:]
        for idp in idps { for token in idp.issued { issued[token.token] = token } }
        let seen = tally.lock.withLock { tally.seen }
        let refusals = tally.lock.withLock { tally.refusals }
        for (token, s) in seen {
            guard let record = issued[token], record.clientID == "client-\(s.profile)" else {
                violation("profile p\(s.profile) served a token its IdP never issued"); continue
            }
            if s.lastSeen >= record.expiresAt {
                violation("p\(s.profile): a token served \(Format.fixed(Double(s.lastSeen - record.expiresAt) / 1e6, 1)) ms after its expiry")
            }
            if s.promisedUntil > record.expiresAt + 200_000_000 {
                violation("p\(s.profile): an answer announced \(Format.fixed(Double(s.promisedUntil - record.expiresAt) / 1e9, 2)) s more than the token had left")
            }
        }
        var byProfile: [[(Seen, UInt64)]] = Array(repeating: [], count: profiles)
        for (token, s) in seen { if let record = issued[token] { byProfile[s.profile].append((s, record.expiresAt)) } }
        var refusedWhileValid = 0
        for refusal in refusals {
            let valid = byProfile[refusal.profile].contains { s, expiresAt in
                s.firstSeen <= refusal.sentAt && expiresAt > refusal.receivedAt + UInt64(servableMargin * 1e9)
            }
            if valid {
                refusedWhileValid += 1
                violation("p\(refusal.profile): \"\(refusal.message.prefix(80))\" while a valid token existed")
            }
        }
        // Back-off bounds: consecutive requests of one profile are never closer
        // than retry_min (after a failure) or the earliest renewal (after a success).
        var idpRequests = 0
        for (i, idp) in idps.enumerated() {
            let attempts = idp.requests.map(\.receivedAt).sorted()
            idpRequests += attempts.count
            let minimumGap = min(retryMin, lifetimes[i] * (renewAt - jitter)) - 0.05
            for (a, b) in zip(attempts, attempts.dropFirst()) where Double(b - a) / 1e9 < minimumGap {
                violation("p\(i): two IdP attempts \(Format.fixed(Double(b - a) / 1e6, 0)) ms apart (minimum \(Format.fixed(minimumGap * 1000, 0)) ms)")
            }
        }
        let growth = Int64(rssLate) - Int64(rssEarly)
        if growth > Int64(memoryGrowthLimit) { violation("resident memory grew by \(Format.mebibytes(UInt64(growth))) during the run") }
        if status != 0 { violation("tokend exited with status \(status)") }
        let lost = tally.lock.withLock { tally.lost }
        if lost > 0 { violation("\(lost) requests got no answer") }

        let answers = tally.lock.withLock { tally.answers }
        report.line("")
        report.line("Chaos run: \(Format.fixed(duration, 0)) s, \(clients) clients, \(profiles) profiles (lifetimes \(lifetimes.map { Format.fixed($0, 0) }.joined(separator: "/")) s), \(Int(faultProbability * 100)) % IdP faults, latency ≤ \(Format.fixed(maxLatency * 1000, 0)) ms")
        report.line("")
        report.line("| measure | result |")
        report.line("| --- | --- |")
        report.line("| answers | \(Format.thousands(Double(answers))) |")
        report.line("| distinct tokens served | \(seen.count) of \(issued.count) issued |")
        report.line("| ERR answers (no valid token could be had) | \(refusals.count) |")
        report.line("| ERR while a valid token existed | \(refusedWhileValid) |")
        report.line("| IdP requests | \(idpRequests) |")
        report.line("| RSS at \(Format.fixed(duration / 4, 0)) s → end | \(Format.mebibytes(rssEarly)) → \(Format.mebibytes(rssLate)) |")
        report.line("| violations | \(violations.count) |")
        report.line("")
        report.line("tokend exit status \(status); its log: \(daemon.logFile!)")
        return violations.isEmpty
    }
}
