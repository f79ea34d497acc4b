import TokendCore
import TokendEngine
import TokendPlatform
import TokendTesting
import Testing

/// SPEC §4 through the engine itself (runner, timers, slot, waiters), in
/// process: a manual clock and a scripted IdP, so an hour of renewals takes
/// milliseconds and nothing is slept for.
@Suite(.timeLimit(.minutes(1))) struct RenewalInProcessTests {
    @Test func aTokenIsRenewedAtItsMomentAndServedWithoutAGap() async throws {
        let harness = EngineHarness()
        harness.idp.enqueue(.token(lifetime: 100), .token(lifetime: 100), for: "api")
        try await harness.apply([EngineHarness.profile("api") { $0.renewAt = 0.5; $0.jitter = 0 }])
        // The first token came at start (prefetch).
        #expect(harness.idp.requests == ["api"])
        let first = try #require(harness.served("api"))
        await harness.advance(by: .seconds(49 as Int64))
        #expect(harness.idp.requests.count == 1, "renewed before its moment")
        #expect(harness.served("api") === first)
        await harness.advance(by: .seconds(2 as Int64))
        #expect(harness.idp.requests.count == 2, "not renewed at renew_at")
        let second = try #require(harness.served("api"))
        #expect(second !== first && second.held.obtainedAt > first.held.obtainedAt)
        try await harness.shutdown()
    }

    @Test func anOutageIsRiddenOutOnTheValidTokenThenAnswersUnavailable() async throws {
        let harness = EngineHarness()
        harness.idp.enqueue(.token(lifetime: 60), for: "api")
        let down = FetchFailure("HTTP 503", kind: .httpError, code: "503")
        for _ in 0..<20 { harness.idp.enqueue(.failure(down), for: "api") }
        try await harness.apply([EngineHarness.profile("api") {
            $0.renewAt = 0.5; $0.jitter = 0; $0.retryMin = .seconds(5 as Int64); $0.retryMax = .seconds(5 as Int64)
        }])
        let token = try #require(harness.served("api"))
        // Renewal at 30 s fails; retries every 5 s; the token is served until it expires.
        await harness.advance(by: .seconds(45 as Int64))
        #expect(harness.idp.requests.count >= 3)
        #expect(harness.served("api") === token)
        guard case .token(let served) = try await harness.demand(.token(minTTL: nil), "api") else {
            Issue.record("no token while the old one was still valid")
            return
        }
        #expect(served.held == token.held)
        let status = try #require(try await harness.status("api"))
        #expect(status.lastReason == "http 503" && status.failures >= 2)
        // Past its expiry: no token, and a client is told why (at the next
        // failed attempt, within its timeout).
        await harness.advance(by: .seconds(20 as Int64))
        #expect(harness.served("api") == nil)
        let pending = harness.engine.demand(.token(minTTL: nil), profile: "api")
        await harness.advance(by: .seconds(10 as Int64))
        guard case .unavailable(let why) = try await harness.outcome(of: pending) else {
            Issue.record("an expired token was served")
            return
        }
        #expect(why.contains("HTTP 503"))
        try await harness.shutdown()
    }

    @Test func concurrentDemandsShareOneRequest() async throws {
        let harness = EngineHarness()
        harness.idp.enqueue(.stall, for: "lazy")
        try await harness.apply([EngineHarness.profile("lazy") { $0.prefetch = false }])
        let waiting = (0..<100).map { _ in harness.engine.demand(.token(minTTL: nil), profile: "lazy") }
        await harness.settle()
        #expect(harness.idp.requests == ["lazy"], "one request, whatever the number of clients")
        harness.idp.release()
        await harness.settle()
        var tokens = Set<String>()
        for future in waiting {
            guard case .token(let served) = try await harness.outcome(of: future) else { Issue.record("a waiter got no token"); continue }
            tokens.insert(served.held.token.accessToken)
        }
        #expect(tokens.count == 1)
        #expect(harness.idp.requests.count == 1)
        try await harness.shutdown()
    }

    /// SPEC §6: a reload keeps unchanged profiles' tokens, starts new ones,
    /// drops removed ones; a changed profile whose request is in flight gets
    /// a request of its own once the old one is abandoned, and no failure.
    @Test func aReloadKeepsAddsDropsAndRestartsProfiles() async throws {
        let harness = EngineHarness()
        harness.idp.enqueue(.stall, for: "changed")
        try await harness.apply([EngineHarness.profile("kept"), EngineHarness.profile("changed"), EngineHarness.profile("dropped")])
        let kept = try #require(harness.served("kept"))
        #expect(harness.served("changed") == nil, "its request is stalled")
        let summary = try await harness.apply([
            EngineHarness.profile("kept"), EngineHarness.profile("changed") { $0.audience = "https://api.example.com/" },
            EngineHarness.profile("added"),
        ])
        #expect(summary.unchanged == ["kept"] && summary.changed == ["changed"] && summary.added == ["added"] && summary.removed == ["dropped"])
        #expect(harness.served("kept") === kept, "an unchanged profile keeps its token")
        #expect(harness.served("dropped") == nil)
        #expect(harness.served("added") != nil && harness.served("changed") != nil)
        // The abandoned request counts as no failure.
        let status = try #require(try await harness.status("changed"))
        #expect(status.failures == 0 && status.lastError == nil, "\(status)")
        #expect(harness.idp.requests.filter { $0 == "changed" }.count == 2)
        guard case .unknownProfile = try await harness.demand(.token(minTTL: nil), "dropped") else {
            Issue.record("a removed profile still answers")
            return
        }
        try await harness.shutdown()
    }
}
