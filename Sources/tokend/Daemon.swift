import CProcessShim
import Glibc
import Logging
import TokendApp
import TokendCore
import TokendHost
import TokendHTTP
import TokendMetrics
import TokendPlatform
import TokendSystemd

/// The process around the application (SPEC §6): what is process-wide is
/// done here, once, before any event loop exists (no core file, the
/// configuration, the logging and metrics back-ends, the signal pipe, the
/// descriptor limit, libcurl's global set-up); `TokendApplication` (the
/// TokendApp library) builds and runs the daemon itself.
final class Daemon {
    let configPath: String
    let levelOverride: LogLevel?
    let dev: Bool

    init(configPath: String, levelOverride: LogLevel?, dev: Bool) {
        self.configPath = configPath
        self.levelOverride = levelOverride
        self.dev = dev
    }

    func run() async -> Int32 {
        // Neither a core file nor a same-user debugger may read tokens from us.
        _ = tokend_set_nondumpable()
        let journal = getenv("JOURNAL_STREAM") != nil

        var devMode: DevMode?
        let loaded: LoadedConfiguration
        if dev {
            do {
                let mode = try await DevMode.start()
                devMode = mode
                loaded = LoadedConfiguration(configuration: mode.configuration, warnings: [])
            } catch {
                printError("tokend: cannot start the development token endpoint: \(error)")
                return TokendApplication.failureStatus
            }
        } else {
            do {
                loaded = try ConfigurationLoader.load(path: configPath, host: SystemHost(), parserCheck: ParserPreflight.check)
            } catch {
                for problem in error.errors { printError(problem.description) }
                return ConfigurationCheck.invalidStatus
            }
        }
        let configuration = loaded.configuration
        let level = levelOverride ?? configuration.logLevel
        LoggingSystem.bootstrap { label in
            StderrLogHandler(label: label, level: Logger.Level(rawValue: level.rawValue) ?? .info, journal: journal)
        }
        let logger = Logger(label: "tokend")
        for warning in loaded.warnings { logger.warning("\(warning)") }
        let signals: AsyncStream<Int32>
        do {
            signals = try SignalWaiter.signals()
        } catch {
            logger.critical("\(error)")
            return TokendApplication.failureStatus
        }
        let descriptors = DescriptorLimit.raise(toServe: configuration.maxConnections)
        if descriptors < UInt64(configuration.maxConnections) + DescriptorLimit.reserve {
            logger.warning("the descriptor limit (\(descriptors)) is below max_connections (\(configuration.maxConnections)); raise LimitNOFILE=")
        }
        CurlTransfer.globalInit()
        // The metrics backend first: every counter and gauge made from here on reports to it.
        let registry = configuration.metricsListen.map { _ in MetricsBackend.bootstrap(version: TokendVersion.string) }
        let path = configPath
        let mode = devMode
        let reload: @Sendable () async throws(ConfigurationErrors) -> LoadedConfiguration = { () async throws(ConfigurationErrors) in
            try ConfigurationLoader.load(path: path, host: SystemHost(), parserCheck: ParserPreflight.check)
        }
        let parts = TokendApplication.Parts(
            registry: registry,
            reload: dev ? nil : reload,
            onServing: { _, metricsURL in mode?.printBanner(socket: configuration.socketPath, metrics: metricsURL) })
        let status = await TokendApplication.run(configuration: configuration, parts: parts, signals: signals, logger: logger)
        await devMode?.stop()
        return status
    }
}
