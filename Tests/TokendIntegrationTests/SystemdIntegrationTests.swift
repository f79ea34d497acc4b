import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP
import TokendSystemd

/// tokend as a systemd service (SPEC §6): the notify protocol,
/// socket activation, reload, graceful stop under load and journald levels.
@Suite(.serialized) struct SystemdIntegrationTests {
    /// READY/STATUS, WATCHDOG at half WATCHDOG_USEC, RELOADING + MONOTONIC_USEC
    /// around reloads (added, changed, removed, unchanged, then a broken file), STOPPING.
    @Test func notifyProtocolAndReload() async throws {
        let idp = try await TestIdP.start()
        let wedged = BlackHoleServer()
        func profiles(_ list: [(String, String, String)]) -> String {
            list.map { profileConfig($0.0, url: $0.2, extra: "audience = \"\($0.1)\"\ntimeout = \"60s\"") }.joined()
        }
        let daemon = try DaemonProcess(
            config: profiles([("keep", "aud-keep", idp.tokenURL), ("change", "aud-change-1", wedged.url), ("drop", "aud-drop", wedged.url)]),
            extraEnvironment: ["WATCHDOG_USEC": "400000"])
        let ready = try #require(daemon.notify.await("READY=1"))
        // The readiness summary (SPEC §10): "3 profiles, 3 valid" or "N of 3 valid: NAME: why".
        #expect(ready.contains("STATUS=3 profiles, 3 valid") || ready.contains(" of 3 valid: "), "\(ready)")

        // WATCHDOG=1 every 200 ms (half of 400 ms): time five consecutive pings.
        var pings: [Date] = []
        while pings.count < 5, let message = daemon.notify.await("WATCHDOG=1", timeout: 3) {
            #expect(message == "WATCHDOG=1")
            pings.append(Date())
        }
        #expect(pings.count == 5)
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        let meanGap = gaps.reduce(0, +) / Double(max(gaps.count, 1))
        #expect(meanGap > 0.12 && meanGap < 0.35, "watchdog pings \(gaps)")

        #expect(await idp.waitForRequests(1, timeout: 10))
        let client = try LineClient(path: daemon.socket)
        let keepToken = try #require(client.request("GET keep")?.split(separator: " ").dropFirst().first)
        // Two clients wait on profiles whose IdP never answers. PING first:
        // its answer proves the daemon has read the GET behind it.
        let waitsOnDrop = try LineClient(path: daemon.socket), waitsOnChange = try LineClient(path: daemon.socket)
        waitsOnDrop.send("PING\nGET drop\n")
        waitsOnChange.send("PING\nGET change\n")
        #expect(waitsOnDrop.readLine() == "OK PONG" && waitsOnChange.readLine() == "OK PONG")

        // Reload: keep unchanged, change now points at the IdP, drop removed, add added.
        try ("socket = \"\(daemon.socket)\"\n" + profiles([("keep", "aud-keep", idp.tokenURL), ("change", "aud-change-2", idp.tokenURL),
                                                         ("add", "aud-add", idp.tokenURL)]))
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let before = Clocks.monotonicMicroseconds()
        daemon.signal(SIGHUP)
        let reloading = try #require(daemon.notify.await("RELOADING=1"))
        let stamp = try #require(reloading.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }.flatMap { UInt64($0.dropFirst(15)) })
        #expect(stamp >= before && stamp <= Clocks.monotonicMicroseconds())
        #expect(daemon.notify.await("READY=1") != nil)

        #expect(waitsOnDrop.readLine()?.hasPrefix("ERR unknown-profile") == true)
        #expect(waitsOnChange.readLine()?.hasPrefix("OK ") == true)  // handed over to the new configuration
        #expect(client.request("LIST") == "OK add change keep")
        #expect(client.request("GET keep")?.hasPrefix("OK \(keepToken) ") == true)
        #expect(client.request("GET add")?.hasPrefix("OK ") == true)
        #expect(client.request("GET drop")?.hasPrefix("ERR unknown-profile") == true)
        let audiences = idp.requests.map { $0.form["audience"] ?? "" }
        #expect(audiences.filter { $0 == "aud-keep" }.count == 1, "the unchanged profile asked the IdP again: \(audiences)")
        #expect(audiences.contains("aud-change-2") && audiences.contains("aud-add"))

        // A broken file is refused; the running configuration keeps serving.
        try "socket = \"\(daemon.socket)\"\n[profile.keep\ntoken_url = 1\n".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.notify.await("RELOADING=1") != nil)
        #expect(daemon.notify.await("READY=1") != nil)
        #expect(client.request("LIST") == "OK add change keep")
        #expect(client.request("GET keep")?.hasPrefix("OK \(keepToken) ") == true)

        // A file that makes the TOML parser abort is refused the same way.
        try "[(prprofile.\"bad name\"ofile.\"bad name\"]\n".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.notify.await("RELOADING=1") != nil)
        #expect(daemon.notify.await("READY=1") != nil)
        #expect(client.request("GET keep")?.hasPrefix("OK \(keepToken) ") == true)

        daemon.signal(SIGTERM)
        #expect(daemon.notify.await("STOPPING=1") != nil)
        #expect(daemon.stop() == 0)
        let log = daemon.log
        #expect(log.contains("configuration reloaded") && log.contains("reload refused") && log.contains("the TOML parser crashed"))
        try await idp.shutdown()
    }

    /// A notify socket that nobody reads fills up; notifying must then drop
    /// messages rather than block the event loop that sends them (found by
    /// the benchmark, whose listener stops reading after READY=1).
    @Test func notifyingNeverBlocks() throws {
        let listener = NotifyListener(directory: temporaryDirectory())
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": listener.path])
        let started = Date()
        var dropped = 0
        for _ in 0..<10_000 where !notifier.notify("STATUS=" + String(repeating: "x", count: 200)) { dropped += 1 }
        #expect(dropped > 0, "the socket never filled up: the test proves nothing")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(listener.next(timeout: 1)?.hasPrefix("STATUS=") == true)
    }

    /// systemd-socket-activate passes a listening socket as fd 3: tokend
    /// serves on it and leaves the file alone when it stops.
    @Test func socketActivation() async throws {
        let activator = "/usr/bin/systemd-socket-activate"
        try #require(FileManager.default.isExecutableFile(atPath: activator), "install the Debian package systemd")
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let socketPath = dir + "/activated.sock", configPath = dir + "/tokend.toml"
        try ("socket = \"\(socketPath)\"\nstate_dir = \"\"\n" + profileConfig("demo", url: idp.tokenURL)).write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o600)
        let notify = NotifyListener(directory: dir)
        // The activator gives its child a minimal environment: pass on the sanitizers' options.
        let sanitizerOptions = ["ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"].flatMap { name in
            ProcessInfo.processInfo.environment[name].map { ["-E", "\(name)=\($0)"] } ?? []
        }
        let activated = try ChildProcess(activator, ["-l", socketPath, "-E", "NOTIFY_SOCKET=\(notify.path)"] + sanitizerOptions
                                           + [productsDirectory + "/tokend", "--config", configPath], stderr: .capture)
        #expect(activated.stderr!.await("Listening on"))
        // The first connection makes the activator exec tokend (same pid) with LISTEN_FDS=1.
        let client = try LineClient(path: socketPath)
        #expect(client.request("PING") == "OK PONG")
        #expect(notify.await("READY=1") != nil)
        #expect(client.request("GET demo")?.hasPrefix("OK ") == true)
        #expect(try tokenctl(["get", "demo"], socket: socketPath).0 == 0)
        kill(activated.pid, SIGTERM)
        #expect(activated.wait() == 0)
        #expect(FileManager.default.fileExists(atPath: socketPath), "tokend removed a socket it did not create")
        try await idp.shutdown()
    }

    /// Clients that connected and sent their request before
    /// tokend was exec'd (the activator holds the socket) are served like any
    /// other, never told that a configured profile does not exist. Repeated,
    /// since the race it guards against is a matter of timing.
    @Test func clientsQueuedBeforeTheExecAreServed() async throws {
        let activator = "/usr/bin/systemd-socket-activate"
        try #require(FileManager.default.isExecutableFile(atPath: activator), "install the Debian package systemd")
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let sanitizerOptions = ["ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"].flatMap { name in
            ProcessInfo.processInfo.environment[name].map { ["-E", "\(name)=\($0)"] } ?? []
        }
        for round in 0..<12 {
            let socketPath = dir + "/activated-\(round).sock", configPath = dir + "/tokend-\(round).toml"
            try ("socket = \"\(socketPath)\"\nstate_dir = \"\"\n" + profileConfig("demo", url: idp.tokenURL) + profileConfig("other", url: idp.tokenURL))
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            chmod(configPath, 0o600)
            let activated = try ChildProcess(activator, ["-l", socketPath] + sanitizerOptions
                                               + [productsDirectory + "/tokend", "--config", configPath], stderr: .capture)
            #expect(activated.stderr!.await("Listening on"))
            let clients = try (0..<4).map { _ in try LineClient(path: socketPath) }
            for (i, client) in clients.enumerated() { client.send(i % 2 == 0 ? "GET demo\n" : "HEADER other\nLIST\n") }
            for (i, client) in clients.enumerated() {
                let answer = client.readLine()
                #expect(answer?.hasPrefix(i % 2 == 0 ? "OK " : "OK Authorization: Bearer ") == true, "round \(round): \(answer ?? "no answer")")
                if i % 2 == 1 { #expect(client.readLine() == "OK demo other", "round \(round)") }
            }
            kill(activated.pid, SIGTERM)
            #expect(activated.wait() == 0)
        }
        try await idp.shutdown()
    }

    /// SIGTERM while clients pipeline and while some wait on a slow IdP:
    /// what was read is answered, then the connections close, exit 0, socket removed.
    @Test func gracefulStopUnderLoad() async throws {
        let idp = try await TestIdP.start()
        let slowIdP = try await TestIdP.start()
        slowIdP.enqueue(.delay(seconds: 1.5))
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL) + profileConfig("slow", url: slowIdP.tokenURL))
        #expect(daemon.waitReady())
        let probe = try LineClient(path: daemon.socket)
        #expect(probe.request("GET demo")?.hasPrefix("OK ") == true)
        let waiting = try (0..<4).map { _ in try LineClient(path: daemon.socket) }
        for client in waiting {
            client.send("PING\nGET slow\n")
            #expect(client.readLine() == "OK PONG")
        }

        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var answers = 0, bad: [String] = [], closed = 0
            /// Signalled once 2,000 answers have arrived: the load is under way.
            let underWay = DispatchSemaphore(value: 0)
        }
        let tally = Tally()
        let loaders = 8
        let finished = DispatchGroup()
        for _ in 0..<loaders {
            let client = try LineClient(path: daemon.socket)
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                let batch = String(repeating: "GET demo\n", count: 16)
                while true {
                    client.send(batch)
                    for _ in 0..<16 {
                        guard let line = client.readLine(timeout: 10) else {
                            tally.lock.withLock { tally.closed += 1 }
                            return
                        }
                        let parts = line.split(separator: " ")
                        tally.lock.withLock {
                            if parts.count == 3, parts[0] == "OK", Int(parts[2]) ?? 0 > 3000 { tally.answers += 1 } else { tally.bad.append(line) }
                            if tally.answers == 2000 { tally.underWay.signal() }
                        }
                    }
                }
            }
        }
        // Signal once the load is well under way.
        #expect(tally.underWay.wait(timeout: .now() + 30) == .success)
        let signalled = Date()
        daemon.signal(SIGTERM)
        for client in waiting {
            #expect(client.readLine(timeout: 6)?.hasPrefix("OK ") == true, "a waiting request was dropped")
            #expect(client.isClosed())
        }
        #expect(finished.wait(timeout: .now() + 8) == .success)
        #expect(daemon.stop() == 0)
        #expect(Date().timeIntervalSince(signalled) < 6.5)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        tally.lock.withLock {
            #expect(tally.bad.isEmpty, "bad answers: \(tally.bad.prefix(3))")
            #expect(tally.closed == loaders)
        }
        try await idp.shutdown()
        try await slowIdP.shutdown()
    }

    /// Under journald (JOURNAL_STREAM set) every line starts with its `<N>` priority.
    @Test func journalPriorityPrefixes() async throws {
        let idp = try await TestIdP.start()
        let config = profileConfig("demo", url: idp.tokenURL) + profileConfig("refused", url: idp.tokenURL, secret: "wrong", extra: "retry_min = \"60s\"")
        let journal = try DaemonProcess(config: config, extraEnvironment: ["JOURNAL_STREAM": "8:12345"])
        #expect(journal.waitReady())
        #expect(try LineClient(path: journal.socket).request("GET refused")?.hasPrefix("ERR unavailable") == true)
        #expect(journal.stop() == 0)
        let lines = journal.log.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(line.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil, "no priority prefix: \(line)")
        }
        #expect(lines.contains { $0.hasPrefix("<5>") && $0.contains("serving") })  // notice
        #expect(lines.contains { $0.hasPrefix("<3>") || $0.hasPrefix("<4>") })  // the refused client's error or warning
        let plain = try DaemonProcess(config: config)
        #expect(plain.waitReady())
        #expect(plain.stop() == 0)
        #expect(!plain.log.split(separator: "\n").contains { $0.hasPrefix("<") })
        try await idp.shutdown()
    }
}
