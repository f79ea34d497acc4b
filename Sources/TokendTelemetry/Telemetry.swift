import CoreMetrics
import TokendCore
import TokendPlatform
import TokendProtocol

/// The series of SPEC §10, made through swift-metrics. Without a backend
/// (no `metrics_listen`) every call is swift-metrics' no-op; with one, the
/// Prometheus backend collects them. Labels carry profile names, verbs,
/// outcomes and reasons: never a token, a secret or a client id.
public enum Telemetry {
    public static let tokenRequests = "tokend_token_requests_total"
    public static let tokenRequestDuration = "tokend_token_request_duration_seconds"
    public static let tokenRemaining = "tokend_token_remaining_seconds"
    public static let tokenValid = "tokend_token_valid"
    public static let backoff = "tokend_backoff_seconds"
    public static let requests = "tokend_requests_total"
    public static let denied = "tokend_denied_total"
    public static let connections = "tokend_connections"
    public static let connectionsRejected = "tokend_connections_rejected_total"
    public static let cacheLoads = "tokend_cache_loads_total"
    public static let rateLimitRemaining = "tokend_idp_rate_limit_remaining"
    public static let rateLimitLimit = "tokend_idp_rate_limit_limit"
    public static let buildInfo = "tokend_build_info"
    public static let fleetAdopted = "tokend_fleet_adopted_total"
    public static let fleetFetched = "tokend_fleet_fetched_total"
    public static let fleetErrors = "tokend_fleet_errors_total"
    public static let fleetLockWait = "tokend_fleet_lock_wait_seconds"

    /// The histogram buckets of the fleet's lock wait, in seconds.
    public static let lockWaitBuckets: [Double] = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// The histogram buckets of the token request duration, in seconds.
    public static let durationBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// One token request ended, with `outcome` (`success` or a failure kind).
    public static func tokenRequest(profile: String, outcome: String, duration: TimeSpan) {
        Counter(label: tokenRequests, dimensions: [("profile", profile), ("outcome", outcome)]).increment()
        Timer(label: tokenRequestDuration, dimensions: [("profile", profile)]).recordNanoseconds(max(0, duration.nanoseconds))
    }

    /// What the cache held for a starting profile: `hit`, `miss`, `expired` or `invalid`.
    public static func cacheLoad(profile: String, result: String) {
        Counter(label: cacheLoads, dimensions: [("profile", profile), ("result", result)]).increment()
    }

    /// The line-protocol connections open now. One gauge, made once: it is
    /// set at every accept and close.
    public static func connectionCount(_ count: Int) {
        connectionGauge.record(count)
    }
    private static let connectionGauge = Gauge(label: connections)

    public static func denial(profile: String) {
        Counter(label: denied, dimensions: [("profile", profile)]).increment()
    }

    /// Why tokend refused or closed a connection: the `reason` label of
    /// `tokend_connections_rejected_total` (SPEC §10).
    public enum RejectionReason: String, CaseIterable, Sendable {
        case busy
        case tooLong = "too-long"
        /// Idle for `idle_timeout`, or not reading its answers for as long.
        case idle
    }

    public static func connectionRejected(_ reason: RejectionReason) {
        Counter(label: connectionsRejected, dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// The IdP's rate limit as its last token response announced it.
    public static func rateLimit(profile: String, limit: Int?, remaining: Int?) {
        let dimensions = [("profile", profile)]
        if let limit { Gauge(label: rateLimitLimit, dimensions: dimensions).record(limit) }
        else { Gauge(label: rateLimitLimit, dimensions: dimensions).destroy() }
        if let remaining { Gauge(label: rateLimitRemaining, dimensions: dimensions).record(remaining) }
        else { Gauge(label: rateLimitRemaining, dimensions: dimensions).destroy() }
    }

    /// The per-profile gauges, set at each scrape from `STATUS`.
    public static func profileState(_ status: ProfileStatus) {
        let dimensions = [("profile", status.name)]
        Gauge(label: tokenRemaining, dimensions: dimensions).record(Double(status.expiresIn ?? 0))
        Gauge(label: tokenValid, dimensions: dimensions).record(status.expiresIn == nil ? 0 : 1)
        Gauge(label: backoff, dimensions: dimensions).record(status.backoffSeconds)
    }

    /// What the fleet store made of one need (SPEC §14).
    public static func fleet(profile: String, _ note: FleetNote) {
        if note.adopted { Counter(label: fleetAdopted, dimensions: [("profile", profile)]).increment() }
        if note.fetched { Counter(label: fleetFetched, dimensions: [("profile", profile)]).increment() }
        for kind in note.errors { Counter(label: fleetErrors, dimensions: [("kind", kind)]).increment() }
        if let wait = note.lockWait { Timer(label: fleetLockWait).recordNanoseconds(max(0, wait.nanoseconds)) }
    }

    /// A profile that is gone: its series go with it.
    public static func forget(profile: String) {
        let dimensions = [("profile", profile)]
        for name in [tokenRemaining, tokenValid, backoff, rateLimitLimit, rateLimitRemaining] {
            Gauge(label: name, dimensions: dimensions).destroy()
        }
    }

    public static func build(version: String) {
        Gauge(label: buildInfo, dimensions: [("version", version)]).record(1)
    }
}

/// `tokend_requests_total{verb,result}`, counted on the hot path without a
/// shared write per request: each connection tallies in a plain array and
/// adds its tally to these counters once per read cycle.
public final class RequestCounters: Sendable {
    private let counters: [Counter]

    public init() {
        var made: [Counter] = []
        for verb in Verb.allCases {
            for result in RequestResult.allCases {
                made.append(Counter(label: Telemetry.requests, dimensions: [("verb", verb.label), ("result", result.label)]))
            }
        }
        counters = made
    }

    public static let size = Verb.allCases.count * RequestResult.allCases.count

    @inlinable
    public static func index(verb: Verb, result: RequestResult) -> Int { verb.rawValue * RequestResult.allCases.count + result.index }

    /// Adds a connection's tally and zeroes it.
    public func add(_ tally: inout Tally) {
        for i in tally.touched {
            counters[i].increment(by: Int64(tally.counts[i]))
            tally.counts[i] = 0
        }
        tally.touched.removeAll(keepingCapacity: true)
    }

    /// One connection's counts since its last read cycle, and which are not
    /// zero (usually one: the cycle's `GET ok`s), so a flush touches only those.
    public struct Tally {
        @usableFromInline var counts = [UInt32](repeating: 0, count: RequestCounters.size)
        @usableFromInline var touched: [Int] = []

        public init() { touched.reserveCapacity(8) }

        @inlinable
        public mutating func count(_ index: Int) {
            if counts[index] == 0 { touched.append(index) }
            counts[index] &+= 1
        }
    }
}
