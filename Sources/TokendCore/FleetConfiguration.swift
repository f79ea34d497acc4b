import TOMLKit
import TokendPlatform

/// The `[fleet]` table (SPEC §14): where the etcd cluster that shares
/// tokens across hosts is, and how to reach it. A profile with
/// `fleet = true` carries a copy, so that a change of the table restarts
/// the profiles that share (a reload compares profiles).
public struct FleetConfiguration: Equatable, Sendable {
    /// `https://host:port` (or `http://` to a loopback host), without a path.
    public var endpoints: [String]
    /// Starts and ends with `/`.
    public var prefix: String = "/tokend/"
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var username: String?
    public var passwordSource: SecretSource?
    /// The password, once the loader has read it.
    public var password: Secret?
    /// The cache key (SPEC §9) that seals the shared entries, once the loader has read it.
    public var cacheKey: CacheKey?
    /// All etcd calls of one need, in all.
    public var timeout: TimeSpan = .seconds(2 as Int64)
    /// How far hosts' clocks may differ: an adopted token expires this much
    /// earlier than the host that obtained it says.
    public var maxClockSkew: TimeSpan = .seconds(5 as Int64)

    public static let keys = ["endpoints", "prefix", "ca_file", "cert_file", "key_file", "username", "password_file",
                              "password_credential", "timeout", "max_clock_skew"]
    /// At most the lock's lease beyond the profile's timeout (5 s): a holder's
    /// etcd calls and IdP request then always end before its lock does.
    public static let timeoutRange = TimeSpan.milliseconds(100)...TimeSpan.seconds(5 as Int64)
    public static let skewRange = TimeSpan.zero...TimeSpan.seconds(300 as Int64)

    public init(endpoints: [String]) {
        self.endpoints = endpoints
    }

    /// The key of the shared entry of the configuration with `fingerprint`.
    public func entryKey(_ fingerprint: String) -> String { prefix + "tokens/" + fingerprint }
    /// The key of its lock.
    public func lockKey(_ fingerprint: String) -> String { prefix + "locks/" + fingerprint }

    /// What is wrong with an endpoint, or nil: `https://HOST[:PORT]`, or
    /// `http://` to a loopback host only; no path, credentials or query.
    public static func endpointProblem(_ url: String) -> String? {
        if let problem = TokenURL.problem(url) {
            return problem.replacingAll("use client_id and a client secret key", with: "use username and password_file")
        }
        guard let schemeEnd = url.firstRange(of: "://") else { return "is not a URL" }
        let rest = url[schemeEnd.upperBound...]
        let path = rest.drop { $0 != "/" && $0 != "?" }
        if !(path.isEmpty || path == "/") { return "must be a base URL without a path or query, like https://etcd-1:2379" }
        return nil
    }
}

extension ConfigurationParser {
    /// The `[fleet]` table; nil (and errors) when it is absent or wrong.
    mutating func fleet(_ root: TOMLTable, cacheKeySet: Bool) -> FleetConfiguration? {
        guard let value = root["fleet"] else { return nil }
        let path = ["fleet"]
        guard let table = value.table else {
            fail(path, "must be a table ([fleet])")
            return nil
        }
        let before = errors.count
        checkKnownKeys(table, allowed: FleetConfiguration.keys, at: path)
        var endpoints: [String] = []
        if let list = table["endpoints"] {
            if let array = list.array, !array.isEmpty, array.allSatisfy({ $0.string != nil }) {
                for (index, endpoint) in array.compactMap(\.string).enumerated() {
                    if let problem = FleetConfiguration.endpointProblem(endpoint) {
                        fail(path + ["endpoints"], "endpoint \(index + 1) (\(endpoint)) \(problem)")
                    } else {
                        endpoints.append(endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint)
                    }
                }
                if array.count > 16 { fail(path + ["endpoints"], "lists more than 16 endpoints") }
            } else {
                fail(path + ["endpoints"], "must be a non-empty array of URLs, like [\"https://etcd-1:2379\"]")
            }
        } else {
            fail(path + ["endpoints"], "is required")
        }
        var fleet = FleetConfiguration(endpoints: endpoints)
        if let prefix = string(table, "prefix", path) {
            if prefix.hasPrefix("/"), prefix.hasSuffix("/"), prefix.utf8.count <= 256,
               prefix.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) {
                fleet.prefix = prefix
            } else {
                fail(path + ["prefix"], "must start and end with / and hold printable ASCII only (at most 256 bytes), like \"/tokend/\"")
            }
        }
        for (key, setter) in [("ca_file", \FleetConfiguration.caFile), ("cert_file", \.certFile), ("key_file", \.keyFile)] {
            if let file = nonEmptyString(table, key, path) {
                if file.hasPrefix("/") { fleet[keyPath: setter] = file } else { fail(path + [key], "must be an absolute path") }
            }
        }
        if (fleet.certFile == nil) != (fleet.keyFile == nil), table["cert_file"] != nil || table["key_file"] != nil {
            fail(path + [fleet.certFile == nil ? "key_file" : "cert_file"], "cert_file and key_file go together (mutual TLS)")
        }
        fleet.username = nonEmptyString(table, "username", path)
        let passwordKeys = ["password_file", "password_credential"].filter { table[$0] != nil }
        if passwordKeys.count > 1 {
            fail(path + ["password_credential"], "only one of password_file and password_credential may be set")
        } else if let file = nonEmptyString(table, "password_file", path) {
            if file.hasPrefix("/") { fleet.passwordSource = .file(file) } else { fail(path + ["password_file"], "must be an absolute path") }
        } else if let name = nonEmptyString(table, "password_credential", path) {
            if name.contains("/") || name == "." || name == ".." { fail(path + ["password_credential"], "must be a credential name, not a path") }
            else { fleet.passwordSource = .credential(name) }
        }
        if fleet.username != nil, fleet.passwordSource == nil, passwordKeys.isEmpty {
            fail(path + ["username"], "needs password_file or password_credential")
        }
        if fleet.username == nil, !passwordKeys.isEmpty {
            fail(path + [passwordKeys[0]], "needs username")
        }
        if let t = duration(table, "timeout", path, in: FleetConfiguration.timeoutRange) { fleet.timeout = t }
        if let t = duration(table, "max_clock_skew", path, in: FleetConfiguration.skewRange) { fleet.maxClockSkew = t }
        if !cacheKeySet {
            fail(path, "needs cache_key_file or cache_key_credential: etcd holds only sealed entries, the same key on every host")
        }
        return errors.count == before ? fleet : nil
    }
}
