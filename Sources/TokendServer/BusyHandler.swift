import NIOCore
import TokendProtocol

/// Answers a connection beyond `max_connections` with `ERR busy` and closes it.
final class BusyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func channelActive(context: ChannelHandlerContext) {
        let line = AnswerLine.error(.busy, "too many connections (max_connections = \(limit))").rendered
        let buffer = context.channel.allocator.buffer(string: line)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
