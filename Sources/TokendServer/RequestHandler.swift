import Logging
import NIOCore
import TokendCore
import TokendEngine
import TokendHTTP
import TokendProtocol

/// Serves one client connection: parses request lines, answers them in
/// order, and applies access control (SPEC §5).
///
/// A `GET` of a fresh token is answered from the profile's `TokenSlot`
/// without leaving this event loop. A request that must wait (no valid
/// token yet, `REFRESH`, `STATUS`) holds back the requests behind it, so
/// answers stay in order; while it waits, or while the client does not read
/// its answers, further lines are queued and reading stops, which bounds
/// what one connection can make the daemon hold.
final class RequestHandler: ChannelDuplexHandler {
    typealias InboundIn = InboundLine
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var peer: PeerCredentials?
    private var groups: [UInt32]?
    private var queue = CircularBuffer<InboundLine>()
    private var waiting = false
    private var closing = false
    private var inputClosed = false
    private var quiescing = false
    private var readPending = false
    private var out: ByteBuffer?
    /// Lines held back before reading stops; each line is at most 4 KiB.
    static let queueLimit = 64

    init(server: ServerContext) {
        self.server = server
    }

    // MARK: - Inbound

    func channelActive(context: ChannelHandlerContext) {
        peer = PeerCredentials.of(context.channel)
        if peer == nil {
            server.logger.warning("closing a connection whose peer credentials cannot be read")
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        queue.append(unwrapInboundIn(data))
        drain(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushAnswers(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            drain(context: context)
            flushAnswers(context: context)
            resumeReadingIfPossible(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // A client waiting for its answer is not idle.
            if !waiting, queue.isEmpty {
                server.logger.debug("closing an idle connection", metadata: peerMetadata)
                closeAfterFlush(context: context)
            }
            return
        }
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            finishIfDone(context: context)
            return
        }
        if event is QuiesceEvent {
            quiescing = true
            finishIfDone(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.debug("connection error", metadata: peerMetadata.merging(["error": "\(error)"]) { $1 })
        context.close(promise: nil)
    }

    // MARK: - Outbound: stop reading while requests are held back

    func read(context: ChannelHandlerContext) {
        if waiting || queue.count >= RequestHandler.queueLimit || !context.channel.isWritable {
            readPending = true
            return
        }
        context.read()
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        guard readPending, !waiting, queue.count < RequestHandler.queueLimit, context.channel.isWritable else { return }
        readPending = false
        context.read()
    }

    // MARK: - Processing

    private func drain(context: ChannelHandlerContext) {
        while !waiting, !closing, context.channel.isWritable, let next = queue.popFirst() {
            switch next {
            case .tooLong:
                write(.error(.tooLong, "request line longer than \(ProtocolLimits.maximumLineLength) bytes"), context: context)
                closeAfterFlush(context: context)
                return
            case .line(let line):
                handle(line, context: context)
            }
        }
        finishIfDone(context: context)
    }

    private func finishIfDone(context: ChannelHandlerContext) {
        if (inputClosed || quiescing), !waiting, queue.isEmpty, !closing {
            closeAfterFlush(context: context)
        }
    }

    private func handle(_ line: ByteBuffer, context: ChannelHandlerContext) {
        let parsed = line.withUnsafeReadableBytes { RequestLineParser.parse($0) }
        let request: Request
        switch parsed {
        case .failure(let error):
            write(.error(.badRequest, error.message), context: context)
            return
        case .success(let r):
            request = r
        }
        switch request {
        case .get(let name, let minTTL), .header(let name, let minTTL):
            guard let profile = readableProfile(name, verb: request, context: context) else { return }
            let isGet = { if case .get = request { return true } else { return false } }()
            let minimum = TimeSpan.seconds(Int64(minTTL ?? 0))
            if let token = profile.slot.read(), token.held.isServable(at: BootClock.now(), minimum: minimum) {
                writeToken(token, get: isGet, context: context)
                return
            }
            wait(for: server.engine.demand(.token(minTTL: minTTL.map { .seconds(Int64($0)) }), profile: name), get: isGet, context: context)
        case .refresh(let name):
            guard readableProfile(name, verb: request, context: context) != nil else { return }
            wait(for: server.engine.demand(.refresh, profile: name), get: true, context: context)
        case .status(let name):
            var names: Set<String>
            if let name {
                guard readableProfile(name, verb: request, context: context) != nil else { return }
                names = [name]
            } else {
                names = Set(server.engine.directory.all().filter(mayRead).map(\.name))
            }
            waiting = true
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            server.engine.status(profiles: names).hop(to: loop).whenComplete { result in
                let (handler, context) = bound.value
                handler.waiting = false
                switch result {
                case .success(let report): handler.write(.ok(report.json), context: context)
                case .failure: handler.write(.error(.unavailable, "status is not available"), context: context)
                }
                handler.resume(context: context)
            }
        case .list:
            let names = server.engine.directory.all().filter(mayRead).map(\.name)
            write(.ok(names.joined(separator: " ")), context: context)
        case .ping:
            write(.ok("PONG"), context: context)
        case .version:
            write(.ok("tokend \(TokendVersion.string) protocol \(ProtocolLimits.version)"), context: context)
        case .quit:
            write(.ok("BYE"), context: context)
            closeAfterFlush(context: context)
        }
    }

    /// The profile, if it exists and this peer may read it; otherwise answers the error.
    private func readableProfile(_ name: String, verb: Request, context: ChannelHandlerContext) -> ProfileHandle? {
        guard let profile = server.engine.directory.handle(named: name) else {
            write(.error(.unknownProfile, "no profile named \(name)"), context: context)
            return nil
        }
        guard mayRead(profile) else {
            var metadata = peerMetadata
            metadata["profile"] = .string(name)
            metadata["request"] = .string(verb.verb)
            server.logger.notice("access denied", metadata: metadata)
            write(.error(.denied, "you may not read profile \(name)"), context: context)
            return nil
        }
        return profile
    }

    private func mayRead(_ profile: ProfileHandle) -> Bool {
        guard let peer else { return false }
        return profile.access.allows(uid: peer.uid, gid: peer.gid) {
            if let groups { return groups }
            let found = peer.supplementaryGroups()
            groups = found
            return found
        }
    }

    private func wait(for future: EventLoopFuture<DemandOutcome>, get: Bool, context: ChannelHandlerContext) {
        waiting = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            handler.waiting = false
            switch result {
            case .success(.token(let token)) where token.held.isServable(at: BootClock.now()):
                handler.writeToken(token, get: get, context: context)
            case .success(.token):
                handler.write(.error(.unavailable, "the token expired before it could be served"), context: context)
            case .success(.unavailable(let message)):
                handler.write(.error(.unavailable, message), context: context)
            case .success(.unknownProfile):
                handler.write(.error(.unknownProfile, "the profile was removed"), context: context)
            case .failure:
                handler.write(.error(.unavailable, "tokend is shutting down"), context: context)
            }
            handler.resume(context: context)
        }
    }

    private func resume(context: ChannelHandlerContext) {
        drain(context: context)
        flushAnswers(context: context)
        resumeReadingIfPossible(context: context)
    }

    // MARK: - Writing

    private func writeToken(_ token: ServedToken, get: Bool, context: ChannelHandlerContext) {
        var buffer = takeBuffer(context: context)
        if get {
            buffer.writeBytes(token.getPrefix)
            let seconds = token.held.remaining(at: BootClock.now()).wholeSeconds
            buffer.writeString(String(seconds))
            buffer.writeInteger(UInt8(ascii: "\n"))
        } else {
            buffer.writeBytes(token.headerLine)
        }
        putBuffer(buffer, context: context)
    }

    private func write(_ answer: AnswerLine, context: ChannelHandlerContext) {
        var buffer = takeBuffer(context: context)
        buffer.writeString(answer.rendered)
        putBuffer(buffer, context: context)
    }

    /// Answers are gathered into one buffer and written in batches: far
    /// fewer syscalls for pipelined requests.
    private func takeBuffer(context: ChannelHandlerContext) -> ByteBuffer {
        if let buffer = out {
            out = nil
            return buffer
        }
        return context.channel.allocator.buffer(capacity: 512)
    }

    private func putBuffer(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        if buffer.readableBytes >= 16384 {
            context.write(wrapOutboundOut(buffer), promise: nil)
        } else {
            out = buffer
        }
    }

    private func flushAnswers(context: ChannelHandlerContext) {
        if let buffer = out {
            out = nil
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        context.flush()
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        queue.removeAll()
        let buffer = out ?? context.channel.allocator.buffer(capacity: 0)
        out = nil
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private var peerMetadata: Logger.Metadata {
        guard let peer else { return [:] }
        return ["uid": .stringConvertible(peer.uid), "pid": .stringConvertible(peer.pid)]
    }
}
