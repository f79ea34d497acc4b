import ArgumentParser
import CEarlySignals
import Glibc
import TokendCore

/// `tokend [--config PATH] [--check] [--log-level LEVEL] [--dev] [--version]` (SPEC §6).
@main
struct TokendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokend",
        abstract: "Obtains OAuth 2.0 client-credentials tokens, keeps them renewed and serves them on a Unix socket.",
        discussion: "Clients: tokenctl, or `printf 'GET PROFILE\\n' | nc -U SOCKET`. See README.md.")

    @Option(name: .long, help: "Configuration file.", completion: .file(extensions: ["toml"]))
    var config: String = Configuration.defaultPath

    @Flag(name: .long, help: "Validate the configuration (secrets, names, URLs) and exit: 0 valid, 78 invalid.")
    var check = false

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (overrides log_level).",
            completion: .list(LogLevel.allCases.map(\.rawValue)))
    var logLevel: String?

    @Flag(name: .long, help: "Run a self-contained demonstration: an embedded token endpoint and a profile `demo`.")
    var dev = false

    @Flag(name: .long, help: "Print the version and exit.")
    var version = false

    /// Internal: the child of `ParserPreflight`.
    @Flag(name: .customLong("parse-stdin-only"), help: .hidden)
    var parseStdinOnly = false

    func validate() throws {
        if let logLevel, LogLevel(rawValue: logLevel.lowercased()) == nil {
            throw ValidationError("--log-level must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if dev && check { throw ValidationError("--dev and --check cannot be combined") }
    }

    func run() async throws {
        if parseStdinOnly {
            tokend_early_signals_ignore()
            ParserPreflight.runChild()
        }
        // From the first moment: a write to a pipe or socket whose reader is
        // gone (the parser child that crashed, a client) is EPIPE, not death.
        signal(SIGPIPE, SIG_IGN)
        if version {
            tokend_early_signals_release()
            print("tokend \(TokendVersion.string)")
            return
        }
        let level = logLevel.flatMap { LogLevel(rawValue: $0.lowercased()) }
        if check {
            // A command, not the daemon: signals do what they usually do.
            tokend_early_signals_release()
            throw ExitCode(ConfigurationCheck.run(path: config))
        }
        let status = await Daemon(configPath: config, levelOverride: level, dev: dev).run()
        if status != 0 { throw ExitCode(status) }
    }
}
