import TokendPlatform

/// A token as the IdP issued it, after parsing (SPEC §3).
public struct IssuedToken: Equatable, Sendable {
    public var accessToken: String
    /// Normalised: `Bearer`, `DPoP`, or the IdP's word for other types.
    public var tokenType: String
    public var lifetime: TimeSpan
    /// Entra ID's `refresh_in`: when present, renewal starts no later than this after the request was sent.
    public var refreshIn: TimeSpan?

    public init(accessToken: String, tokenType: String = "Bearer", lifetime: TimeSpan, refreshIn: TimeSpan? = nil) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.lifetime = lifetime
        self.refreshIn = refreshIn
    }
}

/// Why a token request failed, in words fit for a log line and an `ERR`
/// answer, plus how long the IdP asked us to wait.
public struct FetchFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var retryAfter: TimeSpan?

    public init(_ message: String, retryAfter: TimeSpan? = nil) {
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}

/// The longest wait a `Retry-After` header can impose (SPEC §3).
public let maximumRetryAfter = TimeSpan.seconds(600 as Int64)
/// The largest response body tokend reads (SPEC §3).
public let maximumResponseBytes = 1 << 20

/// The longest lifetime tokend believes: an IdP announcing more (or a JWT
/// `exp` decades away) gets its token renewed as if it lived a year.
public let maximumTokenLifetime = TimeSpan.seconds(366 * 86_400 as Int64)
