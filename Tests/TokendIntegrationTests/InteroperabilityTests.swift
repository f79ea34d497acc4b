import Foundation
import Glibc
import TokendTesting
import Testing

/// tokend against OAuth 2.0 servers it did not write: Authlib (PyPI), whose
/// Basic credentials are decoded with plain percent-decoding and whose form
/// bodies with form rules.
@Suite(.serialized) struct InteroperabilityTests {
    /// Ids and secrets with spaces, `+`, `%`, `:`, `/`, `=`, quotes and non-ASCII.
    static let awkward: [(id: String, secret: String)] = [
        ("plain-client", "plain-secret"),
        ("with space", "secret with spaces"),
        ("plus+sign", "a+b+c"),
        ("per%cent", "100%25%"),
        ("colon:id", "colon:secret:"),
        ("slash/id=eq", "s/l=a/s=h"),
        ("ünïcode", "gehëim wört"),
        ("quote\"mark", "back\\slash \"quoted\" ~tilde"),
    ]

    @Test func authlibAcceptsEveryAwkwardCredentialWithBothMethods() throws {
        let directory = temporaryDirectory()
        var clients: [[String: String]] = []
        var config = ""
        var names: [String] = []
        for (index, credentials) in Self.awkward.enumerated() {
            for method in ["client_secret_basic", "client_secret_post"] {
                let name = "p\(index)-\(method == "client_secret_basic" ? "basic" : "post")"
                let id = credentials.id + (method == "client_secret_basic" ? "" : "-post")
                clients.append(["client_id": id, "client_secret": credentials.secret, "auth_method": method])
                config += """

                [profile.\(name)]
                token_url = "TOKEN_URL"
                client_id = \(tomlString(id))
                client_secret = \(tomlString(credentials.secret))
                auth_method = "\(method)"
                audience = "https://api.example.com/v1?x=1&y=a b"
                scope = ["read:all", "write+more"]
                timeout = "5s"
                retry_min = "60s"
                retry_max = "60s"

                """
                names.append(name)
            }
        }
        let clientsFile = directory + "/clients.json"
        try JSONSerialization.data(withJSONObject: clients).write(to: URL(fileURLWithPath: clientsFile))
        let server = try PythonServer(script: "authlib-idp.py", [clientsFile])
        let url = "http://127.0.0.1:\(server.port)/token"
        let daemon = try DaemonProcess(config: config.replacingOccurrences(of: "TOKEN_URL", with: url))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        for name in names {
            let answer = try #require(client.request("GET \(name)"))
            #expect(answer.hasPrefix("OK ") && (answer.hasSuffix(" 3600") || answer.hasSuffix(" 3599")), "\(name): \(answer)\n\(server.log)")
        }
        // Authlib read the other form fields as they were configured.
        #expect(server.log.contains(#""audience": "https://api.example.com/v1?x=1&y=a b""#), "\(server.log)")
        #expect(server.log.contains(#""scope": "read:all write+more""#), "\(server.log)")
        #expect(daemon.stop() == 0)
    }
}

/// `text` as a TOML basic string, quotes included.
func tomlString(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
