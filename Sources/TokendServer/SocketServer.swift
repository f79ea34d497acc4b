import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TokendTelemetry
import TokendCore

/// The Unix-socket server (SPEC §5): accepts connections on an already
/// listening descriptor (bound by `ListeningSocket` or passed by systemd),
/// enforces `max_connections` (and a per-user share of it) and
/// `idle_timeout`, and stops gracefully.
public final class SocketServer: Sendable {
    private let channel: any Channel
    private let connections: NIOLockedValueBox<Connections>

    /// The open connections, and how many each user holds.
    struct Connections {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perUser: [UInt32: Int] = [:]
    }

    /// Starts serving on `descriptor`, a listening stream socket.
    public static func start(descriptor: CInt, group: any EventLoopGroup, context: ServerContext) -> EventLoopFuture<SocketServer> {
        let connections = NIOLockedValueBox(Connections())
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // Accept up to 32 connections per wake-up (NIO's default is 4), so
            // a flood of short connections cannot keep others in the backlog.
            .serverChannelOption(.maxMessagesPerRead, value: 32)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 16384))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let uid = PeerCredentials.of(channel)?.uid
                    let id = ObjectIdentifier(channel)
                    let refusal: String? = connections.withLockedValue { open in
                        if open.channels.count >= context.maxConnections {
                            return "too many connections (max_connections = \(context.maxConnections))"
                        }
                        if let uid, open.perUser[uid, default: 0] >= context.maxConnectionsPerUser {
                            return "too many connections from your user (at most \(context.maxConnectionsPerUser) of max_connections = \(context.maxConnections))"
                        }
                        open.channels[id] = channel
                        if let uid { open.perUser[uid, default: 0] += 1 }
                        Telemetry.connectionCount(open.channels.count)
                        return nil
                    }
                    let sync = channel.pipeline.syncOperations
                    if let refusal {
                        Telemetry.connectionRejected(.busy)
                        try sync.addHandler(BusyHandler(message: refusal))
                        return
                    }
                    channel.closeFuture.whenComplete { _ in
                        connections.withLockedValue { open in
                            open.channels.removeValue(forKey: id)
                            if let uid {
                                let left = open.perUser[uid, default: 1] - 1
                                open.perUser[uid] = left > 0 ? left : nil
                            }
                            Telemetry.connectionCount(open.channels.count)
                        }
                    }
                    try sync.addHandler(ConnectionHandler(server: context))
                }
            }
        return bootstrap.withBoundSocket(descriptor).map { channel in
            SocketServer(channel: channel, connections: connections)
        }
    }

    private init(channel: any Channel, connections: NIOLockedValueBox<Connections>) {
        self.channel = channel
        self.connections = connections
    }

    /// Stops accepting, lets every connection finish the requests it has
    /// sent, and closes whatever is left after `grace`.
    public func shutdown(grace: TimeAmount) -> EventLoopFuture<Void> {
        let loop = channel.eventLoop
        return channel.close().flatMapError { _ in loop.makeSucceededVoidFuture() }.flatMap {
            let open = self.connections.withLockedValue { Array($0.channels.values) }
            for connection in open {
                connection.pipeline.fireUserInboundEventTriggered(QuiesceEvent())
            }
            let closed = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop)
            let deadline = loop.scheduleTask(in: grace) {
                for connection in self.connections.withLockedValue({ Array($0.channels.values) }) {
                    connection.close(promise: nil)
                }
            }
            return closed.always { _ in deadline.cancel() }
        }
    }
}
