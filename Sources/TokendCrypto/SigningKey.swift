import CCryptoShim

/// HMAC-SHA-256 (for `client_secret_jwt`'s HS256).
public enum HMACSHA256 {
    public static func mac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        let status = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                mac.withUnsafeMutableBytes { tokend_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, $0.baseAddress) }
            }
        }
        precondition(status == 0, "libcrypto refused HMAC-SHA-256")
        return mac
    }
}

/// A private key for signed client assertions (RFC 7523), held by libcrypto,
/// which clears the key's bytes when it frees them. The PEM it was read from
/// is the caller's to clear (TokendCore's `LoadedSigningKey` does, at once).
public final class SigningKey: @unchecked Sendable {  // immutable after init; each signature uses its own EVP_MD_CTX (OpenSSL 3 allows concurrent use of one EVP_PKEY)
    public enum Kind: Equatable, Sendable, CustomStringConvertible {
        case rsa(bits: Int)
        case ecP256
        case ecP384
        case ed25519

        public var description: String {
            switch self {
            case .rsa(let bits): return "RSA \(bits)-bit"
            case .ecP256: return "EC P-256"
            case .ecP384: return "EC P-384"
            case .ed25519: return "Ed25519"
            }
        }

        /// The JWS algorithm tokend picks for it (SPEC §12).
        public var defaultAlgorithm: String {
            switch self {
            case .rsa: return "RS256"
            case .ecP256: return "ES256"
            case .ecP384: return "ES384"
            case .ed25519: return "EdDSA"
            }
        }

        /// The algorithms this key can sign with.
        public var algorithms: [String] {
            switch self {
            case .rsa: return ["RS256", "PS256"]
            case .ecP256: return ["ES256"]
            case .ecP384: return ["ES384"]
            case .ed25519: return ["EdDSA"]
            }
        }
    }

    public struct LoadFailure: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    private let handle: UnsafeMutableRawPointer
    public let kind: Kind

    /// Reads a PEM private key: RSA of 2048 bits or more, EC P-256 or P-384,
    /// Ed25519; PKCS#8 or a traditional form; never a passphrase-protected one.
    public init(pem: [UInt8]) throws(LoadFailure) {
        var kindCode: Int32 = 0, bits: Int32 = 0
        var problem = [CChar](repeating: 0, count: 256)
        let loaded = pem.withUnsafeBytes { tokend_private_key_load($0.baseAddress, $0.count, &kindCode, &bits, &problem, problem.count) }
        guard let loaded else {
            throw LoadFailure(description: String(decoding: problem.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let kind: Kind
        switch Int(kindCode) {
        case TOKEND_KEY_RSA: kind = .rsa(bits: Int(bits))
        case TOKEND_KEY_EC_P256: kind = .ecP256
        case TOKEND_KEY_EC_P384: kind = .ecP384
        case TOKEND_KEY_ED25519: kind = .ed25519
        default:
            tokend_private_key_free(loaded)
            throw LoadFailure(description: "unsupported key type (use RSA of 2048 bits or more, EC P-256 or P-384, or Ed25519)")
        }
        if case .rsa(let bits) = kind, bits < 2048 || bits > 8192 {
            tokend_private_key_free(loaded)
            throw LoadFailure(description: bits < 2048 ? "an RSA key of \(bits) bits is too short (2048 at least)"
                                                       : "an RSA key of \(bits) bits is too long (8192 at most)")
        }
        handle = loaded
        self.kind = kind
    }

    deinit { tokend_private_key_free(handle) }

    /// The JWS signature of `data` with `algorithm` (EC in the JOSE r‖s form).
    public func sign(_ data: [UInt8], algorithm: String) throws(LoadFailure) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 1024)
        var length = signature.count
        let status = data.withUnsafeBytes { d in
            signature.withUnsafeMutableBytes { tokend_sign(handle, algorithm, d.baseAddress, d.count, $0.baseAddress, &length) }
        }
        guard status == 0 else { throw LoadFailure(description: "libcrypto cannot sign with \(algorithm) using this \(kind) key") }
        return Array(signature.prefix(length))
    }

    /// Whether `der` is a DER certificate whose public key is this key's.
    public func matches(certificate der: [UInt8]) -> CertificateMatch {
        switch der.withUnsafeBytes({ tokend_certificate_check($0.baseAddress, $0.count, handle) }) {
        case 0: return .matches
        case 2: return .otherKey
        default: return .notACertificate
        }
    }
}

/// What `SigningKey.matches(certificate:)` found.
public enum CertificateMatch: Equatable, Sendable {
    case matches
    case otherKey
    case notACertificate
}

/// X.509 certificates, for JWS thumbprints (SPEC §13).
public enum Certificate {
    /// Whether `der` is exactly one DER certificate.
    public static func isCertificate(_ der: [UInt8]) -> Bool {
        der.withUnsafeBytes { tokend_certificate_check($0.baseAddress, $0.count, nil) } == 0
    }
}
