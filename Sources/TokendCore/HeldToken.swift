import TokendPlatform

/// A token the daemon holds, placed on its clock (SPEC §4).
public struct HeldToken: Equatable, Sendable {
    public var token: IssuedToken
    /// When the request that obtained it was sent: lifetimes count from here.
    public var obtainedAt: Instant
    public var expiresAt: Instant
    /// When its renewal is due (lifetime × renew_at ± jitter, or `refresh_in`).
    public var renewAt: Instant

    public init(token: IssuedToken, obtainedAt: Instant, renewAt: Instant) {
        self.token = token
        self.obtainedAt = obtainedAt
        self.expiresAt = obtainedAt + token.lifetime
        self.renewAt = renewAt
    }

    /// The shortest remaining lifetime with which a token is handed out:
    /// answers carry whole seconds left, at least 1 (SPEC §5), so a token in
    /// its last second is treated as expired rather than reported as "0".
    public static let minimumServableLifetime = TimeSpan.seconds(1 as Int64)

    public func remaining(at now: Instant) -> TimeSpan { expiresAt - now }

    /// Whether it may be served now with at least `minimum` left.
    public func isServable(at now: Instant, minimum: TimeSpan = HeldToken.minimumServableLifetime) -> Bool {
        remaining(at: now) >= Swift.max(minimum, HeldToken.minimumServableLifetime)
    }

    /// The last instant at which it is servable (with one whole second left).
    public var servableUntil: Instant { expiresAt - HeldToken.minimumServableLifetime }
}
