import Logging
import NIOConcurrencyHelpers
import NIOCore
import TokendCore
import TokendEngine
import TokendPlatform
import TokendProtocol
import TokendTelemetry

/// Serves one client connection: frames request lines straight from the
/// read buffer, answers them in order, and carries out what the pure
/// `ConnectionStateMachine` decides about ordering, back-pressure, idleness
/// and closing.
///
/// The hot path, a `GET` of a fresh token, stays on this event loop: the
/// line is parsed in place, the token is read from its profile's slot, and
/// the answer is appended to one output buffer that is written and flushed
/// once per read cycle. A request that must wait (no valid token yet,
/// `REFRESH`, `STATUS`, a user-database lookup for `allow_groups`) is
/// answered when its future completes, and the requests behind it wait.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private let directory: ProfileDirectory
    private var machine = ConnectionStateMachine<ByteBuffer>(queueLimit: ConnectionHandler.queueLimit)
    /// Who the peer is and what it may read (set when the channel is active).
    private var access = PeerAccess(peer: nil)
    /// An incomplete line carried over to the next read.
    private var partial: ByteBuffer?
    /// After an over-long line nothing more is read.
    private var discarding = false
    /// The client closed its side (half-close).
    private var inputEnded = false
    private var out: ByteBuffer?
    /// Answers were written (not flushed) before the read cycle ended.
    private var unflushed = false
    private var closed = false
    private var closeStarted = false
    private let idleTimeout: TimeAmount
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    /// Since when output has been blocked (the channel not writable).
    private var blockedSince: NIODeadline?
    private var idleCheck: Scheduled<Void>?
    /// `tokend_requests_total` of this connection since the last read cycle
    /// (added to the shared counters once per cycle, not once per request).
    private var tally = RequestCounters.Tally()
    /// The verb of the answer being written.
    private var answering = Verb.invalid

    /// Requests held back before reading stops; each line is at most 4 KiB.
    static let queueLimit = 64
    /// Answers gathered beyond this are written before the read cycle ends.
    static let writeThreshold = 16 * 1024

    /// - Parameter peer: who the peer is, for tests on an `EmbeddedChannel`
    ///   (which has no kernel to ask); nil reads `SO_PEERCRED`.
    init(server: ServerContext, peer: PeerCredentials? = nil) {
        self.server = server
        directory = server.engine.directory
        idleTimeout = .nanoseconds(server.idleTimeout.nanoseconds)
        access = PeerAccess(peer: peer)
    }

    // MARK: - Lifecycle

    func channelActive(context: ChannelHandlerContext) {
        if access.peer == nil { access = PeerAccess(peer: PeerCredentials.of(context.channel)) }
        if access.peer == nil {
            server.logger.warning("closing a connection whose peer credentials cannot be read")
            context.close(promise: nil)
        }
        out = context.channel.allocator.buffer(capacity: 1024)
        lastRead = .now()
        scheduleIdleCheck(at: lastRead + idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.requestCounters.add(&tally)
        closed = true
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    // MARK: - Idleness

    /// Idle and stalled connections, measured here rather than by NIO's
    /// IdleStateHandler: one clock reading per read cycle instead of an
    /// extra pipeline stage and a promise per write (a third of the
    /// throughput at 64 pipelining connections, measured).
    private func scheduleIdleCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.idleCheckDue(context: context)
        }
    }

    private func idleCheckDue(context: ChannelHandlerContext) {
        idleCheck = nil
        guard !closed, !closeStarted else { return }
        let now = NIODeadline.now()
        // Output that nobody reads, for idle_timeout: the client does not read.
        if let since = blockedSince, now - since >= idleTimeout, machine.idle(.write) != nil {
            server.logger.debug("closing a connection that does not read its answers", metadata: peerMetadata)
            Telemetry.connectionRejected(.idle)
            closeStarted = true
            context.close(promise: nil)
            return
        }
        if now - lastRead >= idleTimeout, machine.idle(.read) != nil {
            server.logger.debug("closing an idle connection", metadata: peerMetadata)
            Telemetry.connectionRejected(.idle)
            closeAfterFlush(context: context)
            return
        }
        var next = lastRead + idleTimeout
        if let since = blockedSince { next = min(next, since + idleTimeout) }
        // Nothing due yet, or not closable now (waiting for a token): look again later.
        if next <= now { next = now + idleTimeout }
        scheduleIdleCheck(at: next, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("connection error", metadata: peerMetadata.merging(["error": "\(error)"]) { $1 })
        context.close(promise: nil)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        guard !discarding, !machine.isClosing else { return }
        var buffer = unwrapInboundIn(data)
        if var carried = partial {
            partial = nil
            carried.writeBuffer(&buffer)
            buffer = carried
        }
        frame(&buffer, context: context)
    }

    /// Splits `buffer` into LF-terminated lines and hands each on.
    private func frame(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        let limit = ProtocolLimits.maximumLineLength
        while !machine.isClosing {
            if machine.queuedCount >= ConnectionHandler.queueLimit {
                // Held back enough: the rest waits, unframed, until the queue
                // drains (`resume`), so one read cannot queue without bound.
                if buffer.readableBytes > 0 { partial = buffer }
                return
            }
            let newline = buffer.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) }
            guard let newline else {
                // Room for the longest line plus its CR; more without LF is too long.
                if buffer.readableBytes > limit + 1 {
                    tooLong(context: context)
                } else if buffer.readableBytes > 0 {
                    partial = buffer
                }
                return
            }
            let hasCR = newline > 0 && buffer.getInteger(at: buffer.readerIndex + newline - 1, as: UInt8.self) == UInt8(ascii: "\r")
            if newline - (hasCR ? 1 : 0) > limit {
                tooLong(context: context)
                return
            }
            if machine.canProcessNow {
                // The usual case: parsed and answered in place, no slice kept.
                let done = buffer.withUnsafeReadableBytes { bytes in
                    processLine(UnsafeRawBufferPointer(rebasing: bytes[..<newline]), context: context)
                }
                if !done { retryAfterUserGroups(buffer.getSlice(at: buffer.readerIndex, length: newline)!, context: context) }
                buffer.moveReaderIndex(forwardBy: newline + 1)
            } else {
                let line = buffer.readSlice(length: newline)!
                buffer.moveReaderIndex(forwardBy: 1)
                receive(.line(line), context: context)
            }
        }
    }

    /// Frames input left over while the queue was full; at the end of
    /// input, a last request without its LF is answered too.
    private func drainPartial(context: ChannelHandlerContext) {
        guard !discarding, var rest = partial, rest.readableBytes > 0 else { return }
        if rest.withUnsafeReadableBytes({ $0.contains(UInt8(ascii: "\n")) }) {
            partial = nil
            frame(&rest, context: context)
        }
        if inputEnded, machine.queuedCount < ConnectionHandler.queueLimit, let last = partial, last.readableBytes > 0,
           !last.withUnsafeReadableBytes({ $0.contains(UInt8(ascii: "\n")) }) {
            partial = nil
            receive(.line(last), context: context)
        }
    }

    private func tooLong(context: ChannelHandlerContext) {
        discarding = true
        partial = nil
        receive(.tooLong, context: context)
    }

    private func receive(_ framed: ConnectionStateMachine<ByteBuffer>.Framed, context: ChannelHandlerContext) {
        switch machine.received(framed) {
        case .process(let framed): process(framed, context: context)
        case .queued, .ignore: break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushAnswers(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        machine.writabilityChanged(context.channel.isWritable)
        if context.channel.isWritable { blockedSince = nil } else if blockedSince == nil { blockedSince = .now() }
        if context.channel.isWritable { resume(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputEnded = true
            drainPartial(context: context)
            if machine.inputEnded() != nil { closeAfterFlush(context: context) }
            return
        }
        if event is QuiesceEvent {
            if machine.quiesce() != nil { closeAfterFlush(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Outbound: reading stops while requests are held back

    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    /// After an answer that had to wait, or when output drains: answer what
    /// was queued, flush, and read again if the machine allows.
    private func resume(context: ChannelHandlerContext) {
        while let next = machine.nextQueued() {
            process(next, context: context)
        }
        if machine.canProcessNow {
            drainPartial(context: context)
            while let next = machine.nextQueued() {
                process(next, context: context)
            }
        }
        flushAnswers(context: context)
        if machine.closeIfFinished() != nil {
            closeAfterFlush(context: context)
        } else if machine.shouldResumeReading() {
            context.read()
        }
    }

    // MARK: - Answering

    private func process(_ framed: ConnectionStateMachine<ByteBuffer>.Framed, context: ChannelHandlerContext) {
        guard case .line(let line) = framed else {
            answering = .invalid
            Telemetry.connectionRejected(.tooLong)
            write(.error(.tooLong, "request line longer than \(ProtocolLimits.maximumLineLength) bytes"), context: context)
            server.logger.debug("closing a connection that sent an over-long line", metadata: peerMetadata)
            machine.closeAfterAnswer(.tooLong)
            closeAfterFlush(context: context)
            return
        }
        if !line.withUnsafeReadableBytes({ processLine($0, context: context) }) {
            retryAfterUserGroups(line, context: context)
        }
    }

    /// Answers one request line (or starts waiting for its answer). False
    /// when only the peer's groups in the user database can decide its
    /// access: the caller keeps the line and processes it again after the lookup.
    private func processLine(_ line: UnsafeRawBufferPointer, context: ChannelHandlerContext) -> Bool {
        let request: Request
        switch RequestLineParser.parse(line) {
        case .failure(let error):
            answering = .invalid
            write(.error(.badRequest, error.message), context: context)
            return true
        case .success(let r):
            request = r
        }
        answering = request.kind
        switch request {
        case .get(let name, let minTTL), .header(let name, let minTTL):
            // The hot path: no closure, no task, no allocation.
            let profile: ProfileHandle
            switch authorize(name, request: request, context: context) {
            case .allowed(let handle): profile = handle
            case .answered: return true
            case .needsUserGroups: return false
            }
            let isGet: Bool
            if case .get = request { isGet = true } else { isGet = false }
            let now = server.clock.now()
            if let token = profile.slot.read(), token.held.isServable(at: now, minimum: .seconds(Int64(minTTL ?? 0))) {
                writeToken(token, get: isGet, now: now, context: context)
                return true
            }
            waitForDemand(server.engine.demand(.token(minTTL: minTTL.map { .seconds(Int64($0)) }), profile: name),
                          profile: name, request: request, get: isGet, context: context)
        case .refresh(let name):
            switch authorize(name, request: request, context: context) {
            case .allowed:
                waitForDemand(server.engine.demand(.refresh, profile: name), profile: name, request: request, get: true, context: context)
            case .answered: return true
            case .needsUserGroups: return false
            }
        case .status(let name):
            if let name {
                switch authorize(name, request: request, context: context) {
                case .allowed: awaitStatus([name], context: context)
                case .answered: return true
                case .needsUserGroups: return false
                }
            } else {
                guard let profiles = access.readable(in: directory) else { return false }
                awaitStatus(Set(profiles.map(\.name)), context: context)
            }
        case .list:
            guard let profiles = access.readable(in: directory) else { return false }
            write(.ok(profiles.map(\.name).joined(separator: " ")), context: context)
        case .ping:
            write(.ok("PONG"), context: context)
        case .version:
            write(.ok("tokend \(TokendVersion.string) protocol \(ProtocolLimits.version)"), context: context)
        case .quit:
            write(.ok("BYE"), context: context)
            machine.closeAfterAnswer(.quit)
            closeAfterFlush(context: context)
        }
        return true
    }

    /// Looks the peer's groups up (off the event loop), then processes `line` again.
    private func retryAfterUserGroups(_ line: ByteBuffer, context: ChannelHandlerContext) {
        withUserGroups(context: context) { handler, context in handler.process(.line(line), context: context) }
    }

    // MARK: - Access control

    /// Runs `body` with the profile when it exists and this peer may read
    /// it; otherwise answers the error. When only the user database can
    /// tell, the lookup runs off the event loop and the request waits for it.
    private func withReadableProfile(_ name: String, request: Request, context: ChannelHandlerContext,
                                     _ body: @escaping (ConnectionHandler, ProfileHandle, ChannelHandlerContext) -> Void) {
        answering = request.kind
        switch authorize(name, request: request, unknown: "the profile was removed", context: context) {
        case .allowed(let profile):
            body(self, profile, context)
        case .answered:
            break
        case .needsUserGroups:
            withUserGroups(context: context) { handler, context in
                handler.withReadableProfile(name, request: request, context: context, body)
            }
        }
    }

    private enum Authorization {
        case allowed(ProfileHandle)
        /// The error was answered (unknown profile, denied).
        case answered
        case needsUserGroups
    }

    /// The profile named by a request, when it exists and this peer may read
    /// it; otherwise the error is answered, unless only the user database
    /// can tell (the caller then retries after looking the groups up).
    private func authorize(_ name: String, request: Request, unknown: String? = nil, context: ChannelHandlerContext) -> Authorization {
        guard let profile = access.lookUp(name, in: directory) else {
            write(.error(.unknownProfile, unknown ?? "no profile named \(name)"), context: context)
            return .answered
        }
        switch access.decide(profile) {
        case .allowed:
            return .allowed(profile)
        case .denied:
            deny(name, request: request, context: context)
            return .answered
        case .needsUserGroups:
            return .needsUserGroups
        }
    }

    /// Looks the peer's groups up (cached, off the event loop), then runs `then`.
    private func withUserGroups(context: ChannelHandlerContext, _ then: @escaping (ConnectionHandler, ChannelHandlerContext) -> Void) {
        guard let peer = access.peer else { return }
        if let cached = server.userGroups.cached(uid: peer.uid) {
            access.userGroups = cached
            then(self, context)
            return
        }
        machine.waitStarted()
        let bound = NIOLoopBound((self, context, then), eventLoop: context.eventLoop)
        server.userGroups.lookup(uid: peer.uid, gid: peer.gid, on: context.eventLoop).whenComplete { result in
            let (handler, context, then) = bound.value
            guard !handler.closed else { return }
            // A failed or late lookup decides this request without the
            // database's groups (only uid, gid and the kernel's list), and is
            // not kept: the next request asks again.
            let groups = (try? result.get()) ?? nil
            handler.access.userGroups = groups ?? []
            handler.machine.waitEnded()
            then(handler, context)
            if groups == nil { handler.access.userGroups = nil }
            handler.resume(context: context)
        }
    }

    private func deny(_ name: String, request: Request, context: ChannelHandlerContext) {
        let (log, suppressed) = server.denialLog.withLockedValue { $0.admit(now: server.clock.now()) }
        if log {
            var metadata = peerMetadata
            metadata["profile"] = .string(name)
            metadata["request"] = .string(request.verb)
            if suppressed > 0 { metadata["suppressed"] = .stringConvertible(suppressed) }
            server.logger.notice("access denied", metadata: metadata)
        }
        Telemetry.denial(profile: name)
        write(.error(.denied, "you may not read profile \(name)"), context: context)
    }

    // MARK: - Waiting

    /// Answers the request when the engine does. The peer's access is checked
    /// again against the profiles in force then: a reload may have removed
    /// the profile or the peer's right to it while the request waited.
    private func waitForDemand(_ future: EventLoopFuture<DemandOutcome>, profile name: String, request: Request, get: Bool,
                       context: ChannelHandlerContext) {
        machine.waitStarted()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            guard !handler.closed else { return }
            handler.machine.waitEnded()
            handler.answer(result, profile: name, request: request, get: get, context: context)
            handler.resume(context: context)
        }
    }

    private func answer(_ result: Result<DemandOutcome, any Error>, profile name: String, request: Request, get: Bool,
                        context: ChannelHandlerContext) {
        answering = request.kind
        switch result {
        case .success(.token(let token)):
            withReadableProfile(name, request: request, context: context) { handler, _, context in
                let now = handler.server.clock.now()
                if token.held.isServable(at: now) {
                    handler.writeToken(token, get: get, now: now, context: context)
                } else {
                    handler.write(.error(.unavailable, "the token expired before it could be served"), context: context)
                }
            }
        case .success(.unavailable(let message)):
            write(.error(.unavailable, message), context: context)
        case .success(.unknownProfile):
            write(.error(.unknownProfile, "the profile was removed"), context: context)
        case .failure:
            write(.error(.unavailable, "tokend is shutting down"), context: context)
        }
    }

    private func awaitStatus(_ names: Set<String>, context: ChannelHandlerContext) {
        machine.waitStarted()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        server.engine.status(profiles: names).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            guard !handler.closed else { return }
            handler.machine.waitEnded()
            handler.answering = .status
            switch result {
            case .success(let report): handler.write(.ok(report.json), context: context)
            case .failure: handler.write(.error(.unavailable, "status is not available"), context: context)
            }
            handler.resume(context: context)
        }
    }

    // MARK: - Writing

    /// The token's answer, its remaining seconds computed from `now`, the
    /// one clock reading that also decided it may be served.
    private func writeToken(_ token: ServedToken, get: Bool, now: Instant, context: ChannelHandlerContext) {
        tally.count(RequestCounters.index(verb: answering, result: .ok))
        if get {
            out!.writeBytes(token.getPrefix)
            out!.writeDecimal(Swift.max(1, token.held.remaining(at: now).wholeSeconds))
            out!.writeInteger(UInt8(ascii: "\n"))
        } else {
            out!.writeBytes(token.headerLine)
        }
        writeIfLarge(context: context)
    }

    private func write(_ answer: AnswerLine, context: ChannelHandlerContext) {
        tally.count(RequestCounters.index(verb: answering, result: RequestResult(answer)))
        out!.writeString(answer.rendered)
        writeIfLarge(context: context)
    }

    private func writeIfLarge(context: ChannelHandlerContext) {
        if out!.readableBytes >= ConnectionHandler.writeThreshold {
            let chunk = out!
            out = context.channel.allocator.buffer(capacity: 1024)
            unflushed = true
            context.write(wrapOutboundOut(chunk), promise: nil)
        }
    }

    private func flushAnswers(context: ChannelHandlerContext) {
        server.requestCounters.add(&tally)
        guard out != nil, !closeStarted else { return }
        guard out!.readableBytes > 0 else {
            // Answers written early (`writeIfLarge`) still need their flush.
            if unflushed {
                unflushed = false
                context.flush()
            }
            return
        }
        unflushed = false
        let chunk = out!
        // Consumed before the flush: a flush can make the channel writable
        // again and re-enter this handler (`resume`), which must append to an
        // empty buffer, not write these bytes a second time.
        out!.moveReaderIndex(forwardBy: chunk.readableBytes)
        context.write(wrapOutboundOut(chunk), promise: nil)
        context.flush()
        // The channel usually lets go of the bytes during the flush: the
        // storage is then reused without an allocation.
        if out!.readableBytes == 0 { out!.clear() }
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        guard !closeStarted else { return }
        closeStarted = true
        let pending = out.map { $0.readableBytes > 0 ? $0 : nil } ?? nil
        out?.clear()
        let done = context.writeAndFlush(wrapOutboundOut(pending ?? context.channel.allocator.buffer(capacity: 0)))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        // A client that does not read its last answers must not hold the
        // connection open: after idle_timeout it is closed all the same.
        let deadline = context.eventLoop.scheduleTask(in: idleTimeout) { bound.value.close(promise: nil) }
        done.whenComplete { _ in
            deadline.cancel()
            bound.value.close(promise: nil)
        }
    }

    private var peerMetadata: Logger.Metadata {
        guard let peer = access.peer else { return [:] }
        return ["uid": .stringConvertible(peer.uid), "pid": .stringConvertible(peer.pid)]
    }
}

extension ByteBuffer {
    /// Appends `value` in decimal without building a String.
    mutating func writeDecimal(_ value: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            if value < 0 { raw[19 - count] = UInt8(ascii: "-"); count += 1 }
            writeBytes(UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
        }
    }
}
