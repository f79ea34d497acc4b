import Testing
@testable import TokendCore
import TokendPlatform

/// `[[profile.NAME.file]]` (SPEC §11): parsing, checks with their lines, and content.
@Suite struct TokenFileSinkTests {
    static let head = """
    socket = "/run/tokend/tokend.sock"

    [profile.api]
    token_url = "https://idp.example.com/oauth/token"
    client_id = "id"
    client_secret = "s"

    """

    func load(_ sinks: String, host: FakeHost = FakeHost()) throws(ConfigurationErrors) -> [TokenFileSink] {
        try ConfigurationLoader.load(text: Self.head + sinks, path: "/etc/tokend/tokend.toml", host: host).configuration.profiles[0].files
    }

    func errors(_ text: String, host: FakeHost = FakeHost()) -> [ConfigurationError] {
        do {
            _ = try ConfigurationLoader.load(text: text, path: "/etc/tokend/tokend.toml", host: host)
            return []
        } catch {
            return error.errors
        }
    }

    @Test func defaultsAndEveryKey() throws {
        let sinks = try load("""
        [[profile.api.file]]
        path = "/run/tokend/files/api.token"

        [[profile.api.file]]
        path = "/srv/tokens/api.json"
        format = "json"
        mode = "0644"
        group = "prometheus"

        [[profile.api.file]]
        path = "/srv/tokens/api.header"
        format = "header"
        mode = "0600"
        group = 990
        """)
        #expect(sinks == [
            TokenFileSink(path: "/run/tokend/files/api.token", format: .token, mode: 0o640, group: nil),  // the group it is created with
            TokenFileSink(path: "/srv/tokens/api.json", format: .json, mode: 0o644, group: .id(2002)),
            TokenFileSink(path: "/srv/tokens/api.header", format: .header, mode: 0o600, group: .id(990)),
        ])
        #expect(sinks[0].directory == "/run/tokend/files" && sinks[0].fileName == "api.token")
    }

    @Test func badSinksAreRefusedWithKeyAndLine() {
        let text = Self.head + """
        [[profile.api.file]]
        path = "relative/api.token"

        [[profile.api.file]]
        path = "/srv/tokens/../etc/passwd"

        [[profile.api.file]]
        path = "/srv/tokens/a"
        format = "yaml"
        mode = "0666"
        colour = "blue"

        [[profile.api.file]]
        path = "/run/tokend/api.token"

        [[profile.api.file]]
        path = "/srv/tokens/b"

        [[profile.api.file]]
        path = "/srv/tokens/b"
        """
        let found = errors(text)
        func line(_ key: String) -> Int? { found.first { $0.key == key }?.line }
        #expect(found.contains { $0.key == "profile.api.file[0].path" && $0.message.contains("absolute") })
        #expect(line("profile.api.file[0].path") == 8)
        #expect(found.contains { $0.key == "profile.api.file[1].path" && $0.message.contains("..") })
        #expect(line("profile.api.file[1].path") == 11)
        #expect(found.contains { $0.key == "profile.api.file[2].format" && $0.message.contains("\"json\"") })
        #expect(line("profile.api.file[2].format") == 15)
        #expect(found.contains { $0.key == "profile.api.file[2].mode" && $0.message.contains("0644") })
        #expect(found.contains { $0.key == "profile.api.file[2].colour" && $0.message.contains("unknown key") })
        #expect(found.contains { $0.key == "profile.api.file[3].path" && $0.message.contains("socket's directory") })
        #expect(found.contains { $0.key == "profile.api.file[5].path" && $0.message.contains("already the path of profile.api.file[4]") })
        #expect(line("profile.api.file[5].path") == 26)
        #expect(errors(Self.head + "file = \"/srv/tokens/x\"").contains { $0.key == "profile.api.file" && $0.message.contains("[[profile.api.file]]") })
    }

    @Test func aSinkCannotBeInTheCacheDirectory() {
        let text = "state_dir = \"/srv/tokens\"\n" + Self.head + "[[profile.api.file]]\npath = \"/srv/tokens/api.entry\"\n"
        #expect(errors(text).contains { $0.key == "profile.api.file[0].path" && $0.message.contains("state_dir") })
    }

    @Test func twoProfilesCannotShareAFile() {
        let text = Self.head + "[[profile.api.file]]\npath = \"/srv/tokens/t\"\n\n[profile.other]\ntoken_url = \"https://i.example/t\"\nclient_id = \"o\"\nclient_secret = \"s\"\n\n[[profile.other.file]]\npath = \"/srv/tokens/t\"\n"
        #expect(errors(text).contains { $0.key == "profile.other.file[0].path" && $0.message.contains("profile.api.file[0]") })
    }

    @Test func theHostDecidesDirectoriesAndGroups() {
        var host = FakeHost()
        host.ownGroups = [995]
        let found = errors(Self.head + """
        [[profile.api.file]]
        path = "/nowhere/api.token"

        [[profile.api.file]]
        path = "/srv/tokens/a"
        group = "prometheus"

        [[profile.api.file]]
        path = "/srv/tokens/b"
        group = "no-such-group"
        """, host: host)
        #expect(found.contains { $0.key == "profile.api.file[0].path" && $0.message.contains("/nowhere") && $0.line == 8 })
        #expect(found.contains { $0.key == "profile.api.file[1].group" && $0.message.contains("not a member") && $0.line == 12 })
        #expect(found.contains { $0.key == "profile.api.file[2].group" && $0.message.contains("unknown group") })
    }

    /// Under the unit's system-call filter fchown is refused: a sink without
    /// `group` needs none (its file keeps the group it is created with), and
    /// one naming another group is refused at load, saying so.
    @Test func withoutGroupNoChownAndARefusedFchownIsNamed() throws {
        var host = FakeHost()
        host.fchownRefused = true
        let loaded = try ConfigurationLoader.load(text: Self.head + "[[profile.api.file]]\npath = \"/srv/tokens/a\"\n", path: "/t.toml", host: host)
        #expect(loaded.configuration.profiles[0].files[0].group == nil)
        let found = errors(Self.head + "[[profile.api.file]]\npath = \"/srv/tokens/a\"\ngroup = \"prometheus\"\n", host: host)
        #expect(found.contains { $0.key == "profile.api.file[0].group" && $0.message.contains("fchown") })
    }

    /// allow_* rules do not reach token files: a group-readable file without
    /// `group` in a restricted profile (under the unit its group is the
    /// socket's clients' group) is a warning.
    @Test func aRestrictedProfileWithAGroupReadableFileWithoutGroupIsAWarning() throws {
        let head = Self.head + "allow_users = [\"alice\"]\n"
        let warned = try ConfigurationLoader.load(text: head + "[[profile.api.file]]\npath = \"/srv/tokens/a\"\n", path: "/t.toml", host: FakeHost())
        #expect(warned.warnings.contains { $0.contains("profile.api.file[0]") && $0.contains("allow_*") })
        #expect(warned.configuration.profiles[0].files[0].mode == 0o640)
        // Without allow_* rules every socket client may read the profile anyway: no warning.
        let open = try ConfigurationLoader.load(text: Self.head + "[[profile.api.file]]\npath = \"/srv/tokens/a\"\n", path: "/t.toml", host: FakeHost())
        #expect(open.configuration.profiles[0].files[0].mode == 0o640 && open.warnings.isEmpty)
        for keys in ["mode = \"0600\"\n", "group = \"prometheus\"\n"] {
            let quiet = try ConfigurationLoader.load(text: head + "[[profile.api.file]]\npath = \"/srv/tokens/a\"\n" + keys, path: "/t.toml", host: FakeHost())
            #expect(!quiet.warnings.contains { $0.contains("allow_*") }, "\(keys)")
        }
    }

    @Test func contentOfEachFormat() {
        let token = IssuedToken(accessToken: "eyJ.a.b", tokenType: "Bearer", lifetime: .seconds(3600 as Int64))
        #expect(TokenFileSink(path: "/t", format: .token).content(token, expiresIn: 3599, unixNow: 1_000) == Array("eyJ.a.b".utf8))
        #expect(TokenFileSink(path: "/t", format: .header).content(token, expiresIn: 3599, unixNow: 1_000) == Array("Authorization: Bearer eyJ.a.b\n".utf8))
        #expect(String(decoding: TokenFileSink(path: "/t", format: .json).content(token, expiresIn: 3599, unixNow: 1_000), as: UTF8.self)
            == #"{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":3599,"expires_at":4599}"#)
    }

    @Test func onlyAFileChangeKeepsTheToken() {
        let base = ProfileConfiguration(name: "a", tokenURL: "https://i/t", clientID: "c", clientSecret: Secret("s"))
        var moved = base
        moved.files = [TokenFileSink(path: "/srv/tokens/a")]
        var other = moved
        other.audience = "x"
        #expect(moved.differsOnlyInFiles(from: base))
        #expect(!other.differsOnlyInFiles(from: base))
        #expect(!base.differsOnlyInFiles(from: base))
    }
}
