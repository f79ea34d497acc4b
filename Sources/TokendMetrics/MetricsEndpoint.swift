import Atomics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import TokendCore
import TokendEngine
import TokendPlatform
import TokendProtocol
import TokendServer
import TokendTelemetry

/// `metrics_listen` (SPEC §10): `GET /metrics`, `/healthz`, `/readyz` and
/// `/readyz/PROFILE` over HTTP/1.1, on the client event loops (never the
/// engine's). A scraper is bounded: 16 connections at most, requests of a
/// few KiB without a body, a whole request within 5 s of its first byte
/// (SPEC §10: a client that trickles bytes cannot hold a slot), 10 s of idleness.
public final class MetricsEndpoint: Sendable {
    private let channel: any Channel
    /// A `unix:` address's socket file, removed at the stop.
    private let socketFile: ListeningSocket.OwnedFile?

    static let maximumConnections = 16
    static let idleTimeout = TimeAmount.seconds(10)
    static let requestDeadline = TimeAmount.seconds(5)

    private init(channel: any Channel, socketFile: ListeningSocket.OwnedFile?) {
        self.channel = channel
        self.socketFile = socketFile
    }

    /// The URL of `/metrics` (for the log and the `--dev` banner).
    public var metricsURL: String {
        switch channel.localAddress {
        case .some(.v4(let address)): return "http://\(address.host):\(channel.localAddress?.port ?? 0)/metrics"
        case .some(.v6): return "http://[::1]:\(channel.localAddress?.port ?? 0)/metrics"
        default: return "unix:\(socketFile?.path ?? "?") (curl --unix-socket \(socketFile?.path ?? "?") http://localhost/metrics)"
        }
    }

    /// What the handlers need: the engine (for `STATUS`), the registry, the
    /// loops whose health `/healthz` reports.
    struct Context: Sendable {
        let engine: any TokenService
        let registry: PrometheusCollectorRegistry
        let loops: [any EventLoop]
        let process: ProcessMetrics
        let open: ManagedAtomic<Int>
    }

    public static func start(address: MetricsAddress, socketMode: UInt32, group: any EventLoopGroup, engine: any TokenService,
                             registry: PrometheusCollectorRegistry, loops: [any EventLoop]) -> EventLoopFuture<MetricsEndpoint> {
        let context = Context(engine: engine, registry: registry, loops: loops, process: ProcessMetrics(), open: ManagedAtomic(0))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if context.open.loadThenWrappingIncrement(ordering: .relaxed) >= maximumConnections {
                        context.open.wrappingDecrement(ordering: .relaxed)
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in context.open.wrappingDecrement(ordering: .relaxed) }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestDeadlineHandler(deadline: requestDeadline))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try sync.addHandler(MetricsHTTPHandler(context: context))
                }
            }
        switch address {
        case .tcp(let host, let port):
            return bootstrap.bind(host: host, port: port).map { MetricsEndpoint(channel: $0, socketFile: nil) }
        case .unix(let path):
            let bound: (descriptor: CInt, file: ListeningSocket.OwnedFile)
            do {
                bound = try ListeningSocket.OwnedFile.bind(path: path, mode: socketMode, group: nil, backlog: 16)
            } catch {
                return group.next().makeFailedFuture(error)
            }
            let file = bound.file
            return bootstrap.withBoundSocket(bound.descriptor).map {
                MetricsEndpoint(channel: $0, socketFile: file)
            }.flatMapErrorThrowing { error in
                file.release()
                throw error
            }
        }
    }

    public func stop() -> EventLoopFuture<Void> {
        channel.close().recover { _ in }.map { [socketFile] in socketFile?.release() }
    }
}

/// Closes a connection whose request is not complete (answered) within
/// `deadline` of its first byte. Sits before the HTTP decoder: it sees bytes
/// coming in and answers going out, so a request's clock starts at its
/// first byte and stops at its answer.
final class RequestDeadlineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        timer?.cancel()
        timer = nil
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}

/// One scraper connection: a GET, its answer, keep-alive.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let context: MetricsEndpoint.Context
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    static let maximumBody = 4096

    init(context: MetricsEndpoint.Context) { self.context = context }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let body):
            bodyBytes += body.readableBytes
            if bodyBytes > Self.maximumBody {
                respond(status: .payloadTooLarge, body: "request body too large\n", keepAlive: false, context: channelContext)
                head = nil
            }
        case .end:
            guard let head else { return }
            self.head = nil
            route(head, context: channelContext)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    private func route(_ head: HTTPRequestHead, context channelContext: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        guard head.method == .GET else {
            respond(status: .methodNotAllowed, body: "only GET\n", keepAlive: keepAlive, context: channelContext)
            return
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let bound = NIOLoopBound((self, channelContext), eventLoop: channelContext.eventLoop)
        func reply(_ future: EventLoopFuture<(HTTPResponseStatus, String, String)>) {
            future.hop(to: channelContext.eventLoop).whenComplete { result in
                let (handler, channelContext) = bound.value
                switch result {
                case .success(let (status, type, body)):
                    handler.respond(status: status, body: body, contentType: type, keepAlive: keepAlive, context: channelContext)
                case .failure:
                    handler.respond(status: .serviceUnavailable, body: "unavailable\n", keepAlive: keepAlive, context: channelContext)
                }
            }
        }
        switch path {
        case "/metrics":
            reply(metrics())
        case "/healthz":
            reply(health(on: channelContext.eventLoop))
        case "/readyz":
            reply(readiness(profile: nil))
        case _ where path.hasPrefix("/readyz/"):
            let name = String(path.dropFirst("/readyz/".count))
            guard ProfileName.isValid(name) else {
                respond(status: .notFound, body: "no such profile\n", keepAlive: keepAlive, context: channelContext)
                return
            }
            reply(readiness(profile: name))
        default:
            respond(status: .notFound, body: "not found: try /metrics, /healthz, /readyz\n", keepAlive: keepAlive, context: channelContext)
        }
    }

    /// The Prometheus text format, the per-profile gauges set from `STATUS` first.
    private func metrics() -> EventLoopFuture<(HTTPResponseStatus, String, String)> {
        let context = self.context
        return context.engine.status(profiles: nil).map { report in
            for profile in report.profiles { Telemetry.profileState(profile) }
            context.process.update()
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", context.registry.emitToString())
        }
    }

    /// 200 when every event loop (the client loops and the engine's) runs a task within a second.
    private func health(on loop: any EventLoop) -> EventLoopFuture<(HTTPResponseStatus, String, String)> {
        let promise = loop.makePromise(of: (HTTPResponseStatus, String, String).self)
        let timer = loop.scheduleTask(in: .seconds(1)) {
            promise.succeed((.serviceUnavailable, "text/plain", "an event loop does not answer\n"))
        }
        EventLoopFuture.andAllSucceed(context.loops.map { $0.submit {} }, on: loop).whenComplete { result in
            timer.cancel()
            switch result {
            case .success: promise.succeed((.ok, "text/plain", "ok\n"))
            case .failure: promise.succeed((.serviceUnavailable, "text/plain", "an event loop is stopped\n"))
            }
        }
        return promise.futureResult
    }

    /// `/readyz` (every profile with `prefetch` holds a valid token) or `/readyz/PROFILE`.
    private func readiness(profile: String?) -> EventLoopFuture<(HTTPResponseStatus, String, String)> {
        context.engine.status(profiles: profile.map { [$0] }).map { report in
            if profile != nil, report.profiles.isEmpty {
                return (.notFound, "application/json", "{\"ready\":false,\"error\":\"unknown profile\"}\n")
            }
            // All of them: the profiles that prefetch (SPEC §10). One: also a
            // lazy profile once a client asked for it.
            let considered = profile == nil ? report.profiles.filter(\.prefetch) : report.profiles
            let waiting = considered.compactMap { status in status.notReadyReason.map { (status.name, $0) } }
            if waiting.isEmpty {
                return (.ok, "application/json", "{\"ready\":true}\n")
            }
            let body = JSONWriter.write(.object([
                ("ready", .bool(false)),
                ("profiles", .array(waiting.map { .object([("name", .string($0.0)), ("reason", .string($0.1))]) })),
            ]))
            return (.serviceUnavailable, "application/json", body + "\n")
        }
    }

    private func respond(status: HTTPResponseStatus, body: String, contentType: String = "text/plain; charset=utf-8",
                         keepAlive: Bool, context channelContext: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        channelContext.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = channelContext.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        channelContext.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = channelContext.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { [channel = channelContext.channel] _ in channel.close(promise: nil) } }
    }
}
