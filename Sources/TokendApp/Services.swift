import Glibc
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization
import TokendMetrics
import TokendCore
import TokendEngine
import TokendPlatform
import TokendServer
import TokendSystemd

// The daemon's three stages, started in this order by `Lifecycle` and
// stopped in reverse within one shutdown deadline:
//   engine (every profile installed) → socket (accepting) → notifier (READY=1).
// Each is a class whose fields are written by its `start` and read by its
// `stop`; `Lifecycle` runs those one after the other, never concurrently,
// which is what makes the `@unchecked Sendable` below true.

/// The token engine with every configured profile installed: a client that
/// connects first (queued before the exec, SPEC §5) finds its profile.
final class EngineService: @unchecked Sendable {
    let engine: TokenEngine
    private let profiles: [ProfileConfiguration]

    init(engine: TokenEngine, profiles: [ProfileConfiguration]) {
        self.engine = engine
        self.profiles = profiles
    }

    var stage: LifecycleStage {
        LifecycleStage("the token engine", start: { [self] in
            _ = try await engine.apply(profiles).get()
        }, stop: { [self] _ in
            try? await engine.shutdown().get()
        })
    }
}

/// The listening socket (bound here, or passed by systemd) and the server on it.
final class SocketService: @unchecked Sendable {
    let context: ServerContext
    private let configuration: Configuration
    private let group: any EventLoopGroup
    private var server: SocketServer?
    /// The socket file we bound (and so must remove), with its lock.
    private var ownedSocket: ListeningSocket.OwnedFile?
    /// Kept for the engine and connections still closing after the grace period.
    static let engineReserve = TimeSpan.seconds(2 as Int64)

    /// Whether systemd may have passed the socket (`LISTEN_FDS`); tests in
    /// process always bind their own.
    private let socketActivation: Bool

    init(configuration: Configuration, group: any EventLoopGroup, context: ServerContext, socketActivation: Bool) {
        self.configuration = configuration
        self.group = group
        self.context = context
        self.socketActivation = socketActivation
    }

    /// Where clients connect, for the log and the `--dev` banner.
    var socketDescription: String { ownedSocket?.path ?? "systemd" }

    var stage: LifecycleStage {
        LifecycleStage("the socket", start: { [self] in try await start() }, stop: { [self] in await stop(deadline: $0) })
    }

    private func start() async throws {
        let descriptor: CInt
        if socketActivation, let passed = SocketActivation.takeListeningDescriptor() {
            descriptor = passed
            context.logger.info("using the socket passed by systemd")
        } else {
            var group: UInt32?
            if case .id(let gid) = configuration.socketGroup { group = gid }
            let bound = try ListeningSocket.OwnedFile.bind(path: configuration.socketPath, mode: configuration.socketMode, group: group)
            descriptor = bound.descriptor
            ownedSocket = bound.file
        }
        do {
            server = try await SocketServer.start(descriptor: descriptor, group: group, context: context).get()
        } catch {
            releaseSocketFile()
            throw error
        }
    }

    /// Stops accepting, lets open connections finish until shortly before
    /// `deadline`, then closes them.
    private func stop(deadline: Instant) async {
        let grace = max(.zero, deadline - BootClock.now() - SocketService.engineReserve)
        if let server { try? await server.shutdown(grace: .nanoseconds(grace.nanoseconds)).get() }
        context.userGroups.shutdownWithoutWaiting()
        releaseSocketFile()
    }

    private func releaseSocketFile() {
        ownedSocket?.release()
        ownedSocket = nil
    }
}

/// `metrics_listen` (SPEC §10): `/metrics`, `/healthz`, `/readyz`, up after
/// the socket (a scraper sees a daemon that serves) and down before it. An
/// address that cannot be bound (another process took the port first) is
/// never fatal: tokend serves tokens anyway and tries again every 30 s.
final class MetricsService: @unchecked Sendable {  // mutable state confined to `loop`
    private let address: MetricsAddress
    private let socketMode: UInt32
    private let group: MultiThreadedEventLoopGroup
    private let engine: TokenEngine
    private let registry: PrometheusCollectorRegistry
    private let loops: [any EventLoop]
    private let logger: Logger
    private let loop: any EventLoop
    private var endpoint: MetricsEndpoint?
    private var retry: Scheduled<Void>?
    private var stopped = false
    /// Where `/metrics` is, once listening.
    var url: String? { try? loop.submit { self.endpoint?.metricsURL }.wait() }
    static let retryInterval = TimeAmount.seconds(30)

    init(address: MetricsAddress, socketMode: UInt32, group: MultiThreadedEventLoopGroup, engine: TokenEngine,
         registry: PrometheusCollectorRegistry, loops: [any EventLoop], logger: Logger) {
        self.address = address
        self.socketMode = socketMode
        self.group = group
        self.engine = engine
        self.registry = registry
        self.loops = loops
        self.logger = logger
        self.loop = group.next()
    }

    var stage: LifecycleStage {
        LifecycleStage("the metrics endpoint", start: { [self] in
            try await loop.flatSubmit { self.attempt(first: true) }.get()
        }, stop: { [self] _ in
            let endpoint = try? await loop.submit {
                self.stopped = true
                self.retry?.cancel()
                self.retry = nil
                return self.endpoint
            }.get()
            try? await endpoint?.stop().get()
        })
    }

    /// Binds the address; on failure logs why (once, then quietly at each
    /// retry) and tries again in `retryInterval`. Always succeeds.
    private func attempt(first: Bool) -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        return MetricsEndpoint.start(address: address, socketMode: socketMode, group: group, engine: engine,
                                     registry: registry, loops: loops).hop(to: loop).map { [self] endpoint in
            guard !stopped else { _ = endpoint.stop(); return }
            self.endpoint = endpoint
            logger.info("metrics, health and readiness", metadata: ["url": .string(endpoint.metricsURL)])
        }.recover { [self] error in
            guard !stopped else { return }
            if first {
                logger.error("cannot listen on metrics_listen; tokens are served anyway, trying again every 30 s",
                             metadata: ["address": .string(address.description), "error": .string("\(error)")])
            } else {
                logger.debug("metrics_listen still cannot be bound", metadata: ["error": .string("\(error)")])
            }
            retry = loop.scheduleTask(in: Self.retryInterval) { [self] in
                retry = nil
                if !stopped { _ = attempt(first: false) }
            }
        }
    }
}

/// systemd's view: `READY=1` once clients are served, the watchdog, the
/// `STATUS=` line, and `STOPPING=1` first thing at shutdown.
final class NotifierService: @unchecked Sendable {
    let notifier: ServiceNotifier
    private let engine: TokenEngine
    private let clientGroup: MultiThreadedEventLoopGroup
    private let engineLoop: any EventLoop
    private var timers: [RepeatedTask] = []
    /// Shown before the summary until the next successful reload: a refused
    /// reload stays visible in `systemctl status`.
    private let note = Mutex<String?>(nil)

    init(notifier: ServiceNotifier, engine: TokenEngine, clientGroup: MultiThreadedEventLoopGroup, engineLoop: any EventLoop) {
        self.notifier = notifier
        self.engine = engine
        self.clientGroup = clientGroup
        self.engineLoop = engineLoop
    }

    var stage: LifecycleStage {
        LifecycleStage("systemd notification", start: { [self] in
            notifier.notify("READY=1\nSTATUS=\(await statusLine())")
            timers = [startWatchdog(), startStatusUpdates()].compactMap { $0 }
        }, stop: { [self] _ in
            notifier.notify("STOPPING=1")
            for timer in timers { timer.cancel() }
            timers = []
        })
    }

    /// The engine's one-line summary ("3 profiles, 3 valid").
    func statusLine() async -> String {
        decorated((try? await engine.summary().get()) ?? "running")
    }

    /// Sets (or with nil clears) the note shown before the summary.
    func setNote(_ text: String?) { note.withLock { $0 = text } }

    private func decorated(_ summary: String) -> String {
        note.withLock { $0 }.map { "\($0); \(summary)" } ?? summary
    }

    /// `WATCHDOG=1` at half `WATCHDOG_USEC`, sent only after every client
    /// event loop has run a task: a wedged loop stops the pings and systemd restarts us.
    private func startWatchdog() -> RepeatedTask? {
        guard notifier.isActive, let interval = ServiceNotifier.watchdogInterval() else { return nil }
        let loops = Array(clientGroup.makeIterator())
        let notifier = self.notifier
        let first = loops[0]
        return first.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: .nanoseconds(interval)) { _ in
            EventLoopFuture.andAllSucceed(loops.map { $0.submit {} }, on: first).map { notifier.notify("WATCHDOG=1") }
        }
    }

    /// Keeps systemd's `STATUS=` line current.
    private func startStatusUpdates() -> RepeatedTask? {
        guard notifier.isActive else { return nil }
        let engine = self.engine
        return engineLoop.scheduleRepeatedAsyncTask(initialDelay: .seconds(5), delay: .seconds(5)) { [self] _ in
            engine.summary().map { self.notifier.notify("STATUS=\(self.decorated($0))") }
        }
    }
}
