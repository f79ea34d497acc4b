import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TokendCore

/// The Unix-socket server (SPEC §5): accepts connections on an already
/// listening descriptor (bound by `ListeningSocket` or passed by systemd),
/// enforces `max_connections` and `idle_timeout`, and stops gracefully.
public final class SocketServer: Sendable {
    private let channel: Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: Channel]>
    private let count: ManagedAtomic<Int>

    /// Starts serving on `descriptor`, a listening stream socket.
    public static func start(descriptor: CInt, group: EventLoopGroup, context: ServerContext) -> EventLoopFuture<SocketServer> {
        let connections = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
        let count = ManagedAtomic(0)
        let idle = TimeAmount.nanoseconds(context.idleTimeout.nanoseconds)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // Accept up to 32 connections per wake-up (NIO's default is 4), so
            // a flood of short connections cannot keep others in the backlog.
            .serverChannelOption(.maxMessagesPerRead, value: 32)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 16384))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelInitializer { channel in
                let active = count.wrappingIncrementThenLoad(ordering: .relaxed)
                let id = ObjectIdentifier(channel)
                connections.withLockedValue { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in
                    count.wrappingDecrement(ordering: .relaxed)
                    connections.withLockedValue { _ = $0.removeValue(forKey: id) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if active > context.maxConnections {
                        try sync.addHandler(BusyHandler(limit: context.maxConnections))
                        return
                    }
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.addHandler(ByteToMessageHandler(RequestLineDecoder()))
                    try sync.addHandler(RequestHandler(server: context))
                }
            }
        return bootstrap.withBoundSocket(descriptor).map { channel in
            SocketServer(channel: channel, connections: connections, count: count)
        }
    }

    private init(channel: Channel, connections: NIOLockedValueBox<[ObjectIdentifier: Channel]>, count: ManagedAtomic<Int>) {
        self.channel = channel
        self.connections = connections
        self.count = count
    }

    public var activeConnections: Int { count.load(ordering: .relaxed) }

    /// Stops accepting, lets every connection finish the requests it has
    /// sent, and closes whatever is left after `grace`.
    public func shutdown(grace: TimeAmount) -> EventLoopFuture<Void> {
        let loop = channel.eventLoop
        return channel.close().flatMapError { _ in loop.makeSucceededVoidFuture() }.flatMap {
            let open = self.connections.withLockedValue { Array($0.values) }
            for connection in open {
                connection.pipeline.fireUserInboundEventTriggered(QuiesceEvent())
            }
            let closed = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop)
            let deadline = loop.scheduleTask(in: grace) {
                for connection in self.connections.withLockedValue({ Array($0.values) }) {
                    connection.close(promise: nil)
                }
            }
            return closed.always { _ in deadline.cancel() }
        }
    }
}
