import Foundation
import Glibc
import TestIdP
import Testing
import TokendTesting

/// SPEC §11: token files for programs that cannot speak the protocol.
@Suite(.serialized) struct TokenFileTests {
    /// A file sink table for `profileConfig(extra:)`.
    func sink(_ profile: String, _ path: String, _ keys: String = "") -> String {
        "\n[[profile.\(profile).file]]\npath = \"\(path)\"\n\(keys)\n"
    }

    /// The file's content, or nil when there is none.
    func read(_ path: String) -> String? { TestFiles.read(path) }

    /// Waits up to `timeout` seconds for `condition`, looking every 5 ms (a
    /// file's state has no event to await); true when it held.
    func eventually(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Clocks.deadline(in: timeout)
        while Clocks.monotonic() < deadline {
            if condition() { return true }
            Clocks.sleep(seconds: 0.005)
        }
        return condition()
    }

    /// The token of a `GET` answer.
    func tokenOf(_ answer: String?) -> String? {
        guard let answer, answer.hasPrefix("OK ") else { return nil }
        return answer.split(separator: " ").dropFirst().first.map(String.init)
    }

    @Test func aReaderNeverSeesAPartialEmptyOrExpiredToken() async throws {
        // 2 s tokens renewed after ~0.6 s: 20 renewals in about 12 s.
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 2))
        let dir = temporaryDirectory()
        let path = dir + "/api.token"
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: "renew_at = 0.3\njitter = 0.05" + sink("api", path)))
        #expect(daemon.waitReady())
        var seen: [String] = []
        var problems: [String] = []
        var reads = 0
        let deadline = Clocks.deadline(in: 60)
        while idp.issued.count < 21, Clocks.monotonic() < deadline {
            guard let content = read(path) else { continue }  // absent is allowed: never partial or stale
            let readAt = Clocks.boot()
            reads += 1
            guard let issued = idp.issued.first(where: { $0.token == content }) else {
                problems.append("read \"\(content.prefix(40))\", which the IdP never issued")
                continue
            }
            if readAt >= issued.expiresAt { problems.append("read a token \(Double(readAt - issued.expiresAt) / 1e6) ms after its expiry") }
            if seen.last != content { seen.append(content) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        let issued = idp.issued.map(\.token)
        #expect(issued.count >= 21, "only \(issued.count) tokens in 60 s")
        // Every token that lived long enough to be written was seen (the last
        // one may have been issued as the loop ended).
        let missed = issued.dropLast().filter { !seen.contains($0) }
        #expect(missed.isEmpty, "\(missed.count) of \(issued.count) tokens never seen in \(reads) reads")
        #expect(daemon.stop() == 0)
        // A clean stop leaves a valid token's file in place.
        #expect(read(path) != nil)
        try await idp.shutdown()
    }

    @Test(.enabled(if: runningAsRoot, "giving a file to another group needs root"))
    func eachFormatModeAndGroup() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let sinks = sink("api", dir + "/plain", "mode = \"0600\"")
            + sink("api", dir + "/header", "format = \"header\"\ngroup = 65534")
            + sink("api", dir + "/json", "format = \"json\"\nmode = \"0644\"\ngroup = \"nogroup\"")
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: sinks))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        let answer = client.request("GET api")
        let token = try #require(tokenOf(answer))
        #expect(eventually { read(dir + "/json") != nil && read(dir + "/header") != nil && read(dir + "/plain") != nil })
        #expect(read(dir + "/plain") == token)
        #expect(read(dir + "/header") == "Authorization: Bearer \(token)\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data((read(dir + "/json") ?? "").utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["access_token", "token_type", "expires_in", "expires_at"])
        #expect(json["access_token"] as? String == token)
        #expect(json["token_type"] as? String == "Bearer")
        let expiresIn = try #require(json["expires_in"] as? Int)
        let expiresAt = try #require(json["expires_at"] as? Int)
        #expect(expiresIn > 3500 && expiresIn <= 3600)
        #expect(abs(expiresAt - (Int(Date().timeIntervalSince1970) + expiresIn)) <= 2)
        for (name, mode, group) in [("plain", 0o600, Int(getegid())), ("header", 0o640, 65534), ("json", 0o644, 65534)] {
            var st = stat()
            #expect(lstat(dir + "/" + name, &st) == 0)
            #expect(Int(st.st_mode) & 0o7777 == mode, "\(name): mode \(String(Int(st.st_mode) & 0o7777, radix: 8))")
            #expect(Int(st.st_gid) == group, "\(name): group \(st.st_gid)")
        }
        // No temporary file is left beside them.
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasSuffix(".sock") && !$0.hasPrefix("notify") && $0 != "tokend.toml" && !$0.hasSuffix(".lock") }
        #expect(Set(entries) == ["plain", "header", "json"], "\(entries)")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    @Test func aPlantedSymbolicLinkIsNeverFollowed() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let victim = dir + "/victim"
        try TestFiles.write(victim, "untouched")
        #expect(symlink(victim, dir + "/api.token") == 0)
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: sink("api", dir + "/api.token")))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(tokenOf(client.request("GET api")) != nil)
        // The failure shows in STATUS; the daemon keeps serving.
        var status = ""
        #expect(eventually {
            status = client.request("STATUS api") ?? ""
            return status.contains("symbolic link")
        }, "\(status)")
        #expect(status.contains(#""file_errors":[""#))
        #expect(read(victim) == "untouched")
        var st = stat()
        #expect(lstat(dir + "/api.token", &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
        #expect(tokenOf(client.request("GET api")) != nil)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("token file not updated"), "\(daemon.log)")
        try await idp.shutdown()
    }

    @Test func anOutageLongerThanTheLifetimeRemovesTheFileUntilTheNextToken() async throws {
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 4))
        let dir = temporaryDirectory()
        let path = dir + "/api.token"
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: "retry_min = \"1s\"\nretry_max = \"1s\"" + sink("api", path)))
        #expect(daemon.waitReady())
        #expect(eventually { read(path) != nil })
        let first = try #require(read(path))
        let issued = try #require(idp.issued.first { $0.token == first })
        // Every renewal fails from now on.
        idp.enqueue(.status(503, body: "down"), count: 1000)
        #expect(eventually(10) { read(path) == nil }, "the file outlived its token")
        // Removed before the token's last servable second, not long before.
        let removedAt = Clocks.boot()
        #expect(removedAt < issued.expiresAt, "removed \(Double(removedAt - issued.expiresAt) / 1e6) ms after expiry")
        #expect(removedAt + 2_500_000_000 > issued.expiresAt, "removed more than 2.5 s before expiry")
        idp.clearFaults()
        #expect(eventually(10) { read(path) != nil }, "no file after the IdP came back")
        #expect(read(path) != first)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    @Test func aReloadRemovesAddsAndMovesSinks() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let config = profileConfig("a", url: idp.tokenURL, extra: sink("a", dir + "/a1"))
            + profileConfig("b", url: idp.tokenURL, extra: sink("b", dir + "/b1"))
        let daemon = try DaemonProcess(config: config)
        #expect(daemon.waitReady())
        #expect(eventually { read(dir + "/a1") != nil && read(dir + "/b1") != nil })
        let tokenA = read(dir + "/a1")
        let requests = idp.requests.count
        // a's sink moves from a1 to a2 and gains a3; b goes.
        try TestFiles.write(daemon.configPath, "socket = \"\(daemon.socket)\"\n"
            + profileConfig("a", url: idp.tokenURL, extra: sink("a", dir + "/a2") + sink("a", dir + "/a3", "format = \"header\"")), mode: 0o600)
        daemon.signal(SIGHUP)
        #expect(daemon.notify.await("RELOADING=1") != nil)
        #expect(daemon.notify.await("READY=1") != nil)
        #expect(eventually { read(dir + "/a1") == nil && read(dir + "/b1") == nil && read(dir + "/a2") != nil && read(dir + "/a3") != nil })
        // The profile kept its token: the files moved, nothing was fetched.
        #expect(read(dir + "/a2") == tokenA)
        #expect(read(dir + "/a3") == "Authorization: Bearer \(tokenA ?? "")\n")
        #expect(idp.requests.count == requests)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    /// A file left by an earlier run, with no valid cached token to replace
    /// it, holds a token of unknown expiry: it goes at start.
    @Test func aFileLeftByAnEarlierRunGoesWhenThereIsNoValidToken() async throws {
        let idp = try await TestIdP.start()
        idp.enqueue(.status(503, body: "down"), count: 1000)
        let dir = temporaryDirectory()
        let path = dir + "/api.token"
        try TestFiles.write(path, "a-token-of-unknown-age", mode: 0o640)
        let daemon = try DaemonProcess(config: "state_dir = \"\"\n" + profileConfig("api", url: idp.tokenURL, extra: sink("api", path)))
        #expect(daemon.waitReady())
        #expect(eventually { read(path) == nil }, "the stale file is still there")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    @Test func checkRefusesSinksThatCannotWork() throws {
        let dir = temporaryDirectory()
        let file = dir + "/bad.toml"
        try TestFiles.write(file, "socket = \"\(dir)/tokend.sock\"\n"
            + profileConfig("a", url: "https://idp.example.com/t", extra: sink("a", dir + "/missing/a.token") + sink("a", "relative.token"))
            + profileConfig("b", url: "https://idp.example.com/t", extra: sink("b", dir + "/b.token") + sink("b", dir + "/ok/b.token", "group = \"no-such-group\"")),
            mode: 0o600)
        mkdir(dir + "/ok", 0o755)
        let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", file])
        #expect(status == 78)
        #expect(errors.contains("profile.a.file[1].path") && errors.contains("must be an absolute path"), "\(errors)")
        #expect(errors.contains("profile.b.file[0].path") && errors.contains("socket's directory"), "\(errors)")
        // Directory and group problems are checked once the file parses.
        try TestFiles.write(file, "socket = \"\(dir)/tokend.sock\"\n"
            + profileConfig("a", url: "https://idp.example.com/t", extra: sink("a", dir + "/missing/a.token"))
            + profileConfig("b", url: "https://idp.example.com/t", extra: sink("b", dir + "/ok/b.token", "group = \"no-such-group\"")),
            mode: 0o600)
        let (again, _, more) = try runTool(productsDirectory + "/tokend", ["--check", "--config", file])
        #expect(again == 78)
        #expect(more.contains("profile.a.file[0].path") && more.contains("missing"), "\(more)")
        #expect(more.contains("profile.b.file[0].group") && more.contains("unknown group"), "\(more)")
        // Each error names its line.
        #expect(more.split(separator: "\n").allSatisfy { $0.contains("bad.toml:") && $0.split(separator: ":").count > 2 }, "\(more)")
    }

    /// Under the shipped unit, `SystemCallFilter=~@privileged` refused every
    /// fchown, and the writer made one for every file: no token file was ever
    /// written. A sink without `group` gets the effective group with no
    /// fchown; one naming another group is refused by `--check` while the
    /// filter refuses fchown (here simulated by tests/support/preload.c).
    @Test func withFchownRefusedAFileWithoutGroupIsWrittenAndCheckNamesTheFilter() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let environment = preloadEnvironment(["TOKEND_TEST_REFUSE_FCHOWN": "1"])
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: sink("api", dir + "/api.token")),
                                       extraEnvironment: environment)
        #expect(daemon.waitReady())
        let token = try #require(tokenOf(try LineClient(path: daemon.socket).request("GET api")))
        #expect(eventually { read(dir + "/api.token") == token }, "\(daemon.log)")
        var st = stat()
        #expect(lstat(dir + "/api.token", &st) == 0 && st.st_gid == getegid() && st.st_mode & 0o777 == 0o640)
        #expect(daemon.stop() == 0)
        #expect(!daemon.log.contains("not updated"), "\(daemon.log)")

        // Another group: --check says what refuses it.
        let other: gid_t = getegid() == 65534 ? 0 : 65534
        let file = dir + "/other.toml"
        mkdir(dir + "/files", 0o755)
        try TestFiles.write(file, "socket = \"\(dir)/t.sock\"\nstate_dir = \"\"\n"
            + profileConfig("api", url: idp.tokenURL, extra: sink("api", dir + "/files/other.token", "group = \(other)")), mode: 0o600)
        let (refused, _, errors) = try ChildProcess.run(productsDirectory + "/tokend", ["--check", "--config", file], environment: environment)
        #expect(refused == 78)
        #expect(errors.contains("profile.api.file[0].group") && errors.contains("fchown"), "\(errors)")
        if runningAsRoot {
            // Without the filter, the same file is fine.
            let (accepted, _, fine) = try runTool(productsDirectory + "/tokend", ["--check", "--config", file])
            #expect(accepted == 0, "\(fine)")
        }
        try await idp.shutdown()
    }

    /// SPEC §11 on a full disk: a failed write leaves the previous token in
    /// the file, and its removal was moved to the new token's expiry, so
    /// readers got an expired token. Now the file goes before its own token
    /// stops being servable, and comes back once a write succeeds.
    @Test(.enabled(if: runningAsRoot, "mounting a small tmpfs needs root"))
    func aFullDiskNeverLeavesAnExpiredTokenInAFile() async throws {
        let idp = try await TestIdP.start(settings: TestIdP.Settings(lifetime: 4))
        let mount = temporaryDirectory() + "/small"
        mkdir(mount, 0o755)
        let (mounted, _, why) = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount])
        try #require(mounted == 0, "\(why)")
        defer { _ = try? runTool("/bin/umount", ["-l", mount]) }
        let path = mount + "/api.token"
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: "renew_at = 0.3\njitter = 0.05" + sink("api", path)))
        #expect(daemon.waitReady())
        #expect(eventually { read(path) != nil })
        let first = try #require(read(path))
        // Fill the file system: every later write fails with ENOSPC.
        _ = try runTool("/bin/sh", ["-c", "cat /dev/zero > \(mount)/filler 2>/dev/null; true"])
        let firstIssued = try #require(idp.issued.first { $0.token == first })
        var problems: [String] = []
        // Until well after the first token's expiry: the file is the first
        // token while it is valid, or absent; never an expired token.
        while Clocks.boot() < firstIssued.expiresAt + 1_500_000_000 {
            if let content = read(path), let issued = idp.issued.first(where: { $0.token == content }), Clocks.boot() >= issued.expiresAt {
                problems.append("read a token \(Double(Clocks.boot() - issued.expiresAt) / 1e6) ms after its expiry")
            }
            Clocks.sleep(seconds: 0.01)
        }
        #expect(problems.isEmpty, "\(problems.prefix(3))")
        // The first token went; a write into the page its removal freed may have brought the current one.
        if let content = read(path) {
            #expect(content != first && idp.issued.contains { $0.token == content && Clocks.boot() < $0.expiresAt })
        }
        #expect(daemon.log.contains("token file not updated"), "\(daemon.log)")
        // Space again: the next renewal writes the file.
        unlink(mount + "/filler")
        #expect(eventually(15) { read(path).map { token in idp.issued.contains { $0.token == token && Clocks.boot() < $0.expiresAt } } ?? false })
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
