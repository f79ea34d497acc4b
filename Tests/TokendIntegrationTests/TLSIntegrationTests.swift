import Foundation
import Glibc
import TokendTesting
import Testing

/// HTTPS to the IdP through libcurl: a private CA given by `ca_file`, mutual
/// TLS with `client_cert_file`/`client_key_file`, and the failures when either
/// is missing. The IdP is a small Python HTTPS server on a throw-away PKI.
@Suite(.serialized) struct TLSIntegrationTests {
    @Test func privateCAAndMutualTLS() throws {
        let pki = try makeTestPKI()
        let server = try PythonServer(script: "https-idp.py", [pki + "/server.pem", pki + "/server.key", pki + "/ca.pem"])
        let url = "https://127.0.0.1:\(server.port)/token"
        let fast = "timeout = \"3s\"\nretry_min = \"60s\"\nretry_max = \"60s\"\n"
        let daemon = try DaemonProcess(config:
            profileConfig("mtls", url: url, extra: fast + "ca_file = \"\(pki)/ca.pem\"\nclient_cert_file = \"\(pki)/client.pem\"\nclient_key_file = \"\(pki)/client.key\"")
            + profileConfig("untrusted", url: url, extra: fast)
            + profileConfig("nocert", url: url, extra: fast + "ca_file = \"\(pki)/ca.pem\""))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(client.request("GET mtls")?.hasPrefix("OK tls-token-123 ") == true)
        let untrusted = try #require(client.request("GET untrusted"))
        #expect(untrusted.hasPrefix("ERR unavailable ") && untrusted.lowercased().contains("certificate"), "\(untrusted)")
        let nocert = try #require(client.request("GET nocert"))
        #expect(nocert.hasPrefix("ERR unavailable "), "\(nocert)")
        #expect(daemon.stop() == 0)
    }

    /// `ca_file` replaces the system trust store. In a
    /// private mount namespace the server's CA is made a system CA (bound
    /// over /etc/ssl/certs, libcurl's default CA directory); a profile whose
    /// `ca_file` names another CA must still refuse the server, while a
    /// profile without `ca_file` (the control) trusts it through the system store.
    @Test(.enabled(if: runningAsRoot, "mounting over /etc/ssl/certs needs root"))
    func caFileIsTheOnlyTrust() throws {
        let pki = try makeTestPKI(caName: "tokend test system CA")
        let other = try makeTestPKI(caName: "tokend test bundle CA"), pinnedCA = try makeTestPKI(caName: "tokend test pinned CA")
        let store = temporaryDirectory()
        // The server's CA only in the hashed directory (CAPATH); the bundle
        // file (CAINFO's default) holds an unrelated CA, so the control
        // profile can only succeed through the directory.
        let (copied, _, _) = try runTool("/bin/cp", [pki + "/ca.pem", store + "/tokend-test-ca.pem"])
        let (rehashed, _, rehashErrors) = try runTool("/usr/bin/openssl", ["rehash", store])
        let (bundled, _, _) = try runTool("/bin/cp", [other + "/ca.pem", store + "/ca-certificates.crt"])
        try #require(copied == 0 && rehashed == 0 && bundled == 0, "\(rehashErrors)")
        let server = try PythonServer(script: "https-idp.py", [pki + "/server.pem", pki + "/server.key"])
        let url = "https://127.0.0.1:\(server.port)/token"
        let fast = "timeout = \"3s\"\nretry_min = \"60s\"\nretry_max = \"60s\"\n"
        let daemon = try DaemonProcess(config:
            profileConfig("system", url: url, extra: fast)
            + profileConfig("pinned", url: url, extra: fast + "ca_file = \"\(pinnedCA)/ca.pem\""),
            wrapper: ["/usr/bin/unshare", "-m", "--", "/bin/sh", "-c", "mount --bind \"$0\" /etc/ssl/certs && exec \"$@\"", store])
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        let control = try #require(client.request("GET system"))
        #expect(control.hasPrefix("OK tls-token-123 "), "the namespace's system store should trust the server: \(control)")
        let pinned = try #require(client.request("GET pinned"))
        #expect(pinned.hasPrefix("ERR unavailable ") && pinned.lowercased().contains("certificate"), "\(pinned)")
        #expect(daemon.stop() == 0)
    }
}
