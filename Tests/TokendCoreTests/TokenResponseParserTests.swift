import Testing
@testable import TokendCore
import TokendPlatform

@Suite struct TokenResponseParserTests {
    func parse(_ status: Int, _ body: String, retryAfter: String? = nil, redact: [String] = []) -> Result<IssuedToken, FetchFailure> {
        TokenResponseParser.parse(status: status, retryAfter: retryAfter, body: Array(body.utf8), defaultTTL: .seconds(300 as Int64),
                                  unixTime: 1_000_000, redact: redact)
    }

    @Test func success() throws {
        let t = try parse(200, #"{"access_token":"abc","token_type":"bearer","expires_in":3600,"scope":"x"}"#).get()
        #expect(t == IssuedToken(accessToken: "abc", tokenType: "Bearer", lifetime: .seconds(3600 as Int64)))
        #expect(try parse(200, #"{"access_token":"abc","expires_in":"120"}"#).get().lifetime == .seconds(120 as Int64))
        #expect(try parse(200, #"{"access_token":"abc","token_type":"DPOP"}"#).get().tokenType == "DPoP")
        #expect(try parse(200, #"{"access_token":"abc"}"#).get().lifetime == .seconds(300 as Int64))
        #expect(try parse(200, #"{"access_token":"abc","expires_in":60,"refresh_in":30}"#).get().refreshIn == .seconds(30 as Int64))
    }

    @Test func jwtExpIsTheFallback() throws {
        let payload = Base64.encode(Array(#"{"exp":1000600}"#.utf8)).replacingAll("=", with: "")
        let token = "eyJhbGciOiJub25lIn0.\(payload).sig"
        #expect(try parse(200, #"{"access_token":"\#(token)"}"#).get().lifetime == .seconds(600 as Int64))
    }

    /// Found by fuzz-token-response: an `exp` beyond Int64 nanoseconds trapped.
    @Test func absurdLifetimesAreCappedNotTrapped() throws {
        let payload = Base64.encode(Array(#"{"exp":1800003603600}"#.utf8)).replacingAll("=", with: "")
        #expect(try parse(200, #"{"access_token":"eyJhbGciOiJub25lIn0.\#(payload).c2ln"}"#).get().lifetime == maximumTokenLifetime)
        #expect(try parse(200, #"{"access_token":"a","expires_in":1e300}"#).get().lifetime == maximumTokenLifetime)
        #expect(try parse(200, #"{"access_token":"a","expires_in":"9223372036854775807"}"#).get().lifetime == maximumTokenLifetime)
        #expect(try parse(200, #"{"access_token":"a","expires_in":60,"refresh_in":1e300}"#).get().refreshIn == maximumTokenLifetime)
        #expect(parse(200, #"{"access_token":"a","expires_in":-1e300}"#) == .failure(FetchFailure("invalid token response: token lifetime is zero or less", kind: .invalidResponse)))
        #expect(TimeSpan.seconds(Int64.max) == TimeSpan(nanoseconds: .max) && TimeSpan.seconds(-Double.infinity) == TimeSpan(nanoseconds: .min))
    }

    @Test func failures() throws {
        #expect(parse(401, #"{"error":"invalid_client","error_description":"Client authentication failed"}"#)
            == .failure(FetchFailure("invalid_client: Client authentication failed", kind: .oauthError, code: "invalid_client")))
        #expect(parse(200, #"{"error":"invalid_scope"}"#) == .failure(FetchFailure("invalid_scope", kind: .oauthError, code: "invalid_scope")))
        #expect(parse(500, "<html><body>Internal\n  Error</body></html>") == .failure(FetchFailure("HTTP 500: <html><body>Internal Error</body></html>", kind: .httpError, code: "500")))
        #expect(parse(503, "", retryAfter: "7") == .failure(FetchFailure("HTTP 503", retryAfter: .seconds(7 as Int64), kind: .httpError, code: "503")))
        #expect(parse(500, "", retryAfter: "7") == .failure(FetchFailure("HTTP 500", kind: .httpError, code: "500")))
        #expect(parse(429, "", retryAfter: "Mon, 12 Jan 1970 14:03:20 GMT") == .failure(FetchFailure("HTTP 429", retryAfter: .seconds(600 as Int64), kind: .httpError, code: "429")))
        for body in [#"{"access_token":"abc"#, "[]", #"{"token_type":"Bearer"}"#, #"{"access_token":"a b"}"#,
                     #"{"access_token":"abc","expires_in":0}"#, #"{"access_token":"abc","expires_in":"soon"}"#, #"{"access_token":42}"#] {
            guard case .failure(let f) = parse(200, body) else { Issue.record("accepted \(body)"); continue }
            #expect(f.message.hasPrefix("invalid token response"))
            #expect(!f.message.contains("abc"))
        }
        let long = parse(502, String(repeating: "x", count: 5000))
        if case .failure(let f) = long { #expect(f.message.count == "HTTP 502: ".count + 200) }
    }

    @Test func theSecretIsRedactedFromEchoedBodies() throws {
        guard case .failure(let f) = parse(400, "bad client_secret=hunter2-secret", redact: ["hunter2-secret"]) else {
            Issue.record("accepted an HTTP 400")
            return
        }
        #expect(!f.message.contains("hunter2-secret") && f.message.contains("<redacted>"))
    }

    /// A body holding a token is never quoted, whatever the status.
    @Test(arguments: [200, 201, 202, 400, 500])
    func aBodyHoldingATokenIsNeverQuoted(status: Int) throws {
        for body in [#"{"access_token":"tok-SECRET-123","error":"weird"}"#, #"{"Access_Token":"tok-SECRET-123"}"#,
                     "<html>access_token=tok-SECRET-123</html>"] {
            guard case .failure(let f) = parse(status, body) else {
                if status != 200 { Issue.record("HTTP \(status) accepted") }
                continue
            }
            #expect(!f.message.contains("tok-SECRET-123"), "\(f.message)")
            #expect(f.message.contains("access_token"))
        }
    }

    /// An error page echoing the request shows the secret
    /// percent-encoded or inside the Basic credentials; and a secret across
    /// the 200-character cut must not survive by halves.
    @Test func theSecretIsRedactedInEveryFormItWasSent() throws {
        let secret = "s3cr3t value/+=%:é"
        let profile = ProfileConfiguration(name: "p", tokenURL: "https://i/t", clientID: "my id", clientSecret: Secret(secret))
        let request = TokenRequest(profile: profile, userAgent: "tokend/1")
        let basic = String(request.headers.first { $0.name == "Authorization" }!.value.dropFirst("Basic ".count))
        let encoded = FormEncoding.encode(secret)
        for echoed in [secret, encoded, encoded.lowercased(), basic, encoded.replacingAll("%20", with: "+")] {
            for padding in [0, 150, 190, 195, 199] {
                let body = String(repeating: "x", count: padding) + echoed + " trailing"
                guard case .failure(let f) = parse(400, body, redact: request.secretForms) else {
                    Issue.record("accepted")
                    continue
                }
                for piece in [secret, encoded, basic, String(basic.prefix(6)), String(encoded.prefix(8)), String(encoded.suffix(8))] {
                    #expect(!f.message.contains(piece), "\(f.message) holds \(piece)")
                }
            }
        }
        let json = #"{"error":"invalid_client","error_description":"secret "# + encoded + #" is wrong"}"#
        guard case .failure(let f) = parse(401, json, redact: request.secretForms) else {
            Issue.record("an invalid_client answer was accepted")
            return
        }
        #expect(f.message == "invalid_client: secret <redacted> is wrong")
    }

    @Test func httpDates() throws {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.parse("yesterday") == nil)
    }
}
