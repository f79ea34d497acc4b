import TokendCrypto
import TokendPlatform
import TokendProtocol

/// What a host needs when it turns to the fleet (SPEC §14).
public struct FleetNeed: Equatable, Sendable {
    /// `REFRESH`: a token obtained less than 5 s ago, or a new one.
    public var refresh: Bool
    /// A `MIN_TTL` demand: at least this much left.
    public var minTTL: TimeSpan?
    /// Until when the host's own token is servable (nil: it holds none).
    /// While it is, the host waits for a lock holder's answer rather than
    /// asking the IdP alone, and keeps it through the fleet's back-off.
    public var heldUntil: Instant?

    public init(refresh: Bool = false, minTTL: TimeSpan? = nil, heldUntil: Instant? = nil) {
        self.refresh = refresh
        self.minTTL = minTTL
        self.heldUntil = heldUntil
    }

    /// Whether `held`, adopted for this need, answers `demand` too (a
    /// client that came while the need was under way may ask for more).
    public func covers(_ demand: Demand, with held: HeldToken, now: Instant) -> Bool {
        switch demand {
        case .refresh: return refresh
        case .token(let minTTL):
            guard let minTTL else { return true }
            return held.isServable(at: now, minimum: minTTL) || (self.minTTL.map { $0 >= minTTL } ?? false)
        }
    }

    /// Whether the host's own token is still servable at `now`.
    public func holdsValidToken(at now: Instant) -> Bool { heldUntil.map { now <= $0 } ?? false }
}

/// What the fleet's shared entry says for a need.
public enum FleetDecision: Equatable, Sendable {
    /// Serve this token, placed on this host's clock: no IdP request.
    case adopt(HeldToken)
    /// Another host's request failed and the shared back-off is in force:
    /// no host asks the IdP before `until`.
    case backOff(until: Instant, lastError: String)
    /// Take the lock and ask the IdP.
    case fetch
}

/// The rules of SPEC §14, pure: placing a shared token on this host's
/// clock, deciding between adopting and asking, and the entry a host writes.
public struct FleetRules: Sendable {
    public var policy: RenewalPolicy
    public var maxClockSkew: TimeSpan
    /// `REFRESH` takes the fleet's token when it is younger than this.
    public static let refreshWindow = TimeSpan.seconds(5 as Int64)

    public init(policy: RenewalPolicy, maxClockSkew: TimeSpan) {
        self.policy = policy
        self.maxClockSkew = maxClockSkew
    }

    /// A shared token on this host's clock: expiring at its wall-clock expiry
    /// less `maxClockSkew` (the adopted expiry), renewed at its recorded
    /// moment plus a host-local delay of up to `jitter` × lifetime (`unit` ×
    /// that), capped at half of what remains between the moment and the
    /// adopted expiry. Also returns the recorded moment itself.
    /// - Parameters: `now` on `CLOCK_BOOTTIME`, `unixNow` the wall clock.
    public func place(_ token: CacheEntry.Token, now: Instant, unixNow: Double, unit: Double) -> (held: HeldToken, recordedRenewal: Instant) {
        let lifetime = token.issued.lifetime
        let expiry = now + TimeSpan.seconds(token.obtainedUnix - unixNow) + lifetime - maxClockSkew
        let obtainedAt = expiry - lifetime
        let renewAfter: TimeSpan
        if let after = token.renewAfter, after > .zero, after < lifetime { renewAfter = after }
        else { renewAfter = lifetime * policy.renewAt }
        let recorded = now + TimeSpan.seconds(token.obtainedUnix - unixNow) + renewAfter
        let room = expiry - recorded
        var delay = lifetime * (policy.jitter * Swift.min(Swift.max(unit, 0), 1))
        delay = Swift.min(delay, room > .zero ? room * 0.5 : .zero)
        var renewAt = recorded + delay
        // Never at or past the adopted expiry (a skew larger than the margin left).
        renewAt = Swift.min(renewAt, expiry - HeldToken.minimumServableLifetime)
        return (HeldToken(token: token.issued, obtainedAt: obtainedAt, renewAt: renewAt), recorded)
    }

    /// What the shared `entry` (nil: none, or one that cannot be used)
    /// means for `need`.
    public func decide(_ entry: CacheEntry?, need: FleetNeed, now: Instant, unixNow: Double, unit: Double) -> FleetDecision {
        var candidate: HeldToken?
        // A token "obtained" further in the future than the clocks may differ
        // comes from a host whose clock is wrong: its expiry cannot be trusted.
        if let token = entry?.token, token.obtainedUnix - unixNow <= maxClockSkew.seconds {
            let (held, recorded) = place(token, now: now, unixNow: unixNow, unit: unit)
            let age = TimeSpan.seconds(unixNow - token.obtainedUnix)
            let young = age < Self.refreshWindow
            if held.isServable(at: now) {
                if need.refresh {
                    if young { return .adopt(held) }
                } else if let minTTL = need.minTTL, !held.isServable(at: now, minimum: minTTL) {
                    // The IdP's own lifetime is below MIN_TTL: a new token could not do better (SPEC §5).
                    if young, held.token.lifetime < minTTL { return .adopt(held) }
                } else {
                    if now < recorded { return .adopt(held) }
                    candidate = held
                }
            }
        }
        if let entry, entry.consecutiveFailures > 0, let next = entry.nextAttemptUnix, next.isFinite, next > unixNow {
            let until = now + TimeSpan.seconds(Swift.min(next - unixNow, maximumRetryAfter.seconds))
            // A valid token past its renewal moment is still worth serving while
            // the fleet backs off, to a host whose own token ends sooner.
            if var held = candidate, (need.heldUntil.map { held.servableUntil > $0 } ?? true) {
                held.renewAt = Swift.min(Swift.max(held.renewAt, until), held.servableUntil)
                return .adopt(held)
            }
            return .backOff(until: until, lastError: entry.lastError ?? "another host's request failed")
        }
        return .fetch
    }

    /// The shared entry after this host obtained `held` (sent at
    /// `held.obtainedAt` on its own clock).
    public static func entry(fingerprint: String, obtained held: HeldToken, now: Instant, unixNow: Double) -> CacheEntry {
        CacheEntry(profile: "", fingerprint: fingerprint, bootID: fleetBootID,
                   token: CacheEntry.Token(issued: held.token, obtainedBoot: 0, obtainedUnix: unixNow - (now - held.obtainedAt).seconds,
                                           renewAfter: held.renewAt - held.obtainedAt))
    }

    /// The shared entry after this host's request failed: the token it held
    /// (still valid for others), and the back-off no host may cut short.
    public func entry(fingerprint: String, failedAfter previous: CacheEntry?, failure: FetchFailure, unixNow: Double, unit: Double) -> CacheEntry {
        var entry = previous ?? CacheEntry(profile: "", fingerprint: fingerprint, bootID: Self.fleetBootID, token: nil)
        entry.profile = ""
        entry.bootID = Self.fleetBootID
        let failures = Swift.min(entry.consecutiveFailures + 1, 64)
        var delay = policy.backoff(attempt: failures, unit: unit)
        if let retryAfter = failure.retryAfter { delay = Swift.max(delay, Swift.min(retryAfter, maximumRetryAfter)) }
        entry.consecutiveFailures = failures
        entry.nextAttemptUnix = unixNow + delay.seconds
        entry.nextAttemptBoot = nil
        entry.lastError = failure.message
        entry.lastReason = failure.reason
        if let token = entry.token, token.obtainedUnix + token.issued.lifetime.seconds <= unixNow { entry.token = nil }
        return entry
    }

    /// How long etcd keeps `entry`: what is left of its token or of its
    /// back-off, whichever is longer, in whole seconds (at least 1).
    public static func leaseSeconds(_ entry: CacheEntry, unixNow: Double) -> Int64 {
        var until = unixNow + 1
        if let token = entry.token { until = Swift.max(until, token.obtainedUnix + token.issued.lifetime.seconds) }
        if let next = entry.nextAttemptUnix, next.isFinite { until = Swift.max(until, Swift.min(next, unixNow + maximumRetryAfter.seconds)) }
        return Swift.max(1, Int64((until - unixNow).rounded(.up)))
    }

    static let fleetBootID = "fleet"
}

/// The bytes of a shared entry (SPEC §14): a header line, then the base64
/// of the nonce and of the AES-256-GCM ciphertext‖tag of the §9 JSON,
/// authenticated with the fingerprint (hosts may name the profile
/// differently). There is no plain form: etcd holds sealed entries only.
public enum FleetEntryCodec {
    static let header = "tokend-fleet 1 aes-256-gcm\n"

    public static func seal(_ entry: CacheEntry, key: [UInt8], nonce: [UInt8]) throws(AESGCM.Failure) -> [UInt8] {
        var shared = entry
        shared.profile = ""
        shared.bootID = FleetRules.fleetBootID
        shared.attemptBoot = nil
        shared.attemptUnix = nil
        shared.nextAttemptBoot = nil
        if var token = shared.token {
            token.obtainedBoot = 0
            shared.token = token
        }
        var json = Array(shared.jsonText.utf8)
        defer { AESGCM.cleanse(&json) }
        let sealed = try AESGCM.seal(json, key: key, nonce: nonce, associatedData: associatedData(entry.fingerprint))
        return Array("\(header)\(Base64.encode(nonce))\n\(Base64.encode(sealed))\n".utf8)
    }

    /// The entry for `fingerprint`, or why it cannot be used (another key,
    /// altered, garbage: never served).
    public static func open(_ bytes: [UInt8], fingerprint: String, key: [UInt8]) throws(CacheEntry.Problem) -> CacheEntry {
        guard bytes.count <= 64 << 10, bytes.starts(with: header.utf8) else { throw .notAnEntry }
        let lines = bytes.dropFirst(header.utf8.count).split(separator: 10, omittingEmptySubsequences: false)
        guard lines.count >= 2, let nonce = Base64.decode(String(decoding: lines[lines.startIndex], as: UTF8.self)),
              let sealed = Base64.decode(String(decoding: lines[lines.startIndex + 1], as: UTF8.self)),
              nonce.count == AESGCM.nonceLength, sealed.count >= AESGCM.tagLength else {
            throw .corrupt("the sealed body is malformed")
        }
        var json: [UInt8]
        do { json = try AESGCM.open(sealed, key: key, nonce: nonce, associatedData: associatedData(fingerprint)) } catch { throw .authenticationFailed }
        defer { AESGCM.cleanse(&json) }
        let entry = try CacheEntry.decode(json)
        guard entry.fingerprint == fingerprint else { throw .foreignFingerprint }
        return entry
    }

    static func associatedData(_ fingerprint: String) -> [UInt8] { Array("tokend-fleet 1|\(fingerprint)".utf8) }
}

/// What the fleet made of one need, for the runner: its `STATUS` word,
/// its metrics and its log (SPEC §14).
public struct FleetNote: Equatable, Sendable {
    /// `ok`, `unavailable: …` (etcd could not be used for this need).
    public var status: String
    /// `tokend_fleet_errors_total{kind}`: `unavailable`, `auth`, `invalid`.
    public var errors: [String] = []
    /// How long the lock took, when this host took it.
    public var lockWait: TimeSpan?
    /// The token came from another host's entry.
    public var adopted = false
    /// This host asked the IdP for the fleet (`tokend_fleet_fetched_total`).
    public var fetched = false
    /// Why an entry under the prefix was not used (for a rate-limited warning).
    public var invalidReason: String?

    public init(status: String) { self.status = status }
}

extension FetchReport {
    /// A token the fleet placed (adopted, or obtained and shared).
    public static func fleet(_ held: HeldToken, adopted: Bool, note: FleetNote, sentAt: Instant, limits: IdPLimits? = nil) -> FetchReport {
        var report = FetchReport(sentAt: sentAt, result: .success(held.token), limits: limits, sent: !adopted)
        report.placed = held
        report.note = note
        return report
    }
}
