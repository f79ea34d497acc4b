import Testing
@testable import TokendCore
import TokendPlatform

/// A host with files and names in memory.
struct FakeHost: HostEnvironment {
    var files: [String: String] = [:]
    var modes: [String: UInt32] = [:]
    var env: [String: String] = [:]
    var users: [String: UInt32] = ["alice": 1001]
    var groups: [String: UInt32] = ["ops": 2001, "tokend": 990, "prometheus": 2002]
    /// Directories in which token files can be written.
    var writableDirectories: Set<String> = ["/run/tokend/files", "/srv/tokens"]
    /// The groups this process may give files to, its effective group first.
    var ownGroups: [UInt32] = [995, 990, 2002]

    func readFile(_ path: String, limit: Int) -> Result<[UInt8], HostError> {
        guard let text = files[path] else { return .failure(HostError("No such file or directory")) }
        return .success(Array(text.utf8))
    }
    func fileMode(_ path: String) -> UInt32? { modes[path] ?? 0o600 }
    func environment(_ name: String) -> String? { env[name] }
    func userID(named name: String) -> UInt32? { users[name] }
    func groupID(named name: String) -> UInt32? { groups[name] }
    func directoryProblem(_ path: String) -> String? {
        writableDirectories.contains(path) ? nil : "No such file or directory"
    }
    /// Set: the system-call filter refuses fchown.
    var fchownRefused = false
    func fileGroupProblem(_ gid: UInt32, directory: String) -> String? {
        if gid == ownGroups[0] { return nil }
        if !ownGroups.contains(gid) { return "tokend is not a member of group \(gid)" }
        return fchownRefused ? "the system-call filter refuses fchown" : nil
    }
}

@Suite struct ConfigurationParserTests {
    static let full = """
    socket = "/run/t/t.sock"
    socket_mode = "0600"
    socket_group = "tokend"
    log_level = "debug"
    max_connections = 10
    idle_timeout = "2m"

    [profile.ce]
    token_url = "https://idp.example.com/oauth/token"
    client_id = "id"
    client_secret_file = "/s/ce"
    audience = "https://api.example.com/"
    scope = ["read", "write"]
    extra_params = { resource = "https://r.example" }
    auth_method = "client_secret_post"
    renew_at = 0.5
    jitter = 0.1
    retry_min = "250ms"
    retry_max = 30
    timeout = "5s"
    ca_file = "/s/ca.pem"
    client_cert_file = "/s/c.pem"
    client_key_file = "/s/k.pem"
    default_ttl = "1h"
    prefetch = false
    allow_uids = [1000]
    allow_users = ["alice"]
    allow_gids = [50]
    allow_groups = ["ops"]
    """

    func load(_ text: String, host: FakeHost = FakeHost()) throws(ConfigurationErrors) -> LoadedConfiguration {
        try ConfigurationLoader.load(text: text, path: "/etc/tokend/tokend.toml", host: host)
    }

    func errors(_ text: String, host: FakeHost = FakeHost()) -> [ConfigurationError] {
        do { _ = try load(text, host: host); return [] } catch { return error.errors }
    }

    @Test func everyKeyIsParsed() throws {
        var host = FakeHost()
        host.files = ["/s/ce": "s3cret\n", "/s/ca.pem": "x", "/s/c.pem": "x", "/s/k.pem": "x"]
        let c = try load(Self.full, host: host).configuration
        #expect(c.socketPath == "/run/t/t.sock")
        #expect(c.socketMode == 0o600)
        #expect(c.socketGroup == .id(990))
        #expect(c.logLevel == .debug)
        #expect(c.maxConnections == 10)
        #expect(c.idleTimeout == .seconds(120 as Int64))
        let p = try #require(c.profiles.first)
        #expect(p.name == "ce")
        #expect(p.clientSecret.value == "s3cret")
        #expect(p.secretSource == .file("/s/ce"))
        #expect(p.audience == "https://api.example.com/")
        #expect(p.scope == "read write")
        #expect(p.extraParams == [FormField("resource", "https://r.example")])
        #expect(p.authMethod == .clientSecretPost)
        #expect(p.renewAt == 0.5 && p.jitter == 0.1)
        #expect(p.retryMin == .milliseconds(250) && p.retryMax == .seconds(30 as Int64))
        #expect(p.timeout == .seconds(5 as Int64) && p.defaultTTL == .seconds(3600 as Int64))
        #expect(p.caFile == "/s/ca.pem" && p.clientCertFile == "/s/c.pem" && p.clientKeyFile == "/s/k.pem")
        #expect(p.prefetch == false)
        #expect(p.access.restricted && p.access.uids == [1000, 1001] && p.access.gids == [50, 2001])
    }

    @Test func defaults() throws {
        let c = try load("[profile.a]\ntoken_url = \"http://127.0.0.1:1/t\"\nclient_id = \"i\"\nclient_secret = \"s\"\n").configuration
        #expect(c.socketPath == "/run/tokend/tokend.sock" && c.socketMode == 0o660 && c.maxConnections == 1024)
        let p = c.profiles[0]
        #expect(p.authMethod == .clientSecretBasic && p.renewAt == 0.75 && p.jitter == 0.05 && p.prefetch)
        #expect(p.retryMin == .seconds(1 as Int64) && p.retryMax == .seconds(60 as Int64) && p.timeout == .seconds(10 as Int64))
        #expect(p.defaultTTL == .seconds(300 as Int64) && !p.access.restricted)
    }

    static let base = "[profile.p]\ntoken_url = \"https://i.example/t\"\nclient_id = \"i\"\nclient_secret = \"s\"\n"

    @Test(arguments: [
        (base + "client_secert_file = \"/x\"\n", "profile.p.client_secert_file", "unknown key"),
        (base + "renew_at = \"high\"\n", "profile.p.renew_at", "must be a number"),
        (base + "timeout = \"10 parsecs\"\n", "profile.p.timeout", "not a valid duration"),
        (base + "renew_at = 1.0\n", "profile.p.renew_at", "between 0 and 1"),
        (base + "renew_at = 0\n", "profile.p.renew_at", "between 0 and 1"),
        ("[profile.p]\ntoken_url = \"not a url\"\nclient_id = \"i\"\nclient_secret = \"s\"\n", "profile.p.token_url", "must not contain spaces"),
        ("[profile.p]\ntoken_url = \"http://idp.example.com/t\"\nclient_id = \"i\"\nclient_secret = \"s\"\n", "profile.p.token_url", "loopback"),
        (base + "client_secret_file = \"/x\"\n", "profile.p.client_secret_file", "only one of"),
        ("[profile.p]\ntoken_url = \"https://i.example/t\"\nclient_id = \"i\"\n", "profile.p", "is required"),
        ("[profile.p]\ntoken_url = \"https://i.example/t\"\nclient_id = \"i\"\nclient_secret_file = \"/missing\"\n", "profile.p.client_secret_file", "cannot read /missing"),
        (base + "auth_method = \"tls_client_auth\"\n", "profile.p.auth_method", "client_secret_basic"),
        (base + "allow_users = [\"nobody-here\"]\n", "profile.p.allow_users", "unknown user"),
        (base + "retry_min = \"10s\"\nretry_max = \"1s\"\n", "profile.p.retry_max", "retry_min"),
        ("socket_mode = \"999\"\n" + base, "socket_mode", "octal"),
        ("max_connections = 0\n" + base, "max_connections", "from 1"),
        ("log_level = \"loud\"\n" + base, "log_level", "must be one of"),
        ("[profile.\"bad name\"]\ntoken_url = \"https://i.example/t\"\nclient_id = \"i\"\nclient_secret = \"s\"\n", "profile.bad name", "invalid profile name"),
        (base + "client_secret_credential = \"x\"\n", "profile.p.client_secret_credential", "only one of"),
    ])
    func errorsNameTheKey(text: String, key: String, fragment: String) {
        let found = errors(text)
        #expect(found.contains { $0.key == key && $0.message.contains(fragment) }, "got \(found)")
    }

    @Test func errorsCarryTheLine() throws {
        let found = errors(Self.base + "client_secert_file = \"/x\"\n")
        #expect(found.first?.line == 5)
        #expect(found.first?.description.hasPrefix("/etc/tokend/tokend.toml:5: profile.p.client_secert_file: unknown key") == true)
        #expect(found.first?.message.contains("did you mean client_secret_file") == true)
    }

    @Test func syntaxErrorsCarryTheLine() throws {
        let found = errors("socket = \"/a\"\n[profile.p\n")
        #expect(found.count == 1 && found[0].line == 2)
    }

    @Test func credentialsComeFromTheCredentialsDirectory() throws {
        var host = FakeHost()
        host.env["CREDENTIALS_DIRECTORY"] = "/run/credentials/tokend.service"
        host.files["/run/credentials/tokend.service/ce"] = "from-systemd"
        let text = "[profile.p]\ntoken_url = \"https://i.example/t\"\nclient_id = \"i\"\nclient_secret_credential = \"ce\"\n"
        #expect(try load(text, host: host).configuration.profiles[0].clientSecret.value == "from-systemd")
        #expect(errors(text).first?.message.contains("CREDENTIALS_DIRECTORY") == true)
    }

    @Test func inlineSecretInAReadableFileWarns() throws {
        var host = FakeHost()
        host.modes["/etc/tokend/tokend.toml"] = 0o644
        let loaded = try load(Self.base, host: host)
        #expect(loaded.warnings.contains { $0.contains("readable by group or others") })
        #expect(try load(Self.base).warnings.isEmpty)
    }

    @Test func secretsNeverAppearInDescriptions() throws {
        let loaded = try load(Self.base)
        #expect(!"\(loaded)".contains("client_secret = \"s\"") && !"\(loaded.configuration.profiles[0])".contains("\"s\""))
        #expect("\(Secret("hunter2"))" == "<secret>")
    }
}
