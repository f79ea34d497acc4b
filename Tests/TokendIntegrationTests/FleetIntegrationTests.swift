import Foundation
import Glibc
import TestIdP
import Testing
import TokendCore
import TokendTesting

/// SPEC §14 with real etcd: a three-member cluster of Debian's
/// `etcd-server` on loopback ports and real tokend processes sharing one
/// profile's token through it.
@Suite(.serialized) struct FleetIntegrationTests {
    static let key = String(repeating: "5a", count: 32)

    /// A fleet of `count` tokend processes on one IdP and one cluster.
    final class Fleet {
        let idp: TestIdP
        let cluster: EtcdCluster
        let directory = temporaryDirectory()
        var daemons: [DaemonProcess] = []
        let extra: String
        let fleetExtra: String

        init(idp: TestIdP, cluster: EtcdCluster, extra: String = "renew_at = 0.15\njitter = 0.05\nretry_min = \"1s\"\nretry_max = \"4s\"",
             fleetExtra: String = "max_clock_skew = \"2s\"") throws {
            self.idp = idp
            self.cluster = cluster
            self.extra = extra
            self.fleetExtra = fleetExtra
            try TestFiles.write(directory + "/key", FleetIntegrationTests.key + "\n", mode: 0o600)
        }

        func config(key: String? = nil, fleet: Bool = true) -> String {
            let keyFile = key ?? directory + "/key"
            let endpoints = cluster.endpoints.map { "\"\($0)\"" }.joined(separator: ", ")
            return """
                cache_key_file = "\(keyFile)"
                log_level = "debug"
                [fleet]
                endpoints = [\(endpoints)]
                timeout = "2s"
                \(fleetExtra)
                """ + profileConfig("api", url: idp.tokenURL, extra: extra + (fleet ? "\nfleet = true" : ""))
        }

        @discardableResult
        func start(key: String? = nil, fleet: Bool = true) throws -> DaemonProcess {
            let daemon = try DaemonProcess(config: config(key: key, fleet: fleet))
            #expect(daemon.waitReady(), "\(daemon.log)")
            daemons.append(daemon)
            return daemon
        }

        func stopAll() {
            for daemon in daemons where daemon.isRunning { daemon.stop() }
        }
    }

    static func token(_ answer: String?) -> String? {
        guard let answer, answer.hasPrefix("OK ") else { return nil }
        return answer.split(separator: " ").dropFirst().first.map(String.init)
    }

    static func status(_ daemon: DaemonProcess) -> [String: Any] {
        guard let answer = try? LineClient(path: daemon.socket).request("STATUS api"),
              let document = try? JSONSerialization.jsonObject(with: Data(answer.dropFirst(3).utf8)) as? [String: Any] else { return [:] }
        return (document["profiles"] as? [[String: Any]])?.first ?? [:]
    }

    /// What a failed count needs to be understood: when each request came
    /// (seconds from `since`, CLOCK_BOOTTIME) and each host's fleet warnings.
    static func explain(idp: TestIdP, fleet: Fleet, since: UInt64) -> String {
        let times = idp.requests.map { String(format: "%.1f", (Double($0.receivedAt) - Double(since)) / 1e9) }
        let warnings = fleet.daemons.enumerated().flatMap { index, daemon in
            daemon.log.split(separator: "\n").filter { $0.contains("fleet") && $0.contains("warning") }.map { "host \(index): \($0)" }
        }
        return "requests at \(times.joined(separator: " ")); " + (warnings.isEmpty ? "no fleet warning" : warnings.joined(separator: "; "))
    }

    /// Waits (up to `timeout` seconds) for `condition`.
    static func eventually(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Clocks.monotonic() + UInt64(timeout * 1e9)
        repeat {
            if condition() { return true }
            usleep(50_000)
        } while Clocks.monotonic() < deadline
        return condition()
    }

    @Test func eightHostsShareOneTokenPerPeriodAndALateJoinerAdoptsIt() async throws {
        let cluster = try EtcdCluster()
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 30))
        // A jitter of 1 %: the period is then 4.5 s ± 0.3 s, so that the count
        // below measures the fleet and not the luck of ten random periods (at
        // ± 1.5 s, 13 renewals fit in 48 s about once in 300 runs, with no
        // duplicate at all). The followers then renew at most 0.3 s after the
        // obtainer, so most find its lock taken or just released: the single
        // flight is what this count tests.
        let fleet = try Fleet(idp: idp, cluster: cluster, extra: "renew_at = 0.15\njitter = 0.01\nretry_min = \"1s\"\nretry_max = \"4s\"")
        defer { fleet.stopAll() }
        for _ in 0..<8 { try fleet.start() }
        // Counted from here: eight starts take a while under a sanitizer, and
        // the first host renews meanwhile.
        let start = Clocks.monotonic()
        let bootStart = Clocks.boot()
        let atStart = idp.requests.count
        // Every host serves a valid token all along; the IdP is asked about once per period.
        var tokens = Set<String>()
        while Clocks.monotonic() - start < 48_000_000_000 {
            for daemon in fleet.daemons {
                let answer = try LineClient(path: daemon.socket).request("GET api")
                let token = Self.token(answer)
                #expect(token != nil, "\(answer ?? "nil")")
                if let token { tokens.insert(token) }
            }
            usleep(200_000)
        }
        // Renewal every 4.5 s (30 s × 0.15 ± 0.01): about ten periods in 48 s,
        // at most 1.2 requests each.
        let requests = idp.requests.count - atStart
        let periods = Double(Clocks.monotonic() - start) / 1e9 / 4.5
        #expect(requests >= 7 && Double(requests) <= 1.2 * periods,
                "the IdP saw \(requests) requests over \(periods) periods: \(Self.explain(idp: idp, fleet: fleet, since: bootStart))")
        #expect(tokens.count <= idp.requests.count)
        let sources = fleet.daemons.map { Self.status($0)["source"] as? String ?? "-" }
        #expect(sources.contains("fleet"), "\(sources)")
        for daemon in fleet.daemons { #expect(Self.status(daemon)["fleet"] as? String == "ok") }

        // A late joiner adopts: no request of its own.
        let before = idp.requests.count
        let late = try fleet.start()
        let answer = try LineClient(path: late.socket).request("GET api")
        #expect(Self.token(answer) != nil)
        let lateStatus = Self.status(late)
        #expect(lateStatus["source"] as? String == "fleet", "\(lateStatus)")
        #expect(lateStatus["fetches"] as? Int == 0)
        #expect(idp.requests.count - before <= 1, "the late joiner asked the IdP")

        // Nothing readable under the prefix: no token, secret or client id, in clear, base64 or hex.
        let dump = cluster.dump(prefix: "/tokend/")
        #expect(dump.contains { $0.key.hasPrefix("/tokend/tokens/") }, "\(dump.map(\.key))")
        var forbidden = ["demo-secret", "demo"] + tokens
        forbidden += forbidden.map { Data($0.utf8).base64EncodedString() } + forbidden.map { $0.utf8.map { String(format: "%02x", $0) }.joined() }
        for (key, value) in dump {
            let text = String(decoding: value, as: UTF8.self)
            for secret in forbidden { #expect(!text.contains(secret) && !key.contains(secret), "\(key) holds \(secret.prefix(6))…") }
        }
        try await idp.shutdown()
    }

    @Test func withoutTheFleetEachHostAsksItself() async throws {
        let cluster = try EtcdCluster(size: 1)
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 30))
        let fleet = try Fleet(idp: idp, cluster: cluster)
        defer { fleet.stopAll() }
        for _ in 0..<4 { try fleet.start(fleet: false) }
        #expect(Self.eventually(10) { idp.requests.count >= 4 })
        // Renewals every 3 to 6 s: each host renews for itself, three tokens each within 20 s
        // (with the fleet store, the four would have had about four in all).
        let start = Clocks.monotonic()
        #expect(Self.eventually(20) { idp.requests.count >= 12 }, "\(idp.requests.count)")
        #expect(Double(Clocks.monotonic() - start) / 1e9 > 4, "renewed faster than renew_at allows")
        for daemon in fleet.daemons { #expect(Self.status(daemon)["fleet"] is NSNull) }
        try await idp.shutdown()
    }

    /// Asks every daemon for a token; records any answer other than a valid one.
    static func sweep(_ daemons: [DaemonProcess], into failures: inout [String]) {
        for (index, daemon) in daemons.enumerated() {
            let answer = try? LineClient(path: daemon.socket).request("GET api")
            let parts = answer?.split(separator: " ") ?? []
            // "OK TOKEN TTL": a whole second left at least (never an expired token).
            if parts.count < 3 || parts[0] != "OK" || (Int(parts[2]) ?? 0) < 1 {
                failures.append("host \(index): \(answer ?? "no answer")")
            }
        }
    }

    @Test func theLeaderKilledThenTheWholeClusterDownAndBackNoHostFails() async throws {
        let cluster = try EtcdCluster()
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 30))
        let fleet = try Fleet(idp: idp, cluster: cluster)
        defer { fleet.stopAll() }
        for _ in 0..<4 { try fleet.start() }
        var failures: [String] = []
        func run(for seconds: Double) {
            let end = Clocks.monotonic() + UInt64(seconds * 1e9)
            while Clocks.monotonic() < end {
                Self.sweep(fleet.daemons, into: &failures)
                usleep(100_000)
            }
        }
        run(for: 6)
        let leader = try #require(cluster.leader(), "no leader: \(cluster.logs())")
        cluster.kill(leader)
        run(for: 8)
        try cluster.start(leader)
        run(for: 2)
        // The whole cluster down: every host renews alone, and says so.
        cluster.stopAll()
        let duringOutage = idp.requests.count
        run(for: 12)
        #expect(idp.requests.count - duringOutage >= 4, "the hosts did not renew during the outage")
        let outageStatus = fleet.daemons.map { Self.status($0)["fleet"] as? String ?? "-" }
        #expect(outageStatus.allSatisfy { $0.hasPrefix("unavailable: ") }, "\(outageStatus)")
        // Back: sharing resumes.
        try cluster.startAll()
        #expect(cluster.waitWritable(timeout: 30))
        // Each host says `ok` at its next need that reaches etcd: within two
        // renewal periods (4.5 s each) on an idle machine; a loaded one gets
        // up to 30 s, and the members' logs if not.
        var afterStatus: [String] = []
        let statusDeadline = Clocks.monotonic() + 30_000_000_000
        repeat {
            run(for: 1)
            afterStatus = fleet.daemons.map { Self.status($0)["fleet"] as? String ?? "-" }
        } while !afterStatus.allSatisfy({ $0 == "ok" }) && Clocks.monotonic() < statusDeadline
        #expect(afterStatus.allSatisfy { $0 == "ok" }, "\(afterStatus); etcd: \(cluster.logs())")
        let resumed = idp.requests.count
        run(for: 9.5)
        #expect(idp.requests.count - resumed <= 3, "sharing did not resume: \(idp.requests.count - resumed) requests in two periods")
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        try await idp.shutdown()
    }

    @Test func theLockHolderKilledMidRequestTheOthersHaveATokenWithinTimeoutPlusFive() async throws {
        let cluster = try EtcdCluster(size: 3)
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 30))
        let fleet = try Fleet(idp: idp, cluster: cluster, extra: "timeout = \"3s\"\nretry_min = \"1s\"")
        defer { fleet.stopAll() }
        idp.enqueue(.delay(seconds: 20))
        let holder = try DaemonProcess(config: fleet.config())
        // Its request is at the IdP, the lock is taken: kill it there.
        #expect(Self.eventually(20) { idp.requests.count == 1 && cluster.dump(prefix: "/tokend/locks/").count == 1 }, "\(holder.log)")
        holder.signal(SIGKILL)
        _ = holder.wait()
        let started = Clocks.monotonic()
        let others = try (0..<3).map { _ in try DaemonProcess(config: fleet.config()) }
        defer { for daemon in others { daemon.stop() } }
        for daemon in others { #expect(daemon.waitReady()) }
        // SPEC §14: a waiter without a token waits the profile's timeout for
        // the lock, then asks alone; the lock's lease ends after timeout + 5 s.
        for daemon in others {
            #expect(Self.eventually(10) { Self.token(try? LineClient(path: daemon.socket).request("GET api")) != nil }, "\(daemon.log)")
        }
        let elapsed = Double(Clocks.monotonic() - started) / 1e9
        #expect(elapsed <= 3 + 5 + 1, "the others needed \(elapsed) s")
        // At most each waiter asked once; a host started now adopts.
        #expect(idp.requests.count <= 1 + 3, "\(idp.requests.count)")
        let before = idp.requests.count
        let late = try fleet.start()
        #expect(Self.token(try LineClient(path: late.socket).request("GET api")) != nil)
        #expect(Self.status(late)["source"] as? String == "fleet")
        #expect(idp.requests.count == before)
        try await idp.shutdown()
    }

    @Test func anEntryOfAnotherKeyAndGarbageAreIgnoredNeverServedAndNeverOverwritten() async throws {
        let cluster = try EtcdCluster(size: 1)
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 60))
        let fleet = try Fleet(idp: idp, cluster: cluster, extra: "renew_at = 0.5")
        defer { fleet.stopAll() }
        let metricsPort = LoopbackTCP.freePort()
        let otherKey = fleet.directory + "/other-key"
        try TestFiles.write(otherKey, String(repeating: "a7", count: 32) + "\n", mode: 0o600)
        let foreign = try fleet.start(key: otherKey)
        let foreignToken = try #require(Self.token(try LineClient(path: foreign.socket).request("GET api")))
        let entries = cluster.dump(prefix: "/tokend/tokens/")
        let sealedByOther = try #require(entries.first)
        // Another key: not adopted, not overwritten; its own token served.
        let host = try DaemonProcess(config: fleet.config().replacingOccurrences(of: "[fleet]", with: "metrics_listen = \"127.0.0.1:\(metricsPort)\"\n[fleet]"))
        fleet.daemons.append(host)
        #expect(host.waitReady())
        let own = try #require(Self.token(try LineClient(path: host.socket).request("GET api")))
        let (_, metrics, _) = try runTool("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(metrics.contains("tokend_fleet_errors_total{kind=\"invalid\"} 1"), "\(metrics)")
        #expect(metrics.contains("tokend_fleet_fetched_total{profile=\"api\"} 1"), "\(metrics)")
        #expect(metrics.contains("tokend_fleet_lock_wait_seconds_count 1"), "\(metrics)")
        #expect(own != foreignToken)
        #expect(Self.status(host)["source"] as? String == "idp")
        #expect(cluster.dump(prefix: "/tokend/tokens/").first?.value == sealedByOther.value, "the foreign entry was overwritten")
        #expect(host.log.contains("the fleet's entry is not used"), "\(host.log)")
        // Garbage under the key and beside it: the same.
        foreign.stop()
        #expect(cluster.put(sealedByOther.key, Array("tokend-fleet 1 aes-256-gcm\nnot base64\n".utf8)))
        #expect(cluster.put("/tokend/tokens/zz", [0xff, 0x00, 0x41]))
        #expect(cluster.put("/tokend/garbage", Array("{".utf8)))
        let third = try fleet.start()
        let answer = try LineClient(path: third.socket).request("GET api")
        #expect(Self.token(answer) != nil && Self.token(answer) != foreignToken)
        #expect(Self.status(third)["source"] as? String == "idp")
        #expect(host.isRunning && third.isRunning)
        try await idp.shutdown()
    }

    @Test func etcdUsersOverMutualTLSAndARefusedPasswordFallsBackToAskingAlone() async throws {
        let pki = try makeTestPKI(caName: "etcd test CA")
        // etcd's gateway refuses a client certificate with a CommonName once
        // authentication is on (it would not be used as the user): tokend's has none.
        for step in [["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=tokend fleet", "-keyout", pki + "/fleet.key", "-out", pki + "/fleet.csr"],
                     ["x509", "-req", "-in", pki + "/fleet.csr", "-CA", pki + "/ca.pem", "-CAkey", pki + "/ca.key", "-CAcreateserial",
                      "-days", "2", "-out", pki + "/fleet.pem"]] {
            let (status, _, errors) = try runTool("/usr/bin/openssl", step)
            #expect(status == 0, "\(errors)")
        }
        chmod(pki + "/fleet.key", 0o600)
        // etcd's tokens live 2 s here: tokend must authenticate again when etcd says its token expired.
        let cluster = try EtcdCluster(size: 1, tls: EtcdCluster.TLS(certificate: pki + "/server.pem", key: pki + "/server.key", ca: pki + "/ca.pem",
                                                                   clientCertificate: pki + "/client.pem", clientKey: pki + "/client.key"),
                                      extraArguments: ["--auth-token-ttl", "2"])
        // A user whose role covers the prefix only, then authentication on (etcd's own tool).
        for command in [["user", "add", "root:rootpw", "--interactive=false"], ["user", "grant-role", "root", "root"],
                        ["user", "add", "tokend:tokend-pw", "--interactive=false"], ["role", "add", "tokend-fleet"],
                        ["role", "grant-permission", "tokend-fleet", "--prefix=true", "readwrite", "/tokend/"],
                        ["user", "grant-role", "tokend", "tokend-fleet"],
                        ["user", "add", "other:other-pw", "--interactive=false"], ["auth", "enable"]] {
            let (status, output) = cluster.etcdctl(command)
            #expect(status == 0, "etcdctl \(command.joined(separator: " ")): \(output)")
        }
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 60))
        let directory = temporaryDirectory()
        try TestFiles.write(directory + "/key", Self.key + "\n", mode: 0o600)
        try TestFiles.write(directory + "/pass", "tokend-pw\n", mode: 0o600)
        try TestFiles.write(directory + "/wrong", "not-the-password\n", mode: 0o600)
        try TestFiles.write(directory + "/other", "other-pw\n", mode: 0o600)
        let metricsPort = LoopbackTCP.freePort()
        func config(user: String, password: String, metrics: Bool = false) -> String {
            """
            cache_key_file = "\(directory)/key"
            \(metrics ? "metrics_listen = \"127.0.0.1:\(metricsPort)\"" : "")
            [fleet]
            endpoints = ["\(cluster.endpoints[0])"]
            ca_file = "\(pki)/ca.pem"
            cert_file = "\(pki)/fleet.pem"
            key_file = "\(pki)/fleet.key"
            username = "\(user)"
            password_file = "\(directory)/\(password)"
            """ + profileConfig("api", url: idp.tokenURL, extra: "fleet = true")
        }
        let first = try DaemonProcess(config: config(user: "tokend", password: "pass"))
        defer { first.stop() }
        #expect(first.waitReady())
        let token = try #require(Self.token(try LineClient(path: first.socket).request("GET api")))
        #expect(Self.status(first)["fleet"] as? String == "ok", "\(Self.status(first)) \(first.log)")
        let second = try DaemonProcess(config: config(user: "tokend", password: "pass"))
        defer { second.stop() }
        #expect(second.waitReady())
        #expect(Self.token(try LineClient(path: second.socket).request("GET api")) == token)
        #expect(Self.status(second)["source"] as? String == "fleet")
        #expect(idp.requests.count == 1)
        // Past the etcd token's life (and the 5 s in which REFRESH reuses a
        // token): a REFRESH needs etcd again (lock, write), and gets through.
        usleep(5_500_000)
        let refreshed = Self.token(try LineClient(path: second.socket).request("REFRESH api"))
        #expect(refreshed != nil && refreshed != token)
        #expect(Self.status(second)["fleet"] as? String == "ok", "\(Self.status(second)) \(second.log)")
        #expect(Self.token(try LineClient(path: first.socket).request("REFRESH api")) == refreshed, "the fleet did not share the refresh")
        #expect(idp.requests.count == 2)

        // A wrong password, or a user without the prefix: refused, counted as auth, served all the same.
        for (user, password) in [("tokend", "wrong"), ("other", "other")] {
            let refused = try DaemonProcess(config: config(user: user, password: password, metrics: true))
            #expect(refused.waitReady())
            let answer = try LineClient(path: refused.socket).request("GET api")
            #expect(Self.token(answer) != nil && Self.token(answer) != token, "\(answer ?? "")")
            let fleet = Self.status(refused)["fleet"] as? String ?? ""
            #expect(fleet.hasPrefix("unavailable: authentication: "), "\(fleet)")
            #expect(!refused.log.contains("not-the-password") && !refused.log.contains("other-pw") && !fleet.contains("pw"))
            let (_, metrics, _) = try runTool("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(metricsPort)/metrics"])
            #expect(metrics.contains("tokend_fleet_errors_total{kind=\"auth\"} 1"), "\(metrics)")
            // Every token obtained for a fleet profile counts, shared or not (SPEC §14).
            #expect(metrics.contains("tokend_fleet_fetched_total{profile=\"api\"} 1"), "\(metrics)")
            refused.stop()
        }
        try await idp.shutdown()
    }

    @Test func checkValidatesTheFleetTableAndContactsNothing() throws {
        // A listening socket as the only endpoint: a connection would wait in its backlog.
        let (listener, port) = LoopbackTCP.bind(listening: true)
        defer { close(listener) }
        let directory = temporaryDirectory()
        try TestFiles.write(directory + "/key", Self.key + "\n", mode: 0o600)
        let good = directory + "/good.toml"
        try TestFiles.write(good, """
            cache_key_file = "\(directory)/key"
            [fleet]
            endpoints = ["http://127.0.0.1:\(port)"]
            """ + profileConfig("api", url: "https://idp.example/token", extra: "fleet = true"), mode: 0o600)
        let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", good])
        #expect(status == 0, "\(errors)")
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
        let accepted = accept(listener, nil, nil)
        #expect(accepted < 0 && errno == EAGAIN, "tokend --check connected to the etcd endpoint")
        if accepted >= 0 { close(accepted) }

        let bad = directory + "/bad.toml"
        try TestFiles.write(bad, """
            [fleet]
            endpoints = ["http://etcd-1:2379"]
            prefix = "tokend"
            """ + profileConfig("api", url: "https://idp.example/token", extra: "fleet = true"), mode: 0o600)
        let (badStatus, _, badErrors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", bad])
        #expect(badStatus == 78)
        for fragment in ["fleet.endpoints: endpoint 1 (http://etcd-1:2379) must use https://", "fleet.prefix: must start and end with /",
                         "fleet: needs cache_key_file or cache_key_credential"] {
            #expect(badErrors.contains(fragment), "\(badErrors)")
        }
    }
}
