import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A scriptable OAuth 2.0 token endpoint (RFC 6749 §4.4, client credentials)
/// on a local port, for integration tests against real libcurl and for
/// `tokend --dev` as a demo IdP.
///
/// It behaves like a real server by default: `POST /oauth/token` with a form
/// body, client authentication by HTTP Basic or in the body, JSON answers
/// with RFC 6749 §5.2 errors. Tests change its behaviour while it runs with
/// ``update(_:)``, script failures with ``enqueue(_:count:)``, and inspect
/// what arrived with ``requests`` and ``issued``.
public final class TestIdP: Sendable {
    /// Largest request body accepted; beyond it the answer is 413.
    public static let maxBodyBytes = 64 * 1024

    /// The port actually bound (useful when started with port 0).
    public let port: Int
    /// The token endpoint's URL, e.g. `http://127.0.0.1:PORT/oauth/token`.
    public let tokenURL: String

    private let endpoint: TokenEndpoint
    private let serverChannel: any Channel
    private let group: any EventLoopGroup

    private init(endpoint: TokenEndpoint, serverChannel: any Channel, group: any EventLoopGroup, host: String, port: Int) {
        self.endpoint = endpoint
        self.serverChannel = serverChannel
        self.group = group
        self.port = port
        let authority = host.contains(":") ? "[\(host)]" : host
        self.tokenURL = "http://\(authority):\(port)\(TokenEndpoint.tokenPath)"
    }

    /// Binds and starts serving. Port 0 picks a free port. Without a group
    /// the process-wide NIO singleton is used, so nothing needs shutting down
    /// beyond ``shutdown()``.
    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        settings: Settings = Settings(),
        group: (any EventLoopGroup)? = nil
    ) async throws -> TestIdP {
        let group = group ?? MultiThreadedEventLoopGroup.singleton
        let endpoint = TokenEndpoint(settings: settings)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard endpoint.track(channel) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in endpoint.untrack(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: true
                    )
                    try channel.pipeline.syncOperations.addHandler(TokenEndpointHandler(endpoint: endpoint))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        guard let boundPort = channel.localAddress?.port else {
            try? await channel.close().get()
            throw ChannelError.unknownLocalAddress
        }
        return TestIdP(endpoint: endpoint, serverChannel: channel, group: group, host: host, port: boundPort)
    }

    /// Changes the settings; requests arriving afterwards see the change.
    /// `change` runs under the IdP's lock: it must not call back into the IdP.
    public func update(_ change: (inout Settings) -> Void) {
        endpoint.state.withLockedValue { change(&$0.settings) }
    }

    /// The current settings.
    public var settings: Settings {
        endpoint.state.withLockedValue { $0.settings }
    }

    /// The next `count` token requests get `fault`, after any queued earlier.
    public func enqueue(_ fault: Fault, count: Int = 1) {
        guard count > 0 else { return }
        endpoint.state.withLockedValue { $0.faults += Array(repeating: fault, count: count) }
    }

    /// Faults queued and not yet used.
    public var pendingFaultCount: Int {
        endpoint.state.withLockedValue { $0.faults.count }
    }

    /// Drops all queued faults.
    public func clearFaults() {
        endpoint.state.withLockedValue { $0.faults.removeAll() }
    }

    /// Every request to the token path so far, in arrival order, whatever its answer.
    public var requests: [RecordedRequest] {
        endpoint.state.withLockedValue { $0.requests }
    }

    /// Every token handed out so far, in order.
    /// The most token requests that were ever in flight at once (received,
    /// neither answered nor abandoned by the client).
    public var maxConcurrentRequests: Int {
        endpoint.state.withLockedValue { $0.maxInFlight }
    }

    public var issued: [IssuedToken] {
        endpoint.state.withLockedValue { $0.issued }
    }

    /// Waits until at least `count` token requests have arrived: true then,
    /// false after `timeout` seconds, on cancellation or on shutdown. The
    /// request handler wakes the waiter, so there is no polling delay.
    public func waitForRequests(_ count: Int, timeout: Double) async -> Bool {
        await endpoint.waitForRequests(count, timeout: timeout, timerLoop: group.next())
    }

    /// Stops listening, closes every open connection (keep-alive ones too)
    /// and wakes any ``waitForRequests(_:timeout:)`` with false. A second
    /// call does nothing.
    public func shutdown() async throws {
        guard let (connections, waiters) = endpoint.beginShutdown() else { return }
        for waiter in waiters { waiter.resume(false) }
        var failure: (any Error)?
        do {
            try await serverChannel.close().get()
        } catch ChannelError.alreadyClosed {
            // Closed already, e.g. because its event loop group shut down first.
        } catch {
            failure = error
        }
        for connection in connections {
            // A connection the client closed meanwhile is fine.
            try? await connection.close().get()
        }
        if let failure { throw failure }
    }
}
