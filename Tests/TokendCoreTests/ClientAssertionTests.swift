import Foundation
import Testing
@testable import TokendCore
import TokendCrypto
import TokendPlatform

/// SPEC §12, the pure half: the JWS layout, the request body, and the
/// configuration rules (the signatures are checked by joserfc and Authlib in
/// the integration tests).
@Suite struct ClientAssertionBuilderTests {
    func decode(_ part: Substring) -> [String: Any]? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    @Test func aCompactJWSWithEveryClaim() throws {
        var signed: [UInt8] = []
        let jws = ClientAssertion.compact(algorithm: "ES256", kid: "k1", clientID: "client-1", audience: "https://idp/token",
                                          jti: [UInt8](repeating: 0xfb, count: 16), issuedAt: 1_800_000_000,
                                          lifetime: .seconds(60 as Int64)) { (input: [UInt8]) -> [UInt8] in
            signed = input
            return [0xff, 0xfe, 0xfd]
        }
        let parts = jws.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(!jws.contains("=") && !jws.contains("+") && !jws.contains("/"))
        #expect(String(decoding: signed, as: UTF8.self) == parts[0] + "." + parts[1])
        #expect(parts[2] == "__79")
        let header = try #require(decode(parts[0]))
        #expect(header.count == 3 && header["alg"] as? String == "ES256" && header["typ"] as? String == "JWT" && header["kid"] as? String == "k1")
        let claims = try #require(decode(parts[1]))
        #expect(claims["iss"] as? String == "client-1" && claims["sub"] as? String == "client-1")
        #expect(claims["aud"] as? String == "https://idp/token")
        #expect(claims["jti"] as? String == "-_v7-_v7-_v7-_v7-_v7-w")
        #expect(claims["iat"] as? Int == 1_800_000_000 && claims["exp"] as? Int == 1_800_000_060)
        let noKid = ClientAssertion.compact(algorithm: "HS256", kid: nil, clientID: "c", audience: "a", jti: [1], issuedAt: 0,
                                            lifetime: .seconds(10 as Int64)) { (_: [UInt8]) -> [UInt8] in [] }
        #expect(decode(noKid.split(separator: ".")[0])?.keys.sorted() == ["alg", "typ"])
    }

    @Test func theRequestCarriesTheAssertionAndNoSecret() {
        var profile = ProfileConfiguration(name: "p", tokenURL: "https://idp/token", clientID: "c 1", clientSecret: Secret("s3cret"))
        profile.authMethod = .clientSecretJWT
        profile.audience = "api"
        let request = TokenRequest(profile: profile, userAgent: "t", assertion: "aaa.bbb.ccc")
        #expect(request.body == "grant_type=client_credentials&client_id=c%201&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=aaa.bbb.ccc&audience=api")
        #expect(!request.headers.contains { $0.name == "Authorization" })
        #expect(!request.body.contains("s3cret"))
        #expect(request.secretForms.contains("aaa.bbb.ccc"))
    }

    @Test func hs256IsTheHMACOfTheSigningInput() throws {
        var profile = ProfileConfiguration(name: "p", tokenURL: "https://idp/token", clientID: "c", clientSecret: Secret("key"))
        profile.authMethod = .clientSecretJWT
        let signer = try AssertionSigner(profile)
        #expect(signer.algorithm == "HS256")
        let jws = try signer.assertion(unixNow: 100, jti: [1, 2, 3])
        let parts = jws.split(separator: ".")
        let mac = HMACSHA256.mac(key: Array("key".utf8), Array((parts[0] + "." + parts[1]).utf8))
        #expect(String(parts[2]) == ClientAssertion.base64URL(mac))
        // RFC 4231 test case 2: HMAC-SHA-256("Jefe", "what do ya want for nothing?").
        #expect(HMACSHA256.mac(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
            == [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43])
    }

    @Test func theConfigurationRulesOfSection12() {
        func errors(_ profile: String) -> [ConfigurationError] {
            let text = "[profile.p]\ntoken_url = \"https://idp.example.com/t\"\nclient_id = \"c\"\n" + profile
            do { _ = try ConfigurationParser.parse(text: text, file: "f"); return [] } catch { return error.errors }
        }
        #expect(errors("auth_method = \"private_key_jwt\"\n").contains { $0.message.contains("needs client_assertion_key_file") })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_secret = \"s\"\n")
            .contains { $0.key == "profile.p.client_secret" && $0.message.contains("not used") })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_key_credential = \"k\"\n")
            .contains { $0.key == "profile.p.client_assertion_key_credential" })
        #expect(errors("auth_method = \"client_secret_jwt\"\nclient_secret = \"s\"\nclient_assertion_alg = \"RS256\"\n")
            .contains { $0.message.contains("HS256 only") })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_alg = \"HS256\"\n")
            .contains { $0.message.contains("client_secret_jwt") })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_alg = \"none\"\n")
            .contains { $0.key == "profile.p.client_assertion_alg" })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_lifetime = \"10m\"\n")
            .contains { $0.key == "profile.p.client_assertion_lifetime" })
        #expect(errors("client_secret = \"s\"\nclient_assertion_kid = \"k\"\n").contains { $0.message.contains("needs auth_method") })
        #expect(errors("auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\nclient_assertion_kid = \"k\"\nclient_assertion_audience = \"https://a\"\nclient_assertion_lifetime = \"2m\"\n").isEmpty)
    }

    /// A throw-away Ed25519 key, for these tests only.
    static let testKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIMbN7NqzD2DMudSsXDmVx9cYjj3OFjZxUy1q5IF76lET\n-----END PRIVATE KEY-----\n"

    @Test func keysAreNeverDescribedAndTheirPEMIsCleared() throws {
        var pem = Array(Self.testKey.utf8)
        let key = try LoadedSigningKey(pem: &pem)
        // The PEM is gone from the buffer tokend read it into; libcrypto holds the key.
        #expect(pem.allSatisfy { $0 == 0 } && pem.count == Self.testKey.utf8.count)
        #expect("\(key)" == "<private key>" && String(reflecting: key) == "<private key>")
        var settings = ClientAssertionSettings()
        settings.key = key
        #expect(!"\(settings)".contains("MC4CAQ") && !String(reflecting: settings).contains("MC4CAQ"))
        // The same key read again is equal (a reload keeps the profile); another is not.
        var again = Array(Self.testKey.utf8)
        #expect(try LoadedSigningKey(pem: &again) == key)
    }

    /// The loader keeps no copy of the PEM in the configuration.
    @Test func theLoadedConfigurationHoldsNoPEM() throws {
        var host = FakeHost()
        host.files["/k"] = Self.testKey
        let loaded = try ConfigurationLoader.load(text: "[profile.p]\ntoken_url = \"https://i.example/t\"\nclient_id = \"c\"\nauth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"/k\"\n",
                                                  path: "/t.toml", host: host)
        // Nothing reachable from the configuration holds the PEM's bytes.
        let pem = Array(Self.testKey.utf8)
        func holdsPEM(_ value: Any, depth: Int = 0) -> Bool {
            if let bytes = value as? [UInt8] { return bytes == pem }
            if let text = value as? String { return text.contains("MC4CAQ") }
            guard depth < 12 else { return false }
            return Mirror(reflecting: value).children.contains { holdsPEM($0.value, depth: depth + 1) }
        }
        #expect(!holdsPEM(loaded))
        #expect(loaded.configuration.profiles[0].assertion.key != nil)
    }
}
