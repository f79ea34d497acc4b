import TokendPlatform
import TokendProtocol

/// The rate-limit and quota headers of one token response (SPEC §10):
/// `RateLimit-Limit`/`-Remaining`/`-Reset` (or their `X-RateLimit-` forms)
/// and Auth0's `Auth0-Client-Quota-Limit`/`Auth0-Organization-Quota-Limit`
/// (`b=per_hour;q=10;r=7;t=3540,b=per_day;...`). Pure: headers in, numbers out.
public struct IdPLimits: Equatable, Sendable {
    /// One Auth0 quota bucket: `b` (per_hour, per_day, per_month), `q` the
    /// quota, `r` what remains, `t` seconds until it resets.
    public struct Quota: Equatable, Sendable {
        public var bucket: String
        public var quota: Int
        public var remaining: Int
        public var resetSeconds: Int?
    }

    public var rateLimit: Int?
    public var rateRemaining: Int?
    /// Seconds until the rate-limit window resets, as sent (a delta).
    public var rateReset: Int?
    public var clientQuotas: [Quota] = []
    public var organizationQuotas: [Quota] = []

    public init(rateLimit: Int? = nil, rateRemaining: Int? = nil, rateReset: Int? = nil,
                clientQuotas: [Quota] = [], organizationQuotas: [Quota] = []) {
        self.rateLimit = rateLimit
        self.rateRemaining = rateRemaining
        self.rateReset = rateReset
        self.clientQuotas = clientQuotas
        self.organizationQuotas = organizationQuotas
    }

    /// The header names of interest, lower-case, for the transport to keep.
    public static let headerNames: Set<String> = [
        "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
        "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
        "auth0-client-quota-limit", "auth0-organization-quota-limit",
    ]

    /// The limits in `headers` (names in any case); nil when there are none.
    /// A value that does not parse is ignored, never a failure.
    public static func parse(_ headers: [(name: String, value: String)]) -> IdPLimits? {
        var limits = IdPLimits()
        var found = false
        for (rawName, rawValue) in headers {
            let name = rawName.lowercased()
            let value = rawValue.trimmingSpaces
            switch name {
            case "ratelimit-limit", "x-ratelimit-limit":
                if let n = firstInteger(value) { limits.rateLimit = n; found = true }
            case "ratelimit-remaining", "x-ratelimit-remaining":
                if let n = firstInteger(value) { limits.rateRemaining = n; found = true }
            case "ratelimit-reset", "x-ratelimit-reset":
                if let n = firstInteger(value) { limits.rateReset = n; found = true }
            case "auth0-client-quota-limit":
                let quotas = parseQuotas(value)
                if !quotas.isEmpty { limits.clientQuotas = quotas; found = true }
            case "auth0-organization-quota-limit":
                let quotas = parseQuotas(value)
                if !quotas.isEmpty { limits.organizationQuotas = quotas; found = true }
            default:
                continue
            }
        }
        return found ? limits : nil
    }

    /// The leading non-negative integer of a value like `100` or `100, 100;w=60`.
    static func firstInteger(_ value: String) -> Int? {
        let digits = value.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 12 else { return nil }
        return Int(digits)
    }

    /// `b=per_hour;q=10;r=7;t=3540,b=per_day;q=100;r=90;t=80000`.
    static func parseQuotas(_ value: String) -> [Quota] {
        var quotas: [Quota] = []
        for item in value.split(separator: ",").prefix(8) {
            var fields: [String: String] = [:]
            for pair in item.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                fields[String(parts[0]).trimmingSpaces] = String(parts[1]).trimmingSpaces
            }
            guard let bucket = fields["b"], !bucket.isEmpty, bucket.count <= 32,
                  bucket.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0 == "_" || ("0"..."9").contains($0) }),
                  let quota = fields["q"].flatMap(firstInteger), let remaining = fields["r"].flatMap(firstInteger) else { continue }
            quotas.append(Quota(bucket: bucket, quota: quota, remaining: remaining, resetSeconds: fields["t"].flatMap(firstInteger)))
        }
        return quotas
    }

    /// Every limit as (name, limit, remaining, reset seconds), for the
    /// under-10 % warning.
    public var windows: [(name: String, limit: Int, remaining: Int, reset: Int?)] {
        var all: [(String, Int, Int, Int?)] = []
        if let rateLimit, let rateRemaining { all.append(("rate limit", rateLimit, rateRemaining, rateReset)) }
        for q in clientQuotas { all.append(("Auth0 client quota \(q.bucket)", q.quota, q.remaining, q.resetSeconds)) }
        for q in organizationQuotas { all.append(("Auth0 organization quota \(q.bucket)", q.quota, q.remaining, q.resetSeconds)) }
        return all
    }

    /// `"idp_limits"` of `STATUS`: the numbers as the IdP sent them.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let rateLimit { members.append(("ratelimit_limit", .int(rateLimit))) }
        if let rateRemaining { members.append(("ratelimit_remaining", .int(rateRemaining))) }
        if let rateReset { members.append(("ratelimit_reset", .int(rateReset))) }
        func quotas(_ list: [Quota]) -> JSONValue {
            .array(list.map { q in
                var fields: [(String, JSONValue)] = [("b", .string(q.bucket)), ("q", .int(q.quota)), ("r", .int(q.remaining))]
                if let t = q.resetSeconds { fields.append(("t", .int(t))) }
                return .object(fields)
            })
        }
        if !clientQuotas.isEmpty { members.append(("auth0_client_quota", quotas(clientQuotas))) }
        if !organizationQuotas.isEmpty { members.append(("auth0_organization_quota", quotas(organizationQuotas))) }
        return .object(members)
    }
}
