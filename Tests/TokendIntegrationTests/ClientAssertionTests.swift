import Foundation
import Glibc
import Testing
import TokendCore
import TokendPlatform
import TokendTesting

/// SPEC §12: `private_key_jwt` and `client_secret_jwt` against Authlib's
/// RFC 7523 verification (not tokend's code), and what tokend sends checked
/// by joserfc.
@Suite(.serialized) struct ClientAssertionTests {
    /// A key made by openssl, with its public half.
    struct KeyPair {
        let privatePath: String
        let publicPEM: String
        let keyType: String
    }

    static let keys: [String: KeyPair] = {
        let directory = temporaryDirectory()
        var made: [String: KeyPair] = [:]
        let specs: [(String, [String], String)] = [
            ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "RSA"),
            ("rsa-other", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "RSA"),
            ("p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "EC"),
            ("p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "EC"),
            ("ed25519", ["-algorithm", "ED25519"], "OKP"),
        ]
        for (name, options, type) in specs {
            let path = directory + "/\(name).pem"
            let made1 = try? runTool("/usr/bin/openssl", ["genpkey"] + options + ["-out", path])
            precondition(made1?.0 == 0, "openssl genpkey \(name): \(made1?.2 ?? "")")
            chmod(path, 0o600)
            let (status, pub, errors) = (try? runTool("/usr/bin/openssl", ["pkey", "-in", path, "-pubout"])) ?? (-1, "", "")
            precondition(status == 0, "openssl pkey -pubout: \(errors)")
            made[name] = KeyPair(privatePath: path, publicPEM: pub, keyType: type)
        }
        return made
    }()

    /// The algorithms, the key each uses, and the profile keys that select it.
    static let cases: [(alg: String, key: String?, extra: String)] = [
        ("RS256", "rsa", ""),
        ("PS256", "rsa", "client_assertion_alg = \"PS256\"\n"),
        ("ES256", "p256", "client_assertion_kid = \"key-2026\"\n"),
        ("ES384", "p384", ""),
        ("EdDSA", "ed25519", ""),
        ("HS256", nil, ""),
    ]

    func profile(_ name: String, url: String, key: String?, extra: String) -> String {
        var text = "\n[profile.\(name)]\ntoken_url = \"\(url)\"\nclient_id = \"\(name)-client\"\ntimeout = \"5s\"\nretry_min = \"60s\"\nretry_max = \"60s\"\n"
        if let key {
            text += "auth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"\(Self.keys[key]!.privatePath)\"\n"
        } else {
            text += "auth_method = \"client_secret_jwt\"\nclient_secret = \"a shared secret of at least 32 bytes!!\"\n"
        }
        return text + extra
    }

    func server(clients: [[String: String]], clockOffset: Int = 0) throws -> PythonServer {
        let file = temporaryDirectory() + "/clients.json"
        try JSONSerialization.data(withJSONObject: clients).write(to: URL(fileURLWithPath: file))
        return try PythonServer(script: "authlib-idp.py", [file, String(clockOffset)])
    }

    func client(_ name: String, key: String?, registeredKey: String? = nil) -> [String: String] {
        if let key {
            let pair = Self.keys[registeredKey ?? key]!
            return ["client_id": "\(name)-client", "auth_method": "private_key_jwt", "public_key": pair.publicPEM, "key_type": pair.keyType]
        }
        return ["client_id": "\(name)-client", "auth_method": "client_secret_jwt", "client_secret": "a shared secret of at least 32 bytes!!"]
    }


    @Test func authlibAcceptsEveryAlgorithmAndJoserfcAgreesWithEveryField() throws {
        let names = Self.cases.map { "a-\($0.alg.lowercased())" }
        let server = try server(clients: zip(names, Self.cases).map { client($0, key: $1.key) })
        let url = "http://127.0.0.1:\(server.port)/token"
        let config = zip(names, Self.cases).map { profile($0, url: url, key: $1.key, extra: $1.extra) }.joined()
        let daemon = try DaemonProcess(config: config)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        for name in names {
            let answer = line.request("GET \(name)") ?? ""
            #expect(answer.hasPrefix("OK "), "\(name): \(answer)\n\(server.log)")
        }
        // Every assertion the server received, checked again by joserfc.
        var checks: [[String: Any]] = []
        for record in server.records(atLeast: names.count) {
            guard let form = record["form"] as? [String: String], let id = form["client_id"],
                  let index = names.firstIndex(where: { "\($0)-client" == id }) else { continue }
            #expect(record["ok"] as? Bool == true, "\(record)")
            #expect(form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            #expect(form["client_secret"] == nil)
            let spec = Self.cases[index]
            var check: [String: Any] = ["assertion": form["client_assertion"] ?? "", "alg": spec.alg, "client_id": id, "aud": url,
                                        "lifetime": 60, "kid": spec.alg == "ES256" ? "key-2026" : NSNull()]
            if let key = spec.key {
                check["public_key"] = Self.keys[key]!.publicPEM
                check["key_type"] = Self.keys[key]!.keyType
            } else {
                check["secret"] = "a shared secret of at least 32 bytes!!"
                check["key_type"] = "oct"
            }
            checks.append(check)
        }
        #expect(checks.count == names.count, "\(server.log)")
        let file = temporaryDirectory() + "/checks.json"
        try JSONSerialization.data(withJSONObject: checks).write(to: URL(fileURLWithPath: file))
        let (status, output, errors) = try runTool("/usr/bin/env", ["python3", repositoryRoot + "/tests/support/verify-assertions.py", file])
        #expect(status == 0 && output.hasPrefix("ok \(names.count)"), "\(output)\(errors)")
        #expect(daemon.stop() == 0)
    }

    @Test func aWrongKeyAnExpiredAssertionAWrongAudienceAndAReplayAreRefused() throws {
        // The server knows another public key for "wrongkey"; "aud" names another audience.
        let refusing = try server(clients: [client("wrongkey", key: "rsa", registeredKey: "rsa-other"), client("aud", key: "p256"),
                                            client("good", key: "ed25519")])
        let url = "http://127.0.0.1:\(refusing.port)/token"
        let config = profile("wrongkey", url: url, key: "rsa", extra: "")
            + profile("aud", url: url, key: "p256", extra: "client_assertion_audience = \"https://idp.example.com/other\"\n")
            + profile("good", url: url, key: "ed25519", extra: "")
        let daemon = try DaemonProcess(config: config)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        for name in ["wrongkey", "aud"] {
            let answer = line.request("GET \(name)") ?? ""
            #expect(answer.hasPrefix("ERR ") && answer.contains("invalid_client"), "\(name): \(answer)")
        }
        #expect(line.request("GET good")?.hasPrefix("OK ") == true)
        // A replayed assertion (the same jti again) is refused.
        let assertion = try #require(refusing.records().compactMap { ($0["form"] as? [String: String]) }
            .first { $0["client_id"] == "good-client" }?["client_assertion"])
        let (_, replay, _) = try runTool("/usr/bin/curl", ["-sS", "-d", "grant_type=client_credentials", "-d", "client_id=good-client",
                                                          "--data-urlencode", "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                                          "--data-urlencode", "client_assertion=\(assertion)", url])
        #expect(replay.contains("invalid_client"), "\(replay)")
        #expect(daemon.stop() == 0)

        // A server whose clock is 10 minutes ahead sees the 60 s assertions expired.
        let late = try server(clients: [client("good", key: "ed25519")], clockOffset: 600)
        let expired = try DaemonProcess(config: profile("good", url: "http://127.0.0.1:\(late.port)/token", key: "ed25519", extra: ""))
        #expect(expired.waitReady())
        let answer = try LineClient(path: expired.socket).request("GET good") ?? ""
        #expect(answer.hasPrefix("ERR ") && answer.contains("invalid_client"), "\(answer)")
        #expect(late.records().first?["description"] as? String != nil, "\(late.log)")
        #expect(expired.stop() == 0)
    }

    /// 10,000 assertions of one signer: joserfc verifies each, no jti twice.
    @Test func tenThousandAssertionsHaveTenThousandJTIs() throws {
        let pair = Self.keys["ed25519"]!
        let pem = try #require(TestFiles.read(pair.privatePath))
        var bytes = Array(pem.utf8)
        var settings = ClientAssertionSettings(key: try LoadedSigningKey(pem: &bytes))
        settings.lifetime = .seconds(120 as Int64)
        var profile = ProfileConfiguration(name: "p", tokenURL: "https://idp.example.com/token", clientID: "c-1", clientSecret: Secret(""))
        profile.authMethod = .privateKeyJWT
        profile.assertion = settings
        let signer = try AssertionSigner(profile)
        var checks: [[String: Any]] = []
        let now = Int64(Date().timeIntervalSince1970)
        for _ in 0..<10_000 {
            let assertion = try signer.assertion(unixNow: now, jti: AssertionSigner.randomJTI())
            checks.append(["assertion": assertion, "alg": "EdDSA", "client_id": "c-1", "aud": "https://idp.example.com/token",
                           "lifetime": 120, "kid": NSNull(), "public_key": pair.publicPEM, "key_type": "OKP"])
        }
        let file = temporaryDirectory() + "/many.json"
        try JSONSerialization.data(withJSONObject: checks).write(to: URL(fileURLWithPath: file))
        let (status, output, errors) = try runTool("/usr/bin/env", ["python3", repositoryRoot + "/tests/support/verify-assertions.py", file])
        #expect(status == 0 && output.hasPrefix("ok 10000"), "\(output)\(errors)")
    }

    @Test func checkRefusesEveryBadKeyAndTheTraceLogNeverShowsOne() async throws {
        let directory = temporaryDirectory()
        func key(_ name: String, _ arguments: [String]) throws -> String {
            let path = directory + "/\(name).pem"
            let (status, _, errors) = try runTool("/usr/bin/openssl", arguments + ["-out", path])
            #expect(status == 0, "\(errors)")
            return path
        }
        let bad: [(String, String, String)] = [
            ("short", try key("short", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]), "too short"),
            ("encrypted", try key("encrypted", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes256", "-pass", "pass:x"]), "passphrase"),
            ("k1", try key("k1", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"]), "unsupported key type"),
            ("missing", directory + "/missing.pem", "cannot read"),
            ("notakey", directory + "/tokend.toml", "not a PEM private key"),
        ]
        try TestFiles.write(directory + "/tokend.toml", "x = 1\n", mode: 0o600)
        for (name, path, fragment) in bad {
            let file = directory + "/\(name).toml"
            try TestFiles.write(file, "[profile.p]\ntoken_url = \"https://idp.example.com/t\"\nclient_id = \"c\"\nauth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"\(path)\"\n", mode: 0o600)
            let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", file])
            #expect(status == 78, "\(name)")
            #expect(errors.contains(":5: profile.p.client_assertion_key_file: ") && errors.contains(fragment), "\(name): \(errors)")
        }
        // An algorithm that does not fit the key.
        let mismatch = directory + "/mismatch.toml"
        try TestFiles.write(mismatch, "[profile.p]\ntoken_url = \"https://idp.example.com/t\"\nclient_id = \"c\"\nauth_method = \"private_key_jwt\"\nclient_assertion_key_file = \"\(Self.keys["p256"]!.privatePath)\"\nclient_assertion_alg = \"RS256\"\n", mode: 0o600)
        let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", mismatch])
        #expect(status == 78 && errors.contains("profile.p.client_assertion_alg") && errors.contains("does not fit"), "\(errors)")

        // A daemon at trace level that signs with a key: no slice of the PEM in its log.
        let server = try server(clients: [client("good", key: "p256")])
        let daemon = try DaemonProcess(config: "log_level = \"trace\"\n" + profile("good", url: "http://127.0.0.1:\(server.port)/token", key: "p256", extra: ""))
        #expect(daemon.waitReady())
        #expect(try LineClient(path: daemon.socket).request("GET good")?.hasPrefix("OK ") == true)
        #expect(daemon.stop() == 0)
        let pem = try #require(TestFiles.read(Self.keys["p256"]!.privatePath))
        let slice = String(pem.split(separator: "\n")[1].prefix(24))
        #expect(!daemon.log.contains(slice), "the trace log holds part of the private key")
        #expect(daemon.log.contains("obtained a token"))
    }
}
