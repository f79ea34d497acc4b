import Foundation
import Glibc
import TestIdP
import Testing
import TokendTesting

/// SPEC §10: `/metrics` scraped by curl and read by the Prometheus
/// project's own parser; `/healthz` and `/readyz`; the IdP's limits.
@Suite(.serialized) struct MetricsTests {
    static func freePort() -> Int { LoopbackTCP.freePort() }

    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    /// `curl URL`: (HTTP status, body).
    func get(_ url: String) throws -> (Int, String) {
        let (_, output, errors) = try runTool("/usr/bin/curl", ["-sS", "-w", "\n%{http_code}", url])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!lines.isEmpty, "\(errors)")
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The scrape, parsed by prometheus_client: family name → (type, samples).
    func scrape(_ port: Int) throws -> (text: String, families: [String: (type: String, samples: [Sample])]) {
        let (status, text) = try get("http://127.0.0.1:\(port)/metrics")
        #expect(status == 200)
        let file = temporaryDirectory() + "/scrape.txt"
        try TestFiles.write(file, text)
        let (parsed, json, errors) = try runTool("/bin/sh", ["-c", "python3 \(repositoryRoot)/tests/support/parse-metrics.py < \(file)"])
        #expect(parsed == 0, "prometheus_client refused the scrape: \(errors)")
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: [String: Any]] ?? [:]
        var families: [String: (String, [Sample])] = [:]
        for (name, family) in object {
            let samples = (family["samples"] as? [[Any]] ?? []).compactMap { entry -> Sample? in
                guard entry.count == 3, let n = entry[0] as? String, let labels = entry[1] as? [String: String] else { return nil }
                return Sample(name: n, labels: labels, value: (entry[2] as? NSNumber)?.doubleValue ?? .nan)
            }
            families[name] = (family["type"] as? String ?? "", samples)
        }
        return (text, families)
    }

    /// The value of `name` with `labels` (a subset), or nil.
    func value(_ families: [String: (type: String, samples: [Sample])], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for (_, family) in families {
            for sample in family.samples where sample.name == name && labels.allSatisfy({ sample.labels[$0.key] == $0.value }) {
                return sample.value
            }
        }
        return nil
    }

    @Test func everySeriesIsThereWithItsTypeAndMovesAsThingsHappen() async throws {
        let idp = try await TestIdP.start()
        let blackHole = BlackHoleServer()
        let port = Self.freePort()
        let config = "metrics_listen = \"127.0.0.1:\(port)\"\nmax_connections = 4\nsocket_mode = \"0666\"\n"
            + profileConfig("api", url: idp.tokenURL, id: "demo", secret: "demo-secret", extra: "allow_uids = [0]")
            + profileConfig("wrong", url: idp.tokenURL, secret: "not-the-secret", extra: "retry_min = \"60s\"\nretry_max = \"60s\"")
            + profileConfig("down", url: idp.tokenURL, extra: "prefetch = false\nretry_min = \"60s\"\nretry_max = \"60s\"")
            + profileConfig("slow", url: blackHole.url, extra: "timeout = \"1s\"\nretry_min = \"60s\"\nretry_max = \"60s\"")
        let daemon = try DaemonProcess(config: config, directory: sharedTemporaryDirectory())
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(client.request("GET api")?.hasPrefix("OK ") == true)
        #expect(client.request("GET wrong")?.contains("invalid_client") == true)
        idp.enqueue(.status(503, body: "maintenance"))
        #expect(client.request("GET down")?.hasPrefix("ERR unavailable") == true)
        #expect(client.request("GET slow")?.hasPrefix("ERR unavailable") == true)
        #expect(client.request("GET nope")?.hasPrefix("ERR unknown-profile") == true)
        // A denied peer (nobody may not read "api") and a busy rejection (max_connections = 4).
        if runningAsRoot {
            let (status, _, _) = try runAsNobody(productsDirectory + "/tokenctl", ["--socket", daemon.socket, "get", "api"])
            #expect(status == 77)
        }
        var held: [LineClient] = []
        for _ in 0..<4 { if let extra = try? LineClient(path: daemon.socket) { held.append(extra) } }
        #expect(held.last?.readLine(timeout: 5)?.hasPrefix("ERR busy") == true)
        held.removeAll()

        let (text, families) = try scrape(port)
        let expected: [(String, String)] = [
            ("tokend_token_requests", "counter"), ("tokend_token_request_duration_seconds", "histogram"),
            ("tokend_token_remaining_seconds", "gauge"), ("tokend_token_valid", "gauge"), ("tokend_backoff_seconds", "gauge"),
            ("tokend_requests", "counter"), ("tokend_connections", "gauge"), ("tokend_connections_rejected", "counter"),
            ("tokend_build_info", "gauge"), ("process_resident_memory_bytes", "gauge"), ("process_cpu_seconds", "counter"),
            ("process_open_fds", "gauge"), ("process_start_time_seconds", "gauge"),
        ] + (runningAsRoot ? [("tokend_denied", "counter")] : [])
        for (name, type) in expected {
            #expect(families[name]?.type == type, "\(name): \(families[name]?.type ?? "missing")")
        }
        #expect(value(families, "tokend_token_requests_total", ["profile": "api", "outcome": "success"]) == 1)
        #expect(value(families, "tokend_token_requests_total", ["profile": "wrong", "outcome": "oauth_error"]) ?? 0 >= 1)
        #expect(value(families, "tokend_token_requests_total", ["profile": "down", "outcome": "http_error"]) == 1)
        #expect(value(families, "tokend_token_requests_total", ["profile": "slow", "outcome": "transport_error"]) ?? 0 >= 1)
        #expect(value(families, "tokend_token_request_duration_seconds_count", ["profile": "slow"]) ?? 0 >= 1)
        #expect(value(families, "tokend_token_valid", ["profile": "api"]) == 1)
        #expect(value(families, "tokend_token_valid", ["profile": "wrong"]) == 0)
        #expect(value(families, "tokend_token_remaining_seconds", ["profile": "api"]) ?? 0 > 3500)
        #expect(value(families, "tokend_backoff_seconds", ["profile": "wrong"]) ?? 0 > 30)
        #expect(value(families, "tokend_requests_total", ["verb": "GET", "result": "ok"]) == 1)
        #expect(value(families, "tokend_requests_total", ["verb": "GET", "result": "unknown-profile"]) == 1)
        #expect(value(families, "tokend_requests_total", ["verb": "GET", "result": "unavailable"]) ?? 0 >= 3)
        #expect(value(families, "tokend_connections_rejected_total", ["reason": "busy"]) ?? 0 >= 1)
        if runningAsRoot { #expect(value(families, "tokend_denied_total", ["profile": "api"]) == 1) }
        #expect(value(families, "tokend_connections") ?? 0 >= 1)
        #expect(value(families, "tokend_build_info", ["version": "0.1.0"]) == 1)
        #expect(value(families, "process_resident_memory_bytes") ?? 0 > 1_000_000)
        // Nothing secret: no token, no secret, no client id.
        let token = client.request("GET api").flatMap { $0.split(separator: " ").dropFirst().first.map(String.init) } ?? "?"
        for forbidden in [token, "demo-secret", "not-the-secret", "\"demo\""] {
            #expect(!text.contains(forbidden), "the scrape contains \(forbidden)")
        }
        #expect(daemon.stop() == 0)

        // A restart loads the cache: a hit.
        let restarted = try DaemonProcess(config: config, directory: daemon.directory)
        #expect(restarted.waitReady())
        let (_, again) = try scrape(port)
        #expect(value(again, "tokend_cache_loads_total", ["profile": "api", "result": "hit"]) == 1)
        #expect(value(again, "tokend_cache_loads_total", ["profile": "wrong", "result": "miss"]) == 1)
        #expect(restarted.stop() == 0)
        try await idp.shutdown()
    }

    @Test func readinessFollowsTheTokensAndHealthTheLoops() async throws {
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 3))
        idp.enqueue(.oauthError(status: 401, error: "invalid_client", description: "no such client"))
        let port = Self.freePort()
        let daemon = try DaemonProcess(config: "metrics_listen = \"127.0.0.1:\(port)\"\n"
            + profileConfig("api", url: idp.tokenURL, extra: "retry_min = \"3s\"\nretry_max = \"3s\"\nrenew_at = 0.3")
            + profileConfig("lazy", url: idp.tokenURL, extra: "prefetch = false"))
        #expect(daemon.waitReady())
        #expect(await idp.waitForRequests(1, timeout: 10))
        // The first fetch failed: not ready, and why.
        var (status, body) = try get("http://127.0.0.1:\(port)/readyz")
        let deadline = Clocks.deadline(in: 10)
        while !body.contains("invalid_client"), Clocks.monotonic() < deadline { (status, body) = try get("http://127.0.0.1:\(port)/readyz") }
        #expect(status == 503 && body.contains(#""name":"api""#) && body.contains(#""reason":"invalid_client""#), "\(body)")
        // The kind and the OAuth code only: never the IdP's description (any local user reads this).
        #expect(!body.contains("no such client"), "\(body)")
        #expect(!body.contains("lazy"), "a prefetch = false profile never asked for is ready")
        #expect(try get("http://127.0.0.1:\(port)/readyz/lazy").0 == 200)
        #expect(try get("http://127.0.0.1:\(port)/readyz/nope").0 == 404)
        #expect(try get("http://127.0.0.1:\(port)/healthz").0 == 200)
        // The retry succeeds: ready.
        while try get("http://127.0.0.1:\(port)/readyz").0 != 200, Clocks.monotonic() < deadline { Clocks.sleep(seconds: 0.05) }
        #expect(try get("http://127.0.0.1:\(port)/readyz").0 == 200)
        // An outage outlives the 3 s token: not ready again, naming the error.
        idp.enqueue(.status(503, body: "down"), count: 1000)
        let expiry = Clocks.deadline(in: 10)
        var late = try get("http://127.0.0.1:\(port)/readyz/api")
        while late.0 != 503, Clocks.monotonic() < expiry { Clocks.sleep(seconds: 0.05); late = try get("http://127.0.0.1:\(port)/readyz/api") }
        #expect(late.0 == 503 && late.1.contains(#""reason":"http 503""#) && !late.1.contains("down"), "\(late.1)")
        #expect(try get("http://127.0.0.1:\(port)/healthz").0 == 200)
        #expect(try get("http://127.0.0.1:\(port)/nothing").0 == 404)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    @Test func theIdPsLimitsReachStatusMetricsAndTheLogOnce() async throws {
        let idp = try await TestIdP.start()
        let headers = [("RateLimit-Limit", "100"), ("RateLimit-Remaining", "5"), ("RateLimit-Reset", "60"),
                       ("Auth0-Client-Quota-Limit", "b=per_hour;q=10;r=7;t=3540,b=per_day;q=100;r=93;t=80000")]
        let body = #"{"access_token":"tok-limits-1","token_type":"Bearer","expires_in":3600}"#
        idp.enqueue(.status(200, body: body, headers: headers), count: 3)
        let port = Self.freePort()
        let daemon = try DaemonProcess(config: "metrics_listen = \"127.0.0.1:\(port)\"\n" + profileConfig("api", url: idp.tokenURL))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(client.request("GET api")?.hasPrefix("OK tok-limits-1") == true)
        // Two more responses with the same low limit (MIN_TTL 3600 forces a
        // new token each time): the warning is not repeated within the window.
        #expect(client.request("GET api 3600")?.hasPrefix("OK ") == true)
        #expect(client.request("GET api 3600")?.hasPrefix("OK ") == true)
        #expect(idp.requests.count == 3)
        let status = client.request("STATUS api") ?? ""
        #expect(status.contains(#""idp_limits":{"ratelimit_limit":100,"ratelimit_remaining":5,"ratelimit_reset":60,"auth0_client_quota":[{"b":"per_hour","q":10,"r":7,"t":3540},{"b":"per_day","q":100,"r":93,"t":80000}]}"#), "\(status)")
        let (_, families) = try scrape(port)
        #expect(value(families, "tokend_idp_rate_limit_limit", ["profile": "api"]) == 100)
        #expect(value(families, "tokend_idp_rate_limit_remaining", ["profile": "api"]) == 5)
        let (ctl, json, _) = try tokenctl(["status", "--json"], socket: daemon.socket)
        #expect(ctl == 0 && json.contains("idp_limits"))
        let (_, table, _) = try tokenctl(["status"], socket: daemon.socket)
        #expect(table.contains("IDP-LIMIT") && table.contains(" 5/100 "), "\(table)")
        #expect(daemon.stop() == 0)
        #expect(daemon.log.components(separatedBy: "rate limit is nearly used up").count == 2, "\(daemon.log)")
        try await idp.shutdown()
    }

    @Test func aListenAddressOffTheLoopbackIsAConfigurationError() throws {
        let directory = temporaryDirectory()
        for listen in ["0.0.0.0:9464", "192.168.1.10:9464", "localhost:9464", "[::]:9464", "127.0.0.1:0", "127.0.0.1", "unix:relative"] {
            let file = directory + "/tokend.toml"
            try TestFiles.write(file, "metrics_listen = \"\(listen)\"\n", mode: 0o600)
            let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", file])
            #expect(status == 78 && errors.contains("metrics_listen"), "\(listen): \(errors)")
        }
        for listen in ["127.0.0.1:9464", "127.0.0.53:9", "[::1]:9464", "unix:/run/tokend/metrics.sock"] {
            let file = directory + "/tokend.toml"
            try TestFiles.write(file, "metrics_listen = \"\(listen)\"\n", mode: 0o600)
            #expect(try runTool(productsDirectory + "/tokend", ["--check", "--config", file]).0 == 0, "\(listen)")
        }
    }

    /// SPEC §10: a port another process took first is not fatal: tokend
    /// serves tokens, logs an error and keeps trying (every 30 s).
    @Test func aTakenMetricsPortNeverCostsAToken() async throws {
        let idp = try await TestIdP.start()
        let (blocker, port) = LoopbackTCP.bind(listening: true)
        defer { close(blocker) }
        let daemon = try DaemonProcess(config: "metrics_listen = \"127.0.0.1:\(port)\"\n" + profileConfig("api", url: idp.tokenURL))
        #expect(daemon.waitReady(), "\(daemon.log)")
        #expect(try LineClient(path: daemon.socket).request("GET api")?.hasPrefix("OK ") == true)
        #expect(daemon.isRunning)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("cannot listen on metrics_listen"), "\(daemon.log)")
        try await idp.shutdown()
    }

    /// SPEC §10: a request must be complete within 5 s of its first byte; a
    /// client trickling a byte every 0.5 s was kept 10.5 s.
    @Test func aTricklingScraperIsClosedFiveSecondsAfterItsFirstByte() async throws {
        let idp = try await TestIdP.start()
        let port = Self.freePort()
        let daemon = try DaemonProcess(config: "metrics_listen = \"127.0.0.1:\(port)\"\n" + profileConfig("api", url: idp.tokenURL))
        #expect(daemon.waitReady())
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 40)
        let start = Clocks.monotonic()
        var closedAfter: Double?
        for byte in request {
            if send(fd, [byte], 1, Int32(MSG_NOSIGNAL)) != 1 { closedAfter = Double(Clocks.monotonic() - start) / 1e9; break }
            // The server's close is the event: wait for it up to 0.5 s, then send the next byte.
            if waitReadable(fd, until: Clocks.deadline(in: 0.5)) {
                var buffer = [UInt8](repeating: 0, count: 64)
                if recv(fd, &buffer, 64, 0) <= 0 { closedAfter = Double(Clocks.monotonic() - start) / 1e9; break }
            }
        }
        let after = try #require(closedAfter, "the connection stayed open through the whole trickle")
        #expect(after >= 4.5 && after < 6.5, "closed after \(after) s")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
