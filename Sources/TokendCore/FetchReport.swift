import TokendPlatform

/// The result of one token request: when it was sent (lifetimes count from
/// there) and what came of it.
public struct FetchReport: Sendable {
    public var sentAt: Instant
    public var result: Result<IssuedToken, FetchFailure>
    /// The IdP's rate-limit and quota headers (SPEC §10); nil without any,
    /// or when no answer came.
    public var limits: IdPLimits?
    /// False when nothing was sent: an expired or unreadable federated
    /// assertion or subject token, an assertion that could not be signed. The
    /// attempt fails and backs off, but is no request to the IdP (SPEC §10
    /// counts requests).
    public var sent: Bool
    /// A token already placed on this host's clock by the fleet store (SPEC §14).
    public var placed: HeldToken?
    /// What the fleet store made of the need; nil for a profile without `fleet`.
    public var note: FleetNote?

    public init(sentAt: Instant, result: Result<IssuedToken, FetchFailure>, limits: IdPLimits? = nil, sent: Bool = true) {
        self.sentAt = sentAt
        self.result = result
        self.limits = limits
        self.sent = sent
    }
}
