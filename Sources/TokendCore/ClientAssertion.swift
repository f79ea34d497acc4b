import TokendCrypto
import TokendPlatform
import TokendProtocol

/// Signed client assertions (RFC 7523, SPEC §12): a compact JWS made anew
/// for every token request.
public enum ClientAssertion {
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// The signing input and claims of one assertion, signed by `sign`.
    /// - Parameters:
    ///   - jti: 16 bytes from the kernel's random source.
    ///   - issuedAt: wall-clock seconds (the `iat` claim).
    public static func compact<Failure: Error>(
        algorithm: String, kid: String?, clientID: String, audience: String, jti: [UInt8], issuedAt: Int64,
        lifetime: TimeSpan, extraHeader: [(String, JSONValue)] = [], sign: ([UInt8]) throws(Failure) -> [UInt8]
    ) throws(Failure) -> String {
        var header: [(String, JSONValue)] = [("alg", .string(algorithm)), ("typ", .string("JWT"))]
        if let kid { header.append(("kid", .string(kid))) }
        header += extraHeader
        let claims: [(String, JSONValue)] = [
            ("iss", .string(clientID)),
            ("sub", .string(clientID)),
            ("aud", .string(audience)),
            ("jti", .string(base64URL(jti))),
            ("iat", .int(Int(issuedAt))),
            ("exp", .int(Int(issuedAt + lifetime.wholeSeconds))),
        ]
        let signingInput = base64URL(Array(JSONWriter.write(.object(header)).utf8)) + "." + base64URL(Array(JSONWriter.write(.object(claims)).utf8))
        let signature = try sign(Array(signingInput.utf8))
        return signingInput + "." + base64URL(signature)
    }

    /// Base64url without padding (RFC 4648 §5), as JWS uses.
    public static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Base64.encode(bytes)
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}

/// Makes a profile's assertions: holds its private key (in libcrypto) or,
/// for `client_secret_jwt`, its secret.
public final class AssertionSigner: Sendable {
    public enum Key: Sendable {
        case privateKey(SigningKey)
        case secret([UInt8])
    }

    public let key: Key
    public let algorithm: String
    private let clientID: String
    private let audience: String
    private let kid: String?
    private let lifetime: TimeSpan
    /// `x5t`, `x5t#S256`, `x5c` of the key's certificate (SPEC §13).
    private let certificateHeader: [(String, JSONValue)]

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The signer of `profile` (whose key the loader has read), or why not.
    /// Never says anything of the key's bytes.
    public init(_ profile: ProfileConfiguration) throws(Failure) {
        let settings = profile.assertion
        switch profile.authMethod {
        case .privateKeyJWT:
            guard let signingKey = settings.key?.key else { throw Failure("no client assertion key was loaded") }
            let algorithm = settings.algorithm ?? signingKey.kind.defaultAlgorithm
            guard signingKey.kind.algorithms.contains(algorithm) else {
                throw Failure("\(algorithm) does not fit this \(signingKey.kind) key (it signs with \(signingKey.kind.algorithms.joined(separator: " or ")))")
            }
            key = .privateKey(signingKey)
            self.algorithm = algorithm
        case .clientSecretJWT:
            guard !profile.clientSecret.value.isEmpty else { throw Failure("client_secret_jwt needs a client secret") }
            key = .secret(Array(profile.clientSecret.value.utf8))
            algorithm = "HS256"
        case .clientSecretBasic, .clientSecretPost, .federatedAssertion, .none:
            throw Failure("\(profile.authMethod.rawValue) does not sign assertions")
        }
        certificateHeader = settings.certificate?.headerMembers(thumbprints: settings.thumbprints, includeChain: settings.includeChain) ?? []
        clientID = profile.clientID
        audience = settings.audience ?? profile.tokenURL
        kid = settings.kid
        lifetime = settings.lifetime
    }

    /// A new assertion: `jti` from the kernel's random source, `iat` now.
    public func assertion(unixNow: Int64, jti: [UInt8]) throws(Failure) -> String {
        try ClientAssertion.compact(algorithm: algorithm, kid: kid, clientID: clientID, audience: audience, jti: jti,
                                    issuedAt: unixNow, lifetime: lifetime, extraHeader: certificateHeader) { (input: [UInt8]) throws(Failure) -> [UInt8] in
            switch key {
            case .privateKey(let signingKey):
                do throws(SigningKey.LoadFailure) { return try signingKey.sign(input, algorithm: algorithm) } catch { throw Failure(error.description) }
            case .secret(let secret):
                return HMACSHA256.mac(key: secret, input)
            }
        }
    }

    /// 16 bytes (128 bits) from the kernel's random source, for a `jti`.
    public static func randomJTI() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
