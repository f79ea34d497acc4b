import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// A reload while clients wait.
@Suite(.serialized) struct ReloadAccessTests {
    /// A peer removed from a profile's allow list by a reload is not handed
    /// the token it was waiting for.
    @Test(.enabled(if: runningAsRoot, "a client of another user needs root"))
    func aPeerRemovedByAReloadIsDeniedTheTokenItWaitedFor() async throws {
        let idp = try await TestIdP.start()
        // Long enough for the reload to land first even on a loaded machine;
        // the reload abandons the request, so the test does not wait for it.
        idp.enqueue(.delay(seconds: 8))
        func profile(_ uids: String) -> String {
            "socket_mode = \"0666\"\n" + profileConfig("slow", url: idp.tokenURL, extra: "allow_uids = [\(uids)]\nprefetch = false")
        }
        let daemon = try DaemonProcess(config: profile("65534"), directory: sharedTemporaryDirectory())
        #expect(daemon.waitReady())
        let socket = daemon.socket
        let waiting = Task.detached {
            try runAsNobody(productsDirectory + "/tokenctl", ["--socket", socket, "get", "slow"])
        }
        #expect(await idp.waitForRequests(1, timeout: 10))
        try ("socket = \"\(daemon.socket)\"\n" + profile("4242")).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let (status, output, errors) = try await waiting.value
        #expect(status == 77 && output.isEmpty, "the removed peer got: \(output) \(errors)")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    /// A profile changed by a reload while its request is in flight never
    /// has two requests at the IdP at once: the old one is abandoned first.
    @Test func aChangedProfileNeverHasTwoRequestsInFlight() async throws {
        let idp = try await TestIdP.start()
        idp.enqueue(.delay(seconds: 5))
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL, extra: "audience = \"one\""))
        #expect(daemon.waitReady())
        #expect(await idp.waitForRequests(1, timeout: 10))
        let client = try LineClient(path: daemon.socket)
        client.send("GET demo\n")
        try ("socket = \"\(daemon.socket)\"\n" + profileConfig("demo", url: idp.tokenURL, extra: "audience = \"two\""))
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let answer = client.readLine(timeout: 10)
        #expect(answer?.hasPrefix("OK ") == true, "\(answer ?? "no answer")")
        #expect(idp.requests.map { $0.form["audience"] } == ["one", "two"])
        #expect(idp.maxConcurrentRequests == 1, "two requests were in flight at once")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
