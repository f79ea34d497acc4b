import Testing
@testable import TokendCore
import TokendPlatform

@Suite struct TokenRequestTests {
    @Test func basicAuthURLEncodesIdAndSecret() throws {
        let profile = ProfileConfiguration(name: "p", tokenURL: "https://i/t", clientID: "id:1 é", clientSecret: Secret("s%+:x"),
                                           audience: "https://api/", scope: "a b", extraParams: [FormField("resource", "r&s")])
        let request = TokenRequest(profile: profile, userAgent: "tokend/1")
        let auth = request.headers.first { $0.name == "Authorization" }?.value
        #expect(auth == "Basic " + Base64.encode(Array("id%3A1%20%C3%A9:s%25%2B%3Ax".utf8)))
        #expect(request.body == "grant_type=client_credentials&audience=https%3A%2F%2Fapi%2F&scope=a%20b&resource=r%26s")
        #expect(!request.body.contains("client_secret"))
    }

    @Test func postAuthPutsCredentialsInTheBody() throws {
        var profile = ProfileConfiguration(name: "p", tokenURL: "https://i/t", clientID: "id", clientSecret: Secret("s"))
        profile.authMethod = .clientSecretPost
        let request = TokenRequest(profile: profile, userAgent: "tokend/1")
        #expect(request.body == "grant_type=client_credentials&client_id=id&client_secret=s")
        #expect(!request.headers.contains { $0.name == "Authorization" })
    }
}
