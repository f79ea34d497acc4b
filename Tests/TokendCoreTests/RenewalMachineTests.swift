import Testing
@testable import TokendCore
import TokendPlatform

/// Drives a `RenewalMachine` with an injected clock: no real waiting.
struct MachineDriver {
    var machine: RenewalMachine
    var now = Instant(nanoseconds: 1_000_000_000_000)
    var fetchesStarted = 0
    var answers: [WaiterID: WaiterAnswer] = [:]
    var wake: Instant?
    var published: HeldToken?

    init(policy: RenewalPolicy = RenewalPolicy(), unit: Double = 0.5) {
        machine = RenewalMachine(policy: policy, uniform: { unit })
    }

    mutating func apply(_ actions: [RenewalAction]) {
        for action in actions {
            switch action {
            case .startFetch: fetchesStarted += 1
            case .answer(let id, let answer): answers[id] = answer
            case .scheduleWake(let at): wake = at
            case .publish(let held): published = held
            default: break
            }
        }
    }

    mutating func advance(to instant: Instant) {
        now = instant
        apply(machine.wake(now: now))
    }

    mutating func succeed(lifetime: Int64, sentAt: Instant? = nil, refreshIn: TimeSpan? = nil) {
        apply(machine.fetchFinished(.success(IssuedToken(accessToken: "t\(fetchesStarted)", lifetime: .seconds(lifetime), refreshIn: refreshIn)),
                                    sentAt: sentAt ?? now, now: now))
    }

    mutating func fail(_ message: String = "HTTP 503", retryAfter: TimeSpan? = nil) {
        apply(machine.fetchFinished(.failure(FetchFailure(message, retryAfter: retryAfter)), sentAt: now, now: now))
    }
}

@Suite struct RenewalMachineTests {
    @Test func renewsAtRenewAtOfTheLifetimeCountedFromSending() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        #expect(d.fetchesStarted == 1)
        let sent = d.now
        d.now = sent + .seconds(2 as Int64)  // the answer took 2 s
        d.succeed(lifetime: 3600, sentAt: sent)
        #expect(d.published?.expiresAt == sent + .seconds(3600 as Int64))
        #expect(d.wake == sent + .seconds(2700 as Int64))
        d.advance(to: sent + .seconds(2699 as Int64))
        #expect(d.fetchesStarted == 1)
        d.advance(to: sent + .seconds(2700 as Int64))
        #expect(d.fetchesStarted == 2)
    }

    @Test(arguments: [0.0, 0.25, 0.5, 0.999])
    func renewalMomentsStayInsideTheJitterWindow(unit: Double) throws {
        let policy = RenewalPolicy(renewAt: 0.75, jitter: 0.05)
        let token = IssuedToken(accessToken: "t", lifetime: .seconds(1000 as Int64))
        let start = Instant(nanoseconds: 0)
        let moment = policy.renewalMoment(for: token, sentAt: start, unit: unit)
        #expect(moment >= start + .seconds(700 as Int64) && moment <= start + .seconds(800 as Int64))
    }

    @Test func refreshInWinsWhenEarlier() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.succeed(lifetime: 86_400, refreshIn: .seconds(43_200 as Int64))
        #expect(d.wake == d.now + .seconds(43_200 as Int64))
    }

    @Test func backoffGrowsWithFullJitterAndIsCapped() throws {
        let policy = RenewalPolicy(retryMin: .seconds(1 as Int64), retryMax: .seconds(60 as Int64))
        #expect(policy.backoff(attempt: 1, unit: 0.99) == .seconds(1 as Int64))
        #expect(policy.backoff(attempt: 2, unit: 0) == .seconds(1 as Int64))
        #expect(policy.backoff(attempt: 2, unit: 1) == .seconds(2 as Int64))
        #expect(policy.backoff(attempt: 5, unit: 1) == .seconds(16 as Int64))
        #expect(policy.backoff(attempt: 10, unit: 1) == .seconds(60 as Int64))
        #expect(policy.backoff(attempt: 1000, unit: 1) == .seconds(60 as Int64))
        for attempt in 1...20 {
            let wait = policy.backoff(attempt: attempt, unit: 0.5)
            #expect(wait >= .seconds(1 as Int64) && wait <= .seconds(60 as Int64))
        }
    }

    @Test func retryAfterIsHonouredUpToTenMinutes() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.fail(retryAfter: .seconds(30 as Int64))
        #expect(d.wake == d.now + .seconds(30 as Int64))
        d.advance(to: d.now + .seconds(30 as Int64))
        #expect(d.fetchesStarted == 2)
        d.fail(retryAfter: .seconds(3600 as Int64))
        #expect(d.wake == d.now + .seconds(600 as Int64))
    }

    @Test func singleFlightUnderAThousandWaiters() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: false))
        #expect(d.fetchesStarted == 0)
        for i in 0..<1000 { d.apply(d.machine.demand(WaiterID(UInt64(i)), .token(minTTL: nil), now: d.now)) }
        #expect(d.fetchesStarted == 1)
        #expect(d.answers.isEmpty)
        d.succeed(lifetime: 60)
        #expect(d.answers.count == 1000)
        #expect(d.answers.values.allSatisfy { if case .token(let h) = $0 { h.token.accessToken == "t1" } else { false } })
    }

    @Test func waitersGiveUpAfterTheTimeoutAndFailuresAnswerThemAtOnce() throws {
        var d = MachineDriver(policy: RenewalPolicy(waitLimit: .seconds(10 as Int64)))
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.apply(d.machine.demand(WaiterID(1), .token(minTTL: nil), now: d.now))
        d.fail("invalid_client: Client authentication failed")
        #expect(d.answers[WaiterID(1)] == .unavailable("invalid_client: Client authentication failed"))
        // During back-off a new waiter waits for the next attempt, not sooner.
        d.apply(d.machine.demand(WaiterID(2), .token(minTTL: nil), now: d.now))
        #expect(d.fetchesStarted == 1)
        d.advance(to: d.now + .seconds(1 as Int64))
        #expect(d.fetchesStarted == 2)
        d.advance(to: d.now + .seconds(9 as Int64))
        if case .unavailable(let message) = d.answers[WaiterID(2)] { #expect(message.contains("invalid_client")) }
        else { Issue.record("waiter 2 not answered with unavailable") }
    }

    @Test func aClientIsToldAtOnceWhenNoAttemptIsDueBeforeItsTimeout() throws {
        var d = MachineDriver(policy: RenewalPolicy(retryMin: .seconds(60 as Int64), retryMax: .seconds(60 as Int64), waitLimit: .seconds(10 as Int64)))
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.fail("invalid_client: Client authentication failed")
        // The retry is at least 30 s away (full jitter over 60 s, unit 0.5): no waiting.
        d.apply(d.machine.demand(WaiterID(1), .token(minTTL: nil), now: d.now))
        guard case .unavailable(let message) = d.answers[WaiterID(1)] else { Issue.record("not answered at once"); return }
        #expect(message.hasPrefix("no valid token; last error: invalid_client: Client authentication failed; next attempt in "))
        #expect(d.machine.waiterCount == 0 && d.fetchesStarted == 1)
    }

    @Test func aTokenIsNeverServedAtOrAfterItsExpiryAndOutagesAreRiddenOut() throws {
        var d = MachineDriver(policy: RenewalPolicy(retryMin: .seconds(1 as Int64), retryMax: .seconds(4 as Int64)))
        d.apply(d.machine.start(now: d.now, prefetch: true))
        let start = d.now
        d.succeed(lifetime: 100)
        var t = start
        while t < start + .seconds(99 as Int64) {
            t = t + .milliseconds(500)
            d.now = t
            d.apply(d.machine.wake(now: t))
            if d.machine.fetchInFlight { d.fail() }
            if let held = d.published { #expect(held.isServable(at: t)) }
        }
        #expect(d.published == nil || d.published!.isServable(at: d.now))
        d.advance(to: start + .seconds(100 as Int64))
        #expect(d.published == nil)
        #expect(d.machine.status(now: d.now) == .expired)
        // Recovery.
        if !d.machine.fetchInFlight { d.advance(to: d.now + .seconds(4 as Int64)) }
        d.succeed(lifetime: 100)
        #expect(d.machine.status(now: d.now) == .fresh)
        #expect(d.machine.lastError == nil)
    }

    @Test func minTTLRenewsFirstButAYoungTokenIsReused() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.succeed(lifetime: 60)
        d.apply(d.machine.demand(WaiterID(1), .token(minTTL: .seconds(30 as Int64)), now: d.now))
        #expect(d.answers[WaiterID(1)] != nil && d.fetchesStarted == 1)
        // Young token with too little left: reused rather than asking again.
        d.apply(d.machine.demand(WaiterID(2), .token(minTTL: .seconds(120 as Int64)), now: d.now + .seconds(1 as Int64)))
        #expect(d.answers[WaiterID(2)] != nil && d.fetchesStarted == 1)
        d.now = d.now + .seconds(10 as Int64)
        d.apply(d.machine.demand(WaiterID(3), .token(minTTL: .seconds(55 as Int64)), now: d.now))
        #expect(d.answers[WaiterID(3)] == nil && d.fetchesStarted == 2)
        d.succeed(lifetime: 60)
        if case .token(let held) = d.answers[WaiterID(3)] { #expect(held.token.accessToken == "t2") }
        else { Issue.record("waiter 3 not answered") }
    }

    /// The 5-second reuse is REFRESH's; a young token with
    /// less than MIN_TTL left is renewed unless the IdP's lifetime is itself shorter.
    @Test func minTTLRenewsAYoungTokenWhenTheIdPCanDoBetter() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.succeed(lifetime: 12)
        d.now = d.now + .seconds(3 as Int64)
        d.apply(d.machine.demand(WaiterID(1), .token(minTTL: .seconds(10 as Int64)), now: d.now))
        #expect(d.answers[WaiterID(1)] == nil)
        #expect(d.fetchesStarted == 2)
        d.succeed(lifetime: 12)
        guard case .token(let held) = d.answers[WaiterID(1)] else {
            Issue.record("waiter 1 not answered with a token")
            return
        }
        #expect(held.token.accessToken == "t2")
        #expect(held.remaining(at: d.now) >= .seconds(10 as Int64))
    }

    /// `refresh_in` of 0 must not renew in a loop.
    @Test(arguments: [0.0, 0.001, 1.0])
    func refreshInNeverRenewsBeforeRetryMinNorTenPercent(refreshIn: Double) throws {
        let policy = RenewalPolicy(renewAt: 0.75, jitter: 0, retryMin: .seconds(2 as Int64))
        let sent = Instant(nanoseconds: 5_000_000_000)
        let long = IssuedToken(accessToken: "a", lifetime: .seconds(3600 as Int64), refreshIn: .seconds(refreshIn))
        #expect(policy.renewalMoment(for: long, sentAt: sent, unit: 0.5) == sent + .seconds(360 as Int64))
        let short = IssuedToken(accessToken: "a", lifetime: .seconds(10 as Int64), refreshIn: .seconds(refreshIn))
        #expect(policy.renewalMoment(for: short, sentAt: sent, unit: 0.5) == sent + .seconds(2 as Int64))
        let later = IssuedToken(accessToken: "a", lifetime: .seconds(3600 as Int64), refreshIn: .seconds(1800 as Int64))
        #expect(policy.renewalMoment(for: later, sentAt: sent, unit: 0.5) == sent + .seconds(1800 as Int64))
    }

    @Test func refreshSharesOneRequestAndReusesAYoungToken() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        d.succeed(lifetime: 3600)
        d.apply(d.machine.demand(WaiterID(1), .refresh, now: d.now + .seconds(4 as Int64)))
        #expect(d.answers[WaiterID(1)] != nil && d.fetchesStarted == 1)
        d.now = d.now + .seconds(6 as Int64)
        for i in 2...50 { d.apply(d.machine.demand(WaiterID(UInt64(i)), .refresh, now: d.now)) }
        #expect(d.fetchesStarted == 2)
        d.succeed(lifetime: 3600)
        #expect((2...50).allSatisfy { d.answers[WaiterID(UInt64($0))] != nil })
    }

    @Test func repeatedIdenticalFailuresAreLoggedOnceThenRecoveryIsLogged() throws {
        var machine = RenewalMachine(policy: RenewalPolicy(), uniform: { 0 })
        var now = Instant(nanoseconds: 0)
        _ = machine.start(now: now, prefetch: true)
        var loud = 0, quiet = 0, recovered = 0
        for _ in 0..<5 {
            for action in machine.fetchFinished(.failure(FetchFailure("HTTP 503")), sentAt: now, now: now) {
                if case .logFailure(_, _, _, let repeated) = action { repeated ? (quiet += 1) : (loud += 1) }
            }
            now = now + .seconds(61 as Int64)
            _ = machine.wake(now: now)
        }
        for action in machine.fetchFinished(.success(IssuedToken(accessToken: "x", lifetime: .seconds(60 as Int64))), sentAt: now, now: now) {
            if case .logRecovered(let n) = action { recovered = n }
        }
        #expect(loud == 1 && quiet == 4 && recovered == 5)
    }

    @Test func aTokenThatArrivesExpiredIsAFailure() throws {
        var d = MachineDriver()
        d.apply(d.machine.start(now: d.now, prefetch: true))
        let sent = d.now
        d.now = sent + .seconds(3 as Int64)
        d.succeed(lifetime: 2, sentAt: sent)
        #expect(d.published == nil && d.machine.failures == 1)
    }

    /// A renewal always starts while the token is still servable, with room
    /// for the request: a 2 s token with renew_at = 0.5 and jitter was renewed
    /// up to 0.1 s after its last servable instant (answers carry at least one
    /// whole second), so it was "expired" for a moment and its files went.
    @Test func renewalStartsWithinTheServableLifetime() {
        let sentAt = Instant(nanoseconds: 1_000_000_000)
        for (lifetime, renewAt, jitter) in [(2.0, 0.5, 0.05), (2.0, 0.9, 0.1), (1.5, 0.75, 0.05), (10.0, 0.95, 0.1), (3600.0, 0.75, 0.05)] {
            let policy = RenewalPolicy(renewAt: renewAt, jitter: jitter)
            let token = IssuedToken(accessToken: "t", tokenType: "Bearer", lifetime: TimeSpan.seconds(lifetime))
            let held = HeldToken(token: token, obtainedAt: sentAt, renewAt: sentAt)
            for unit in [0.0, 0.5, 0.9999] {
                let moment = policy.renewalMoment(for: token, sentAt: sentAt, unit: unit)
                #expect(moment < held.servableUntil, "lifetime \(lifetime) renew_at \(renewAt) unit \(unit)")
                #expect(moment >= sentAt)
            }
        }
        // Long lifetimes keep SPEC §4's moment exactly: L × renew_at.
        let hour = IssuedToken(accessToken: "t", tokenType: "Bearer", lifetime: .seconds(3600 as Int64))
        #expect(RenewalPolicy().renewalMoment(for: hour, sentAt: sentAt, unit: 0.5) == sentAt + .seconds(2700 as Int64))
    }

    /// At exactly its last servable instant a token is still served; the
    /// machine wakes at the next instant, when it is not (waking at the last
    /// servable instant itself only woke it again, at once).
    @Test func theExpiryWakeIsTheFirstInstantNoLongerServable() throws {
        var driver = MachineDriver(policy: RenewalPolicy(renewAt: 0.5, jitter: 0, retryMin: .seconds(5 as Int64), retryMax: .seconds(5 as Int64)))
        driver.apply(driver.machine.start(now: driver.now, prefetch: true))
        driver.succeed(lifetime: 60)
        let held = try #require(driver.published)
        // Renewals fail until the end.
        while driver.now < held.servableUntil {
            let wake = try #require(driver.wake)
            driver.advance(to: Swift.min(wake, held.servableUntil))
            if driver.machine.fetchInFlight { driver.fail() }
        }
        #expect(driver.now == held.servableUntil && driver.published == held)
        #expect(driver.wake == held.servableUntil + TimeSpan(nanoseconds: 1))
        driver.advance(to: held.servableUntil + TimeSpan(nanoseconds: 1))
        #expect(driver.published == nil)
    }
}
