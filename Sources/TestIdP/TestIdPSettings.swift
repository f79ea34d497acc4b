extension TestIdP {
    /// A registered OAuth client: the id and secret it must present.
    public struct Client: Sendable, Equatable {
        public var id: String
        public var secret: String

        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    /// How the token response carries `expires_in`. Real servers differ here
    /// (some send a numeric string, some omit it), and tokend must cope with all.
    public enum ExpiresInStyle: Sendable, Equatable {
        /// A JSON number: an integer when the lifetime is whole, else fractional.
        case number
        /// The same digits as a JSON string, e.g. `"3600"`.
        case string
        /// No `expires_in` member at all.
        case omitted
    }

    /// The shape of the access tokens handed out.
    public enum TokenFormat: Sendable, Equatable {
        /// 32 random bytes, base64url without padding.
        case opaque
        /// `header.payload.signature`, each base64url; the payload carries `exp`
        /// (unix time of expiry), `iat`, `sub` (the client id) and a random `jti`.
        /// The signature is random bytes: tokend reads `exp` without verifying.
        case jwt
    }

    /// Everything about the endpoint's behaviour that a test may change while
    /// it runs, through ``TestIdP/update(_:)``. Each request works from a
    /// snapshot taken when it arrives.
    public struct Settings: Sendable {
        /// The clients that may authenticate.
        public var clients: [Client]
        /// Token lifetime in seconds; may be fractional, zero or negative (to
        /// test how the client rejects such answers).
        public var lifetime: Double
        public var expiresInStyle: ExpiresInStyle
        public var tokenFormat: TokenFormat
        /// The `token_type` member, verbatim (tokend compares it case-insensitively).
        public var tokenType: String
        /// Added to every success body: as JSON numbers when the text is a JSON
        /// number, else as strings. A name that is already in the body (say
        /// `expires_in`) replaces the standard member in place.
        public var extraResponseFields: [String: String]
        /// Random faults and latency; nil turns them off.
        public var chaos: Chaos?
        /// Federated client assertions it trusts (SPEC §13); nil: none.
        public var federation: Federation?
        /// Whether a token exchange (RFC 8693) without client authentication
        /// is answered, as Google's STS does.
        public var tokenExchangeWithoutAuthentication = false

        public init(
            clients: [Client] = [Client(id: "demo", secret: "demo-secret")],
            lifetime: Double = 3600,
            expiresInStyle: ExpiresInStyle = .number,
            tokenFormat: TokenFormat = .opaque,
            tokenType: String = "Bearer",
            extraResponseFields: [String: String] = [:],
            chaos: Chaos? = nil
        ) {
            self.clients = clients
            self.lifetime = lifetime
            self.expiresInStyle = expiresInStyle
            self.tokenFormat = tokenFormat
            self.tokenType = tokenType
            self.extraResponseFields = extraResponseFields
            self.chaos = chaos
        }
    }
}
