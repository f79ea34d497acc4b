import TokendPlatform
import TokendProtocol

/// One profile's line in a `STATUS` answer (SPEC §5).
public struct ProfileStatus: Equatable, Sendable {
    public var name: String
    public var state: ProfileState
    public var expiresIn: Int64?
    public var renewIn: Int64?
    public var fetches: Int
    public var failures: Int
    public var lastError: String?
    /// `lastError` in a few words that quote nothing of the IdP's but an OAuth error code.
    public var lastReason: String?
    /// Whether it held a token that has expired.
    public var expired = false
    /// Why token files could not be written or removed, one per failing sink.
    public var fileErrors: [String] = []
    /// Where the current token came from: "cache", "idp" or "fleet"; nil without one.
    public var source: String?
    /// SPEC §14: "pending", "ok" or "unavailable: …" for a `fleet` profile, else nil.
    public var fleet: String?
    /// Seconds until the next attempt while a retry is pending, else 0 (SPEC §10).
    public var backoffSeconds: Double = 0
    /// Whether it fetches at start (`prefetch`), and whether it was ever asked.
    public var prefetch = true
    public var everAsked = false
    /// The IdP's limits from its last token response (SPEC §10).
    public var idpLimits: IdPLimits?
    /// RFC 8693's `issued_token_type` of the current token (SPEC §13).
    public var issuedTokenType: String?

    public init(name: String, machine: RenewalMachine, now: Instant) {
        self.name = name
        state = machine.status(now: now)
        if let held = machine.token, held.isServable(at: now) {
            expiresIn = held.remaining(at: now).wholeSeconds
            source = machine.tokenSource.rawValue
            issuedTokenType = held.token.issuedTokenType
        }
        if machine.fetchInFlight {
            renewIn = 0
        } else if let next = machine.nextAttempt {
            renewIn = max(0, (next - now).wholeSeconds)
        }
        fetches = machine.fetches
        failures = machine.failures
        lastError = machine.lastError
        lastReason = machine.lastReason
        expired = machine.token != nil && expiresIn == nil
        if machine.consecutiveFailures > 0, !machine.fetchInFlight, let next = machine.nextAttempt {
            backoffSeconds = Swift.max(0, (next - now).seconds)
        }
        everAsked = machine.fetches > 0 || machine.failures > 0 || machine.fetchInFlight
    }

    /// Why the profile is not ready (SPEC §10 `/readyz`), or nil when it is:
    /// a profile that prefetches, or was asked for, needs a valid token.
    public var notReadyReason: String? {
        guard expiresIn == nil else { return nil }
        guard prefetch || everAsked else { return nil }
        return shortReason
    }

    /// Why it has no valid token, never in the IdP's words (any local user
    /// reads `/readyz` and `systemctl status`): the failure's kind or OAuth
    /// error code, `expired` or `pending`.
    public var shortReason: String {
        lastReason ?? (expired ? "expired" : "pending")
    }

    /// Its entry in the `STATUS` document.
    public var document: StatusDocument.Profile {
        StatusDocument.Profile(name: name, state: state.rawValue, expiresIn: expiresIn.map { Int($0) }, renewIn: renewIn.map { Int($0) },
                               fetches: fetches, failures: failures, lastError: lastError, fileErrors: fileErrors, source: source,
                               idpLimits: idpLimits?.json, issuedTokenType: issuedTokenType, fleet: fleet)
    }
}

/// The whole `STATUS` answer.
public struct StatusReport: Sendable {
    public var uptime: TimeSpan
    public var profiles: [ProfileStatus]

    public init(uptime: TimeSpan, profiles: [ProfileStatus]) {
        self.uptime = uptime
        self.profiles = profiles
    }

    /// One line of JSON: `{"version":…,"uptime_s":…,"profiles":[…]}`.
    public var json: String {
        StatusDocument(version: TokendVersion.string, uptimeSeconds: Int(uptime.wholeSeconds), profiles: profiles.map(\.document)).rendered
    }
}
