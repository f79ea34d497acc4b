import Foundation
import Glibc
import TestIdP
import Testing
import TokendCore
import TokendTesting

/// SPEC §9: the persistent token cache, across real restarts of tokend.
@Suite(.serialized) struct TokenCacheTests {
    /// The token of a `GET` answer.
    func tokenOf(_ answer: String?) -> String? {
        guard let answer, answer.hasPrefix("OK ") else { return nil }
        return answer.split(separator: " ").dropFirst().first.map(String.init)
    }

    /// One profile's entry of a `STATUS` answer.
    func status(_ daemon: DaemonProcess, _ profile: String) throws -> [String: Any] {
        let answer = try LineClient(path: daemon.socket).request("STATUS \(profile)") ?? ""
        let document = try JSONSerialization.jsonObject(with: Data(answer.dropFirst(3).utf8)) as? [String: Any]
        return (document?["profiles"] as? [[String: Any]])?.first ?? [:]
    }

    /// A second tokend on the first one's directory (so on its cache).
    func restart(_ config: String, in directory: String, environment: [String: String] = [:]) throws -> DaemonProcess {
        let daemon = try DaemonProcess(config: config, extraEnvironment: environment, directory: directory)
        #expect(daemon.waitReady())
        return daemon
    }

    func entryPath(_ directory: String, _ profile: String) -> String { directory + "/state/\(profile).entry" }

    @Test func aRestartWithAValidTokenAsksTheIdPNothing() async throws {
        let idp = try await TestIdP.start()
        let config = profileConfig("api", url: idp.tokenURL)
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        let token = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
        let before = try status(first, "api")
        let statusAt = Clocks.monotonic()
        #expect(before["source"] as? String == "idp")
        #expect(first.stop() == 0)
        #expect(idp.requests.count == 1)
        // The entry is 0600 in a 0700 directory.
        var st = stat()
        #expect(stat(first.directory + "/state", &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(stat(entryPath(first.directory, "api"), &st) == 0 && st.st_mode & 0o777 == 0o600)

        let second = try restart(config, in: first.directory)
        #expect(tokenOf(try LineClient(path: second.socket).request("GET api")) == token)
        let after = try status(second, "api")
        #expect(after["source"] as? String == "cache")
        #expect(idp.requests.count == 1, "the restart asked the IdP again")
        let (listed, table, _) = try tokenctl(["status"], socket: second.socket)
        #expect(listed == 0 && table.contains("SOURCE") && table.contains(" cache "), "\(table)")
        // Renewal at its original moment: renew_in went down by the time that passed.
        let elapsed = Int((Clocks.monotonic() - statusAt) / 1_000_000_000)
        let expected = (before["renew_in"] as? Int ?? 0) - elapsed
        #expect(abs((after["renew_in"] as? Int ?? -100) - expected) <= 2, "renew_in \(String(describing: after["renew_in"])) instead of ~\(expected)")
        #expect(second.stop() == 0)
        try await idp.shutdown()
    }

    @Test func aRestartAfterTheRenewalMomentServesTheCachedTokenWhileOneRequestRenewsIt() async throws {
        // Renewal 1.2–2.4 s after issue.
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 12))
        let config = profileConfig("api", url: idp.tokenURL, extra: "renew_at = 0.15\njitter = 0.05")
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        let token = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
        #expect(first.stop() == 0)
        let issued = try #require(idp.issued.first)
        // Wait for the renewal moment to pass: time itself is the event.
        while Clocks.boot() < issued.issuedAt + 2_500_000_000 { Clocks.sleep(seconds: 0.05) }
        // The renewal is held 0.4 s at the IdP, well before its own token's renewal (1.2 s at least).
        idp.enqueue(.delay(seconds: 0.4))
        let second = try restart(config, in: first.directory)
        // The renewal is under way (delayed at the IdP); the cached token is served meanwhile.
        #expect(await idp.waitForRequests(2, timeout: 10))
        #expect(tokenOf(try LineClient(path: second.socket).request("GET api")) == token)
        // Once the renewal lands, its token is served and came from the IdP.
        let deadline = Clocks.deadline(in: 10)
        while (try status(second, "api")["source"] as? String) != "idp", Clocks.monotonic() < deadline { Clocks.sleep(seconds: 0.02) }
        let renewed = try LineClient(path: second.socket).request("GET api")
        #expect(tokenOf(renewed) != nil && tokenOf(renewed) != token)
        #expect(idp.requests.count == 2, "\(idp.requests.count) requests: the renewal was not exactly one")
        #expect(second.stop() == 0)
        try await idp.shutdown()
    }

    @Test func aChangeOfWhatDecidesTheTokenFetchesANewOne() async throws {
        var settings = TestIdP.Settings()
        settings.clients = [TestIdP.Client(id: "demo", secret: "demo-secret"), TestIdP.Client(id: "other", secret: "demo-secret")]
        let idp = try await TestIdP.start(settings: settings)
        let base = profileConfig("api", url: idp.tokenURL, extra: "audience = \"a\"\nscope = \"s\"")
        let variants = [
            profileConfig("api", url: idp.tokenURL, extra: "audience = \"b\"\nscope = \"s\""),
            profileConfig("api", url: idp.tokenURL, extra: "audience = \"a\"\nscope = \"t\""),
            profileConfig("api", url: idp.tokenURL, id: "other", extra: "audience = \"a\"\nscope = \"s\""),
            profileConfig("api", url: idp.tokenURL + "?tenant=2", extra: "audience = \"a\"\nscope = \"s\""),
        ]
        for variant in variants {
            let first = try DaemonProcess(config: base)
            #expect(first.waitReady())
            let old = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
            #expect(first.stop() == 0)
            let requests = idp.requests.count
            let second = try restart(variant, in: first.directory)
            let new = tokenOf(try LineClient(path: second.socket).request("GET api"))
            #expect(new != nil && new != old, "a changed profile was served the old token")
            #expect(idp.requests.count == requests + 1)
            #expect(second.stop() == 0)
        }
        try await idp.shutdown()
    }

    @Test func anotherBootUsesTheWallClockExpiryLessThirtySecondsAndAFutureEntryIsDropped() async throws {
        let idp = try await TestIdP.start()
        let config = profileConfig("api", url: idp.tokenURL)
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        let token = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
        #expect(first.stop() == 0)
        let path = entryPath(first.directory, "api")
        let original = try #require(TestFiles.read(path))
        // Another boot: its CLOCK_BOOTTIME means nothing; the wall clock decides.
        try TestFiles.write(path, original.replacingOccurrences(of: #""boot_id":""#, with: #""boot_id":"another-boot-"#), mode: 0o600)
        let second = try restart(config, in: first.directory)
        #expect(tokenOf(try LineClient(path: second.socket).request("GET api")) == token)
        let expiresIn = try status(second, "api")["expires_in"] as? Int ?? 0
        #expect(expiresIn <= 3600 - 30 && expiresIn > 3500, "expires_in \(expiresIn)")
        #expect(idp.requests.count == 1)
        #expect(second.stop() == 0)
        // A wall clock set before the issue time: the entry claims a future issue and is dropped.
        let saved = try #require(TestFiles.read(path))
        let future = saved.replacingOccurrences(of: #""boot_id":""#, with: #""boot_id":"x"#)
            .replacingOccurrences(of: #""obtained_unix":"#, with: #""obtained_unix":9"#)
        try TestFiles.write(path, future, mode: 0o600)
        let third = try restart(config, in: first.directory)
        let fresh = tokenOf(try LineClient(path: third.socket).request("GET api"))
        #expect(fresh != nil && fresh != token)
        #expect(idp.requests.count == 2)
        #expect(third.stop() == 0)
        #expect(third.log.contains("future"), "\(third.log)")
        try await idp.shutdown()
    }

    @Test func badEntriesAreIgnoredWithAWarningAndReplaced() async throws {
        let idp = try await TestIdP.start()
        let config = profileConfig("api", url: idp.tokenURL)
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        #expect(tokenOf(try LineClient(path: first.socket).request("GET api")) != nil)
        #expect(first.stop() == 0)
        let path = entryPath(first.directory, "api")
        let good = Array(try #require(TestFiles.read(path)).utf8)
        let bad: [(String, [UInt8])] = [
            ("zero-length", []),
            ("truncated", Array(good.prefix(good.count / 2))),
            ("tampered", Array(String(decoding: good, as: UTF8.self).replacingOccurrences(of: #""fingerprint":""#, with: #""fingerprint":"0"#).utf8)),
            ("foreign version", Array(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "tokend-cache 1 ", with: "tokend-cache 7 ").utf8)),
            ("garbage", (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }),
        ]
        for (name, bytes) in bad {
            try TestFiles.write(path, String(decoding: bytes, as: UTF8.self), mode: 0o600)
            let requests = idp.requests.count
            let daemon = try restart(config, in: first.directory)
            #expect(tokenOf(try LineClient(path: daemon.socket).request("GET api")) != nil, "\(name)")
            #expect(idp.requests.count == requests + 1, "\(name): not a fresh fetch")
            #expect(daemon.stop() == 0, "\(name)")
            #expect(daemon.log.contains("cache entry not used") || daemon.log.contains("not used"), "\(name): \(daemon.log)")
            // Replaced by a good one at the success.
            let replaced = Array((TestFiles.read(path) ?? "").utf8)
            #expect(replaced.starts(with: Array("tokend-cache 1 plain ".utf8)), "\(name)")
        }
        try await idp.shutdown()
    }

    @Test func encryptedEntriesNeedTheirKey() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        try TestFiles.write(dir + "/k1", String(repeating: "ab", count: 32) + "\n", mode: 0o600)
        try TestFiles.write(dir + "/k2", String(repeating: "cd", count: 32) + "\n", mode: 0o600)
        func config(_ key: String) -> String { "cache_key_file = \"\(dir)/\(key)\"\n" + profileConfig("api", url: idp.tokenURL) }
        let first = try DaemonProcess(config: config("k1"))
        #expect(first.waitReady())
        let token = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
        #expect(first.stop() == 0)
        let entry = try #require(TestFiles.read(entryPath(first.directory, "api")))
        #expect(entry.hasPrefix("tokend-cache 1 aes-256-gcm "))
        #expect(!entry.contains(token), "the token is in the encrypted entry in clear")
        // The same key: served from the cache.
        let second = try restart(config("k1"), in: first.directory)
        #expect(tokenOf(try LineClient(path: second.socket).request("GET api")) == token)
        #expect(idp.requests.count == 1)
        #expect(second.stop() == 0)
        // A flipped byte in the sealed body fails authentication.
        let path = entryPath(first.directory, "api")
        let sealed = try #require(TestFiles.read(path))
        var lines = sealed.split(separator: "\n").map(String.init)
        lines[2] = String(lines[2].prefix(10)) + (lines[2].dropFirst(10).first == "A" ? "B" : "A") + String(lines[2].dropFirst(11))
        try TestFiles.write(path, lines.joined(separator: "\n") + "\n", mode: 0o600)
        let tampered = try restart(config("k1"), in: first.directory)
        #expect(tokenOf(try LineClient(path: tampered.socket).request("GET api")) != token)
        #expect(idp.requests.count == 2)
        #expect(tampered.stop() == 0)
        #expect(tampered.log.contains("does not authenticate"), "\(tampered.log)")
        // Another key (rotation): the entry fails authentication and is replaced.
        let third = try restart(config("k2"), in: first.directory)
        #expect(tokenOf(try LineClient(path: third.socket).request("GET api")) != nil)
        #expect(idp.requests.count == 3)
        #expect(third.stop() == 0)
        #expect(third.log.contains("does not authenticate"), "\(third.log)")
        // No key at all: an encrypted entry is not used.
        let fourth = try restart(profileConfig("api", url: idp.tokenURL), in: first.directory)
        #expect(tokenOf(try LineClient(path: fourth.socket).request("GET api")) != nil)
        #expect(idp.requests.count == 4)
        #expect(fourth.stop() == 0)
        try await idp.shutdown()
    }

    @Test func aCrashLoopDuringAnOutageKeepsItsBackOff() async throws {
        let idp = try await TestIdP.start()
        idp.enqueue(.status(503, body: "down"), count: 1000)
        let config = profileConfig("api", url: idp.tokenURL, extra: "retry_min = \"4s\"\nretry_max = \"4s\"")
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        #expect(await idp.waitForRequests(1, timeout: 10))
        // The failure is recorded before the stop (STATUS counts it).
        let deadline = Clocks.deadline(in: 10)
        while (try status(first, "api")["failures"] as? Int ?? 0) < 1, Clocks.monotonic() < deadline { Clocks.sleep(seconds: 0.01) }
        #expect(first.stop() == 0)
        let started = Clocks.boot()
        for _ in 0..<10 {
            let daemon = try restart(config, in: first.directory)
            #expect(daemon.stop() == 0)
        }
        let elapsed = Double(Clocks.boot() - started) / 1e9
        let times = idp.requests.map(\.receivedAt)
        // One request per back-off period, not one per start.
        #expect(times.count <= 1 + Int(elapsed / 4) + 1, "\(times.count) requests in \(elapsed) s of 10 restarts")
        for (a, b) in zip(times, times.dropFirst()) {
            #expect(b - a >= 3_900_000_000, "requests \(Double(b - a) / 1e9) s apart")
        }
        try await idp.shutdown()
    }

    @Test func persistFalseNeverTouchesTheDiskAndARemovedProfileLosesItsEntry() async throws {
        let idp = try await TestIdP.start()
        let first = try DaemonProcess(config: profileConfig("kept", url: idp.tokenURL) + profileConfig("gone", url: idp.tokenURL))
        #expect(first.waitReady())
        for profile in ["kept", "gone"] { #expect(tokenOf(try LineClient(path: first.socket).request("GET \(profile)")) != nil) }
        // Entries are written off the event loops, just after the answer: wait for them.
        let written = Clocks.deadline(in: 10)
        while access(entryPath(first.directory, "kept"), F_OK) != 0 || access(entryPath(first.directory, "gone"), F_OK) != 0,
              Clocks.monotonic() < written { Clocks.sleep(seconds: 0.01) }
        #expect(access(entryPath(first.directory, "kept"), F_OK) == 0 && access(entryPath(first.directory, "gone"), F_OK) == 0)
        // A reload removes "gone": its entry goes. "kept" turns persist off: its entry goes too.
        try TestFiles.write(first.configPath, "socket = \"\(first.socket)\"\nstate_dir = \"\(first.directory)/state\"\n"
            + profileConfig("kept", url: idp.tokenURL, extra: "persist = false"), mode: 0o600)
        first.signal(SIGHUP)
        #expect(first.notify.await("RELOADING=1") != nil)
        #expect(first.notify.await("READY=1") != nil)
        #expect(tokenOf(try LineClient(path: first.socket).request("GET kept")) != nil)
        #expect(first.stop() == 0)
        #expect(access(entryPath(first.directory, "gone"), F_OK) != 0, "a removed profile's entry is left")
        #expect(access(entryPath(first.directory, "kept"), F_OK) != 0, "a persist = false profile has an entry")
        try await idp.shutdown()
    }

    @Test func aStateDirectoryOfTheWrongModeTurnsTheCacheOffWithOneWarning() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        mkdir(dir + "/open", 0o755)
        chmod(dir + "/open", 0o755)
        let daemon = try DaemonProcess(config: "state_dir = \"\(dir)/open\"\n" + profileConfig("api", url: idp.tokenURL))
        #expect(daemon.waitReady())
        #expect(tokenOf(try LineClient(path: daemon.socket).request("GET api")) != nil)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.components(separatedBy: "the token cache is off").count == 2, "\(daemon.log)")
        #expect(access(dir + "/open/api.entry", F_OK) != 0)
        try await idp.shutdown()
    }

    /// kill -9 while entries are written: what is left is a whole entry or none.
    @Test func aKillAtAnyMomentLeavesAWholeEntryOrNone() async throws {
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 1.6))
        // A 10 ms back-off: a request cut by the kill is counted as failed at the next start.
        let config = profileConfig("api", url: idp.tokenURL, extra: "renew_at = 0.1\njitter = 0.05\nretry_min = \"10ms\"\nretry_max = \"10ms\"")
        let directory = temporaryDirectory()
        let path = entryPath(directory, "api")
        let fingerprint = ProfileConfiguration(name: "api", tokenURL: idp.tokenURL, clientID: "demo", clientSecret: Secret("demo-secret")).cacheFingerprint
        var problems: [String] = []
        var found = 0
        // 200 rounds; 20 under a sanitizer, where each start takes several times
        // longer (the point there is the daemon's memory and threads, not the count).
        let rounds = ProcessInfo.processInfo.environment["TOKEND_SANITIZER"] == nil ? 200 : 20
        for round in 0..<rounds {
            let daemon = try DaemonProcess(config: config, directory: directory)
            #expect(daemon.waitReady(), "round \(round)")
            Clocks.sleep(seconds: Double(round % 10) * 0.01)
            daemon.signal(SIGKILL)
            daemon.wait()
            guard let bytes = TestFiles.read(path).map({ Array($0.utf8) }) else { continue }
            found += 1
            do {
                _ = try CacheEntry.open(bytes, profile: "api", fingerprint: fingerprint, key: nil)
            } catch {
                problems.append("round \(round): \(error)")
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(found > rounds / 2, "only \(found) of \(rounds) rounds left an entry: the test did not exercise the writes")
        #expect(idp.requests.count > rounds / 2)
        try await idp.shutdown()
    }

    /// The sealing is standard AES-256-GCM: PyCA's `cryptography` opens what
    /// tokend sealed, and tokend serves an entry that `cryptography` sealed.
    @Test func sealedEntriesInteroperateWithAnIndependentAESGCM() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let keyHex = String(repeating: "5a", count: 32)
        try TestFiles.write(dir + "/key", keyHex + "\n", mode: 0o600)
        let config = "cache_key_file = \"\(dir)/key\"\n" + profileConfig("api", url: idp.tokenURL)
        let first = try DaemonProcess(config: config)
        #expect(first.waitReady())
        let token = try #require(tokenOf(try LineClient(path: first.socket).request("GET api")))
        #expect(first.stop() == 0)
        let script = repositoryRoot + "/tests/support/cache-entry.py"
        let (opened, json, errors) = try runTool("/usr/bin/env", ["python3", script, "open", keyHex, entryPath(first.directory, "api"), "api"])
        #expect(opened == 0, "\(errors)")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((object?["token"] as? [String: Any])?["access_token"] as? String == token)
        // An entry sealed by cryptography, with a token the IdP never issued to this run.
        var foreign = try #require(object)
        var tokenObject = try #require(foreign["token"] as? [String: Any])
        tokenObject["access_token"] = "sealed-by-python"
        foreign["token"] = tokenObject
        let body = String(decoding: try JSONSerialization.data(withJSONObject: foreign), as: UTF8.self)
        let fingerprint = try #require(foreign["fingerprint"] as? String)
        let (sealed, entry, sealErrors) = try runTool("/usr/bin/env", ["python3", script, "seal", keyHex, "api", fingerprint, body])
        #expect(sealed == 0, "\(sealErrors)")
        try TestFiles.write(entryPath(first.directory, "api"), entry, mode: 0o600)
        let second = try restart(config, in: first.directory)
        #expect(tokenOf(try LineClient(path: second.socket).request("GET api")) == "sealed-by-python")
        #expect(idp.requests.count == 1)
        #expect(second.stop() == 0)
        try await idp.shutdown()
    }

    /// A reload that changes a profile (same fingerprint) while its request
    /// is in flight: the new runner read the old one's "request under way"
    /// record from the cache and counted a failure that never happened.
    @Test func aReloadDuringARequestCountsNoFailure() async throws {
        let idp = try await TestIdP.start()
        idp.enqueue(.delay(seconds: 3))
        // A failure would hold the next request back by retry_min, 20 s.
        let backoff = "retry_min = \"20s\"\nretry_max = \"20s\"\n"
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: backoff + "renew_at = 0.75"))
        #expect(daemon.waitReady())
        #expect(await idp.waitForRequests(1, timeout: 10))
        try TestFiles.write(daemon.configPath, "socket = \"\(daemon.socket)\"\nstate_dir = \"\(daemon.directory)/state\"\n"
            + profileConfig("api", url: idp.tokenURL, extra: backoff + "renew_at = 0.7"), mode: 0o600)
        daemon.signal(SIGHUP)
        #expect(daemon.notify.await("RELOADING=1") != nil)
        #expect(daemon.waitReady())
        // No back-off: the new runner asks at once, and no error is recorded.
        let reloaded = try status(daemon, "api")
        #expect(!((reloaded["last_error"] as? String)?.contains("under way") ?? false), "\(reloaded)")
        #expect(await idp.waitForRequests(2, timeout: 5), "the new runner waited out a back-off")
        #expect(tokenOf(try LineClient(path: daemon.socket).request("GET api")) != nil)
        let after = try status(daemon, "api")
        #expect(after["failures"] as? Int == 0, "\(after)")
        #expect(after["last_error"] is NSNull, "\(after)")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
