import TokendProtocol

/// The HTTP request that asks an IdP for a token (SPEC §3), as data: the
/// transport sends exactly this.
public struct TokenRequest: Equatable, Sendable {
    public var url: String
    /// Headers other than Content-Length; includes Authorization for Basic.
    public var headers: [(name: String, value: String)]
    public var body: String
    /// Every form in which the request carries the client secret (raw,
    /// percent-encoded, inside the base64 of the Basic credentials) and the
    /// forms a server echoing it is likely to use (lower-case hex, `+` for a
    /// space, JSON-escaped): what an error message must never quote.
    public var secretForms: [String]

    public static func == (a: TokenRequest, b: TokenRequest) -> Bool {
        a.url == b.url && a.body == b.body && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Any other POST (the etcd gateway's calls, SPEC §14).
    public init(url: String, headers: [(name: String, value: String)], body: String) {
        self.url = url
        self.headers = headers
        self.body = body
        self.secretForms = []
    }

    /// - Parameters:
    ///   - assertion: the client assertion of this request: signed anew for
    ///     `private_key_jwt` and `client_secret_jwt`, read from its file for
    ///     `federated_assertion` (SPEC §12, §13).
    ///   - subjectToken: the subject token of a token exchange, read from its file.
    public init(profile: ProfileConfiguration, userAgent: String, assertion: String? = nil, subjectToken: String? = nil) {
        url = profile.tokenURL
        var fields = [FormField("grant_type", profile.grant.formValue)]
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("User-Agent", userAgent),
        ]
        let secret = profile.clientSecret.value
        secretForms = TokenRequest.echoForms(of: secret)
        switch profile.authMethod {
        case .clientSecretBasic:
            let credentials = FormEncoding.encode(profile.clientID) + ":" + FormEncoding.encode(secret)
            let basic = Base64.encode(credentials.utf8)
            headers.append(("Authorization", "Basic " + basic))
            secretForms.append(basic)
        case .clientSecretPost:
            fields.append(FormField("client_id", profile.clientID))
            fields.append(FormField("client_secret", profile.clientSecret.value))
        case .privateKeyJWT, .clientSecretJWT, .federatedAssertion:
            fields.append(FormField("client_id", profile.clientID))
            fields.append(FormField("client_assertion_type", ClientAssertion.assertionType))
            fields.append(FormField("client_assertion", assertion ?? ""))
        case .none:
            // No client authentication; the id, when configured, identifies it.
            if !profile.clientID.isEmpty { fields.append(FormField("client_id", profile.clientID)) }
        }
        // A credential for its lifetime: never quoted from an error page either.
        if let assertion { secretForms += TokenRequest.echoForms(of: assertion) }
        if let exchange = profile.tokenExchange, profile.grant == .tokenExchange {
            fields.append(FormField("subject_token", subjectToken ?? ""))
            fields.append(FormField("subject_token_type", exchange.subjectTokenType))
            if let requested = exchange.requestedTokenType { fields.append(FormField("requested_token_type", requested)) }
            if let subjectToken { secretForms += TokenRequest.echoForms(of: subjectToken) }
        }
        secretForms = TokenRequest.longestFirst(secretForms)
        if let audience = profile.audience { fields.append(FormField("audience", audience)) }
        if let scope = profile.scope { fields.append(FormField("scope", scope)) }
        fields += profile.extraParams
        body = FormEncoding.body(fields)
    }

    /// The ways a server may echo `secret` back in an error page.
    public static func echoForms(of secret: String) -> [String] {
        guard !secret.isEmpty else { return [] }
        let encoded = FormEncoding.encode(secret)
        let forms = [secret, encoded, encoded.replacingAll("%20", with: "+"), lowerCaseEscapes(encoded),
                     String(JSONWriter.quoted(secret).dropFirst().dropLast())]
        return longestFirst(forms)
    }

    /// Longest first, so that a form containing another is removed whole; no repeats.
    static func longestFirst(_ forms: [String]) -> [String] {
        let sorted = forms.sorted { $0.utf8.count > $1.utf8.count }
        var unique: [String] = []
        for form in sorted where !form.isEmpty && !unique.contains(form) { unique.append(form) }
        return unique
    }

    private static func lowerCaseEscapes(_ encoded: String) -> String {
        var out = [UInt8]()
        var afterPercent = 0
        for byte in encoded.utf8 {
            if byte == UInt8(ascii: "%") { afterPercent = 2; out.append(byte); continue }
            if afterPercent > 0, (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) { out.append(byte | 0x20) } else { out.append(byte) }
            afterPercent = max(0, afterPercent - 1)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
