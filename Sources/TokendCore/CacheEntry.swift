import TokendCrypto
import TokendPlatform
import TokendProtocol

/// What the persistent cache keeps for one profile (SPEC §9): its last
/// token, placed on both clocks, and its back-off. Pure: encoding,
/// decoding, sealing and placing on the current clock are functions of
/// their inputs, tested and fuzzed without a file.
public struct CacheEntry: Equatable, Sendable {
    public static let version = 1

    public struct Token: Equatable, Sendable {
        public var issued: IssuedToken
        /// When the request that obtained it was sent: `CLOCK_BOOTTIME`
        /// nanoseconds of boot `bootID` (negative when that was before the
        /// boot: a token restored after a reboot), and wall-clock seconds.
        public var obtainedBoot: Int64
        public var obtainedUnix: Double
        /// How long after `obtained` its renewal was due (jitter included),
        /// so that a restart keeps the original moment.
        public var renewAfter: TimeSpan?

        public init(issued: IssuedToken, obtainedBoot: Int64, obtainedUnix: Double, renewAfter: TimeSpan? = nil) {
            self.issued = issued
            self.obtainedBoot = obtainedBoot
            self.obtainedUnix = obtainedUnix
            self.renewAfter = renewAfter
        }
    }

    public var profile: String
    public var fingerprint: String
    public var bootID: String
    public var token: Token?
    /// Failed requests in a row, and when the next attempt is allowed.
    public var consecutiveFailures: Int
    public var nextAttemptBoot: Int64?
    public var nextAttemptUnix: Double?
    public var lastError: String?
    /// Its `FetchFailure.reason`, for `/readyz`.
    public var lastReason: String?
    /// A request sent and not yet answered when this was written: a daemon
    /// stopped or killed then never learnt its outcome, so a restart counts
    /// it as a failure (a crash loop must not send one request per start).
    public var attemptBoot: Int64?
    public var attemptUnix: Double?

    public init(profile: String, fingerprint: String, bootID: String, token: Token?, consecutiveFailures: Int = 0,
                nextAttemptBoot: Int64? = nil, nextAttemptUnix: Double? = nil, lastError: String? = nil, lastReason: String? = nil,
                attemptBoot: Int64? = nil, attemptUnix: Double? = nil) {
        self.profile = profile
        self.fingerprint = fingerprint
        self.bootID = bootID
        self.token = token
        self.consecutiveFailures = consecutiveFailures
        self.nextAttemptBoot = nextAttemptBoot
        self.nextAttemptUnix = nextAttemptUnix
        self.lastError = lastError
        self.lastReason = lastReason
        self.attemptBoot = attemptBoot
        self.attemptUnix = attemptUnix
    }

    // MARK: - The file

    /// Why an entry is not used. Each is one warning; the entry is replaced
    /// at the profile's next success.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case notAnEntry
        case unknownVersion(String)
        case foreignFingerprint
        case otherProfile
        case encryptedButNoKey
        case plainButKeySet
        case authenticationFailed
        case corrupt(String)

        public var description: String {
            switch self {
            case .notAnEntry: return "not a tokend cache entry (empty, truncated or another file)"
            case .unknownVersion(let v): return "entry format \(v) is not known to this tokend"
            case .foreignFingerprint: return "the profile's token_url, client, audience, scope or parameters changed since it was written"
            case .otherProfile: return "the entry belongs to another profile"
            case .encryptedButNoKey: return "the entry is encrypted and no cache key is set"
            case .plainButKeySet: return "the entry is not encrypted and a cache key is set"
            case .authenticationFailed: return "the entry does not authenticate with the cache key (another key, or altered)"
            case .corrupt(let why): return "corrupt entry: \(why)"
            }
        }
    }

    static let magic = "tokend-cache"

    /// The file's bytes: a header line naming version, protection and
    /// fingerprint, then the JSON (plain) or, with `key`, the base64 of
    /// nonce and AES-256-GCM ciphertext‖tag, authenticated together with the
    /// profile's name and fingerprint.
    public func sealed(key: [UInt8]?, nonce: [UInt8]) throws(AESGCM.Failure) -> [UInt8] {
        var json = Array(jsonText.utf8)
        defer { AESGCM.cleanse(&json) }
        guard let key else {
            return Array("\(Self.magic) \(Self.version) plain \(fingerprint)\n".utf8) + json + [10]
        }
        let sealed = try AESGCM.seal(json, key: key, nonce: nonce, associatedData: Self.associatedData(profile, fingerprint))
        return Array("\(Self.magic) \(Self.version) aes-256-gcm \(fingerprint)\n\(Base64.encode(nonce))\n\(Base64.encode(sealed))\n".utf8)
    }

    /// Reads a file written by `sealed`, for `profile` whose configuration
    /// now has `fingerprint`; `key` is the cache key, if one is set.
    public static func open(_ bytes: [UInt8], profile: String, fingerprint: String, key: [UInt8]?) throws(Problem) -> CacheEntry {
        guard let newline = bytes.firstIndex(of: 10), newline < 200 else { throw .notAnEntry }
        let header = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        guard header.count == 4, header[0] == Substring(magic) else { throw .notAnEntry }
        guard header[1] == Substring(String(version)) else { throw .unknownVersion(String(header[1].prefix(20))) }
        guard header[3] == Substring(fingerprint) else { throw .foreignFingerprint }
        let body = Array(bytes[(newline + 1)...])
        var json: [UInt8]
        switch header[2] {
        case "plain":
            guard key == nil else { throw .plainButKeySet }
            json = body
        case "aes-256-gcm":
            guard let key else { throw .encryptedButNoKey }
            let lines = body.split(separator: 10, omittingEmptySubsequences: false)
            guard lines.count >= 2, let nonce = Base64.decode(String(decoding: lines[0], as: UTF8.self)),
                  let sealed = Base64.decode(String(decoding: lines[1], as: UTF8.self)),
                  nonce.count == AESGCM.nonceLength, sealed.count >= AESGCM.tagLength else {
                throw .corrupt("the sealed body is malformed")
            }
            do {
                json = try AESGCM.open(sealed, key: key, nonce: nonce, associatedData: associatedData(profile, fingerprint))
            } catch {
                throw .authenticationFailed
            }
        default:
            throw .corrupt("unknown protection \(header[2].prefix(20))")
        }
        defer { AESGCM.cleanse(&json) }
        let entry = try decode(json)
        guard entry.profile == profile else { throw .otherProfile }
        guard entry.fingerprint == fingerprint else { throw .foreignFingerprint }
        return entry
    }

    static func associatedData(_ profile: String, _ fingerprint: String) -> [UInt8] {
        Array("\(magic) \(version)|\(profile)|\(fingerprint)".utf8)
    }

    var jsonText: String {
        var members: [(String, JSONValue)] = [
            ("version", .int(Self.version)),
            ("profile", .string(profile)),
            ("fingerprint", .string(fingerprint)),
            ("boot_id", .string(bootID)),
        ]
        if let token {
            var fields: [(String, JSONValue)] = [
                ("access_token", .string(token.issued.accessToken)),
                ("token_type", .string(token.issued.tokenType)),
                ("lifetime_ns", .int(Int(token.issued.lifetime.nanoseconds))),
                ("obtained_boot_ns", .int(Int(token.obtainedBoot))),
                ("obtained_unix", .number(token.obtainedUnix, text: String(token.obtainedUnix))),
                ("expires_boot_ns", .int(Int(token.obtainedBoot &+ token.issued.lifetime.nanoseconds))),
                ("expires_unix", .number(token.obtainedUnix + token.issued.lifetime.seconds,
                                         text: String(token.obtainedUnix + token.issued.lifetime.seconds))),
            ]
            if let refreshIn = token.issued.refreshIn { fields.append(("refresh_in_ns", .int(Int(refreshIn.nanoseconds)))) }
            if let issuedType = token.issued.issuedTokenType { fields.append(("issued_token_type", .string(issuedType))) }
            if let renewAfter = token.renewAfter { fields.append(("renew_after_ns", .int(Int(renewAfter.nanoseconds)))) }
            members.append(("token", .object(fields)))
        } else {
            members.append(("token", .null))
        }
        var backoff: [(String, JSONValue)] = [("failures", .int(consecutiveFailures))]
        if let nextAttemptBoot { backoff.append(("next_attempt_boot_ns", .int(Int(nextAttemptBoot)))) }
        if let nextAttemptUnix { backoff.append(("next_attempt_unix", .number(nextAttemptUnix, text: String(nextAttemptUnix)))) }
        if let lastError { backoff.append(("last_error", .string(lastError))) }
        if let lastReason { backoff.append(("last_reason", .string(lastReason))) }
        if let attemptBoot { backoff.append(("attempt_boot_ns", .int(Int(attemptBoot)))) }
        if let attemptUnix { backoff.append(("attempt_unix", .number(attemptUnix, text: String(attemptUnix)))) }
        members.append(("backoff", .object(backoff)))
        return JSONWriter.write(.object(members))
    }

    static func decode(_ json: [UInt8]) throws(Problem) -> CacheEntry {
        let value: JSONValue
        do { value = try JSONParser.parse(json) } catch { throw .corrupt("not JSON") }
        guard value["version"]?.intValue == version else { throw .unknownVersion(String(describing: value["version"]?.intValue)) }
        guard let profile = value["profile"]?.stringValue, let fingerprint = value["fingerprint"]?.stringValue,
              let bootID = value["boot_id"]?.stringValue, let backoff = value["backoff"],
              let failures = backoff["failures"]?.intValue, failures >= 0 else {
            throw .corrupt("a required member is missing")
        }
        var entry = CacheEntry(profile: profile, fingerprint: fingerprint, bootID: bootID, token: nil, consecutiveFailures: failures,
                               nextAttemptBoot: backoff["next_attempt_boot_ns"]?.intValue.map(Int64.init),
                               nextAttemptUnix: backoff["next_attempt_unix"]?.doubleValue,
                               lastError: backoff["last_error"]?.stringValue,
                               lastReason: backoff["last_reason"]?.stringValue.flatMap(FetchFailure.plausibleReason),
                               attemptBoot: backoff["attempt_boot_ns"]?.intValue.map(Int64.init),
                               attemptUnix: backoff["attempt_unix"]?.doubleValue)
        if let token = value["token"], !token.isNull {
            guard let accessToken = token["access_token"]?.stringValue, !accessToken.isEmpty,
                  accessToken.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
                  let type = token["token_type"]?.stringValue, !type.isEmpty,
                  let lifetime = token["lifetime_ns"]?.intValue, lifetime > 0, TimeSpan(nanoseconds: Int64(lifetime)) <= maximumTokenLifetime,
                  // Negative for a token from before this boot's zero: one restored
                  // after a reboot and older than the uptime is placed there.
                  let obtainedBoot = token["obtained_boot_ns"]?.intValue,
                  let obtainedUnix = token["obtained_unix"]?.doubleValue, obtainedUnix.isFinite else {
                throw .corrupt("the token is incomplete")
            }
            let refreshIn = token["refresh_in_ns"]?.intValue.map { TimeSpan(nanoseconds: Int64($0)) }
            let renewAfter = token["renew_after_ns"]?.intValue.map { TimeSpan(nanoseconds: Int64($0)) }
            entry.token = Token(issued: IssuedToken(accessToken: accessToken, tokenType: type, lifetime: TimeSpan(nanoseconds: Int64(lifetime)),
                                                   refreshIn: refreshIn, issuedTokenType: token["issued_token_type"]?.stringValue),
                                obtainedBoot: Int64(obtainedBoot), obtainedUnix: obtainedUnix, renewAfter: renewAfter)
        }
        return entry
    }

    // MARK: - Back on the clock

    /// The cached state placed on this boot's clock (SPEC §9).
    public struct Restored: Equatable, Sendable {
        /// The token, with its original issue time and lifetime; nil when it
        /// is no longer servable, claims a future issue time, or there was none.
        public var token: HeldToken?
        /// Why a cached token is not used, for the log.
        public var droppedToken: String?
        public var consecutiveFailures: Int
        /// No attempt before this instant (the persisted back-off).
        public var backoffUntil: Instant?
        public var lastError: String?
        public var lastReason: String?
    }

    /// What is written for a profile now (the other direction of
    /// `restored`): its servable token with both clocks, its back-off, and
    /// the request under way if one was just sent (`attemptStarted`), so
    /// that a restart before its answer counts it as failed.
    /// - Parameters:
    ///   - now: `CLOCK_BOOTTIME` now; `unixNow`: the wall clock now.
    public static func capture(profile: String, fingerprint: String, bootID: String, machine: RenewalMachine,
                               now: Instant, unixNow: Double, attemptStarted: Instant? = nil) -> CacheEntry {
        var entry = CacheEntry(profile: profile, fingerprint: fingerprint, bootID: bootID, token: nil,
                               consecutiveFailures: machine.consecutiveFailures, lastError: machine.lastError,
                               lastReason: machine.lastReason)
        if let held = machine.token, held.isServable(at: now) {
            entry.token = Token(issued: held.token, obtainedBoot: held.obtainedAt.nanoseconds,
                                obtainedUnix: unixNow - (now - held.obtainedAt).seconds,
                                renewAfter: held.renewAt - held.obtainedAt)
        }
        if machine.consecutiveFailures > 0, let next = machine.nextAttempt {
            entry.nextAttemptBoot = next.nanoseconds
            entry.nextAttemptUnix = unixNow + (next - now).seconds
        }
        if let attemptStarted {
            entry.attemptBoot = attemptStarted.nanoseconds
            entry.attemptUnix = unixNow - (now - attemptStarted).seconds
        }
        return entry
    }

    /// Another boot's `CLOCK_BOOTTIME` means nothing here: a token's expiry is
    /// then its wall-clock expiry less this margin (the wall clock may be off).
    public static let otherBootMargin = TimeSpan.seconds(30 as Int64)

    /// - Parameters:
    ///   - now: `CLOCK_BOOTTIME` now; `unixNow`: the wall clock now;
    ///   - bootID: this boot's id; `renewalUnit`: the jitter draw for the renewal moment.
    public func restored(now: Instant, unixNow: Double, bootID currentBoot: String, policy: RenewalPolicy, renewalUnit: Double) -> Restored {
        // An unknown boot matches none, not even another unknown one.
        let sameBoot = bootID == currentBoot && currentBoot != BootClock.unknownBootID
        var result = Restored(token: nil, droppedToken: nil, consecutiveFailures: consecutiveFailures, backoffUntil: nil, lastError: lastError,
                              lastReason: lastReason)
        // Back-off: on this boot the boot clock, else the wall clock.
        // Never longer than the longest back-off a request could have set.
        let longest = Swift.max(policy.retryMax, maximumRetryAfter)
        if sameBoot, let next = nextAttemptBoot {
            result.backoffUntil = Swift.min(Instant(nanoseconds: next), now + longest)
        } else if let next = nextAttemptUnix, next.isFinite, next > unixNow {
            result.backoffUntil = now + TimeSpan.seconds(Swift.min(next - unixNow, maximumRetryAfter.seconds))
        }
        // A request whose outcome was never recorded counts as failed: the
        // next one waits the back-off that failure would have set.
        let attemptAt: Instant?
        if sameBoot, let boot = attemptBoot, boot <= now.nanoseconds {
            attemptAt = Instant(nanoseconds: boot)
        } else if !sameBoot, let unix = attemptUnix, unix.isFinite, unix <= unixNow {
            attemptAt = now - TimeSpan.seconds(unixNow - unix)
        } else {
            attemptAt = nil
        }
        if let attemptAt {
            result.consecutiveFailures += 1
            let until = Swift.min(attemptAt + policy.backoff(attempt: result.consecutiveFailures, unit: renewalUnit), now + longest)
            if until > now { result.backoffUntil = Swift.max(result.backoffUntil ?? until, until) }
            if result.lastError == nil {
                result.lastError = "a request was under way when tokend stopped"
                result.lastReason = "interrupted"
            }
        }
        guard let token else { return result }
        let obtainedAt: Instant
        if sameBoot {
            guard token.obtainedBoot <= now.nanoseconds else {
                result.droppedToken = "it claims to have been obtained in the future"
                return result
            }
            obtainedAt = Instant(nanoseconds: token.obtainedBoot)
        } else {
            guard token.obtainedUnix <= unixNow else {
                result.droppedToken = "it claims to have been obtained in the future (was the clock set back?)"
                return result
            }
            // Placed so that it expires at its wall-clock expiry less the margin.
            obtainedAt = now - TimeSpan.seconds(unixNow - token.obtainedUnix) - Self.otherBootMargin
        }
        // The original renewal moment when it is recorded and sensible, else one drawn anew.
        let renewAt: Instant
        if let after = token.renewAfter, after > .zero, after < token.issued.lifetime {
            renewAt = obtainedAt + after
        } else {
            renewAt = policy.renewalMoment(for: token.issued, sentAt: obtainedAt, unit: renewalUnit)
        }
        let held = HeldToken(token: token.issued, obtainedAt: obtainedAt, renewAt: renewAt)
        guard held.isServable(at: now) else {
            result.droppedToken = "its token has expired"
            return result
        }
        result.token = held
        return result
    }
}

extension ProfileConfiguration {
    /// SHA-256 over everything that decides which token the IdP issues
    /// (SPEC §9): `token_url`, `client_id`, `auth_method`, `audience`,
    /// `scope`, `extra_params`, the client certificate's identity, the grant
    /// and the files of SPEC §13; not the secret or the assertion key (the
    /// same client gets the same tokens), not the renewal settings.
    public var cacheFingerprint: String {
        var parts: [JSONValue] = [
            .string(tokenURL), .string(clientID), .string(authMethod.rawValue),
            audience.map { .string($0) } ?? .null, scope.map { .string($0) } ?? .null,
            .array(extraParams.map { .array([.string($0.name), .string($0.value)]) }),
            // The certificate's identity (its bytes' digest) when the loader
            // read it, else its path.
            (clientCertificateDigest ?? clientCertFile).map { .string($0) } ?? .null,
        ]
        // SPEC §13, appended only when in use so that the fingerprints of
        // profiles without them (and their cached tokens) stay as they were:
        // the files' paths or credential names, never their content (a
        // rotated assertion keeps the token), and the certificate's digest.
        if let file = federatedAssertion, authMethod == .federatedAssertion {
            parts.append(.array([.string("client_assertion"), .string(file.identity)]))
        }
        if let certificate = assertion.certificate, authMethod == .privateKeyJWT {
            parts.append(.array([.string("client_assertion_certificate"), .string(certificate.fingerprintDigest)]))
        } else if let file = assertion.certificateFile, authMethod == .privateKeyJWT {
            parts.append(.array([.string("client_assertion_certificate"), .string("file:" + file)]))
        }
        if let exchange = tokenExchange, grant == .tokenExchange {
            parts.append(.array([.string(grant.rawValue), .string(exchange.subject.identity), .string(exchange.subjectTokenType),
                                 exchange.requestedTokenType.map { .string($0) } ?? .null]))
        }
        return SHA256.hex(Array(JSONWriter.write(.array(parts)).utf8))
    }
}
