import TOMLKit
import TokendPlatform
import TokendProtocol

/// Turns TOML text into a validated `Configuration` (SPEC §2). It reads no
/// file and resolves no name: `ConfigurationLoader` does that afterwards.
/// Every problem is collected, so one run of `tokend --check` shows them all.
public struct ConfigurationParser {
    public static let topLevelKeys = ["socket", "socket_mode", "socket_group", "log_level", "max_connections", "idle_timeout",
                                       "state_dir", "cache_key_file", "cache_key_credential", "metrics_listen", "fleet", "profile"]
    public static let profileKeys = [
        "token_url", "client_id", "client_secret", "client_secret_file", "client_secret_credential", "audience", "scope",
        "extra_params", "auth_method", "renew_at", "jitter", "retry_min", "retry_max", "timeout", "ca_file",
        "client_cert_file", "client_key_file", "default_ttl", "prefetch", "allow_uids", "allow_users", "allow_gids", "allow_groups",
        "file", "persist",
        "client_assertion_key_file", "client_assertion_key_credential", "client_assertion_alg", "client_assertion_kid",
        "client_assertion_audience", "client_assertion_lifetime",
        "client_assertion_certificate_file", "client_assertion_x5t", "client_assertion_x5c",
        "client_assertion_file", "client_assertion_credential",
        "grant", "subject_token_file", "subject_token_credential", "subject_token_type", "requested_token_type",
        "fleet",
    ]
    /// The JWS algorithms of `client_assertion_alg` (SPEC §12).
    public static let assertionAlgorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]
    public static let fileKeys = ["path", "format", "mode", "group"]
    /// Form parameters that tokend sets itself and `extra_params` may not override.
    public static let reservedFormFields = ["grant_type", "client_id", "client_secret", "audience", "scope",
                                            "client_assertion", "client_assertion_type",
                                            "subject_token", "subject_token_type", "requested_token_type"]
    /// The keys that sign assertions (SPEC §12, §13).
    static let signingKeys = ["client_assertion_key_file", "client_assertion_key_credential", "client_assertion_alg", "client_assertion_kid",
                              "client_assertion_audience", "client_assertion_lifetime",
                              "client_assertion_certificate_file", "client_assertion_x5t", "client_assertion_x5c"]
    static let secretKeys = ["client_secret", "client_secret_file", "client_secret_credential"]

    let file: String
    let lines: KeyLineIndex
    var errors: [ConfigurationError] = []
    /// Every sink read, also of profiles refused for another reason, so that
    /// one run reports every placement problem.
    var sinksRead: [(profile: String, index: Int, sink: TokenFileSink)] = []
    /// The `[fleet]` table, for the profiles that share (SPEC §14).
    var fleetTable: FleetConfiguration?

    public static func parse(text: String, file: String) throws(ConfigurationErrors) -> Configuration {
        var parser = ConfigurationParser(file: file, lines: KeyLineIndex(text: text))
        let root: TOMLTable
        do {
            if text.utf8.contains(0) { throw ConfigurationErrors([ConfigurationError(file: file, key: "", message: "the file contains a NUL byte")]) }
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationErrors([ConfigurationError(file: file, line: error.source.begin.line, key: "", message: "TOML syntax: \(error.description)")])
        } catch let error as ConfigurationErrors {
            throw error
        } catch {
            throw ConfigurationErrors([ConfigurationError(file: file, key: "", message: "cannot parse: \(error)")])
        }
        let configuration = parser.configuration(root)
        if !parser.errors.isEmpty { throw ConfigurationErrors(parser.errors) }
        return configuration
    }

    /// Whether a `[fleet]` table was there and refused (its errors are reported already).
    var hasFleetTableError: Bool { fleetTable == nil && errors.contains { $0.key == "fleet" || $0.key.hasPrefix("fleet.") } }

    // MARK: - Reporting

    mutating func fail(_ path: [String], _ message: String) {
        errors.append(ConfigurationError(file: file, line: lines.line(of: path), key: path.joined(separator: "."), message: message))
    }

    mutating func checkKnownKeys(_ table: TOMLTable, allowed: [String], at path: [String]) {
        for key in table.keys.sorted() where !allowed.contains(key) {
            let suggestion = allowed.min { editDistance($0, key) < editDistance($1, key) }
            var message = "unknown key"
            if let suggestion, editDistance(suggestion, key) <= 3 { message += " (did you mean \(suggestion)?)" }
            fail(path + [key], message)
        }
    }

    // MARK: - Typed readers

    mutating func string(_ table: TOMLTable, _ key: String, _ path: [String]) -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { fail(path + [key], "must be a string, not \(describe(value.type))"); return nil }
        return s
    }

    mutating func nonEmptyString(_ table: TOMLTable, _ key: String, _ path: [String]) -> String? {
        guard let s = string(table, key, path) else { return nil }
        if s.isEmpty { fail(path + [key], "must not be empty"); return nil }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            fail(path + [key], "must not contain control characters"); return nil
        }
        return s
    }

    mutating func bool(_ table: TOMLTable, _ key: String, _ path: [String]) -> Bool? {
        guard let value = table[key] else { return nil }
        guard value.type == .bool, let b = value.bool else { fail(path + [key], "must be true or false, not \(describe(value.type))"); return nil }
        return b
    }

    mutating func number(_ table: TOMLTable, _ key: String, _ path: [String]) -> Double? {
        guard let value = table[key] else { return nil }
        switch value.type {
        case .double: return value.double
        case .int: return value.int.map(Double.init)
        default: fail(path + [key], "must be a number, not \(describe(value.type))"); return nil
        }
    }

    mutating func integer(_ table: TOMLTable, _ key: String, _ path: [String], in range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        guard value.type == .int, let n = value.int else { fail(path + [key], "must be an integer, not \(describe(value.type))"); return nil }
        guard range.contains(n) else { fail(path + [key], "must be from \(range.lowerBound) to \(range.upperBound), not \(n)"); return nil }
        return n
    }

    mutating func duration(_ table: TOMLTable, _ key: String, _ path: [String], in range: ClosedRange<TimeSpan>) -> TimeSpan? {
        guard let value = table[key] else { return nil }
        let parsed: TimeSpan?
        switch value.type {
        case .string: parsed = DurationParser.parse(value.string ?? "")
        case .int: parsed = value.int.flatMap { DurationParser.checked(Double($0)) }
        case .double: parsed = value.double.flatMap(DurationParser.checked)
        default:
            fail(path + [key], "must be a duration (a string like \"30s\", \"250ms\", \"5m\", \"1h\", or a number of seconds), not \(describe(value.type))")
            return nil
        }
        guard let span = parsed else {
            fail(path + [key], "is not a valid duration (use a number of seconds or a string like \"30s\", \"250ms\", \"5m\", \"1h\"), \(DurationRange.describe(range))")
            return nil
        }
        guard range.contains(span) else { fail(path + [key], "must be \(DurationRange.describe(range)), not \(span)"); return nil }
        return span
    }

    mutating func idList(_ table: TOMLTable, _ key: String, _ path: [String]) -> [UInt32]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { fail(path + [key], "must be an array of numbers"); return nil }
        var out: [UInt32] = []
        for element in array {
            guard element.type == .int, let n = element.int, n >= 0, n <= Int(UInt32.max - 1) else {
                fail(path + [key], "must be an array of numbers from 0 to \(UInt32.max - 1)"); return nil
            }
            out.append(UInt32(n))
        }
        return out
    }

    mutating func nameList(_ table: TOMLTable, _ key: String, _ path: [String]) -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { fail(path + [key], "must be an array of names"); return nil }
        var out: [String] = []
        for element in array {
            guard let s = element.string, !s.isEmpty, !s.contains(where: { $0 == "\0" || $0 == ":" || $0 == "\n" }) else {
                fail(path + [key], "must be an array of non-empty names"); return nil
            }
            out.append(s)
        }
        return out
    }

    // MARK: - Tables

    mutating func configuration(_ root: TOMLTable) -> Configuration {
        var config = Configuration()
        checkKnownKeys(root, allowed: Self.topLevelKeys, at: [])
        if let socket = nonEmptyString(root, "socket", []) {
            if !socket.hasPrefix("/") { fail(["socket"], "must be an absolute path") }
            else if socket.utf8.count > 107 { fail(["socket"], "is longer than a Unix socket path may be (107 bytes)") }
            else { config.socketPath = socket }
        }
        if let value = root["socket_mode"] {
            if let text = value.string, let mode = UInt32(text, radix: 8), mode <= 0o777, !text.isEmpty {
                config.socketMode = mode
            } else {
                fail(["socket_mode"], "must be an octal string from \"0000\" to \"0777\", like \"0660\"")
            }
        }
        if let value = root["socket_group"] {
            if value.type == .int, let n = value.int, n >= 0, n < Int(UInt32.max) {
                config.socketGroup = .id(UInt32(n))
            } else if let s = value.string, !s.isEmpty {
                config.socketGroup = UInt32(s).map(NamedID.id) ?? .name(s)
            } else {
                fail(["socket_group"], "must be a group name or number")
            }
        }
        if let level = string(root, "log_level", []) {
            if let parsed = LogLevel(rawValue: level.lowercased()) { config.logLevel = parsed }
            else { fail(["log_level"], "must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(level)\"") }
        }
        if let n = integer(root, "max_connections", [], in: 1...1_000_000) { config.maxConnections = n }
        if let t = duration(root, "idle_timeout", [], in: DurationRange.idleTimeout) { config.idleTimeout = t }
        if let directory = string(root, "state_dir", []) {
            if directory.isEmpty { config.stateDirectory = nil }
            else if let problem = TokenFileSink.pathProblem(directory) { fail(["state_dir"], problem + " (or \"\" to turn the cache off)") }
            else { config.stateDirectory = directory }
        }
        if let listen = string(root, "metrics_listen", []) {
            switch MetricsAddress.parse(listen) {
            case .success(let address): config.metricsListen = address
            case .failure(let why): fail(["metrics_listen"], why.message)
            }
        }
        let keyKeys = ["cache_key_file", "cache_key_credential"].filter { root[$0] != nil }
        if keyKeys.count > 1 {
            fail(["cache_key_credential"], "only one of cache_key_file and cache_key_credential may be set")
        } else if let file = nonEmptyString(root, "cache_key_file", []) {
            if !file.hasPrefix("/") { fail(["cache_key_file"], "must be an absolute path") }
            config.cacheKeySource = .file(file)
        } else if let credential = nonEmptyString(root, "cache_key_credential", []) {
            if credential.contains("/") || credential == "." || credential == ".." {
                fail(["cache_key_credential"], "must be a credential name, not a path")
            }
            config.cacheKeySource = .credential(credential)
        }
        config.fleet = fleet(root, cacheKeySet: config.cacheKeySource != nil)
        fleetTable = config.fleet

        if let value = root["profile"] {
            guard let profiles = value.table else {
                fail(["profile"], "must be a table of profiles, like [profile.NAME]")
                return config
            }
            for name in profiles.keys.sorted() {
                guard let table = profiles[name]?.table else {
                    fail(["profile", name], "must be a table ([profile.\(name)])")
                    continue
                }
                if !ProfileName.isValid(name) {
                    fail(["profile", name], "invalid profile name: use 1 to 64 of A-Z a-z 0-9 . _ -")
                    continue
                }
                if let profile = self.profile(name: name, table) { config.profiles.append(profile) }
            }
        }
        checkFilePlacement(config)
        return config
    }

    /// Token files of all profiles: no two on one path, none in the socket's directory.
    mutating func checkFilePlacement(_ config: Configuration) {
        var owners: [String: String] = [:]
        let socketDirectory = TokenFileSink(path: config.socketPath).directory
        for (profile, index, sink) in sinksRead {
            let key = ["profile", profile, "file[\(index)]", "path"]
            if let first = owners[sink.path] {
                fail(key, "\(sink.path) is already the path of \(first): two sinks cannot share a file")
            } else {
                owners[sink.path] = "profile.\(profile).file[\(index)]"
            }
            if let state = config.stateDirectory, sink.path == state || sink.path.hasPrefix(state.hasSuffix("/") ? state : state + "/") {
                fail(key, "must not be in the token cache's directory (state_dir = \(state))")
            } else if sink.path == config.socketPath {
                fail(key, "is the socket's path")
            } else if sink.directory == socketDirectory {
                fail(key, "must not be in the socket's directory (\(socketDirectory)); use a directory of its own, like /run/tokend/files")
            }
        }
    }

    /// The `client_assertion_*` keys (SPEC §12, §13), checked against `auth_method`.
    mutating func assertion(_ table: TOMLTable, _ path: [String], method: ClientAuthMethod) -> ClientAssertionSettings {
        var settings = ClientAssertionSettings()
        let keys = Self.signingKeys.filter { table[$0] != nil }
        guard method.usesAssertion else {
            for key in keys { fail(path + [key], "needs auth_method = \"private_key_jwt\" or \"client_secret_jwt\"") }
            return settings
        }
        let keySources = ["client_assertion_key_file", "client_assertion_key_credential"].filter { table[$0] != nil }
        if method == .clientSecretJWT {
            for key in keySources { fail(path + [key], "is not used with auth_method = \"client_secret_jwt\" (the client secret signs)") }
            for key in ["client_assertion_certificate_file", "client_assertion_x5t", "client_assertion_x5c"] where table[key] != nil {
                fail(path + [key], "needs auth_method = \"private_key_jwt\" (a certificate belongs to a private key)")
            }
        } else if keySources.count > 1 {
            fail(path + [keySources[1]], "only one of client_assertion_key_file and client_assertion_key_credential may be set")
        } else if keySources.isEmpty {
            fail(path + ["auth_method"], "private_key_jwt needs client_assertion_key_file or client_assertion_key_credential")
        } else if let file = nonEmptyString(table, "client_assertion_key_file", path) {
            if !file.hasPrefix("/") { fail(path + ["client_assertion_key_file"], "must be an absolute path") }
            settings.keySource = .file(file)
        } else if let credential = nonEmptyString(table, "client_assertion_key_credential", path) {
            if credential.contains("/") || credential == "." || credential == ".." {
                fail(path + ["client_assertion_key_credential"], "must be a credential name, not a path")
            }
            settings.keySource = .credential(credential)
        }
        if method == .privateKeyJWT {
            if let file = nonEmptyString(table, "client_assertion_certificate_file", path) {
                if !file.hasPrefix("/") { fail(path + ["client_assertion_certificate_file"], "must be an absolute path") }
                settings.certificateFile = file
            }
            if let choice = string(table, "client_assertion_x5t", path) {
                if let parsed = ThumbprintChoice(rawValue: choice) { settings.thumbprints = parsed }
                else { fail(path + ["client_assertion_x5t"], "must be \"sha1\", \"sha256\" or \"both\", not \"\(choice)\"") }
            }
            if let chain = bool(table, "client_assertion_x5c", path) { settings.includeChain = chain }
            if table["client_assertion_certificate_file"] == nil {
                for key in ["client_assertion_x5t", "client_assertion_x5c"] where table[key] != nil {
                    fail(path + [key], "needs client_assertion_certificate_file (the certificate of client_assertion_key_*)")
                }
            }
        }
        if let alg = string(table, "client_assertion_alg", path) {
            if !Self.assertionAlgorithms.contains(alg) {
                fail(path + ["client_assertion_alg"], "must be one of \(Self.assertionAlgorithms.joined(separator: ", ")), not \"\(alg)\"")
            } else if method == .clientSecretJWT, alg != "HS256" {
                fail(path + ["client_assertion_alg"], "client_secret_jwt signs with HS256 only")
            } else if method == .privateKeyJWT, alg == "HS256" {
                fail(path + ["client_assertion_alg"], "HS256 signs with a shared secret: use auth_method = \"client_secret_jwt\"")
            } else {
                settings.algorithm = alg
            }
        }
        if method == .clientSecretJWT { settings.algorithm = "HS256" }
        settings.kid = nonEmptyString(table, "client_assertion_kid", path)
        settings.audience = nonEmptyString(table, "client_assertion_audience", path)
        if let t = duration(table, "client_assertion_lifetime", path, in: DurationRange.assertionLifetime) { settings.lifetime = t }
        return settings
    }

    /// A file another system rotates (SPEC §13): exactly one of an absolute
    /// path or a credential name when `required`, neither otherwise.
    mutating func presentedTokenFile(_ table: TOMLTable, _ path: [String], fileKey: String, credentialKey: String,
                                     required: Bool, needs: String) -> PresentedTokenFile? {
        let present = [fileKey, credentialKey].filter { table[$0] != nil }
        guard required else {
            for key in present { fail(path + [key], "needs \(needs)") }
            return nil
        }
        if present.count > 1 { fail(path + [credentialKey], "only one of \(fileKey) and \(credentialKey) may be set"); return nil }
        if present.isEmpty { fail(path, "\(needs) needs \(fileKey) or \(credentialKey)"); return nil }
        if let file = nonEmptyString(table, fileKey, path) {
            guard file.hasPrefix("/") else { fail(path + [fileKey], "must be an absolute path"); return nil }
            return PresentedTokenFile(source: .file(file), path: file)
        }
        if let name = nonEmptyString(table, credentialKey, path) {
            guard !name.contains("/"), name != ".", name != ".." else { fail(path + [credentialKey], "must be a credential name, not a path"); return nil }
            return PresentedTokenFile(source: .credential(name), path: name)
        }
        return nil
    }

    /// `[[profile.NAME.file]]` tables (SPEC §11).
    mutating func files(_ table: TOMLTable, _ path: [String]) -> [TokenFileSink] {
        guard let value = table["file"] else { return [] }
        guard let array = value.array else {
            fail(path + ["file"], "must be an array of tables, written [[\(path.joined(separator: ".")).file]]")
            return []
        }
        var sinks: [TokenFileSink] = []
        for (index, element) in array.enumerated() {
            let at = path + ["file[\(index)]"]
            guard let entry = element.table else { fail(at, "must be a table with path, format, mode and group"); continue }
            checkKnownKeys(entry, allowed: Self.fileKeys, at: at)
            guard let filePath = nonEmptyString(entry, "path", at) else {
                if entry["path"] == nil { fail(at + ["path"], "is required") }
                continue
            }
            if let problem = TokenFileSink.pathProblem(filePath) { fail(at + ["path"], problem); continue }
            var sink = TokenFileSink(path: filePath)
            if let format = string(entry, "format", at) {
                if let parsed = TokenFileFormat(rawValue: format) { sink.format = parsed }
                else { fail(at + ["format"], "must be one of \(TokenFileFormat.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), not \"\(format)\"") }
            }
            if let value = entry["mode"] {
                if let text = value.string, !text.isEmpty, let mode = UInt32(text, radix: 8),
                   mode & ~TokenFileSink.allowedModeBits == 0, mode & 0o400 != 0 {
                    sink.mode = mode
                } else {
                    fail(at + ["mode"], "must be an octal string that lets the owner read and others at most read, from \"0400\" to \"0644\", like \"0640\"")
                }
            }
            if let value = entry["group"] {
                if value.type == .int, let n = value.int, n >= 0, n < Int(UInt32.max) {
                    sink.group = .id(UInt32(n))
                } else if let s = value.string, !s.isEmpty {
                    sink.group = UInt32(s).map(NamedID.id) ?? .name(s)
                } else {
                    fail(at + ["group"], "must be a group name or number")
                }
            }
            sinks.append(sink)
            sinksRead.append((path[1], index, sink))
        }
        return sinks
    }

    mutating func profile(name: String, _ table: TOMLTable) -> ProfileConfiguration? {
        let path = ["profile", name]
        let before = errors.count
        checkKnownKeys(table, allowed: Self.profileKeys, at: path)

        let tokenURL = nonEmptyString(table, "token_url", path)
        if table["token_url"] == nil { fail(path + ["token_url"], "is required") }
        if let url = tokenURL, let problem = TokenURL.problem(url) { fail(path + ["token_url"], problem) }
        let clientID = nonEmptyString(table, "client_id", path)

        var authMethod = ClientAuthMethod.clientSecretBasic
        if let method = string(table, "auth_method", path) {
            if let m = ClientAuthMethod(rawValue: method) { authMethod = m }
            else { fail(path + ["auth_method"], "must be one of \(ClientAuthMethod.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), not \"\(method)\"") }
        }
        var grant = Grant.clientCredentials
        if let text = string(table, "grant", path) {
            if let g = Grant(rawValue: text) { grant = g }
            else { fail(path + ["grant"], "must be one of \(Grant.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), not \"\(text)\"") }
        }
        // Without client authentication the id is optional (sent when set).
        if table["client_id"] == nil, authMethod != .none { fail(path + ["client_id"], "is required") }
        let secretKeys = Self.secretKeys.filter { table[$0] != nil }
        var secret = Secret("")
        var source = SecretSource.inline
        if !authMethod.usesSecret {
            // The key signs, the assertion file authenticates, or nothing does: no shared secret is sent or needed.
            let why: String
            switch authMethod {
            case .privateKeyJWT: why = "the private key signs"
            case .federatedAssertion: why = "the assertion file authenticates the client"
            default: why = "no client authentication is sent"
            }
            for key in secretKeys { fail(path + [key], "is not used with auth_method = \"\(authMethod.rawValue)\" (\(why)); remove it") }
        } else if secretKeys.count > 1 {
            fail(path + [secretKeys[1]], "only one of client_secret, client_secret_file and client_secret_credential may be set (found \(secretKeys.joined(separator: " and ")))")
        } else if secretKeys.isEmpty {
            fail(path, "one of client_secret, client_secret_file or client_secret_credential is required")
        } else if let inline = string(table, "client_secret", path) {
            if inline.isEmpty { fail(path + ["client_secret"], "must not be empty") }
            secret = Secret(inline)
        } else if let file = nonEmptyString(table, "client_secret_file", path) {
            source = .file(file)
        } else if let credential = nonEmptyString(table, "client_secret_credential", path) {
            if credential.contains("/") || credential == "." || credential == ".." {
                fail(path + ["client_secret_credential"], "must be a credential name, not a path")
            }
            source = .credential(credential)
        }
        if authMethod == .none {
            for key in Self.signingKeys where table[key] != nil {
                fail(path + [key], "is not used with auth_method = \"none\" (no client authentication is sent); remove it")
            }
            if grant == .clientCredentials {
                fail(path + ["auth_method"], "\"none\" is only for grant = \"token_exchange\": the client-credentials grant needs client authentication")
            }
        }
        let federated = presentedTokenFile(table, path, fileKey: "client_assertion_file", credentialKey: "client_assertion_credential",
                                           required: authMethod == .federatedAssertion, needs: "auth_method = \"federated_assertion\"")
        let subject = presentedTokenFile(table, path, fileKey: "subject_token_file", credentialKey: "subject_token_credential",
                                         required: grant == .tokenExchange, needs: "grant = \"token_exchange\"")
        var exchange: TokenExchangeSettings?
        if grant == .tokenExchange {
            if let subject { exchange = TokenExchangeSettings(subject: subject) }
            if let type = nonEmptyString(table, "subject_token_type", path) { exchange?.subjectTokenType = type }
            exchange?.requestedTokenType = nonEmptyString(table, "requested_token_type", path)
        } else {
            for key in ["subject_token_type", "requested_token_type"] where table[key] != nil {
                fail(path + [key], "needs grant = \"token_exchange\"")
            }
        }

        var profile = ProfileConfiguration(name: name, tokenURL: tokenURL ?? "", clientID: clientID ?? "", clientSecret: secret, secretSource: source)
        profile.authMethod = authMethod
        profile.grant = grant
        profile.federatedAssertion = federated
        profile.tokenExchange = exchange
        profile.assertion = assertion(table, path, method: authMethod)
        profile.audience = nonEmptyString(table, "audience", path)
        if let value = table["scope"] {
            if let s = value.string {
                profile.scope = s
            } else if let array = value.array, array.allSatisfy({ $0.string != nil }) {
                profile.scope = array.compactMap(\.string).joined(separator: " ")
            } else {
                fail(path + ["scope"], "must be a string or an array of strings")
            }
        }
        if let value = table["extra_params"] {
            if let params = value.table {
                for key in params.keys.sorted() {
                    if Self.reservedFormFields.contains(key) {
                        fail(path + ["extra_params", key], "is set by tokend itself; use the profile key instead")
                    } else if let s = params[key]?.string {
                        profile.extraParams.append(FormField(key, s))
                    } else if let v = params[key], v.type == .int || v.type == .bool, let text = v.int.map(String.init) ?? v.bool.map(String.init) {
                        profile.extraParams.append(FormField(key, text))
                    } else {
                        fail(path + ["extra_params", key], "must be a string")
                    }
                }
            } else {
                fail(path + ["extra_params"], "must be a table of strings, like { resource = \"https://api.example\" }")
            }
        }
        if let r = number(table, "renew_at", path) {
            if r > 0, r < 1 { profile.renewAt = r } else { fail(path + ["renew_at"], "must be between 0 and 1 (exclusive), not \(r)") }
        }
        if let j = number(table, "jitter", path) {
            if j >= 0, j < 1 { profile.jitter = j } else { fail(path + ["jitter"], "must be at least 0 and below 1, not \(j)") }
        }
        if profile.renewAt + profile.jitter >= 1 || profile.renewAt - profile.jitter <= 0 {
            fail(path + [table["jitter"] != nil ? "jitter" : "renew_at"],
                 "renew_at ± jitter must stay between 0 and 1 (renew_at \(profile.renewAt), jitter \(profile.jitter))")
        }
        if let t = duration(table, "retry_min", path, in: DurationRange.retry) { profile.retryMin = t }
        if let t = duration(table, "retry_max", path, in: DurationRange.retry) { profile.retryMax = t }
        if profile.retryMax < profile.retryMin {
            fail(path + ["retry_max"], "must not be shorter than retry_min (\(profile.retryMin))")
        }
        if let t = duration(table, "timeout", path, in: DurationRange.timeout) { profile.timeout = t }
        if let t = duration(table, "default_ttl", path, in: DurationRange.defaultTTL) { profile.defaultTTL = t }
        profile.caFile = nonEmptyString(table, "ca_file", path)
        profile.clientCertFile = nonEmptyString(table, "client_cert_file", path)
        profile.clientKeyFile = nonEmptyString(table, "client_key_file", path)
        if profile.clientKeyFile != nil, profile.clientCertFile == nil {
            fail(path + ["client_key_file"], "needs client_cert_file")
        }
        if let b = bool(table, "prefetch", path) { profile.prefetch = b }
        if let b = bool(table, "persist", path) { profile.persist = b }
        if let b = bool(table, "fleet", path), b {
            profile.fleet = fleetTable
            if fleetTable == nil, table["fleet"] != nil, !hasFleetTableError { fail(path + ["fleet"], "needs a [fleet] table") }
        }

        let uids = idList(table, "allow_uids", path)
        let users = nameList(table, "allow_users", path)
        let gids = idList(table, "allow_gids", path)
        let groups = nameList(table, "allow_groups", path)
        profile.access = AccessRule(
            restricted: ["allow_uids", "allow_users", "allow_gids", "allow_groups"].contains { table[$0] != nil },
            userNames: users ?? [], groupNames: groups ?? [],
            uids: Set(uids ?? []), gids: Set(gids ?? []))
        profile.files = files(table, path)

        return errors.count == before ? profile : nil
    }

    private func describe(_ type: TOMLType) -> String {
        switch type {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a floating-point number"
        case .bool: return "a boolean"
        case .date: return "a date"
        case .time: return "a time"
        case .dateTime: return "a date-time"
        }
    }
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

