import Foundation
import Glibc
import TestIdP
import Testing
import TokendPlatform
import TokendTesting

/// SPEC §13 end to end: a federated assertion against Authlib (verified with
/// the issuer's key by joserfc) and against the test IdP while the file is
/// rotated; certificate thumbprints checked by `cryptography`; token
/// exchange renewed with its subject token re-read.
@Suite(.serialized) struct FederatedCredentialIntegrationTests {
    static let directory = temporaryDirectory()

    /// An RSA key made by openssl: the workload issuer's, or a client's.
    static func rsaKey(_ name: String) -> String {
        let path = directory + "/\(name).pem"
        if access(path, F_OK) == 0 { return path }
        let made = try? runTool("/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
        precondition(made?.0 == 0, "openssl genpkey: \(made?.2 ?? "")")
        chmod(path, 0o600)
        return path
    }

    static func publicPEM(_ key: String) -> String {
        let (status, pem, errors) = (try? runTool("/usr/bin/openssl", ["pkey", "-in", key, "-pubout"])) ?? (-1, "", "")
        precondition(status == 0, "openssl pkey -pubout: \(errors)")
        return pem
    }

    /// A self-signed certificate of `key`, made by openssl.
    static func certificate(_ key: String, name: String) -> String {
        let path = directory + "/\(name).crt"
        let made = try? runTool("/usr/bin/openssl", ["req", "-new", "-x509", "-key", key, "-subj", "/CN=\(name)", "-days", "2", "-out", path])
        precondition(made?.0 == 0, "openssl req: \(made?.2 ?? "")")
        return path
    }

    /// What a workload issuer writes to the token file, minted by joserfc.
    static func mint(key: String, subject: String = "system:serviceaccount:ns:app", audience: String = "api://AzureADTokenExchange",
                     expiresIn: Int = 3600) throws -> String {
        let exp = Int(Date().timeIntervalSince1970) + expiresIn
        let (status, out, errors) = try runTool("/usr/bin/env", ["python3", repositoryRoot + "/tests/support/mint-jwt.py", key,
                                                                 "https://issuer.example", subject, audience, String(exp)])
        precondition(status == 0, "mint-jwt.py: \(errors)")
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }


    func pythonServer(_ clients: [[String: Any]]) throws -> PythonServer {
        let file = temporaryDirectory() + "/clients.json"
        try JSONSerialization.data(withJSONObject: clients).write(to: URL(fileURLWithPath: file))
        return try PythonServer(script: "authlib-idp.py", [file])
    }

    @Test func authlibAcceptsAFederatedAssertionAndTheBodyHasExactlyItsFields() throws {
        let issuerKey = Self.rsaKey("issuer")
        let server = try pythonServer([["client_id": "app-1", "auth_method": "federated_assertion", "issuer": "https://issuer.example",
                                        "subject": "system:serviceaccount:ns:app", "audience": "api://AzureADTokenExchange",
                                        "issuer_public_key": Self.publicPEM(issuerKey)]])
        let dir = temporaryDirectory()
        let assertion = try Self.mint(key: issuerKey)
        try TestFiles.write(dir + "/azure-identity-token", "\n" + assertion + "\n", mode: 0o600)
        let config = """
            log_level = "trace"
            [profile.entra]
            token_url = "http://127.0.0.1:\(server.port)/token"
            client_id = "app-1"
            auth_method = "federated_assertion"
            client_assertion_file = "\(dir)/azure-identity-token"
            retry_min = "60s"
            """
        let daemon = try DaemonProcess(config: config)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        #expect(line.request("GET entra")?.hasPrefix("OK ") == true, "\(server.log)")
        let record = try #require(server.records(atLeast: 1).first)
        #expect(record["ok"] as? Bool == true, "\(record)")
        #expect(record["authorization"] as? Bool == false)
        let form = try #require(record["form"] as? [String: String])
        #expect(form == ["grant_type": "client_credentials", "client_id": "app-1",
                         "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                         "client_assertion": assertion])
        // The assertion never reaches the trace log or STATUS.
        let status = line.request("STATUS") ?? ""
        #expect(status.hasPrefix("OK ") && !status.contains(assertion))
        #expect(daemon.stop() == 0)
        #expect(!daemon.log.contains(assertion) && !daemon.log.contains(String(assertion.split(separator: ".")[2])))

        // Signed by a key the IdP does not trust: Authlib refuses it.
        let forged = try Self.mint(key: Self.rsaKey("not-the-issuer"))
        try TestFiles.write(dir + "/azure-identity-token", forged, mode: 0o600)
        let second = try DaemonProcess(config: config)
        #expect(second.waitReady())
        let answer = try LineClient(path: second.socket).request("GET entra") ?? ""
        #expect(answer.hasPrefix("ERR unavailable") && answer.contains("invalid_client") && !answer.contains(forged), "\(answer)")
        #expect(second.stop() == 0)
    }

    @Test func eachRequestCarriesTheAssertionOfItsMomentAcrossADataSymlinkSwapAndARename() async throws {
        let federation = TestIdP.Federation(issuer: "https://kubernetes.default.svc", audience: "api://AzureADTokenExchange",
                                            key: Array("the cluster's service-account signing key".utf8), clientIDs: ["app"])
        var settings = TestIdP.Settings(lifetime: 2)
        settings.federation = federation
        let idp = try await TestIdP.start(settings: settings)
        let now = Int(Date().timeIntervalSince1970)
        let assertions = (0..<3).map { federation.assertion(subject: "system:serviceaccount:ns:app-\($0)", expiresAt: now + 3600, issuedAt: now) }
        // Kubernetes' projected volume: token -> ..data/token, ..data -> ..2026_A.
        let volume = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: volume + "/..2026_A", withIntermediateDirectories: true)
        try TestFiles.write(volume + "/..2026_A/token", assertions[0], mode: 0o644)
        #expect(symlink("..2026_A", volume + "/..data") == 0)
        #expect(symlink("..data/token", volume + "/token") == 0)
        let daemon = try DaemonProcess(config: """
            [profile.k8s]
            token_url = "\(idp.tokenURL)"
            client_id = "app"
            auth_method = "federated_assertion"
            client_assertion_file = "\(volume)/token"
            jitter = 0
            """)
        #expect(daemon.waitReady())
        #expect(await idp.waitForRequests(1, timeout: 10))
        // The kubelet's swap: a new directory, a new link, renamed over ..data.
        // A request that read the file just before a change may still arrive
        // after it: the checks start one request later.
        let swappedAt = idp.requests.count + 1
        try FileManager.default.createDirectory(atPath: volume + "/..2026_B", withIntermediateDirectories: true)
        try TestFiles.write(volume + "/..2026_B/token", assertions[1], mode: 0o644)
        #expect(symlink("..2026_B", volume + "/..data_tmp") == 0)
        #expect(rename(volume + "/..data_tmp", volume + "/..data") == 0)
        #expect(await idp.waitForRequests(swappedAt + 1, timeout: 10))
        // A rotator that replaces the file by rename.
        let renamedAt = idp.requests.count + 1
        try TestFiles.write(volume + "/..2026_B/token.new", assertions[2] + "\n", mode: 0o644)
        #expect(rename(volume + "/..2026_B/token.new", volume + "/..2026_B/token") == 0)
        #expect(await idp.waitForRequests(renamedAt + 1, timeout: 10))
        #expect(daemon.stop() == 0)
        let sent = idp.requests.map { $0.form["client_assertion"] ?? "" }
        // Each request carries what the file held when it left: the first
        // assertion until the swap, never an earlier one after a change.
        #expect(sent.first == assertions[0])
        let order = sent.map { assertions.firstIndex(of: $0) ?? -1 }
        #expect(!order.contains(-1) && order == order.sorted(), "\(order)")
        #expect(order[swappedAt...].allSatisfy { $0 >= 1 } && order[renamedAt...].allSatisfy { $0 == 2 }, "\(order)")
        #expect(idp.requests.allSatisfy { $0.header("Authorization") == nil && $0.form["client_secret"] == nil })
        try await idp.shutdown()
    }

    @Test func anExpiredAssertionSendsNothingNamesItsExpiryAndAReplacedFileIsUsed() async throws {
        let federation = TestIdP.Federation(issuer: "https://ci.example", audience: "tokend", key: Array("ci signing key".utf8), clientIDs: ["ci"])
        var settings = TestIdP.Settings()
        settings.federation = federation
        let idp = try await TestIdP.start(settings: settings)
        let now = Int(Date().timeIntervalSince1970)
        let expired = federation.assertion(subject: "job-1", expiresAt: now - 60, issuedAt: now - 3600)
        let file = temporaryDirectory() + "/ci-token"
        try TestFiles.write(file, expired, mode: 0o600)
        let daemon = try DaemonProcess(config: """
            log_level = "trace"
            [profile.ci]
            token_url = "\(idp.tokenURL)"
            client_id = "ci"
            auth_method = "federated_assertion"
            client_assertion_file = "\(file)"
            retry_min = "1s"
            retry_max = "1s"
            """)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        let refused = line.request("GET ci") ?? ""
        #expect(refused.hasPrefix("ERR unavailable") && refused.contains("assertion expired at ") && refused.contains(file), "\(refused)")
        #expect(idp.requests.isEmpty)
        let status = line.request("STATUS") ?? ""
        #expect(status.contains(#""last_error":"assertion expired at "#), "\(status)")
        // The rotator runs: the next attempt (within retry_max) sends the new
        // assertion. The IdP refuses it once, echoing it in its error (never
        // repeated by tokend), then issues a token on the retry.
        let fresh = federation.assertion(subject: "job-1", expiresAt: now + 3600, issuedAt: now)
        idp.enqueue(.oauthError(status: 400, error: "invalid_client", description: "rejected assertion \(fresh)"))
        try TestFiles.write(file + ".new", fresh, mode: 0o600)
        #expect(rename(file + ".new", file) == 0)
        #expect(await idp.waitForRequests(2, timeout: 10))
        let served = line.request("GET ci") ?? ""
        #expect(served.hasPrefix("OK "), "\(served)")
        #expect(idp.requests.allSatisfy { $0.form["client_assertion"] == fresh })
        let after = line.request("STATUS") ?? ""
        #expect(!served.contains(fresh) && !after.contains(fresh), "\(after)")
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("invalid_client"), "\(daemon.log)")
        for secret in [expired, fresh] {
            #expect(!daemon.log.contains(secret) && !daemon.log.contains(String(secret.split(separator: ".")[2])))
        }
        try await idp.shutdown()
    }

    @Test func certificateThumbprintsAreByteExactAgainstCryptography() throws {
        let key = Self.rsaKey("client")
        let leaf = Self.certificate(key, name: "client")
        let other = Self.certificate(Self.rsaKey("intermediate"), name: "intermediate")
        let chain = Self.directory + "/client-chain.pem"
        try TestFiles.write(chain, try String(contentsOfFile: leaf, encoding: .utf8) + String(contentsOfFile: other, encoding: .utf8), mode: 0o644)
        let cases: [(name: String, x5t: String, x5c: Bool, extra: String)] = [
            ("both", "both", false, ""),
            ("sha1", "sha1", false, "client_assertion_x5t = \"sha1\"\n"),
            ("s256", "sha256", false, "client_assertion_x5t = \"sha256\"\nclient_assertion_alg = \"PS256\"\n"),
            ("chain", "both", true, "client_assertion_x5c = true\n"),
        ]
        let server = try pythonServer(cases.map {
            ["client_id": "cert-\($0.name)", "auth_method": "private_key_jwt", "public_key": Self.publicPEM(key), "key_type": "RSA"]
        })
        let url = "http://127.0.0.1:\(server.port)/token"
        let config = cases.map {
            "\n[profile.\($0.name)]\ntoken_url = \"\(url)\"\nclient_id = \"cert-\($0.name)\"\nauth_method = \"private_key_jwt\"\n"
                + "client_assertion_key_file = \"\(key)\"\nclient_assertion_certificate_file = \"\(chain)\"\nretry_min = \"60s\"\n" + $0.extra
        }.joined()
        let daemon = try DaemonProcess(config: config)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        for c in cases { #expect(line.request("GET \(c.name)")?.hasPrefix("OK ") == true, "\(c.name): \(server.log)") }
        var checks: [[String: Any]] = []
        for record in server.records(atLeast: cases.count) {
            guard let form = record["form"] as? [String: String], let c = cases.first(where: { "cert-\($0.name)" == form["client_id"] }) else { continue }
            #expect(record["ok"] as? Bool == true, "\(record)")
            checks.append(["assertion": form["client_assertion"] ?? "", "certificate_file": chain, "x5t": c.x5t, "x5c": c.x5c])
        }
        #expect(checks.count == cases.count)
        let file = temporaryDirectory() + "/x5t.json"
        try JSONSerialization.data(withJSONObject: checks).write(to: URL(fileURLWithPath: file))
        let (status, output, errors) = try runTool("/usr/bin/env", ["python3", repositoryRoot + "/tests/support/verify-x5t.py", file])
        #expect(status == 0 && output.hasPrefix("ok \(cases.count)"), "\(output)\(errors)")
        #expect(daemon.stop() == 0)
    }

    @Test func aCertificateOfAnotherKeyIsRefusedAtCheckNamingTheKey() throws {
        let key = Self.rsaKey("client")
        let foreign = Self.certificate(Self.rsaKey("intermediate"), name: "foreign")
        let dir = temporaryDirectory()
        try TestFiles.write(dir + "/check.toml", """
            [profile.entra]
            token_url = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
            client_id = "app"
            auth_method = "private_key_jwt"
            client_assertion_key_file = "\(key)"
            client_assertion_certificate_file = "\(foreign)"
            """, mode: 0o600)
        let (status, _, errors) = try runTool(productsDirectory + "/tokend", ["--check", "--config", dir + "/check.toml"])
        #expect(status == 78, "\(errors)")
        #expect(errors.contains("profile.entra.client_assertion_certificate_file") && errors.contains(key)
                && errors.contains("not for the private key"), "\(errors)")
    }

    @Test func aTokenExchangeIsObtainedRenewedAndReadsItsSubjectAnew() async throws {
        var settings = TestIdP.Settings(lifetime: 2, tokenType: "N_A")
        settings.tokenExchangeWithoutAuthentication = true
        let idp = try await TestIdP.start(settings: settings)
        let subject = temporaryDirectory() + "/subject"
        try TestFiles.write(subject, "opaque-subject-1\n", mode: 0o600)
        let daemon = try DaemonProcess(config: """
            [profile.gcp]
            token_url = "\(idp.tokenURL)"
            grant = "token_exchange"
            auth_method = "none"
            subject_token_file = "\(subject)"
            requested_token_type = "urn:ietf:params:oauth:token-type:access_token"
            audience = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/pr"
            scope = "https://www.googleapis.com/auth/cloud-platform"
            jitter = 0
            """)
        #expect(daemon.waitReady())
        let line = try LineClient(path: daemon.socket)
        let header = line.request("HEADER gcp") ?? ""
        #expect(header.hasPrefix("OK Authorization: Bearer "), "\(header)")
        let status = line.request("STATUS") ?? ""
        #expect(status.contains(#""issued_token_type":"urn:ietf:params:oauth:token-type:access_token""#), "\(status)")
        // One request may have read the old file just before the change.
        let changedAt = idp.requests.count + 1
        try TestFiles.write(subject + ".new", "opaque-subject-2", mode: 0o600)
        #expect(rename(subject + ".new", subject) == 0)
        // Renewed (lifetime 2 s) with the new subject token.
        #expect(await idp.waitForRequests(changedAt + 1, timeout: 10))
        #expect(daemon.stop() == 0)
        let requests = idp.requests
        #expect(requests.first?.form["subject_token"] == "opaque-subject-1")
        #expect(requests[changedAt...].allSatisfy { $0.form["subject_token"] == "opaque-subject-2" })
        for request in requests {
            #expect(request.form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange")
            #expect(request.form["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt")
            #expect(request.form["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token")
            #expect(request.form["client_id"] == nil && request.header("Authorization") == nil)
        }
        #expect(!daemon.log.contains("opaque-subject"))
        try await idp.shutdown()
    }
}
