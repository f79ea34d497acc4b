import TokendPlatform

/// A token as the IdP issued it, after parsing (SPEC §3).
public struct IssuedToken: Equatable, Sendable {
    public var accessToken: String
    /// Normalised: `Bearer`, `DPoP`, or the IdP's word for other types.
    public var tokenType: String
    public var lifetime: TimeSpan
    /// Entra ID's `refresh_in`: when present, renewal starts no later than this after the request was sent.
    public var refreshIn: TimeSpan?
    /// RFC 8693's `issued_token_type`, when a token exchange answered it (SPEC §13).
    public var issuedTokenType: String?

    public init(accessToken: String, tokenType: String = "Bearer", lifetime: TimeSpan, refreshIn: TimeSpan? = nil,
                issuedTokenType: String? = nil) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.lifetime = lifetime
        self.refreshIn = refreshIn
        self.issuedTokenType = issuedTokenType
    }
}

/// Why a token request failed, in words fit for a log line and an `ERR`
/// answer, plus how long the IdP asked us to wait.
public struct FetchFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, as `tokend_token_requests_total{outcome}` counts it (SPEC §10).
    public enum Kind: String, Sendable {
        /// The IdP answered an OAuth error (`invalid_client`, ...).
        case oauthError = "oauth_error"
        /// An HTTP error status without an OAuth error body.
        case httpError = "http_error"
        /// No answer: connection, TLS, timeout (and a request that could not be made).
        case transportError = "transport_error"
        /// A 200 whose body is not a usable token response.
        case invalidResponse = "invalid_response"
    }

    public var message: String
    public var retryAfter: TimeSpan?
    public var kind: Kind
    /// The OAuth `error` code (`oauthError`) or the HTTP status (`httpError`).
    public var code: String?

    public init(_ message: String, retryAfter: TimeSpan? = nil, kind: Kind = .transportError, code: String? = nil) {
        self.message = message
        self.retryAfter = retryAfter
        self.kind = kind
        self.code = code
    }

    /// The failure in a few words that quote nothing of the IdP's but an
    /// OAuth error code (SPEC §10 `/readyz`: any local user reads it):
    /// `invalid_client`, `http 503`, `transport`, `invalid_response`.
    public var reason: String {
        switch kind {
        case .oauthError: return code.flatMap(Self.errorCode) ?? "oauth_error"
        case .httpError: return code.map { "http \($0)" } ?? "http_error"
        // A request that could not be made names why (`assertion_expired`).
        case .transportError: return code.flatMap(Self.errorCode) ?? "transport"
        case .invalidResponse: return "invalid_response"
        }
    }

    /// `text` when it reads like a `reason` (read back from a cache entry), else nil.
    static func plausibleReason(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64,
              text.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x20 }) else { return nil }
        return text
    }

    /// An OAuth error code as RFC 6749 spells them (`invalid_client`,
    /// `unauthorized_client`, extensions alike): lower-case letters, digits
    /// and `_`, at most 64; anything else is no code.
    static func errorCode(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64,
              text.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) else { return nil }
        return text
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
