import Logging
import NIOCore
import TokendEngine
import TokendPlatform
import TokendTelemetry

/// Serves one client connection by carrying out what its
/// `ConnectionStateMachine` decides (framing, order, back-pressure,
/// idleness, closing) and what its `RequestResponder` answers. What is left
/// here is the channel's: the output buffer, the futures and lookups that
/// answers wait for, the idle timer, and the close.
///
/// Answers are appended to one output buffer that is written and flushed
/// once per read cycle (or when it grows past `writeThreshold`).
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var machine: ConnectionStateMachine
    private var responder: RequestResponder
    private var out = ByteBuffer()
    /// Answers were written (not flushed) before the read cycle ended.
    private var unflushed = false
    private var closing = false
    private var idleCheck: Scheduled<Void>?

    /// Answers gathered beyond this are written before the read cycle ends.
    static let writeThreshold = 16 * 1024

    /// - Parameter peer: who the peer is, for tests on an `EmbeddedChannel`
    ///   (which has no kernel to ask); nil reads `SO_PEERCRED`.
    init(server: ServerContext, peer: PeerCredentials? = nil) {
        self.server = server
        machine = ConnectionStateMachine(idleTimeout: .nanoseconds(server.idleTimeout.nanoseconds), now: .now())
        responder = RequestResponder(server: server, access: PeerAccess(peer: peer))
    }

    // MARK: - Lifecycle

    func channelActive(context: ChannelHandlerContext) {
        if responder.access.peer == nil { responder.access = PeerAccess(peer: PeerCredentials.of(context.channel)) }
        if responder.access.peer == nil {
            server.logger.warning("closing a connection whose peer credentials cannot be read")
            context.close(promise: nil)
            return
        }
        out = context.channel.allocator.buffer(capacity: 1024)
        scheduleIdleCheck(at: machine.firstIdleCheck, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.requestCounters.add(&responder.tally)
        machine.closed()
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("connection error", metadata: responder.access.logMetadata.merging(["error": "\(error)"]) { $1 })
        context.close(promise: nil)
    }

    // MARK: - Events, handed to the machine

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        machine.bytesRead(unwrapInboundIn(data), now: .now())
        run(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushAnswers(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        machine.writabilityChanged(writable, now: .now())
        if writable { resume(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            machine.inputEnded()
            resume(context: context)
        } else if event is QuiesceEvent {
            machine.quiesce()
            resume(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    // MARK: - Carrying out actions

    /// Carries out the machine's actions until it has nothing more to do.
    private func run(context: ChannelHandlerContext) {
        while perform(machine.nextAction(), context: context) {}
    }

    /// Carries out one action: false when there is nothing more to do now.
    private func perform(_ action: ConnectionStateMachine.ConnectionAction, context: ChannelHandlerContext) -> Bool {
        switch action {
        case .answer(let line):
            let outcome = line.withUnsafeReadableBytes { responder.respond(to: $0, into: &out) }
            switch outcome {
            case .answered: break
            case .answeredThenClose: machine.closeAfterAnswer(.quit)
            case .needsUserGroups:
                machine.waitForUserGroups()
                // The line is handed out again, and decided, with the groups.
                lookUpUserGroups(context: context) { handler, context in
                    handler.machine.waitEnded()
                    _ = handler.perform(handler.machine.nextAction(), context: context)
                }
            case .wait(let pending):
                machine.waitStarted()
                wait(for: pending, context: context)
            }
            writeIfLarge(context: context)
        case .answerTooLong:
            responder.answerTooLong(into: &out)
        case .read:
            context.read()
        case .closeAfterFlush(let reason):
            closeAfterFlush(reason, context: context)
            return false
        case .close(let reason):
            closeNow(reason, context: context)
            return false
        case .scheduleIdleCheck(let deadline):
            scheduleIdleCheck(at: deadline, context: context)
        case .none:
            return false
        }
        return true
    }

    /// After an answer that had to wait, when output drains, at the end of
    /// input or a stop: answer what follows, and flush.
    private func resume(context: ChannelHandlerContext) {
        run(context: context)
        flushAnswers(context: context)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // Measured here rather than by NIO's IdleStateHandler: one clock
        // reading per read cycle instead of an extra pipeline stage and a
        // promise per write (a third of the throughput at 64 pipelining
        // connections, measured).
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.idleCheck = nil
            _ = handler.perform(handler.machine.idleCheckDue(now: .now()), context: context)
        }
    }

    // MARK: - Waiting

    private func wait(for pending: RequestResponder.Pending, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        switch pending {
        case .demand(let future, let awaited):
            future.hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = bound.value
                handler.finish(demand: awaited, result: result, context: context)
            }
        case .status(let future):
            future.hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = bound.value
                guard handler.machine.isWaiting else { return }
                handler.responder.finish(status: result, into: &handler.out)
                handler.machine.waitEnded()
                handler.resume(context: context)
            }
        }
    }

    private func finish(demand awaited: RequestResponder.AwaitedToken, result: Result<DemandOutcome, any Error>, context: ChannelHandlerContext) {
        guard machine.isWaiting else { return }
        if answer(demand: awaited, result: result, context: context) { resume(context: context) }
    }

    /// False when the answer waits for a lookup first (which resumes by itself).
    private func answer(demand awaited: RequestResponder.AwaitedToken, result: Result<DemandOutcome, any Error>,
                        context: ChannelHandlerContext) -> Bool {
        switch responder.finish(demand: awaited, result: result, into: &out) {
        case .needsUserGroups:
            // A reload made the profile's access depend on groups while the request waited.
            lookUpUserGroups(context: context) { handler, context in
                _ = handler.answer(demand: awaited, result: result, context: context)
            }
            return false
        default:
            machine.waitEnded()
            return true
        }
    }

    /// Looks the peer's groups up off the event loop, then runs `then` with
    /// them in the peer's access, for the one request waiting for them; then
    /// answers what follows. A failed or late lookup decides that request with
    /// the kernel's groups only, and is not kept: the next request asks again.
    private func lookUpUserGroups(context: ChannelHandlerContext, then: @escaping (ConnectionHandler, ChannelHandlerContext) -> Void) {
        guard let peer = responder.access.peer else { return }
        let bound = NIOLoopBound((self, context, then), eventLoop: context.eventLoop)
        server.userGroups.lookup(uid: peer.uid, gid: peer.gid, on: context.eventLoop).whenComplete { result in
            let (handler, context, then) = bound.value
            guard handler.machine.isWaiting else { return }
            let groups = (try? result.get()) ?? nil
            handler.responder.access.userGroups = groups ?? []
            then(handler, context)
            if groups == nil { handler.responder.access.userGroups = nil }
            handler.resume(context: context)
        }
    }

    // MARK: - Output

    private func writeIfLarge(context: ChannelHandlerContext) {
        guard out.readableBytes >= ConnectionHandler.writeThreshold else { return }
        let chunk = out
        out = context.channel.allocator.buffer(capacity: 1024)
        unflushed = true
        context.write(wrapOutboundOut(chunk), promise: nil)
    }

    private func flushAnswers(context: ChannelHandlerContext) {
        server.requestCounters.add(&responder.tally)
        guard !closing else { return }
        guard out.readableBytes > 0 else {
            // Answers written early (`writeIfLarge`) still need their flush.
            if unflushed {
                unflushed = false
                context.flush()
            }
            return
        }
        unflushed = false
        let chunk = out
        // Consumed before the flush: a flush can make the channel writable
        // again and re-enter this handler (`resume`), which must append to an
        // empty buffer, not write these bytes a second time.
        out.moveReaderIndex(forwardBy: chunk.readableBytes)
        context.write(wrapOutboundOut(chunk), promise: nil)
        context.flush()
        // The channel usually lets go of the bytes during the flush: the
        // storage is then reused without an allocation.
        if out.readableBytes == 0 { out.clear() }
    }

    private func closeAfterFlush(_ reason: ConnectionStateMachine.CloseReason, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing(reason)
        server.requestCounters.add(&responder.tally)
        let pending = out.readableBytes > 0 ? out : context.channel.allocator.buffer(capacity: 0)
        out.clear()
        let done = context.writeAndFlush(wrapOutboundOut(pending))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        // A client that does not read its last answers must not hold the
        // connection open: after idle_timeout it is closed all the same.
        let deadline = context.eventLoop.scheduleTask(in: machine.idleTimeout) { bound.value.close(promise: nil) }
        done.whenComplete { _ in
            deadline.cancel()
            bound.value.close(promise: nil)
        }
    }

    private func closeNow(_ reason: ConnectionStateMachine.CloseReason, context: ChannelHandlerContext) {
        guard !closing else { return }
        closing(reason)
        context.close(promise: nil)
    }

    /// Logs and counts a close the daemon decided.
    private func closing(_ reason: ConnectionStateMachine.CloseReason) {
        closing = true
        if let rejection = reason.rejection { Telemetry.connectionRejected(rejection) }
        let message: Logger.Message
        switch reason {
        case .idle: message = "closing an idle connection"
        case .stalled: message = "closing a connection that does not read its answers"
        case .tooLong: message = "closing a connection that sent an over-long line"
        case .quit, .endOfInput, .stopping: return
        }
        server.logger.debug(message, metadata: responder.access.logMetadata)
    }
}
