import NIOCore
import NIOPosix

/// The floor of a SwiftNIO server of tokend's line protocol: `GET` and
/// `HEADER` of any profile answered with one constant line, `PING` with
/// `OK PONG`, `QUIT` closed, nothing else looked at. No engine, no access
/// check, no counters, no state machine: what NIO itself costs for this
/// protocol, measured beside the C reference (`../shared/bench/compare.sh`)
/// to split tokend's gap to that reference into NIO's share and tokend's.
/// It is written the way tokend's handler is at its fastest: lines framed in
/// place, the answers of one read gathered in one buffer, written and flushed
/// once per read cycle, on as many event loops as tokend uses.
enum NIOFloor {
    static func run(socket: String, tokenLength: Int, loops: Int) async throws {
        let token = String(repeating: "t", count: max(1, tokenLength))
        let answer = Array("OK \(token) 3600\n".utf8)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FloorHandler(answer: answer)) }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true).get()
        print("nio-floor: listening on \(socket) (\(loops) event loop\(loops == 1 ? "" : "s"))")
        try await channel.closeFuture.get()
    }
}

final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let answer: [UInt8]
    private static let pong = Array("OK PONG\n".utf8)
    private static let bye = Array("OK BYE\n".utf8)
    private static let unknown = Array("ERR bad-request unknown verb\n".utf8)
    private var partial: ByteBuffer?
    private var out: ByteBuffer?
    private var quit = false

    init(answer: [UInt8]) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var carried = partial {
            carried.writeBuffer(&buffer)
            buffer = carried
            partial = nil
        }
        while !quit, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let start = buffer.readerIndex
            let first = buffer.getInteger(at: start, as: UInt8.self)
            let reply: [UInt8]
            switch first {
            case UInt8(ascii: "G"), UInt8(ascii: "H"): reply = answer
            case UInt8(ascii: "P"): reply = Self.pong
            case UInt8(ascii: "Q"): reply = Self.bye; quit = true
            default: reply = Self.unknown
            }
            if out == nil { out = context.channel.allocator.buffer(capacity: 4096) }
            out!.writeBytes(reply)
            buffer.moveReaderIndex(to: newline + 1)
        }
        if buffer.readableBytes > 0, !quit { partial = buffer }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let pending = out {
            out = nil
            context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
        }
        if quit { context.close(promise: nil) }
    }
}
