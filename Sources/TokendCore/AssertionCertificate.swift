import TokendCrypto
import TokendProtocol

/// `client_assertion_certificate_file` as the loader leaves it (SPEC §13):
/// the certificates in file order (the key's own first), as DER, and the
/// leaf's digests. Certificates are public; nothing here is a secret.
public struct AssertionCertificate: Equatable, Sendable {
    /// DER, leaf first, then the chain as the file gives it.
    public let chain: [[UInt8]]
    /// SHA-1 and SHA-256 of the leaf's DER (`x5t`, `x5t#S256`).
    public let sha1: [UInt8]
    public let sha256: [UInt8]

    /// Lower-case hex of the leaf's SHA-256: its identity in the cache fingerprint.
    public var fingerprintDigest: String { SHA256.hex(chain[0]) }

    public init(chain: [[UInt8]]) {
        precondition(!chain.isEmpty, "an assertion certificate needs its leaf")
        self.chain = chain
        sha1 = SHA1.hash(chain[0])
        sha256 = SHA256.hash(chain[0])
    }

    /// The `CERTIFICATE` blocks of a PEM file, decoded, in file order; any
    /// other block (a key, say) is skipped. Nil when a block is not base64
    /// or not closed, or there is none.
    public static func derBlocks(pem: [UInt8]) -> [[UInt8]]? {
        guard let text = String(validating: pem, as: UTF8.self) else { return nil }
        var blocks: [[UInt8]] = []
        var body: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            let trimmed = String(line).trimmingSpaces
            if trimmed == "-----BEGIN CERTIFICATE-----" {
                guard body == nil else { return nil }
                body = ""
            } else if trimmed == "-----END CERTIFICATE-----" {
                guard let collected = body, let der = Base64.decode(collected), !der.isEmpty else { return nil }
                blocks.append(der)
                body = nil
            } else if body != nil {
                body! += trimmed
            }
        }
        guard body == nil, !blocks.isEmpty else { return nil }
        return blocks
    }

    /// The JWS header members it adds (after `alg`, `typ`, `kid`).
    public func headerMembers(thumbprints: ThumbprintChoice, includeChain: Bool) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if thumbprints != .sha256 { members.append(("x5t", .string(ClientAssertion.base64URL(sha1)))) }
        if thumbprints != .sha1 { members.append(("x5t#S256", .string(ClientAssertion.base64URL(sha256)))) }
        // RFC 7515 §4.1.6: standard base64 (not base64url) DER, in order.
        if includeChain { members.append(("x5c", .array(chain.map { .string(Base64.encode($0)) }))) }
        return members
    }

    /// Why a certificate file is refused.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads `pem` and checks it against the profile's private key: the
    /// first certificate's public key must be `key`'s, every block a
    /// certificate. The messages name neither key nor certificate bytes.
    public static func load(pem: [UInt8], key: SigningKey, keyName: String) -> Result<AssertionCertificate, Problem> {
        guard let blocks = derBlocks(pem: pem) else {
            return .failure(Problem("holds no PEM certificate (-----BEGIN CERTIFICATE----- blocks, the key's certificate first)"))
        }
        switch key.matches(certificate: blocks[0]) {
        case .matches: break
        case .otherKey: return .failure(Problem("its first certificate is not for the private key \(keyName): put the key's own certificate first"))
        case .notACertificate: return .failure(Problem("its first block is not a valid X.509 certificate"))
        }
        for (index, der) in blocks.enumerated().dropFirst() where !Certificate.isCertificate(der) {
            return .failure(Problem("block \(index + 1) is not a valid X.509 certificate"))
        }
        return .success(AssertionCertificate(chain: blocks))
    }
}
