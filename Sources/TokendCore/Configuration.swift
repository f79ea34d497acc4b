import TokendCrypto
import TokendPlatform

/// The validated configuration of the daemon (SPEC §2): what the file says,
/// with defaults applied and every value checked. Secrets are still sources
/// here; `ConfigurationLoader` resolves them into `ResolvedProfile`s.
public struct Configuration: Equatable, Sendable {
    public var socketPath: String
    public var socketMode: UInt32
    public var socketGroup: NamedID?
    public var logLevel: LogLevel
    public var maxConnections: Int
    public var idleTimeout: TimeSpan
    /// Where the persistent token cache lives (SPEC §9); nil: no cache.
    public var stateDirectory: String?
    /// Where the cache key comes from, when entries are encrypted.
    public var cacheKeySource: SecretSource?
    /// The 32-byte AES-256-GCM key, once the loader has read it.
    public var cacheKey: CacheKey?
    /// Where `/metrics`, `/healthz` and `/readyz` are served (SPEC §10); nil: nowhere.
    public var metricsListen: MetricsAddress?
    /// The etcd cluster that shares tokens across hosts (SPEC §14); nil: none.
    public var fleet: FleetConfiguration?
    /// Profiles sorted by name.
    public var profiles: [ProfileConfiguration]

    public static let defaultSocketPath = "/run/tokend/tokend.sock"
    public static let defaultPath = "/etc/tokend/tokend.toml"
    public static let defaultStateDirectory = "/var/lib/tokend"

    public init(
        socketPath: String = Configuration.defaultSocketPath, socketMode: UInt32 = 0o660,
        socketGroup: NamedID? = nil, logLevel: LogLevel = .info, maxConnections: Int = 1024,
        idleTimeout: TimeSpan = .seconds(60 as Int64), stateDirectory: String? = Configuration.defaultStateDirectory,
        profiles: [ProfileConfiguration] = []
    ) {
        self.socketPath = socketPath
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.logLevel = logLevel
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.stateDirectory = stateDirectory
        self.profiles = profiles
    }
}

/// The log levels of SPEC §2, in increasing severity.
public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// A user or group as the configuration names it: a number, or a name that
/// the loader resolves through the system's user database.
public enum NamedID: Hashable, Sendable, CustomStringConvertible {
    case id(UInt32)
    case name(String)

    public var description: String {
        switch self {
        case .id(let n): return String(n)
        case .name(let s): return s
        }
    }
}

/// Where a profile's client secret comes from (exactly one per profile).
public enum SecretSource: Equatable, Sendable {
    case inline
    case file(String)
    case credential(String)
}

/// RFC 6749 §2.3.1 client authentication methods.
public enum ClientAuthMethod: String, Sendable, CaseIterable {
    case clientSecretBasic = "client_secret_basic"
    case clientSecretPost = "client_secret_post"
    /// RFC 7523: a JWT signed with the client's private key (SPEC §12).
    case privateKeyJWT = "private_key_jwt"
    /// RFC 7523: a JWT signed with the client secret (HS256).
    case clientSecretJWT = "client_secret_jwt"
    /// RFC 7523 with a JWT that another system issued and rotates in a file (SPEC §13).
    case federatedAssertion = "federated_assertion"
    /// No client authentication (token exchange only, as Google's STS; SPEC §13).
    case none = "none"

    /// Whether tokend signs the client's assertions itself.
    public var usesAssertion: Bool { self == .privateKeyJWT || self == .clientSecretJWT }
    /// Whether the client authenticates with a shared secret (sent, or signing).
    public var usesSecret: Bool { self == .clientSecretBasic || self == .clientSecretPost || self == .clientSecretJWT }
}

/// The grant a profile asks for (SPEC §13).
public enum Grant: String, Sendable, CaseIterable {
    case clientCredentials = "client_credentials"
    /// RFC 8693.
    case tokenExchange = "token_exchange"

    /// Its `grant_type` form value.
    public var formValue: String {
        switch self {
        case .clientCredentials: return "client_credentials"
        case .tokenExchange: return "urn:ietf:params:oauth:grant-type:token-exchange"
        }
    }
}

/// A file that another system writes and rotates, read anew for every
/// request (SPEC §13): a federated assertion, a subject token.
public struct PresentedTokenFile: Equatable, Sendable {
    /// `.file(path)` or `.credential(name)`.
    public var source: SecretSource
    /// What is opened: the file, or the credential's file in
    /// `$CREDENTIALS_DIRECTORY` once the loader has resolved it.
    public var path: String

    public init(source: SecretSource, path: String) {
        self.source = source
        self.path = path
    }

    /// Its identity in the cache fingerprint: the path or the credential's
    /// name, never the content (a rotated file keeps the cached token).
    public var identity: String {
        switch source {
        case .file(let path): return "file:" + path
        case .credential(let name): return "credential:" + name
        case .inline: return "inline"
        }
    }
}

/// `grant = "token_exchange"` settings (RFC 8693, SPEC §13).
public struct TokenExchangeSettings: Equatable, Sendable {
    public var subject: PresentedTokenFile
    public var subjectTokenType: String
    public var requestedTokenType: String?

    public static let defaultSubjectTokenType = "urn:ietf:params:oauth:token-type:jwt"

    public init(subject: PresentedTokenFile, subjectTokenType: String = TokenExchangeSettings.defaultSubjectTokenType,
                requestedTokenType: String? = nil) {
        self.subject = subject
        self.subjectTokenType = subjectTokenType
        self.requestedTokenType = requestedTokenType
    }
}

/// Which certificate thumbprints an assertion's header carries (SPEC §13).
public enum ThumbprintChoice: String, Sendable, CaseIterable {
    case sha1, sha256, both
}

/// A client assertion key as the loader leaves it: libcrypto's key object
/// (which clears the key's bytes when freed) and the SHA-256 of the PEM it
/// was read from, so that a reload notices a replaced key. The PEM itself is
/// cleared as soon as libcrypto has read it: no copy of it stays in memory
/// for the life of the process. Its descriptions never show it.
public struct LoadedSigningKey: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let key: SigningKey
    private let digest: [UInt8]

    /// Reads `pem` into libcrypto, then clears `pem` (in place: the caller
    /// must hold its only reference, or the clearing writes to a copy).
    public init(pem: inout [UInt8]) throws(SigningKey.LoadFailure) {
        defer { AESGCM.cleanse(&pem) }
        key = try SigningKey(pem: pem)
        digest = SHA256.hash(pem)
    }

    public static func == (a: LoadedSigningKey, b: LoadedSigningKey) -> Bool { a.digest == b.digest }
    public var description: String { "<private key>" }
    public var debugDescription: String { "<private key>" }
}

/// `private_key_jwt` and `client_secret_jwt` settings (SPEC §12).
public struct ClientAssertionSettings: Equatable, Sendable {
    /// Where the private key comes from (`private_key_jwt` only).
    public var keySource: SecretSource?
    /// The key, once the loader has read it.
    public var key: LoadedSigningKey?
    /// The JWS `alg`; nil until the loader has chosen it from the key.
    public var algorithm: String?
    public var kid: String?
    /// The `aud` claim; nil: the profile's `token_url`.
    public var audience: String?
    public var lifetime: TimeSpan
    /// `client_assertion_certificate_file`: the key's certificate, then its chain.
    public var certificateFile: String?
    /// The certificates, once the loader has read them and matched the key.
    public var certificate: AssertionCertificate?
    /// `client_assertion_x5t`.
    public var thumbprints: ThumbprintChoice
    /// `client_assertion_x5c`: the chain in the header.
    public var includeChain: Bool

    public static let defaultLifetime = TimeSpan.seconds(60 as Int64)

    public init(keySource: SecretSource? = nil, key: LoadedSigningKey? = nil, algorithm: String? = nil, kid: String? = nil,
                audience: String? = nil, lifetime: TimeSpan = ClientAssertionSettings.defaultLifetime,
                certificateFile: String? = nil, thumbprints: ThumbprintChoice = .both, includeChain: Bool = false) {
        self.keySource = keySource
        self.key = key
        self.algorithm = algorithm
        self.kid = kid
        self.audience = audience
        self.lifetime = lifetime
        self.certificateFile = certificateFile
        self.thumbprints = thumbprints
        self.includeChain = includeChain
    }
}

/// One `[profile.NAME]` table, validated.
public struct ProfileConfiguration: Equatable, Sendable {
    public var name: String
    public var tokenURL: String
    public var clientID: String
    /// The inline secret when `secretSource == .inline`; otherwise filled in by the loader.
    public var clientSecret: Secret
    public var secretSource: SecretSource
    public var audience: String?
    public var scope: String?
    /// Further form parameters, sorted by name so that comparisons are stable.
    public var extraParams: [FormField]
    public var authMethod: ClientAuthMethod
    public var renewAt: Double
    public var jitter: Double
    public var retryMin: TimeSpan
    public var retryMax: TimeSpan
    public var timeout: TimeSpan
    public var caFile: String?
    public var clientCertFile: String?
    public var clientKeyFile: String?
    /// SHA-256 of the client certificate file's bytes, once the loader has
    /// read it: the certificate's identity for the cache fingerprint (a
    /// certificate renewed in place changes it; a moved file does not).
    public var clientCertificateDigest: String?
    public var defaultTTL: TimeSpan
    public var prefetch: Bool
    /// Whether its tokens go to the persistent cache (SPEC §9).
    public var persist: Bool
    /// `fleet = true`: the `[fleet]` table it shares its token through (SPEC §14).
    public var fleet: FleetConfiguration?
    public var access: AccessRule
    /// Token files (SPEC §11), in the order of the file.
    public var files: [TokenFileSink]
    /// Signed client assertions (SPEC §12), with `private_key_jwt` and `client_secret_jwt`.
    public var assertion: ClientAssertionSettings
    /// `grant` (SPEC §13).
    public var grant: Grant = .clientCredentials
    /// `federated_assertion`: where the assertion is read for every request.
    public var federatedAssertion: PresentedTokenFile?
    /// `token_exchange`: the subject token and the types.
    public var tokenExchange: TokenExchangeSettings?

    public init(name: String, tokenURL: String, clientID: String, clientSecret: Secret, secretSource: SecretSource = .inline,
                audience: String? = nil, scope: String? = nil, extraParams: [FormField] = [],
                authMethod: ClientAuthMethod = .clientSecretBasic, renewAt: Double = 0.75, jitter: Double = 0.05,
                retryMin: TimeSpan = .seconds(1 as Int64), retryMax: TimeSpan = .seconds(60 as Int64),
                timeout: TimeSpan = .seconds(10 as Int64), caFile: String? = nil, clientCertFile: String? = nil,
                clientKeyFile: String? = nil, defaultTTL: TimeSpan = .seconds(300 as Int64), prefetch: Bool = true, persist: Bool = true,
                access: AccessRule = AccessRule(), files: [TokenFileSink] = [],
                assertion: ClientAssertionSettings = ClientAssertionSettings()) {
        self.name = name
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.secretSource = secretSource
        self.audience = audience
        self.scope = scope
        self.extraParams = extraParams
        self.authMethod = authMethod
        self.renewAt = renewAt
        self.jitter = jitter
        self.retryMin = retryMin
        self.retryMax = retryMax
        self.timeout = timeout
        self.caFile = caFile
        self.clientCertFile = clientCertFile
        self.clientKeyFile = clientKeyFile
        self.defaultTTL = defaultTTL
        self.prefetch = prefetch
        self.persist = persist
        self.access = access
        self.files = files
        self.assertion = assertion
    }

    /// Whether `other` differs from this profile in its token files only: the
    /// token it obtains and serves is the same, so a reload keeps it.
    public func differsOnlyInFiles(from other: ProfileConfiguration) -> Bool {
        guard files != other.files else { return false }
        var mine = self, theirs = other
        mine.files = []
        theirs.files = []
        return mine == theirs
    }
}

/// A form parameter name and value.
public struct FormField: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The persistent cache's AES-256-GCM key. Its descriptions never show it.
public struct CacheKey: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }
    public var description: String { "<cache key>" }
    public var debugDescription: String { "<cache key>" }

    /// A key file's content: 32 raw bytes, or 64 hex digits with an optional
    /// trailing newline (as `openssl rand -hex 32` writes).
    public static func parse(_ content: [UInt8]) -> CacheKey? {
        if content.count == 32 { return CacheKey(bytes: content) }
        var text = content
        if text.last == 10 { text.removeLast() }
        if text.last == 13 { text.removeLast() }
        guard text.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return CacheKey(bytes: bytes)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

/// A secret value. Its descriptions never show the value, so that it cannot
/// reach a log line or an error message by accident.
public struct Secret: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}
