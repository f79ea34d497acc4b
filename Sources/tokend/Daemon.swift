import CProcessShim
import Glibc
import Logging
import NIOCore
import NIOPosix
import TokendCore
import TokendEngine
import TokendHost
import TokendHTTP
import TokendMetrics
import TokendPlatform
import TokendServer
import TokendSystemd

/// Wires the daemon together and runs it until SIGTERM/SIGINT (SPEC §6):
/// configuration, then the lifecycle's stages (engine → socket → notifier),
/// reload on SIGHUP, and the stages back down in reverse order.
final class Daemon {
    let configPath: String
    let levelOverride: LogLevel?
    let dev: Bool
    private var logger = Logger(label: "tokend")

    /// Exit statuses: 0 clean stop, 1 runtime failure, 78 configuration error.
    static let failureStatus: Int32 = 1
    /// Every stage is down within this (systemd's TimeoutStopSec is 10 s).
    static let shutdownDeadline = TimeSpan.seconds(8 as Int64)

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
                return Daemon.failureStatus
            }
        } else {
            do {
                loaded = try ConfigurationLoader.load(path: configPath, host: SystemHost(), parserCheck: ParserPreflight.check)
            } catch {
                for problem in error.errors { printError(problem.description) }
                return ConfigurationCheck.invalidStatus
            }
        }
        let level = levelOverride ?? loaded.configuration.logLevel
        LoggingSystem.bootstrap { label in
            StderrLogHandler(label: label, level: Logger.Level(rawValue: level.rawValue) ?? .info, journal: journal)
        }
        logger = Logger(label: "tokend")
        for warning in loaded.warnings { logger.warning("\(warning)") }
        var configuration = loaded.configuration
        let signals: AsyncStream<Int32>
        do {
            signals = try SignalWaiter.signals()
        } catch {
            logger.critical("\(error)")
            return Daemon.failureStatus
        }

        let descriptors = DescriptorLimit.raise(toServe: configuration.maxConnections)
        if descriptors < UInt64(configuration.maxConnections) + DescriptorLimit.reserve {
            logger.warning("the descriptor limit (\(descriptors)) is below max_connections (\(configuration.maxConnections)); raise LimitNOFILE=")
        }
        CurlTransfer.globalInit()
        // Client event loops: half the cores, at most 4. Every client is a
        // process on this host; a daemon that took every core would compete
        // with them (on 2 cores, 1 loop serves ~900k GET/s with a p99 of 1 ms
        // at 64 pipelining connections; 2 loops: the same throughput, p99 4 ms).
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(System.coreCount / 2, 4)))
        let engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The metrics backend first: every counter and gauge made from here on reports to it.
        let registry = configuration.metricsListen.map { _ in MetricsBackend.bootstrap(version: TokendVersion.string) }
        let diskQueue = DiskQueue()
        let engine = TokenEngine(loop: engineGroup.next(), logger: logger, diskQueue: diskQueue,
                                 store: tokenStore(configuration, diskQueue))
        let context = ServerContext(engine: engine, idleTimeout: configuration.idleTimeout,
                                    maxConnections: configuration.maxConnections, logger: logger, userGroups: UserGroupCache())
        let socket = SocketService(configuration: configuration, group: clientGroup, context: context)
        let notifier = NotifierService(notifier: ServiceNotifier(), engine: engine, clientGroup: clientGroup, engineLoop: engineGroup.next())
        var stages = [EngineService(engine: engine, profiles: configuration.profiles).stage, socket.stage]
        var metrics: MetricsService?
        if let address = configuration.metricsListen, let registry {
            let service = MetricsService(address: address, socketMode: configuration.socketMode, group: clientGroup, engine: engine,
                                         registry: registry, loops: Array(clientGroup.makeIterator()) + [engineGroup.next()],
                                         logger: logger)
            metrics = service
            stages.append(service.stage)
        }
        stages.append(notifier.stage)
        let lifecycle = Lifecycle(stages)

        var status: Int32 = 0
        do {
            try await lifecycle.start()
            logger.notice("tokend \(TokendVersion.string) serving", metadata: [
                "socket": .string(socket.socketDescription), "profiles": .stringConvertible(configuration.profiles.count),
                "curl": .string(CurlTransfer.versionDescription),
            ])
            devMode?.printBanner(socket: configuration.socketPath, metrics: metrics?.url)
            for await signal in signals {
                if signal == SIGHUP {
                    if dev { logger.notice("SIGHUP ignored in --dev mode"); continue }
                    configuration = await reload(current: configuration, engine: engine, notifier: notifier)
                    continue
                }
                logger.notice("stopping", metadata: ["signal": .string(signal == SIGTERM ? "SIGTERM" : "SIGINT")])
                break
            }
            let report = await lifecycle.stop(within: Daemon.shutdownDeadline)
            if !report.overran.isEmpty {
                logger.warning("not stopped within \(Daemon.shutdownDeadline): \(report.overran.joined(separator: ", "))")
            }
            logger.info("stopped")
        } catch let failure as LifecycleStartFailure {
            logger.critical("\(failure.underlying)", metadata: ["stage": .string(failure.stage)])
            status = Daemon.failureStatus
        } catch {
            logger.critical("\(error)")
            status = Daemon.failureStatus
        }
        try? await clientGroup.shutdownGracefully()
        try? await engineGroup.shutdownGracefully()
        await devMode?.stop()
        return status
    }

    /// The persistent cache (SPEC §9), or nil when it is off or its directory
    /// is unfit (one warning; tokend serves without it).
    private func tokenStore(_ configuration: Configuration, _ queue: DiskQueue) -> (any TokenStore)? {
        guard let directory = configuration.stateDirectory else { return nil }
        if let problem = StateDirectory.prepare(directory) {
            logger.warning("the token cache is off for this run: \(problem)")
            return nil
        }
        logger.info("token cache", metadata: ["directory": .string(directory),
                                              "encrypted": .stringConvertible(configuration.cacheKey != nil)])
        return FileTokenStore(directory: directory, key: configuration.cacheKey, queue: queue, logger: logger)
    }

    /// SIGHUP: a broken file is refused and the old configuration keeps running.
    private func reload(current: Configuration, engine: TokenEngine, notifier service: NotifierService) async -> Configuration {
        let notifier = service.notifier
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(ServiceNotifier.monotonicMicroseconds())")
        defer { notifier.notify("READY=1") }
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(path: configPath, host: SystemHost(), parserCheck: ParserPreflight.check)
        } catch {
            for problem in error.errors {
                logger.error("reload refused, keeping the running configuration", metadata: ["problem": .string(problem.description)])
            }
            // `systemctl status` shows it until the next successful reload
            // (the problems themselves, which name files and keys, are in the journal).
            let count = error.errors.count
            service.setNote("reload refused (\(count) problem\(count == 1 ? "" : "s"), see the journal), running the previous configuration")
            notifier.notify("STATUS=\(await service.statusLine())")
            return current
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        service.setNote(nil)
        let plan = ReloadPlan(running: current, loaded: loaded.configuration)
        for key in plan.restartKeys {
            logger.warning("a change of \(key) takes effect at the next restart, not on reload")
        }
        let next = plan.configuration
        if let summary = try? await engine.apply(next.profiles).get() {
            logger.notice("configuration reloaded", metadata: [
                "added": .string(summary.added.joined(separator: ",")), "changed": .string(summary.changed.joined(separator: ",")),
                "removed": .string(summary.removed.joined(separator: ",")), "unchanged": .string(summary.unchanged.joined(separator: ",")),
            ])
        }
        notifier.notify("STATUS=\(await service.statusLine())")
        return next
    }
}
