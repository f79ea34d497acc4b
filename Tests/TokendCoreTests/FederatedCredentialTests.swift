import Testing
@testable import TokendCore
import TokendPlatform
import TokendCrypto

/// SPEC §13 as pure rules: the JWS `exp` peek, what is sent and what is
/// refused, the request bodies, the configuration rules, the fingerprint.
@Suite struct FederatedCredentialTests {
    static func jws(_ payload: String, header: String = #"{"alg":"RS256"}"#) -> String {
        ClientAssertion.base64URL(Array(header.utf8)) + "." + ClientAssertion.base64URL(Array(payload.utf8)) + ".c2lnbmF0dXJl"
    }

    @Test func theExpiryPeekReadsExpAndRefusesWhatIsNotAJWS() {
        #expect(PresentedToken.shape(Self.jws(#"{"exp":1900000000,"sub":"x"}"#)) == .jws(exp: 1_900_000_000))
        #expect(PresentedToken.shape(Self.jws(#"{"sub":"x"}"#)) == .jws(exp: nil))
        #expect(PresentedToken.shape(Self.jws(#"{"exp":"tomorrow"}"#)) == .jwsWithBadExpiry)
        // Only the payload is read: a header that is not JSON does not matter.
        #expect(PresentedToken.shape(Self.jws(#"{"exp":1}"#, header: "[]")) == .jws(exp: 1))
        for bad in ["", "a.b", "a.b.c.d", "ab..cd", Self.jws("[1,2]"), Self.jws("not json"), "a+b.c/d.e=f"] {
            guard case .notJWS = PresentedToken.shape(bad) else { Issue.record("\(bad) was taken for a JWS"); continue }
        }
    }

    @Test func anAssertionIsTrimmedAndSentUntilFiveSecondsBeforeItsExpiry() {
        let token = Self.jws(#"{"exp":1000}"#)
        let content = Array(("\n  " + token + " \r\n").utf8)
        #expect(PresentedToken.evaluate(content, kind: .assertion, path: "/t", unixNow: 994.9) == .success(token))
        // Exactly 5 s before exp counts as expired.
        guard case .failure(let refusal) = PresentedToken.evaluate(content, kind: .assertion, path: "/var/run/t", unixNow: 995) else {
            Issue.record("sent 5 s before its expiry"); return
        }
        #expect(refusal.expired)
        #expect(refusal.message == "assertion expired at 1970-01-01T00:16:40Z (/var/run/t)")
        #expect(refusal.failure.reason == "assertion_expired")
        #expect(!refusal.message.contains(token))
        // No exp: sent.
        let noExpiry = Self.jws(#"{"sub":"x"}"#)
        #expect(PresentedToken.evaluate(Array(noExpiry.utf8), kind: .assertion, path: "/t", unixNow: 1e12) == .success(noExpiry))
    }

    @Test func aSubjectTokenNeedNotBeAJWSButAJWSOneIsChecked() {
        #expect(PresentedToken.evaluate(Array("opaque-token_123\n".utf8), kind: .subjectToken, path: "/s", unixNow: 0) == .success("opaque-token_123"))
        guard case .failure(let expired) = PresentedToken.evaluate(Array(Self.jws(#"{"exp":10}"#).utf8), kind: .subjectToken, path: "/s", unixNow: 10) else {
            Issue.record("an expired subject JWS was sent"); return
        }
        #expect(expired.message == "subject token expired at 1970-01-01T00:00:10Z (/s)")
        #expect(expired.failure.reason == "subject_token_expired")
        guard case .failure(let notJWS) = PresentedToken.evaluate(Array("opaque".utf8), kind: .assertion, path: "/a", unixNow: 0) else {
            Issue.record("an assertion that is not a JWS was sent"); return
        }
        #expect(notJWS.message.hasPrefix("/a does not hold a JWS") && !notJWS.expired)
        // Any other subject token is sent as it is (less surrounding whitespace).
        for token in ["two words", "caf\u{E9}", Self.jws(#"{"exp":"soon"}"#)] {
            #expect(PresentedToken.evaluate(Array((token + "\n").utf8), kind: .subjectToken, path: "/s", unixNow: 0) == .success(token))
        }
        guard case .failure(let empty) = PresentedToken.evaluate(Array(" \n".utf8), kind: .subjectToken, path: "/s", unixNow: 0) else {
            Issue.record("an empty subject token was sent"); return
        }
        #expect(!empty.expired && empty.message.contains("is empty"))
        for bad in ["two words", "caf\u{E9}"] {
            guard case .failure(let refusal) = PresentedToken.evaluate(Array(bad.utf8), kind: .assertion, path: "/a", unixNow: 0) else {
                Issue.record("\(bad) was sent as an assertion"); continue
            }
            #expect(!refusal.expired && !refusal.message.contains(bad))
        }
        guard case .failure(let badExpiry) = PresentedToken.evaluate(Array(Self.jws(#"{"exp":"soon"}"#).utf8), kind: .assertion, path: "/a", unixNow: 0) else {
            Issue.record("an assertion with a bad exp was sent"); return
        }
        #expect(badExpiry.message.contains("exp claim is not a number"))
    }

    @Test func rfc3339() {
        #expect(RFC3339.format(0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(1_796_297_247.9) == "2026-12-03T11:27:27Z")
        #expect(RFC3339.format(951_782_400) == "2000-02-29T00:00:00Z")
        #expect(RFC3339.format(-1) == "1969-12-31T23:59:59Z")
    }

    static func profile(_ method: ClientAuthMethod, grant: Grant = .clientCredentials) -> ProfileConfiguration {
        var profile = ProfileConfiguration(name: "p", tokenURL: "https://i/t", clientID: "app-id", clientSecret: Secret(""))
        profile.authMethod = method
        profile.grant = grant
        profile.scope = "api://x/.default"
        if method == .federatedAssertion {
            profile.federatedAssertion = PresentedTokenFile(source: .file("/var/run/secrets/token"), path: "/var/run/secrets/token")
        }
        if grant == .tokenExchange {
            profile.tokenExchange = TokenExchangeSettings(subject: PresentedTokenFile(source: .file("/s"), path: "/s"),
                                                          requestedTokenType: "urn:ietf:params:oauth:token-type:access_token")
        }
        return profile
    }

    @Test func aFederatedRequestHasExactlyTheFieldsOfSpec13() {
        let assertion = Self.jws(#"{"exp":1900000000}"#)
        let request = TokenRequest(profile: Self.profile(.federatedAssertion), userAgent: "tokend/1", assertion: assertion)
        #expect(request.body == "grant_type=client_credentials&client_id=app-id"
            + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
            + "&client_assertion=\(assertion)&scope=api%3A%2F%2Fx%2F.default")
        #expect(!request.headers.contains { $0.name == "Authorization" })
        #expect(request.secretForms.contains(assertion))
    }

    @Test func aTokenExchangeWithoutClientAuthentication() {
        let request = TokenRequest(profile: Self.profile(.none, grant: .tokenExchange), userAgent: "tokend/1", subjectToken: "subj.tok.en")
        #expect(request.body == "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=app-id"
            + "&subject_token=subj.tok.en&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"
            + "&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&scope=api%3A%2F%2Fx%2F.default")
        #expect(!request.headers.contains { $0.name == "Authorization" })
        #expect(request.secretForms == ["subj.tok.en"])
        var anonymous = Self.profile(.none, grant: .tokenExchange)
        anonymous.clientID = ""
        #expect(!TokenRequest(profile: anonymous, userAgent: "t", subjectToken: "x").body.contains("client_id"))
    }

    @Test func aTokenExchangeAuthenticatedWithBasic() {
        var profile = Self.profile(.clientSecretBasic, grant: .tokenExchange)
        profile.clientSecret = Secret("s")
        let request = TokenRequest(profile: profile, userAgent: "t", subjectToken: "abc")
        #expect(request.headers.contains { $0.name == "Authorization" })
        #expect(request.body.hasPrefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=abc&"))
    }

    @Test func tokenTypeNAIsServedAsBearerAndTheIssuedTypeIsKept() throws {
        let body = #"{"access_token":"t","token_type":"N_A","expires_in":60,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#
        guard case .success(let token) = TokenResponseParser.parse(status: 200, retryAfter: nil, body: Array(body.utf8), defaultTTL: .seconds(1 as Int64),
                                                                  unixTime: 0, redact: []) else { Issue.record("refused"); return }
        #expect(token.tokenType == "Bearer")
        #expect(token.issuedTokenType == "urn:ietf:params:oauth:token-type:access_token")
    }

    // MARK: - Configuration

    static let head = "[profile.p]\ntoken_url = \"https://i.example/t\"\n"
    let parser = ConfigurationParserTests()

    func host(now: Double = BootClock.unixTime()) -> FakeHost {
        var host = FakeHost()
        host.files["/k8s/token"] = Self.jws("{\"exp\":\(Int(now) + 3600)}") + "\n"
        host.files["/k8s/old"] = Self.jws("{\"exp\":\(Int(now) - 3600)}")
        host.files["/subject"] = "opaque"
        host.files["/creds/sa"] = Self.jws("{\"exp\":\(Int(now) + 3600)}")
        host.env["CREDENTIALS_DIRECTORY"] = "/creds"
        return host
    }

    @Test func aFederatedProfileLoadsAndAnExpiredFileIsAWarning() throws {
        let text = Self.head + "client_id = \"app\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"/k8s/token\"\n"
        let loaded = try parser.load(text, host: host())
        let profile = try #require(loaded.configuration.profiles.first)
        #expect(profile.authMethod == .federatedAssertion && profile.federatedAssertion?.path == "/k8s/token")
        #expect(loaded.warnings.isEmpty)
        let expired = try parser.load(text.replacingAll("/k8s/token", with: "/k8s/old"), host: host())
        #expect(expired.warnings.count == 1 && expired.warnings[0].contains("assertion expired at"), "\(expired.warnings)")
        let credential = try parser.load(Self.head + "client_id = \"app\"\nauth_method = \"federated_assertion\"\nclient_assertion_credential = \"sa\"\n",
                                         host: host())
        #expect(credential.configuration.profiles[0].federatedAssertion?.path == "/creds/sa")
    }

    @Test(arguments: [
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\n", "profile.p", "client_assertion_file or client_assertion_credential"),
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"/missing\"\n", "profile.p.client_assertion_file", "cannot read /missing"),
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"/subject\"\n", "profile.p.client_assertion_file", "does not hold a JWS"),
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"k8s/token\"\n", "profile.p.client_assertion_file", "absolute path"),
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"/k8s/token\"\nclient_secret = \"s\"\n", "profile.p.client_secret", "not used with auth_method = \"federated_assertion\""),
        ("client_id = \"a\"\nauth_method = \"federated_assertion\"\nclient_assertion_file = \"/k8s/token\"\nclient_assertion_credential = \"sa\"\n", "profile.p.client_assertion_credential", "only one of"),
        ("client_id = \"a\"\nclient_secret = \"s\"\nclient_assertion_file = \"/k8s/token\"\n", "profile.p.client_assertion_file", "needs auth_method = \"federated_assertion\""),
        ("client_id = \"a\"\nauth_method = \"none\"\n", "profile.p.auth_method", "only for grant = \"token_exchange\""),
        ("auth_method = \"none\"\ngrant = \"token_exchange\"\nsubject_token_file = \"/subject\"\nclient_secret = \"s\"\n", "profile.p.client_secret", "not used with auth_method = \"none\""),
        ("auth_method = \"none\"\ngrant = \"token_exchange\"\nsubject_token_file = \"/subject\"\nclient_assertion_kid = \"k\"\n", "profile.p.client_assertion_kid", "not used with auth_method = \"none\""),
        ("client_id = \"a\"\nclient_secret = \"s\"\ngrant = \"token_exchange\"\n", "profile.p", "subject_token_file or subject_token_credential"),
        ("client_id = \"a\"\nclient_secret = \"s\"\ngrant = \"jwt_bearer\"\n", "profile.p.grant", "must be one of"),
        ("client_id = \"a\"\nclient_secret = \"s\"\nsubject_token_file = \"/subject\"\n", "profile.p.subject_token_file", "needs grant = \"token_exchange\""),
        ("client_id = \"a\"\nclient_secret = \"s\"\nrequested_token_type = \"x\"\n", "profile.p.requested_token_type", "needs grant = \"token_exchange\""),
        ("auth_method = \"none\"\ngrant = \"token_exchange\"\nsubject_token_file = \"/missing\"\n", "profile.p.subject_token_file", "cannot read /missing"),
        ("client_id = \"a\"\nauth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_x5t = \"sha256\"\n", "profile.p.client_assertion_x5t", "needs client_assertion_certificate_file"),
        ("client_id = \"a\"\nauth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_x5c = true\n", "profile.p.client_assertion_x5c", "needs client_assertion_certificate_file"),
        ("client_id = \"a\"\nclient_secret = \"s\"\nclient_assertion_certificate_file = \"/c\"\n", "profile.p.client_assertion_certificate_file", "needs auth_method"),
        ("client_id = \"a\"\nclient_secret = \"s\"\nextra_params = { subject_token = \"x\" }\n", "profile.p.extra_params.subject_token", "set by tokend itself"),
    ])
    func configurationErrorsNameTheKey(body: String, key: String, fragment: String) {
        let errors = parser.errors(Self.head + body, host: host())
        #expect(errors.contains { $0.key == key && $0.message.contains(fragment) }, "\(errors.map(\.description))")
    }

    @Test func aTokenExchangeProfileLoadsWithoutClientIdOrSecret() throws {
        let text = Self.head + "grant = \"token_exchange\"\nauth_method = \"none\"\nsubject_token_file = \"/subject\"\n"
            + "requested_token_type = \"urn:ietf:params:oauth:token-type:access_token\"\n"
        let profile = try #require(try parser.load(text, host: host()).configuration.profiles.first)
        #expect(profile.grant == .tokenExchange && profile.authMethod == .none && profile.clientID.isEmpty)
        #expect(profile.tokenExchange?.subjectTokenType == "urn:ietf:params:oauth:token-type:jwt")
        #expect(profile.tokenExchange?.requestedTokenType == "urn:ietf:params:oauth:token-type:access_token")
        // A subject file the rotator has not written yet: a warning, not an error.
        var empty = host()
        empty.files["/subject"] = "\n"
        let loaded = try parser.load(text, host: empty)
        #expect(loaded.warnings.count == 1 && loaded.warnings[0].contains("subject_token_file") && loaded.warnings[0].contains("is empty"),
                "\(loaded.warnings)")
    }

    @Test func theFingerprintFollowsPathsAndCertificatesNeverContent() throws {
        let plain = ProfileConfiguration(name: "p", tokenURL: "https://i/t", clientID: "c", clientSecret: Secret("s"))
        // A profile without §13 keys keeps the fingerprint of earlier releases.
        #expect(plain.cacheFingerprint == SHA256.hex(Array(#"["https://i/t","c","client_secret_basic",null,null,[],null]"#.utf8)))
        let federated = Self.profile(.federatedAssertion)
        var moved = federated
        moved.federatedAssertion = PresentedTokenFile(source: .file("/elsewhere"), path: "/elsewhere")
        var credential = federated
        credential.federatedAssertion = PresentedTokenFile(source: .credential("sa"), path: "/run/credentials/tokend.service/sa")
        var resolvedElsewhere = credential
        resolvedElsewhere.federatedAssertion?.path = "/other/sa"
        #expect(federated.cacheFingerprint != moved.cacheFingerprint)
        #expect(credential.cacheFingerprint != federated.cacheFingerprint)
        #expect(credential.cacheFingerprint == resolvedElsewhere.cacheFingerprint)
        let exchange = Self.profile(.none, grant: .tokenExchange)
        var otherSubject = exchange
        otherSubject.tokenExchange?.subject = PresentedTokenFile(source: .file("/t"), path: "/t")
        var otherType = exchange
        otherType.tokenExchange?.requestedTokenType = nil
        #expect(Set([exchange.cacheFingerprint, otherSubject.cacheFingerprint, otherType.cacheFingerprint]).count == 3)
    }
}
