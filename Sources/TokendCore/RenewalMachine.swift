import TokendPlatform

/// Identifies a client waiting for a token.
public struct WaiterID: Hashable, Sendable {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }
}

/// What a client asks of a profile that needs the renewal machinery.
public enum Demand: Equatable, Sendable {
    /// `GET`/`HEADER`: a token with at least `minTTL` left (nil: any valid token).
    case token(minTTL: TimeSpan?)
    /// `REFRESH`: a newly fetched token.
    case refresh
}

/// How a waiting client is answered.
public enum WaiterAnswer: Equatable, Sendable {
    case token(HeldToken)
    case unavailable(String)
}

/// What the machine asks its owner to do. The owner carries the actions out
/// in order and feeds the outcomes back as events.
public enum RenewalAction: Equatable, Sendable {
    /// Send one token request now and report it with `fetchFinished`.
    case startFetch
    /// Make this token (or none) what the hot path serves.
    case publish(HeldToken?)
    case answer(WaiterID, WaiterAnswer)
    /// Call `wake` at this instant (replacing any earlier request), or never.
    case scheduleWake(Instant?)
    /// A new token arrived.
    case logObtained(HeldToken)
    /// A request failed; `repeated` when the message is the one logged last time.
    case logFailure(String, consecutive: Int, retryIn: TimeSpan, repeated: Bool)
    /// The profile obtained a token again after `failures` failed requests.
    case logRecovered(failures: Int)
    /// The held token expired with no replacement.
    case logExpired
}

/// The renewal rules of SPEC §4 for one profile, as a state machine: events
/// in, actions out. It never reads a clock, sleeps or does I/O; the caller
/// passes `now` (on the `CLOCK_BOOTTIME` timeline) with every event, so a
/// test can drive an hour of renewals in microseconds.
public struct RenewalMachine {
    public let policy: RenewalPolicy
    private let uniform: () -> Double

    /// The last token obtained (kept after expiry, so that the state reads "expired").
    public private(set) var token: HeldToken?
    public private(set) var fetchInFlight = false
    /// When the next fetch starts (renewal or retry), when none is in flight.
    public private(set) var nextAttempt: Instant?
    public private(set) var consecutiveFailures = 0
    public private(set) var fetches = 0
    public private(set) var failures = 0
    public private(set) var lastError: String?
    /// `lastError` in a few words fit for anyone to read (`FetchFailure.reason`).
    public private(set) var lastReason: String?
    /// Where the token held came from: the IdP, the persistent cache (SPEC §9)
    /// or another host of the fleet (SPEC §14).
    public private(set) var tokenSource = TokenSource.idp
    public var tokenFromCache: Bool { tokenSource == .cache }

    private var waiters: [Waiter] = []
    private var published: HeldToken?
    private var lastLoggedError: String?
    private var wakeAt: Instant?
    /// A persisted back-off for a profile that fetches on demand only: its
    /// first demand waits for this (SPEC §9).
    private var notBefore: Instant?

    private struct Waiter {
        var id: WaiterID
        var deadline: Instant
    }

    /// - Parameter uniform: a source of uniform random numbers in [0, 1), for jitter.
    public init(policy: RenewalPolicy, uniform: @escaping () -> Double = { Double.random(in: 0..<1) }) {
        self.policy = policy
        self.uniform = uniform
    }

    public var waiterCount: Int { waiters.count }

    // MARK: - Events

    /// The profile starts: fetch at once with `prefetch`, else on first demand.
    /// A `restored` cache entry's token is served at once and renewed at its
    /// own renewal moment (at once when that has passed); its back-off delays
    /// the first attempt by what remained of it (SPEC §9).
    public mutating func start(now: Instant, prefetch: Bool, restored: CacheEntry.Restored? = nil) -> [RenewalAction] {
        var actions: [RenewalAction] = []
        if prefetch { nextAttempt = now }
        if let restored {
            consecutiveFailures = restored.consecutiveFailures
            lastError = restored.lastError
            lastReason = restored.lastReason ?? restored.lastError.map { _ in "failed" }
            lastLoggedError = restored.lastError
            if let held = restored.token {
                token = held
                published = held
                tokenSource = .cache
                nextAttempt = held.renewAt
                actions.append(.publish(held))
            }
            if let until = restored.backoffUntil, until > now, consecutiveFailures > 0 {
                if let due = nextAttempt { nextAttempt = Swift.max(due, until) } else { notBefore = until }
            }
        }
        reconcile(now: now, into: &actions)
        return actions
    }

    /// A client asks for a token that the hot path could not give it.
    public mutating func demand(_ id: WaiterID, _ demand: Demand, now: Instant) -> [RenewalAction] {
        var actions: [RenewalAction] = []
        if let held = token, let answer = immediateAnswer(demand, held, now: now) {
            actions.append(.answer(id, .token(answer)))
            return actions
        }
        // Client demand never makes tokend ask sooner than its back-off allows.
        if !fetchInFlight, consecutiveFailures == 0 || (nextAttempt.map { now >= $0 } ?? true) {
            nextAttempt = Swift.max(now, notBefore ?? now)
        }
        // Nothing in flight and no attempt due before the client would give
        // up: waiting cannot help, so say why now rather than after `timeout`.
        if !fetchInFlight, let due = nextAttempt, due > now + policy.waitLimit, let lastError {
            actions.append(.answer(id, .unavailable("no valid token; last error: \(lastError); next attempt in \((due - now).roundedUpToSeconds)")))
            return actions
        }
        waiters.append(Waiter(id: id, deadline: now + policy.waitLimit))
        reconcile(now: now, into: &actions)
        return actions
    }

    /// The request started by `startFetch` ended.
    /// - Parameters:
    ///   - sentAt: when the request was sent (its token's lifetime counts from here).
    ///   - placed: the token already placed on this host's clock by the fleet
    ///     (SPEC §14): its expiry and renewal moment are used as they are.
    ///   - source: `.fleet` for a token another host obtained (no request of
    ///     this host's: not counted in `fetches`).
    public mutating func fetchFinished(_ result: Result<IssuedToken, FetchFailure>, sentAt: Instant, now: Instant,
                                       placed: HeldToken? = nil, source: TokenSource = .idp) -> [RenewalAction] {
        var actions: [RenewalAction] = []
        fetchInFlight = false
        notBefore = nil
        var outcome = result
        if case .success(let issued) = result, (placed?.expiresAt ?? sentAt + issued.lifetime) - now < HeldToken.minimumServableLifetime {
            outcome = .failure(FetchFailure("the IdP issued a token that expired before it could be served (lifetime \(issued.lifetime))",
                                            kind: .invalidResponse))
        }
        switch outcome {
        case .success(let issued):
            let held = placed ?? HeldToken(token: issued, obtainedAt: sentAt,
                                           renewAt: policy.renewalMoment(for: issued, sentAt: sentAt, unit: uniform()))
            if source != .fleet { fetches += 1 }
            tokenSource = source
            if consecutiveFailures > 0 { actions.append(.logRecovered(failures: consecutiveFailures)) }
            consecutiveFailures = 0
            lastError = nil
            lastReason = nil
            lastLoggedError = nil
            token = held
            published = held
            nextAttempt = held.renewAt
            actions.append(.publish(held))
            actions.append(.logObtained(held))
            for waiter in waiters { actions.append(.answer(waiter.id, .token(held))) }
            waiters.removeAll()
        case .failure(let failure):
            failures += 1
            consecutiveFailures += 1
            lastError = failure.message
            lastReason = failure.reason
            var delay = policy.backoff(attempt: consecutiveFailures, unit: uniform())
            if let retryAfter = failure.retryAfter {
                delay = Swift.max(delay, Swift.min(retryAfter, maximumRetryAfter))
            }
            nextAttempt = now + delay
            actions.append(.logFailure(failure.message, consecutive: consecutiveFailures, retryIn: delay,
                                       repeated: failure.message == lastLoggedError))
            lastLoggedError = failure.message
            for waiter in waiters { actions.append(.answer(waiter.id, .unavailable(failure.message))) }
            waiters.removeAll()
        }
        reconcile(now: now, into: &actions)
        return actions
    }

    /// A wake-up requested by `scheduleWake` arrived (early or late is harmless).
    public mutating func wake(now: Instant) -> [RenewalAction] {
        var actions: [RenewalAction] = []
        wakeAt = nil
        reconcile(now: now, into: &actions)
        return actions
    }

    // MARK: - Rules

    private func immediateAnswer(_ demand: Demand, _ held: HeldToken, now: Instant) -> HeldToken? {
        guard held.isServable(at: now) else { return nil }
        let young = now - held.obtainedAt < RenewalPolicy.reuseWindow
        switch demand {
        case .token(let minTTL):
            if held.isServable(at: now, minimum: minTTL ?? .zero) { return held }
            // A young token is reused only when the IdP's own lifetime is
            // below MIN_TTL: a new token could not do better (SPEC §5).
            guard let minTTL, young, held.token.lifetime < minTTL else { return nil }
            return held
        case .refresh:
            return young ? held : nil
        }
    }

    private mutating func reconcile(now: Instant, into actions: inout [RenewalAction]) {
        if let held = published, !held.isServable(at: now) {
            published = nil
            actions.append(.publish(nil))
            actions.append(.logExpired)
        }
        if waiters.contains(where: { $0.deadline <= now }) {
            let message = lastError.map { "no valid token; last error: \($0)" } ?? "timed out waiting for the IdP"
            for waiter in waiters where waiter.deadline <= now {
                actions.append(.answer(waiter.id, .unavailable(message)))
            }
            waiters.removeAll { $0.deadline <= now }
        }
        if !fetchInFlight, let due = nextAttempt, now >= due {
            fetchInFlight = true
            nextAttempt = nil
            actions.append(.startFetch)
        }
        var next: Instant?
        func consider(_ instant: Instant?) {
            guard let instant else { return }
            next = next.map { Swift.min($0, instant) } ?? instant
        }
        if !fetchInFlight { consider(nextAttempt) }
        consider(waiters.map(\.deadline).min())
        // The first instant it is no longer servable (at `servableUntil` itself
        // it still is: waking there would only wake again, at once).
        consider(published.map { $0.servableUntil + TimeSpan(nanoseconds: 1) })
        if next != wakeAt {
            wakeAt = next
            actions.append(.scheduleWake(next))
        }
    }

    // MARK: - Status

    /// The profile's state as `STATUS` reports it.
    public func status(now: Instant) -> ProfileState {
        guard let held = token else { return .pending }
        guard held.isServable(at: now) else { return .expired }
        return fetchInFlight || consecutiveFailures > 0 || now >= held.renewAt ? .renewing : .fresh
    }
}

/// Where a held token came from (`STATUS` `source`, SPEC §5, §9, §14).
public enum TokenSource: String, Sendable {
    case idp, cache, fleet
}

/// The `state` field of `STATUS` (SPEC §5).
public enum ProfileState: String, Sendable {
    case pending, fresh, renewing, expired
}
