import TokendPlatform

/// The result of one token request: when it was sent (lifetimes count from
/// there) and what came of it.
public struct FetchReport: Sendable {
    public var sentAt: Instant
    public var result: Result<IssuedToken, FetchFailure>
    /// The IdP's rate-limit and quota headers (SPEC §10); nil without any,
    /// or when no answer came.
    public var limits: IdPLimits?

    public init(sentAt: Instant, result: Result<IssuedToken, FetchFailure>, limits: IdPLimits? = nil) {
        self.sentAt = sentAt
        self.result = result
        self.limits = limits
    }
}
