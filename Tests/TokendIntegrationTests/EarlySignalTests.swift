import Foundation
import Glibc
import TestIdP
import Testing
import TokendTesting

/// SPEC §6: no signal that systemd or an operator sends kills tokend without
/// its orderly stop, from its first instruction; a SIGHUP before the
/// configuration is loaded is taken as a reload once it is.
@Suite(.serialized) struct EarlySignalTests {
    /// A configuration whose load takes `delay` ms: its user name is looked
    /// up through NSS, which tests/support/preload.c slows down.
    func slowDaemon(_ idp: TestIdP, delay: Int = 3000) throws -> DaemonProcess {
        try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, extra: "allow_users = [\"root\"]"),
                          extraEnvironment: preloadEnvironment(["TOKEND_TEST_NSS_DELAY_MS": String(delay)]))
    }

    /// Waits until the process has a handler for `signal` (SigCgt in
    /// /proc/PID/status): the earliest moment tokend can take it. Before
    /// that, the process is still in the dynamic loader. The timeout is well
    /// under the load's 3 s: handlers installed only after the load (as they
    /// once were) fail the test.
    func waitForHandler(_ pid: pid_t, _ signal: Int32, timeout: Double = 1.5) -> Bool {
        let deadline = Clocks.deadline(in: timeout)
        while Clocks.monotonic() < deadline {
            if let status = TestFiles.read("/proc/\(pid)/status"),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
               let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16),
               mask & (1 << UInt64(signal - 1)) != 0 {
                return true
            }
            Clocks.sleep(seconds: 0.001)
        }
        return false
    }

    @Test func aSIGHUPDuringTheFirstLoadIsAReloadOnceLoaded() async throws {
        let idp = try await TestIdP.start()
        let daemon = try slowDaemon(idp)
        #expect(waitForHandler(daemon.pid, SIGHUP))
        daemon.signal(SIGHUP)
        // Still loading (the user lookup takes 3 s): it must survive and then reload.
        #expect(daemon.waitReady(), "\(daemon.log)")
        #expect(daemon.notify.await("RELOADING=1") != nil, "no reload after the first load: \(daemon.log)")
        #expect(daemon.waitReady())
        #expect(daemon.isRunning)
        #expect(try LineClient(path: daemon.socket).request("PING") == "OK PONG")
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("configuration reloaded"), "\(daemon.log)")
        try await idp.shutdown()
    }

    @Test func aSIGTERMDuringTheFirstLoadIsAnOrderlyStop() async throws {
        let idp = try await TestIdP.start()
        let daemon = try slowDaemon(idp)
        #expect(waitForHandler(daemon.pid, SIGTERM))
        daemon.signal(SIGTERM)
        #expect(daemon.wait() == 0, "\(daemon.log)")
        #expect(daemon.log.contains("stopping"), "\(daemon.log)")
        // The socket file it created is gone.
        #expect(access(daemon.socket, F_OK) != 0)
        try await idp.shutdown()
    }

    @Test func checkKeepsTheUsualMeaningOfSignals() throws {
        let dir = temporaryDirectory()
        let file = dir + "/t.toml"
        try TestFiles.write(file, profileConfig("api", url: "https://idp.example.com/t", extra: "allow_users = [\"root\"]"), mode: 0o600)
        let check = try ChildProcess(productsDirectory + "/tokend", ["--check", "--config", file],
                                     environment: preloadEnvironment(["TOKEND_TEST_NSS_DELAY_MS": "3000"]),
                                     stdout: .capture, stderr: .capture)
        // Whenever it comes (before the handlers, while they are in, or after
        // --check gave the default back), SIGTERM ends --check as usual.
        check.signal(SIGTERM)
        #expect(check.wait() == 128 + SIGTERM)
    }
}
