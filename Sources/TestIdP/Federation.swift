import TokendCore
import TokendCrypto
import TokendProtocol

extension TestIdP {
    /// A trusted issuer of federated client assertions (SPEC §13), as an IdP
    /// such as Entra ID or Keycloak keeps one: whose key signs them (HS256
    /// here), their `iss` and `aud`, and which clients may present them.
    public struct Federation: Sendable, Equatable {
        public var issuer: String
        public var audience: String
        public var key: [UInt8]
        public var clientIDs: [String]

        public init(issuer: String, audience: String, key: [UInt8], clientIDs: [String]) {
            self.issuer = issuer
            self.audience = audience
            self.key = key
            self.clientIDs = clientIDs
        }

        /// Whether `assertion` is an HS256 JWS by this issuer, for this
        /// audience, unexpired at `unixNow`.
        func accepts(_ assertion: String, unixNow: Double) -> Bool {
            let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, let headerBytes = Base64.decode(parts[0]), let payload = Base64.decode(parts[1]),
                  let signature = Base64.decode(parts[2]),
                  let header = try? JSONParser.parse(headerBytes), header["alg"]?.stringValue == "HS256",
                  let claims = try? JSONParser.parse(payload) else { return false }
            let expected = HMACSHA256.mac(key: key, Array((parts[0] + "." + parts[1]).utf8))
            guard expected == signature else { return false }
            guard claims["iss"]?.stringValue == issuer, claims["aud"]?.stringValue == audience,
                  let exp = claims["exp"]?.doubleValue, exp > unixNow else { return false }
            return true
        }

        /// A JWS this issuer would sign: what a Kubernetes token file holds.
        public func assertion(subject: String, expiresAt: Int, issuedAt: Int) -> String {
            let header = ClientAssertion.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
            let claims = JSONWriter.write(.object([
                ("iss", .string(issuer)), ("sub", .string(subject)), ("aud", .string(audience)),
                ("iat", .int(issuedAt)), ("exp", .int(expiresAt)),
            ]))
            let input = header + "." + ClientAssertion.base64URL(Array(claims.utf8))
            return input + "." + ClientAssertion.base64URL(HMACSHA256.mac(key: key, Array(input.utf8)))
        }
    }

    /// RFC 8693's grant type.
    static let tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
}
