import Logging
import NIOCore
import NIOPosix
import Prometheus
import TokendCore
import TokendEngine
import TokendHost
import TokendHTTP
import TokendPlatform
import TokendServer
import TokendSystemd

/// The daemon, built from a configuration and injected parts (SPEC §6): the
/// lifecycle's stages (engine → socket → metrics → notifier), reload on
/// SIGHUP, and the stages back down in reverse order on SIGTERM or SIGINT.
/// The executable (`tokend`) does what is process-wide first: signals, the
/// logging and metrics back-ends, the descriptor limit, libcurl's global
/// set-up; tests run the same application in process, with a scripted IdP
/// (TokendTesting's `AppHarness`).
public enum TokendApplication {
    /// What the application is built from besides its configuration.
    public struct Parts: Sendable {
        /// Token requests: libcurl for real, a scripted IdP in tests.
        public var fetchers: TokenFetcherFactory
        /// The one clock of the engine.
        public var clock: any TokendClock
        /// systemd's notification socket (inactive without `NOTIFY_SOCKET`).
        public var notifier: ServiceNotifier
        /// The metrics registry, bootstrapped once per process; nil: no metrics endpoint.
        public var registry: PrometheusCollectorRegistry?
        /// Reads the configuration again on SIGHUP; nil: SIGHUP is ignored (`--dev`).
        public var reload: (@Sendable () async throws(ConfigurationErrors) -> LoadedConfiguration)?
        /// Whether systemd may have passed the listening socket (`LISTEN_FDS`).
        public var socketActivation: Bool
        /// Called once clients are served: where the socket is, and `/metrics` if any.
        public var onServing: @Sendable (_ socket: String, _ metricsURL: String?) -> Void
        /// Called after every SIGHUP: the reload's outcome.
        public var onReload: @Sendable (_ outcome: ReloadOutcome) -> Void

        public init(fetchers: @escaping TokenFetcherFactory = TokenEndpointClient.factory, clock: any TokendClock = SystemClock(),
                    notifier: ServiceNotifier = ServiceNotifier(), registry: PrometheusCollectorRegistry? = nil,
                    reload: (@Sendable () async throws(ConfigurationErrors) -> LoadedConfiguration)? = nil, socketActivation: Bool = true,
                    onServing: @escaping @Sendable (String, String?) -> Void = { _, _ in },
                    onReload: @escaping @Sendable (ReloadOutcome) -> Void = { _ in }) {
            self.fetchers = fetchers
            self.clock = clock
            self.notifier = notifier
            self.registry = registry
            self.reload = reload
            self.socketActivation = socketActivation
            self.onServing = onServing
            self.onReload = onReload
        }
    }

    /// What a SIGHUP came to.
    public enum ReloadOutcome: Sendable, Equatable {
        case applied(added: [String], changed: [String], removed: [String])
        case refused(problems: Int)
        case ignored
    }

    /// Exit statuses: 0 clean stop, 1 runtime failure.
    public static let failureStatus: Int32 = 1
    /// Every stage is down within this (systemd's TimeoutStopSec is 10 s).
    public static let shutdownDeadline = TimeSpan.seconds(8 as Int64)

    /// Runs until SIGTERM or SIGINT arrives on `signals` (or the stream
    /// ends); returns the exit status.
    public static func run(configuration initial: Configuration, parts: Parts, signals: AsyncStream<Int32>, logger: Logger) async -> Int32 {
        var configuration = initial
        // Client event loops: half the cores, at most 4. Every client is a
        // process on this host; a daemon that took every core would compete
        // with them (on 2 cores, 1 loop serves ~900k GET/s with a p99 of 1 ms
        // at 64 pipelining connections; 2 loops: the same throughput, p99 4 ms).
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(System.coreCount / 2, 4)))
        let engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let diskQueue = DiskQueue()
        let engine = TokenEngine(loop: engineGroup.next(), logger: logger, diskQueue: diskQueue,
                                 store: tokenStore(configuration, diskQueue, logger), clock: parts.clock,
                                 fetchers: FleetFetcher.factory(base: parts.fetchers, clock: parts.clock))
        let context = ServerContext(engine: engine, idleTimeout: configuration.idleTimeout,
                                    maxConnections: configuration.maxConnections, logger: logger, userGroups: UserGroupCache())
        let socket = SocketService(configuration: configuration, group: clientGroup, context: context, socketActivation: parts.socketActivation)
        let notifier = NotifierService(notifier: parts.notifier, engine: engine, clientGroup: clientGroup, engineLoop: engineGroup.next())
        var stages = [EngineService(engine: engine, profiles: configuration.profiles).stage, socket.stage]
        var metrics: MetricsService?
        if let address = configuration.metricsListen, let registry = parts.registry {
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
            parts.onServing(socket.socketDescription, metrics?.url)
            for await signal in signals {
                if signal == SIGHUP {
                    guard let load = parts.reload else {
                        logger.notice("SIGHUP ignored in --dev mode")
                        parts.onReload(.ignored)
                        continue
                    }
                    let (next, outcome) = await reload(current: configuration, load: load, engine: engine, notifier: notifier, logger: logger)
                    configuration = next
                    parts.onReload(outcome)
                    continue
                }
                logger.notice("stopping", metadata: ["signal": .string(signal == SIGTERM ? "SIGTERM" : "SIGINT")])
                break
            }
            let report = await lifecycle.stop(within: shutdownDeadline)
            if !report.overran.isEmpty {
                logger.warning("not stopped within \(shutdownDeadline): \(report.overran.joined(separator: ", "))")
            }
            logger.info("stopped")
        } catch let failure as LifecycleStartFailure {
            logger.critical("\(failure.underlying)", metadata: ["stage": .string(failure.stage)])
            status = failureStatus
        } catch {
            logger.critical("\(error)")
            status = failureStatus
        }
        try? await clientGroup.shutdownGracefully()
        try? await engineGroup.shutdownGracefully()
        return status
    }

    /// The persistent cache (SPEC §9), or nil when it is off or its directory
    /// is unfit (one warning; tokend serves without it).
    private static func tokenStore(_ configuration: Configuration, _ queue: DiskQueue, _ logger: Logger) -> (any TokenStore)? {
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
    private static func reload(current: Configuration, load: @Sendable () async throws(ConfigurationErrors) -> LoadedConfiguration,
                               engine: TokenEngine, notifier service: NotifierService, logger: Logger) async -> (Configuration, ReloadOutcome) {
        let notifier = service.notifier
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(ServiceNotifier.monotonicMicroseconds())")
        defer { notifier.notify("READY=1") }
        let loaded: LoadedConfiguration
        do {
            loaded = try await load()
        } catch {
            for problem in error.errors {
                logger.error("reload refused, keeping the running configuration", metadata: ["problem": .string(problem.description)])
            }
            // `systemctl status` shows it until the next successful reload
            // (the problems themselves, which name files and keys, are in the journal).
            let count = error.errors.count
            service.setNote("reload refused (\(count) problem\(count == 1 ? "" : "s"), see the journal), running the previous configuration")
            notifier.notify("STATUS=\(await service.statusLine())")
            return (current, .refused(problems: count))
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        service.setNote(nil)
        let plan = ReloadPlan(running: current, loaded: loaded.configuration)
        for key in plan.restartKeys {
            logger.warning("a change of \(key) takes effect at the next restart, not on reload")
        }
        let next = plan.configuration
        var outcome = ReloadOutcome.applied(added: [], changed: [], removed: [])
        if let summary = try? await engine.apply(next.profiles).get() {
            logger.notice("configuration reloaded", metadata: [
                "added": .string(summary.added.joined(separator: ",")), "changed": .string(summary.changed.joined(separator: ",")),
                "removed": .string(summary.removed.joined(separator: ",")), "unchanged": .string(summary.unchanged.joined(separator: ",")),
            ])
            outcome = .applied(added: summary.added, changed: summary.changed, removed: summary.removed)
        }
        notifier.notify("STATUS=\(await service.statusLine())")
        return (next, outcome)
    }
}
