import TokendCrypto
import TokendPlatform

/// A configuration ready to run, with the warnings found while loading it.
public struct LoadedConfiguration: Equatable, Sendable {
    public var configuration: Configuration
    public var warnings: [String]

    public init(configuration: Configuration, warnings: [String]) {
        self.configuration = configuration
        self.warnings = warnings
    }
}

/// The outcome of running the TOML parser where a crash cannot hurt.
public enum ParserCheck: Equatable, Sendable {
    case survived
    case crashed
    /// The check itself could not run (no process, a deadline passed): the file is refused.
    case cannotRun(String)
}

/// Reads a configuration file and makes it ready to run: parses it, reads
/// every secret, resolves user and group names, and checks that the TLS
/// files it names can be read (SPEC §2, `tokend --check`).
public enum ConfigurationLoader {
    static let maximumFileBytes = 1 << 20
    static let maximumSecretBytes = 64 << 10

    /// - Parameter parserCheck: runs the TOML parser on the text where its
    ///   crash cannot hurt (tokend: in a child process) and says whether it
    ///   returned; when the check cannot run, the file is refused. TOMLKit's C++ parser (toml++) aborts on some malformed
    ///   files instead of reporting an error; such a file is refused here.
    public static func load(path: String, host: some HostEnvironment,
                            parserCheck: (String) -> ParserCheck = { _ in .survived }) throws(ConfigurationErrors) -> LoadedConfiguration {
        let bytes: [UInt8]
        switch host.readFile(path, limit: maximumFileBytes) {
        case .success(let b): bytes = b
        case .failure(let e): throw ConfigurationErrors([ConfigurationError(file: path, key: "", message: "cannot read the configuration file: \(e.message)")])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationErrors([ConfigurationError(file: path, key: "", message: "the file is not valid UTF-8")])
        }
        switch parserCheck(text) {
        case .survived:
            break
        case .crashed:
            throw ConfigurationErrors([ConfigurationError(file: path, key: "", message:
                "the TOML parser crashed on this file: it is not valid TOML (look for a malformed [table] header or key)")])
        case .cannotRun(let reason):
            throw ConfigurationErrors([ConfigurationError(file: path, key: "", message:
                "the file was not loaded: \(reason)")])
        }
        return try load(text: text, path: path, host: host)
    }

    public static func load(text: String, path: String, host: some HostEnvironment) throws(ConfigurationErrors) -> LoadedConfiguration {
        var configuration = try ConfigurationParser.parse(text: text, file: path)
        var errors: [ConfigurationError] = []
        var warnings: [String] = []
        let lines = KeyLineIndex(text: text)
        func fail(_ key: String, _ message: String) {
            errors.append(ConfigurationError(file: path, line: lines.line(of: key.split(separator: ".").map(String.init)), key: key, message: message))
        }

        switch configuration.cacheKeySource {
        case .file(let file):
            switch host.readFile(file, limit: 4096) {
            case .success(var bytes):
                defer { for i in bytes.indices { bytes[i] = 0 } }
                if let key = CacheKey.parse(bytes) { configuration.cacheKey = key }
                else { fail("cache_key_file", "\(file) holds no 256-bit key: 32 bytes, or 64 hex digits (openssl rand -hex 32)") }
            case .failure(let e): fail("cache_key_file", "cannot read \(file): \(e.message)")
            }
        case .credential(let name):
            if let file = credentialFile(name, host: host, key: "cache_key_credential", fail: fail) {
                switch host.readFile(file, limit: 4096) {
                case .success(var bytes):
                    defer { for i in bytes.indices { bytes[i] = 0 } }
                    if let key = CacheKey.parse(bytes) { configuration.cacheKey = key }
                    else { fail("cache_key_credential", "credential \(name) holds no 256-bit key: 32 bytes, or 64 hex digits (openssl rand -hex 32)") }
                case .failure(let e): fail("cache_key_credential", "cannot read credential \(name): \(e.message)")
                }
            }
        case .inline, nil:
            break
        }
        if configuration.fleet != nil {
            configuration.fleet?.cacheKey = configuration.cacheKey
            for index in configuration.profiles.indices where configuration.profiles[index].fleet != nil {
                configuration.profiles[index].fleet = configuration.fleet
            }
        }
        if let fleet = configuration.fleet {
            for (fileKey, file) in [("ca_file", fleet.caFile), ("cert_file", fleet.certFile), ("key_file", fleet.keyFile)] {
                guard let file else { continue }
                switch host.readFile(file, limit: 16 << 20) {
                case .failure(let e): fail("fleet.\(fileKey)", "cannot read \(file): \(e.message)")
                case .success(var bytes): for i in bytes.indices { bytes[i] = 0 }
                }
            }
        }
        if var fleet = configuration.fleet, let source = fleet.passwordSource {
            fleet.password = resolve(source, key: "fleet.password", host: host, fail: fail)
            configuration.fleet = fleet
            for index in configuration.profiles.indices where configuration.profiles[index].fleet != nil {
                configuration.profiles[index].fleet = fleet
            }
        }
        if case .name(let name) = configuration.socketGroup {
            if let gid = host.groupID(named: name) { configuration.socketGroup = .id(gid) }
            else { fail("socket_group", "unknown group \"\(name)\"") }
        }
        let inlineMode = host.fileMode(path)
        for index in configuration.profiles.indices {
            var profile = configuration.profiles[index]
            let key = "profile.\(profile.name)"
            switch profile.secretSource {
            case .inline:
                if profile.authMethod.usesSecret, let mode = inlineMode, mode & 0o044 != 0 {
                    warnings.append("\(path): \(key).client_secret: the secret is inline and the file is readable by group or others (mode \(String(mode & 0o777, radix: 8))); use client_secret_file or client_secret_credential, or chmod 600 the file")
                }
            case .file(let file):
                if let secret = resolve(.file(file), key: "\(key).client_secret", host: host, fail: fail) {
                    profile.clientSecret = secret
                    if let mode = host.fileMode(file), mode & 0o044 != 0 {
                        warnings.append("\(path): \(key).client_secret_file: \(file) is readable by group or others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it, or use client_secret_credential")
                    }
                }
            case .credential(let name):
                if let secret = resolve(.credential(name), key: "\(key).client_secret", host: host, fail: fail) { profile.clientSecret = secret }
            }
            if profile.authMethod.usesAssertion {
                checkAssertion(&profile, key: key, host: host, fail: fail)
            }
            if var file = profile.federatedAssertion, profile.authMethod == .federatedAssertion {
                checkPresented(&file, kind: .assertion, key: "\(key).client_assertion_", host: host, warn: { warnings.append("\(path): \($0)") }, fail: fail)
                profile.federatedAssertion = file
            }
            if var exchange = profile.tokenExchange, profile.grant == .tokenExchange {
                checkPresented(&exchange.subject, kind: .subjectToken, key: "\(key).subject_token_", host: host, warn: { warnings.append("\(path): \($0)") }, fail: fail)
                profile.tokenExchange = exchange
            }
            for name in profile.access.userNames {
                if let uid = host.userID(named: name) { profile.access.uids.insert(uid) }
                else { fail("\(key).allow_users", "unknown user \"\(name)\"") }
            }
            for name in profile.access.groupNames {
                if let gid = host.groupID(named: name) { profile.access.gids.insert(gid) }
                else { fail("\(key).allow_groups", "unknown group \"\(name)\"") }
            }
            for (fileKey, file) in [("ca_file", profile.caFile), ("client_cert_file", profile.clientCertFile), ("client_key_file", profile.clientKeyFile)] {
                guard let file else { continue }
                switch host.readFile(file, limit: 16 << 20) {
                case .failure(let e):
                    fail("\(key).\(fileKey)", "cannot read \(file): \(e.message)")
                case .success(var bytes):
                    if fileKey == "client_cert_file" { profile.clientCertificateDigest = SHA256.hex(bytes) }
                    for i in bytes.indices { bytes[i] = 0 }
                }
            }
            for sinkIndex in profile.files.indices {
                let sinkKey = "\(key).file[\(sinkIndex)]"
                var sink = profile.files[sinkIndex]
                if let problem = host.directoryProblem(sink.directory) {
                    fail("\(sinkKey).path", "cannot write token files in \(sink.directory): \(problem)")
                }
                switch sink.group {
                case .name(let name):
                    if let gid = host.groupID(named: name) { sink.group = .id(gid) }
                    else { fail("\(sinkKey).group", "unknown group \"\(name)\"") }
                case .id, nil:
                    break
                }
                // No `group`: the file keeps the group it is created with (tokend's
                // effective group, or a set-group-ID directory's), with no fchown.
                // Under the shipped unit that is the socket's clients' group: a
                // group-readable file of a profile with allow_* rules would give
                // its token to peers those rules refuse: a warning (SPEC §11
                // keeps the mode the operator gave, 0640 by default).
                if sink.group == nil, sink.mode & 0o044 != 0, profile.access.restricted {
                    warnings.append("\(path): \(sinkKey): allow_* rules do not apply to token files, and without `group` the file (mode \(String(sink.mode, radix: 8))) is readable by tokend's own group (under the shipped unit, every client of the socket); set `group` to its readers' group, or mode = \"0600\"")
                }
                if let gid = sink.groupID, let problem = host.fileGroupProblem(gid, directory: sink.directory) {
                    fail("\(sinkKey).group", problem)
                }
                profile.files[sinkIndex] = sink
            }
            configuration.profiles[index] = profile
        }
        if !errors.isEmpty { throw ConfigurationErrors(errors) }
        if configuration.profiles.isEmpty {
            warnings.append("\(path): no [profile.NAME] table: tokend will serve no token")
        }
        return LoadedConfiguration(configuration: configuration, warnings: warnings)
    }

    /// `private_key_jwt`/`client_secret_jwt`: reads the key (again on every
    /// load, so a reload picks up a key replaced in place), checks that it
    /// fits the algorithm, and signs one test assertion (SPEC §12). The
    /// messages name the key and never its bytes.
    static func checkAssertion(_ profile: inout ProfileConfiguration, key: String, host: some HostEnvironment,
                               fail: (String, String) -> Void) {
        var settingsKey = "\(key).client_assertion_key_file"
        if profile.authMethod == .privateKeyJWT {
            let file: String
            switch profile.assertion.keySource {
            case .file(let path):
                file = path
            case .credential(let name):
                settingsKey = "\(key).client_assertion_key_credential"
                guard let resolved = credentialFile(name, host: host, key: settingsKey, fail: fail) else { return }
                file = resolved
            case .inline, nil:
                return  // the parser already said a key is needed
            }
            var read = host.readFile(file, limit: 64 << 10)
            guard case .success(var pem) = read else {
                if case .failure(let e) = read { fail(settingsKey, "cannot read \(file): \(e.message)") }
                return
            }
            // `pem` must be the only reference for the clearing to reach its bytes.
            read = .success([])
            do throws(SigningKey.LoadFailure) {
                profile.assertion.key = try LoadedSigningKey(pem: &pem)
            } catch {
                fail(settingsKey, error.description)
                return
            }
            if let certificateFile = profile.assertion.certificateFile, let signingKey = profile.assertion.key?.key {
                let certificateKey = "\(key).client_assertion_certificate_file"
                switch host.readFile(certificateFile, limit: 1 << 20) {
                case .failure(let e):
                    fail(certificateKey, "cannot read \(certificateFile): \(e.message)")
                case .success(let bytes):
                    switch AssertionCertificate.load(pem: bytes, key: signingKey, keyName: file) {
                    case .success(let certificate): profile.assertion.certificate = certificate
                    case .failure(let why): fail(certificateKey, "\(certificateFile): \(why)")
                    }
                }
            }
        } else {
            settingsKey = "\(key).auth_method"
        }
        do {
            let signer = try AssertionSigner(profile)
            profile.assertion.algorithm = signer.algorithm
            _ = try signer.assertion(unixNow: 0, jti: AssertionSigner.randomJTI())
        } catch {
            let where_ = profile.assertion.algorithm != nil && error.description.contains("does not fit") ? "\(key).client_assertion_alg" : settingsKey
            fail(where_, error.description)
        }
    }

    /// A federated assertion or subject token file (SPEC §13): resolves a
    /// credential name to its file, then reads it once as a request would.
    /// Unreadable, or an assertion that is not a JWS, is an error; expired
    /// (or an empty subject token) a warning, since the rotator may not have
    /// run yet at boot.
    static func checkPresented(_ file: inout PresentedTokenFile, kind: PresentedToken.Kind, key prefix: String, host: some HostEnvironment,
                               warn: (String) -> Void, fail: (String, String) -> Void) {
        let settingsKey: String
        switch file.source {
        case .credential(let name):
            settingsKey = prefix + "credential"
            guard let resolved = credentialFile(name, host: host, key: settingsKey, fail: fail) else { return }
            file.path = resolved
        case .file, .inline:
            settingsKey = prefix + "file"
        }
        switch host.readFile(file.path, limit: maximumSecretBytes) {
        case .failure(let e):
            fail(settingsKey, "cannot read \(file.path): \(e.message)")
        case .success(var bytes):
            defer { AESGCM.cleanse(&bytes) }
            if case .failure(let refusal) = PresentedToken.evaluate(bytes, kind: kind, path: file.path, unixNow: BootClock.unixTime()) {
                // Any subject token may be configured (SPEC §13: it must exist
                // and be readable); an expired one, or one the rotator has not
                // written yet, only fails requests until it is replaced.
                if refusal.expired || kind == .subjectToken {
                    warn("\(settingsKey): \(refusal.message): a token request fails until the file is replaced")
                } else {
                    fail(settingsKey, refusal.message)
                }
            }
        }
    }

    /// The secret a `KEY_file` or `KEY_credential` names (`key` is the
    /// prefix, `profile.api.client_secret` or `fleet.password`); nil, and
    /// the problem reported at the key, when it cannot be read.
    static func resolve(_ source: SecretSource, key: String, host: some HostEnvironment, fail: (String, String) -> Void) -> Secret? {
        switch source {
        case .inline:
            return nil
        case .file(let file):
            switch readSecret(file, host: host) {
            case .success(let secret): return secret
            case .failure(let e): fail("\(key)_file", "cannot read \(file): \(e.message)")
            }
        case .credential(let name):
            guard let file = credentialFile(name, host: host, key: "\(key)_credential", fail: fail) else { return nil }
            switch readSecret(file, host: host) {
            case .success(let secret): return secret
            case .failure(let e): fail("\(key)_credential", "cannot read credential \(name) (\(file)): \(e.message)")
            }
        }
        return nil
    }

    /// `$CREDENTIALS_DIRECTORY/NAME`, the file systemd's `LoadCredential=`
    /// made; nil, reported at `key`, when the directory is not set.
    static func credentialFile(_ name: String, host: some HostEnvironment, key: String, fail: (String, String) -> Void) -> String? {
        guard let directory = host.environment("CREDENTIALS_DIRECTORY"), !directory.isEmpty else {
            fail(key, "$CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=); cannot read credential \(name)")
            return nil
        }
        return directory + "/" + name
    }

    /// A secret file's content less one trailing newline; empty is an error.
    static func readSecret(_ file: String, host: some HostEnvironment) -> Result<Secret, HostError> {
        switch host.readFile(file, limit: maximumSecretBytes) {
        case .failure(let e): return .failure(e)
        case .success(var bytes):
            // The bytes are cleared before they are freed; the secret lives on
            // in the String that the profile keeps.
            defer { for i in bytes.indices { bytes[i] = 0 } }
            let length = bytes.last == UInt8(ascii: "\n") ? bytes.count - 1 : bytes.count
            guard length > 0 else { return .failure(HostError("the file is empty")) }
            guard let text = String(validating: bytes[..<length], as: UTF8.self) else { return .failure(HostError("the secret is not valid UTF-8")) }
            return .success(Secret(text))
        }
    }
}
