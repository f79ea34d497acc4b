import CProcessShim
import Glibc
import Logging
import NIOCore
import NIOPosix
import TokendCore
import TokendEngine
import TokendHost
import TokendHTTP
import TokendServer
import TokendSystemd

/// Wires the daemon together and runs it until SIGTERM/SIGINT (SPEC §6):
/// configuration, engine, socket, systemd notifications, reload and stop.
final class Daemon {
    let configPath: String
    let levelOverride: LogLevel?
    let dev: Bool
    private var logger = Logger(label: "tokend")
    private let notifier = ServiceNotifier()
    /// The socket file we created (and so must remove), with its inode.
    private var ownedSocket: (path: String, inode: UInt64?)?
    /// The lock beside the socket we bound, held until exit.
    private var socketLock: CInt?

    /// Exit statuses: 0 clean stop, 1 runtime failure, 78 configuration error.
    static let failureStatus: Int32 = 1

    init(configPath: String, levelOverride: LogLevel?, dev: Bool) {
        self.configPath = configPath
        self.levelOverride = levelOverride
        self.dev = dev
    }

    func run() -> Int32 {
        // Neither a core file nor a same-user debugger may read tokens from us.
        _ = tokend_set_nondumpable()
        let journal = getenv("JOURNAL_STREAM") != nil

        var devMode: DevMode?
        let loaded: LoadedConfiguration
        if dev {
            do {
                let mode = try DevMode.start()
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
        defer {
            try? clientGroup.syncShutdownGracefully()
            try? engineGroup.syncShutdownGracefully()
            devMode?.stop()
        }
        let engine = TokenEngine(loop: engineGroup.next(), logger: logger)

        // Listen first: READY=1 must not wait for the IdP.
        let descriptor: CInt
        if let passed = SocketActivation.takeListeningDescriptor() {
            descriptor = passed
            logger.info("using the socket passed by systemd")
        } else {
            let group: UInt32?
            if case .id(let gid) = configuration.socketGroup { group = gid } else { group = nil }
            do {
                let bound = try ListeningSocket.bind(path: configuration.socketPath, mode: configuration.socketMode, group: group)
                descriptor = bound.descriptor
                socketLock = bound.lock
            } catch {
                logger.critical("\(error.description)")
                return Daemon.failureStatus
            }
            ownedSocket = (configuration.socketPath, ListeningSocket.inode(of: configuration.socketPath))
        }
        defer {
            if let owned = ownedSocket { ListeningSocket.remove(path: owned.path, inode: owned.inode) }
            if let socketLock { close(socketLock) }
        }

        // Every configured profile is known before the first accept: a client
        // that connected early (queued in a socket passed by systemd, or in
        // the backlog) waits for the first token rather than being told the
        // profile does not exist (SPEC §5).
        do {
            _ = try engine.apply(configuration.profiles).wait()
        } catch {
            logger.critical("cannot install the profiles: \(error)")
            return Daemon.failureStatus
        }
        let context = ServerContext(engine: engine, idleTimeout: configuration.idleTimeout,
                                    maxConnections: configuration.maxConnections, logger: logger, userGroups: UserGroupCache())
        let server: SocketServer
        do {
            server = try SocketServer.start(descriptor: descriptor, group: clientGroup, context: context).wait()
        } catch {
            logger.critical("cannot serve on the socket: \(error)")
            return Daemon.failureStatus
        }
        logger.notice("tokend \(TokendVersion.string) serving", metadata: [
            "socket": .string(ownedSocket?.path ?? "systemd"), "profiles": .stringConvertible(configuration.profiles.count),
            "curl": .string(CurlTransfer.versionDescription),
        ])
        devMode?.printBanner(socket: configuration.socketPath)
        notifier.notify("READY=1\nSTATUS=\(statusLine(engine))")
        let watchdog = startWatchdog(clientGroup)
        let statusTimer = startStatusUpdates(engine, on: engineGroup.next())

        while true {
            let signal = SignalWaiter.next()
            if signal == SIGHUP {
                if dev { logger.notice("SIGHUP ignored in --dev mode"); continue }
                configuration = reload(current: configuration, engine: engine)
                continue
            }
            logger.notice("stopping", metadata: ["signal": .string(signal == SIGTERM ? "SIGTERM" : "SIGINT")])
            break
        }
        notifier.notify("STOPPING=1")
        watchdog?.cancel()
        statusTimer?.cancel()
        _ = try? server.shutdown(grace: .seconds(5)).wait()
        context.userGroups.shutdownWithoutWaiting()
        _ = try? engine.shutdown().wait()
        logger.info("stopped")
        return 0
    }

    /// SIGHUP: a broken file is refused and the old configuration keeps running.
    private func reload(current: Configuration, engine: TokenEngine) -> Configuration {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(ServiceNotifier.monotonicMicroseconds())")
        defer { notifier.notify("READY=1\nSTATUS=\(statusLine(engine))") }
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(path: configPath, host: SystemHost(), parserCheck: ParserPreflight.check)
        } catch {
            for problem in error.errors {
                logger.error("reload refused, keeping the running configuration", metadata: ["problem": .string(problem.description)])
            }
            return current
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        let plan = ReloadPlan(running: current, loaded: loaded.configuration)
        for key in plan.restartKeys {
            logger.warning("a change of \(key) takes effect at the next restart, not on reload")
        }
        let next = plan.configuration
        if let summary = try? engine.apply(next.profiles).wait() {
            logger.notice("configuration reloaded", metadata: [
                "added": .string(summary.added.joined(separator: ",")), "changed": .string(summary.changed.joined(separator: ",")),
                "removed": .string(summary.removed.joined(separator: ",")), "unchanged": .string(summary.unchanged.joined(separator: ",")),
            ])
        }
        return next
    }

    private func statusLine(_ engine: TokenEngine) -> String {
        (try? engine.summary().wait()) ?? "running"
    }

    /// `WATCHDOG=1` at half `WATCHDOG_USEC`, sent only after every client
    /// event loop has run a task: a wedged loop stops the pings and systemd restarts us.
    private func startWatchdog(_ group: MultiThreadedEventLoopGroup) -> RepeatedTask? {
        guard notifier.isActive, let interval = ServiceNotifier.watchdogInterval() else { return nil }
        let loops = Array(group.makeIterator())
        let notifier = self.notifier
        let first = loops[0]
        return first.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: .nanoseconds(interval)) { _ in
            EventLoopFuture.andAllSucceed(loops.map { $0.submit {} }, on: first).map { notifier.notify("WATCHDOG=1") }
        }
    }

    /// Keeps systemd's `STATUS=` line current.
    private func startStatusUpdates(_ engine: TokenEngine, on loop: EventLoop) -> RepeatedTask? {
        guard notifier.isActive else { return nil }
        let notifier = self.notifier
        return loop.scheduleRepeatedAsyncTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in
            engine.summary().map { notifier.notify("STATUS=\($0)") }
        }
    }
}
