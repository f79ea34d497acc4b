import TokendPlatform

/// The numbers that drive one profile's renewal (SPEC §2 and §4).
public struct RenewalPolicy: Equatable, Sendable {
    public var renewAt: Double
    public var jitter: Double
    public var retryMin: TimeSpan
    public var retryMax: TimeSpan
    /// How long a client waits for a token that is not there yet (the profile's `timeout`).
    public var waitLimit: TimeSpan

    /// A `REFRESH` finding a token younger than this reuses it; so does a `GET`
    /// with MIN_TTL, when the IdP's lifetime is itself below MIN_TTL.
    public static let reuseWindow = TimeSpan.seconds(5 as Int64)
    /// The earliest point of a token's life at which `refresh_in` may start its renewal.
    public static let earliestRefreshFraction = 0.1

    public init(renewAt: Double = 0.75, jitter: Double = 0.05, retryMin: TimeSpan = .seconds(1 as Int64),
                retryMax: TimeSpan = .seconds(60 as Int64), waitLimit: TimeSpan = .seconds(10 as Int64)) {
        self.renewAt = renewAt
        self.jitter = jitter
        self.retryMin = retryMin
        self.retryMax = retryMax
        self.waitLimit = waitLimit
    }

    public init(_ profile: ProfileConfiguration) {
        self.init(renewAt: profile.renewAt, jitter: profile.jitter, retryMin: profile.retryMin,
                  retryMax: profile.retryMax, waitLimit: profile.timeout)
    }

    /// When a token obtained at `sentAt` should be renewed; `unit` is a uniform random number in [0, 1).
    public func renewalMoment(for token: IssuedToken, sentAt: Instant, unit: Double) -> Instant {
        let lifetime = token.lifetime
        var moment = sentAt + lifetime * renewAt + lifetime * (jitter * (unit * 2 - 1))
        if let refreshIn = token.refreshIn, sentAt + refreshIn < moment {
            // `refresh_in` may bring renewal forward, but never before
            // `retry_min` nor before 10 % of the lifetime (SPEC §3): an IdP
            // saying 0 must not make tokend ask again in a loop.
            moment = Swift.max(sentAt + refreshIn, sentAt + retryMin, sentAt + lifetime * RenewalPolicy.earliestRefreshFraction)
        }
        return Swift.min(Swift.max(moment, sentAt), latestRenewal(for: token, sentAt: sentAt))
    }

    /// The latest moment a renewal may start: before the token stops being
    /// servable (its last second is never served), with up to a second of
    /// room for the request itself. Only short lifetimes ever reach it: a
    /// 2 s token with `renew_at = 0.5` and jitter would otherwise be renewed
    /// after it stopped being servable, leaving clients and token files a
    /// gap with no token.
    func latestRenewal(for token: IssuedToken, sentAt: Instant) -> Instant {
        let servable = token.lifetime - HeldToken.minimumServableLifetime
        guard servable > .zero else { return sentAt }
        return sentAt + servable - Swift.min(HeldToken.minimumServableLifetime, servable * 0.5)
    }

    /// The wait before retry number `attempt` (1 for the first retry):
    /// exponential back-off with full jitter between `retryMin` and the
    /// doubled bound, never above `retryMax`.
    public func backoff(attempt: Int, unit: Double) -> TimeSpan {
        var ceiling = retryMin
        var step = 1
        while step < attempt, ceiling < retryMax {
            ceiling = ceiling + ceiling
            step += 1
        }
        if ceiling > retryMax { ceiling = retryMax }
        return retryMin + (ceiling - retryMin) * unit
    }
}
