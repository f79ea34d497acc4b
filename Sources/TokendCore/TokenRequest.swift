/// The HTTP request that asks an IdP for a token (SPEC §3), as data: the
/// transport sends exactly this.
public struct TokenRequest: Equatable, Sendable {
    public var url: String
    /// Headers other than Content-Length; includes Authorization for Basic.
    public var headers: [(name: String, value: String)]
    public var body: String

    public static func == (a: TokenRequest, b: TokenRequest) -> Bool {
        a.url == b.url && a.body == b.body && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    public init(profile: ProfileConfiguration, userAgent: String) {
        url = profile.tokenURL
        var fields = [FormField("grant_type", "client_credentials")]
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("User-Agent", userAgent),
        ]
        switch profile.authMethod {
        case .clientSecretBasic:
            let credentials = FormEncoding.encode(profile.clientID) + ":" + FormEncoding.encode(profile.clientSecret.value)
            headers.append(("Authorization", "Basic " + Base64.encode(credentials.utf8)))
        case .clientSecretPost:
            fields.append(FormField("client_id", profile.clientID))
            fields.append(FormField("client_secret", profile.clientSecret.value))
        }
        if let audience = profile.audience { fields.append(FormField("audience", audience)) }
        if let scope = profile.scope { fields.append(FormField("scope", scope)) }
        fields += profile.extraParams
        body = FormEncoding.body(fields)
    }
}
