import Foundation
import TestIdP
import Testing
import TokendCore
import TokendHTTP
import TokendPlatform

/// Real libcurl against the test IdP on 127.0.0.1.
@Suite(.serialized) struct TokenEndpointClientTests {
    func profile(_ idp: TestIdP, id: String = "demo", secret: String = "demo-secret", _ change: (inout ProfileConfiguration) -> Void = { _ in }) -> ProfileConfiguration {
        var p = ProfileConfiguration(name: "p", tokenURL: idp.tokenURL, clientID: id, clientSecret: Secret(secret), timeout: .seconds(3 as Int64))
        change(&p)
        return p
    }

    func withIdP(_ settings: TestIdP.Settings = TestIdP.Settings(), _ body: (TestIdP) async throws -> Void) async throws {
        CurlTransfer.globalInit()
        let idp = try await TestIdP.start(settings: settings)
        do { try await body(idp) } catch { try await idp.shutdown(); throw error }
        try await idp.shutdown()
    }

    @Test func bothAuthMethodsWithAwkwardCredentials() async throws {
        let id = "client:1%+é", secret = "p:a%s+s wörd"
        var settings = TestIdP.Settings()
        settings.clients = [TestIdP.Client(id: id, secret: secret)]
        try await withIdP(settings) { idp in
            for method in [ClientAuthMethod.clientSecretBasic, .clientSecretPost] {
                let report = fetchOnce(profile(idp, id: id, secret: secret) { $0.authMethod = method })
                let token = try report.result.get()
                #expect(token.lifetime == .seconds(3600 as Int64))
            }
            let basic = idp.requests[0], post = idp.requests[1]
            #expect(basic.header("Authorization")?.hasPrefix("Basic ") == true && basic.form["client_secret"] == nil)
            #expect(post.header("Authorization") == nil && post.form["client_id"] == id && post.form["client_secret"] == secret)
        }
    }

    @Test func requestCarriesWhatTheSpecSays() async throws {
        try await withIdP { idp in
            let p = profile(idp) {
                $0.audience = "https://api.example.com/"
                $0.scope = "read write"
                $0.extraParams = [FormField("resource", "https://r.example/x?y=1&z")]
            }
            _ = try fetchOnce(p).result.get()
            let r = try #require(idp.requests.first)
            #expect(r.method == "POST")
            #expect(r.header("Content-Type") == "application/x-www-form-urlencoded")
            #expect(r.header("Accept") == "application/json")
            #expect(r.header("User-Agent") == "tokend/\(TokendVersion.string)")
            #expect(r.form == ["grant_type": "client_credentials", "audience": "https://api.example.com/", "scope": "read write",
                               "resource": "https://r.example/x?y=1&z"])
        }
    }

    @Test func expiresInAsStringAndJWTFallback() async throws {
        try await withIdP { idp in
            idp.update { $0.expiresInStyle = .string; $0.lifetime = 120 }
            #expect(try fetchOnce(profile(idp)).result.get().lifetime == .seconds(120 as Int64))
            idp.update { $0.expiresInStyle = .omitted; $0.tokenFormat = .jwt; $0.lifetime = 900 }
            let lifetime = try fetchOnce(profile(idp)).result.get().lifetime
            #expect(lifetime > .seconds(895 as Int64) && lifetime <= .seconds(901 as Int64))
            idp.update { $0.tokenFormat = .opaque }
            #expect(try fetchOnce(profile(idp)).result.get().lifetime == .seconds(300 as Int64))
        }
    }

    @Test func failuresAreClearAndNeverLeakTheSecret() async throws {
        try await withIdP { idp in
            let wrong = fetchOnce(profile(idp, secret: "wrong-secret-value"))
            #expect(wrong.result == .failure(FetchFailure("invalid_client: Client authentication failed", kind: .oauthError, code: "invalid_client")))

            let client = TokenEndpointClient(profile: profile(idp))
            defer { client.shutdown() }
            idp.enqueue(.html500)
            guard case .failure(let html) = client.fetchNow().result else { Issue.record("500 accepted"); return }
            #expect(html.message.hasPrefix("HTTP 500"))

            idp.enqueue(.retryAfter(status: 503, value: "2"))
            guard case .failure(let busy) = client.fetchNow().result else { Issue.record("503 accepted"); return }
            #expect(busy.retryAfter == .seconds(2 as Int64))

            idp.enqueue(.hugeBody(bytes: 2 << 20))
            guard case .failure(let huge) = client.fetchNow().result else { Issue.record("huge body accepted"); return }
            #expect(huge.message.contains("larger than"))

            idp.enqueue(.malformedBody)
            guard case .failure(let malformed) = client.fetchNow().result else { Issue.record("malformed accepted"); return }
            #expect(malformed.message.contains("invalid token response"))

            idp.enqueue(.missingField("access_token"))
            #expect(throws: FetchFailure.self) { try client.fetchNow().result.get() }

            // A connection closed without an answer fails the attempt; no
            // connection is reused, so libcurl does not silently resend.
            let beforeClose = idp.requests.count
            idp.enqueue(.closeConnection)
            #expect(throws: FetchFailure.self) { try client.fetchNow().result.get() }
            #expect(idp.requests.count == beforeClose + 1)

            let before = idp.requests.count
            idp.enqueue(.redirect(location: idp.tokenURL))
            guard case .failure(let redirect) = client.fetchNow().result else { Issue.record("redirect followed"); return }
            #expect(redirect.message.hasPrefix("HTTP 307"))
            #expect(idp.requests.count == before + 1)

            // Still healthy afterwards, on the same handle.
            #expect(throws: Never.self) { try client.fetchNow().result.get() }
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        try await withIdP { idp in
            idp.enqueue(.delay(seconds: 5))
            let client = TokenEndpointClient(profile: profile(idp) { $0.timeout = .seconds(1 as Int64) })
            defer { client.shutdown() }
            let started = Date()
            guard case .failure(let failure) = client.fetchNow().result else { Issue.record("no timeout"); return }
            #expect(Date().timeIntervalSince(started) < 3)
            #expect(failure.message.lowercased().contains("timeout") || failure.message.lowercased().contains("timed out"))
        }
    }

    @Test func transportErrorsUseCurlsWords() async throws {
        CurlTransfer.globalInit()
        let p = ProfileConfiguration(name: "p", tokenURL: "http://127.0.0.1:1/t", clientID: "i", clientSecret: Secret("s"))
        guard case .failure(let failure) = fetchOnce(p).result else { Issue.record("connected?"); return }
        #expect(failure.message.contains("127.0.0.1"))
    }
}

/// One fetch on a client of its own, shut down afterwards (its thread pool
/// would otherwise outlive the test).
func fetchOnce(_ profile: ProfileConfiguration) -> FetchReport {
    let client = TokenEndpointClient(profile: profile)
    defer { client.shutdown() }
    return client.fetchNow()
}
