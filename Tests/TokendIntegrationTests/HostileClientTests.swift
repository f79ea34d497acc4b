import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// Local clients that flood, never read, or
/// belong to users the user database is slow to describe.
@Suite(.serialized) struct HostileClientTests {
    /// A connection that pipelines requests until the socket is full and never reads.
    func floodWithoutReading(_ path: String) throws -> Int32 {
        let client = try LineClient(path: path)
        let fd = dup(client.fd)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let chunk = Array(String(repeating: "GET demo\n", count: 512).utf8)
        var stuck = 0
        // Until the kernel buffers and the read the daemon holds are full.
        while stuck < 4 {
            let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { stuck = 0; continue }
            guard errno == EAGAIN else { break }
            stuck += 1
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 50)
        }
        return fd
    }

    /// Waits until the daemon has closed the connection (POLLHUP).
    func awaitHangUp(_ fd: Int32, timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: 0, revents: 0)
        return poll(&p, 1, Int32(timeout * 1000)) > 0 && p.revents & Int16(POLLHUP) != 0
    }

    @Test func clientsThatNeverReadAreClosedAndCannotTakeEverySlot() async throws {
        let idp = try await TestIdP.start()
        let daemon = try DaemonProcess(config: "max_connections = 4\nidle_timeout = \"2s\"\nsocket_mode = \"0666\"\n"
            + profileConfig("demo", url: idp.tokenURL), directory: sharedTemporaryDirectory())
        #expect(daemon.waitReady())
        let hogs = try (0..<3).map { _ in try floodWithoutReading(daemon.socket) }
        defer { hogs.forEach { close($0) } }
        // One user may hold three quarters of max_connections (3 of 4).
        let fourth = try LineClient(path: daemon.socket)
        let refused = fourth.readLine()
        #expect(refused?.hasPrefix("ERR busy too many connections from your user") == true, "\(refused ?? "nothing")")
        if runningAsRoot {
            let (status, output, errors) = try runAsNobody(productsDirectory + "/tokenctl", ["--socket", daemon.socket, "ping"])
            #expect(status == 0 && output == "PONG\n", "another user was refused: \(errors)")
        }
        // The pipeliners make no progress: closed after idle_timeout.
        for hog in hogs { #expect(awaitHangUp(hog, timeout: 10), "a client that never reads was kept open") }
        #expect(try LineClient(path: daemon.socket).request("PING") == "OK PONG")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    /// A slow user database (3 s per lookup) for a peer that only
    /// `allow_groups` can decide: the other clients are not held up.
    @Test(.enabled(if: runningAsRoot, "a client of another user needs root"))
    func aSlowUserDatabaseStallsNoOtherClient() async throws {
        let idp = try await TestIdP.start()
        let environment = preloadEnvironment(["TOKEND_TEST_NSS_DELAY_MS": "3000"])
        let daemon = try DaemonProcess(config: "socket_mode = \"0666\"\n" + profileConfig("demo", url: idp.tokenURL)
            + profileConfig("restricted", url: idp.tokenURL, extra: "allow_gids = [4242]"), extraEnvironment: environment,
            directory: sharedTemporaryDirectory())
        #expect(daemon.waitReady())
        let probe = try LineClient(path: daemon.socket)
        #expect(probe.request("GET demo")?.hasPrefix("OK ") == true)
        // nobody, with no supplementary group, asks for the restricted profile.
        let socket = daemon.socket
        let denied = Task.detached {
            try runAsNobody(productsDirectory + "/tokenctl", ["--socket", socket, "get", "restricted"])
        }
        // While its lookup runs, everyone else is answered at once.
        var slowest = 0.0
        for _ in 0..<20 {
            let start = Date()
            #expect(probe.request("PING") == "OK PONG")
            slowest = max(slowest, Date().timeIntervalSince(start))
            usleep(100_000)
        }
        #expect(slowest < 1.0, "a client waited \(slowest) s behind a user-database lookup")
        let (status, _, errors) = try await denied.value
        #expect(status == 77, "\(errors)")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    /// One client pipelining denied requests cannot flood the journal.
    @Test(.enabled(if: runningAsRoot, "a client of another user needs root"))
    func denialsAreLoggedAtMostTenAMinute() async throws {
        let idp = try await TestIdP.start()
        let daemon = try DaemonProcess(config: "socket_mode = \"0666\"\n" + profileConfig("restricted", url: idp.tokenURL, extra: "allow_uids = [4242]"),
                                       directory: sharedTemporaryDirectory())
        #expect(daemon.waitReady())
        let script = "for i in $(seq 200); do printf 'GET restricted\\n'; done | nc -U -N \"$0\" | grep -c '^ERR denied'"
        let (status, output, errors) = try runAsNobody("/bin/sh", ["-c", script, daemon.socket])
        #expect(status == 0 && output == "200\n", "\(output) \(errors)")
        #expect(daemon.stop() == 0)
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("access denied") }
        #expect(lines.count == 10, "\(lines.count) denial lines")
        try await idp.shutdown()
    }

    /// Every answer carries at least one second, from the same clock reading
    /// that decided the token may be served: tokens of 1.5 s, hammered.
    @Test func noAnswerEverSaysZeroSeconds() async throws {
        var settings = TestIdP.Settings()
        settings.lifetime = 1.5
        let idp = try await TestIdP.start(settings: settings)
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL, extra: "renew_at = 0.3\njitter = 0.0"))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        let deadline = Date().addingTimeInterval(3)
        var answers = 0
        while Date() < deadline {
            client.send(String(repeating: "GET demo\n", count: 50))
            for _ in 0..<50 {
                guard let line = client.readLine() else { Issue.record("no answer"); return }
                let parts = line.split(separator: " ")
                #expect(parts.count == 3 && parts[0] == "OK" && (Int(parts[2]) ?? 0) >= 1, "\(line)")
                answers += 1
            }
        }
        #expect(answers > 500)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    /// A libcurl that refuses an option tokend relies on fails the request
    /// with a clear error instead of sending it with weaker guarantees.
    @Test func aRefusedLibcurlOptionFailsTheRequestClearly() async throws {
        let idp = try await TestIdP.start()
        let environment = preloadEnvironment(["TOKEND_TEST_REFUSE_CURLOPT": "10318"])  // CURLOPT_PROTOCOLS_STR
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL, extra: "retry_min = \"60s\"\nretry_max = \"60s\""),
                                       extraEnvironment: environment)
        #expect(daemon.waitReady())
        let answer = try #require(try LineClient(path: daemon.socket).request("GET demo"))
        #expect(answer.hasPrefix("ERR unavailable") && answer.contains("CURLOPT_PROTOCOLS_STR"), "\(answer)")
        #expect(idp.requests.isEmpty, "the request was sent without the option")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
