import NIOCore
import TokendProtocol
import TokendTelemetry

/// The rules of one client connection (SPEC §5), as a pure state machine in
/// the manner of postgres-nio's: the handler passes it what happened (bytes
/// read, with the time; a wait that ended; writability; the end of input; a
/// stop; an idle check that fell due) and carries out the `ConnectionAction`
/// it returns. It frames request lines itself, keeps the time of the last
/// read and of blocked output, and decides every close; it never touches a
/// socket or a clock, so each ordering and back-pressure rule is tested
/// without one.
///
/// The rules:
/// - answers go out in request order: a request that must wait (no valid
///   token yet, `REFRESH`, `STATUS`, a user-database lookup) holds back the
///   ones behind it, which stay unframed in the input;
/// - nothing more is read while an answer waits, while output is blocked
///   (the client does not read), or once the connection finishes: one
///   connection can make the daemon hold only a read's worth of requests;
/// - idle: a connection that asked nothing for `idle_timeout` is closed,
///   and so is one whose output stayed blocked that long (a client that
///   pipelines and never reads), but never one waiting for a token;
/// - the end of input or a stop finishes what was asked (at the end of
///   input, a last line without its LF too), then closes; `QUIT` and an
///   over-long line close once their answer is written.
struct ConnectionStateMachine {
    /// Why the daemon closes a connection: log lines and the `reason` of
    /// `tokend_connections_rejected_total` come from here.
    enum CloseReason: String, CaseIterable, Sendable {
        case idle
        /// The client does not read its answers.
        case stalled
        case quit
        case tooLong = "too-long"
        case endOfInput = "end-of-input"
        case stopping

        /// The rejection it counts as (SPEC §10), if the close is the daemon's refusal.
        var rejection: Telemetry.RejectionReason? {
            switch self {
            case .idle, .stalled: .idle
            case .tooLong: .tooLong
            case .quit, .endOfInput, .stopping: nil
            }
        }
    }

    /// What the handler must do next.
    enum ConnectionAction {
        /// Answer this request line (without its LF). Answered at once, it
        /// needs no report; otherwise the handler reports `waitStarted`,
        /// `waitForUserGroups` or `closeAfterAnswer` before asking again.
        case answer(ByteBuffer)
        /// Answer `ERR too-long`; the connection then closes.
        case answerTooLong
        /// Issue the read that back-pressure deferred.
        case read
        /// Write and flush what was answered, then close.
        case closeAfterFlush(CloseReason)
        /// Close now: output is blocked, so nothing more would get out.
        case close(CloseReason)
        /// Nothing is due before this time: look again then.
        case scheduleIdleCheck(NIODeadline)
        /// Nothing to do until the next event.
        case none
    }

    private enum State {
        /// Reading and answering requests in order.
        case open(Connection)
        /// The request at the head of the line waits for its answer; the
        /// ones behind it wait in the input, and nothing more is read.
        case waiting(Connection)
        /// A close was decided, to follow the answer being written.
        case closingAfterAnswer(CloseReason)
        /// The close was handed to the handler.
        case closing(CloseReason)
        case closed
        /// Only while a method mutates a connection taken out of the state
        /// (so that its input buffer is never shared and copied).
        case modifying
    }

    private struct Connection {
        /// Bytes read and not framed yet: requests not answered yet, and an
        /// incomplete last line.
        var input = ByteBuffer()
        /// The bytes the last `.answer` consumed (its line and LF): put back
        /// when the line must be answered again after a lookup.
        var lastConsumed = 0
        var output = Output.writable
        var finishing = Finishing.no
        /// A read was asked for and deferred by back-pressure.
        var readDeferred = false
        var lastRead: NIODeadline

        mutating func append(_ bytes: ByteBuffer, now: NIODeadline) {
            lastRead = now
            lastConsumed = 0
            if input.readableBytes == 0 {
                input = bytes
            } else {
                // A line carried over: bytes already answered are dropped first,
                // so a long-lived connection's buffer does not grow.
                input.discardReadBytes()
                input.writeImmutableBuffer(bytes)
            }
        }

        /// The end of input wins over a stop: a last line without its LF is
        /// then a request, and is answered.
        mutating func finish(_ reason: Finishing) {
            switch (finishing, reason) {
            case (.no, _), (.stopping, .endOfInput): finishing = reason
            default: break
            }
        }

        mutating func setWritable(_ writable: Bool, now: NIODeadline) {
            switch (output, writable) {
            case (.writable, false): output = .blocked(since: now)
            case (.blocked, true): output = .writable
            default: break
            }
        }

        /// The next line, an over-long one, the end, a deferred read, or nothing.
        mutating func next() -> ConnectionStateMachine.ConnectionAction {
            let limit = ProtocolLimits.maximumLineLength
            if let newline = input.withUnsafeReadableBytes({ $0.firstIndex(of: UInt8(ascii: "\n")) }) {
                let hasCR = newline > 0 && input.getInteger(at: input.readerIndex + newline - 1, as: UInt8.self) == UInt8(ascii: "\r")
                if newline - (hasCR ? 1 : 0) > limit { return .answerTooLong }
                let line = input.readSlice(length: newline)!
                input.moveReaderIndex(forwardBy: 1)
                lastConsumed = newline + 1
                return .answer(line)
            }
            // Room for the longest line plus its CR; more without LF is too long.
            if input.readableBytes > limit + 1 { return .answerTooLong }
            switch finishing {
            case .no:
                break
            case .endOfInput:
                if input.readableBytes > 0 {
                    let endsWithCR = input.getInteger(at: input.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r")
                    if input.readableBytes - (endsWithCR ? 1 : 0) > limit { return .answerTooLong }
                    lastConsumed = input.readableBytes
                    return .answer(input.readSlice(length: input.readableBytes)!)
                }
                return .closeAfterFlush(.endOfInput)
            case .stopping:
                return .closeAfterFlush(.stopping)
            }
            if readDeferred {
                readDeferred = false
                return .read
            }
            return .none
        }
    }

    private enum Output {
        case writable
        /// The channel is not writable: the client does not read its answers.
        case blocked(since: NIODeadline)
    }

    private enum Finishing {
        case no
        /// The client closed its side: answer what it sent, then close.
        case endOfInput
        /// The daemon stops: answer what was sent, then close.
        case stopping
    }

    let idleTimeout: TimeAmount
    private var state: State

    init(idleTimeout: TimeAmount, now: NIODeadline) {
        self.idleTimeout = idleTimeout
        state = .open(Connection(lastRead: now))
    }

    /// When the first idle check is due.
    var firstIdleCheck: NIODeadline {
        guard case .open(let connection) = state else { return .distantFuture }
        return connection.lastRead + idleTimeout
    }

    /// An answer is being waited for; answers that arrive otherwise (after
    /// a close) are dropped.
    var isWaiting: Bool {
        if case .waiting = state { return true }
        return false
    }

    // MARK: - Input

    mutating func bytesRead(_ bytes: ByteBuffer, now: NIODeadline) {
        switch state {
        case .open(var connection):
            state = .modifying
            connection.append(bytes, now: now)
            state = .open(connection)
        case .waiting(var connection):
            // Read in the same cycle as the request that waits.
            state = .modifying
            connection.append(bytes, now: now)
            state = .waiting(connection)
        case .closingAfterAnswer, .closing, .closed:
            break
        case .modifying:
            preconditionFailure("bytesRead during a modification")
        }
    }

    /// The client closed its side.
    mutating func inputEnded() {
        finish(.endOfInput)
    }

    /// The daemon stops.
    mutating func quiesce() {
        finish(.stopping)
    }

    private mutating func finish(_ finishing: Finishing) {
        switch state {
        case .open(var connection):
            connection.finish(finishing)
            state = .open(connection)
        case .waiting(var connection):
            connection.finish(finishing)
            state = .waiting(connection)
        case .closingAfterAnswer, .closing, .closed:
            break
        case .modifying:
            preconditionFailure("finish during a modification")
        }
    }

    // MARK: - Answering

    /// The next thing to do: a request to answer, a deferred read, a close,
    /// or nothing. The handler asks until it gets `.none` or a close.
    mutating func nextAction() -> ConnectionAction {
        switch state {
        case .open(var connection):
            guard case .writable = connection.output else { return .none }
            state = .modifying
            let action = connection.next()
            switch action {
            case .answerTooLong: state = .closingAfterAnswer(.tooLong)
            case .closeAfterFlush(let reason): state = .closing(reason)
            default: state = .open(connection)
            }
            return action
        case .closingAfterAnswer(let reason):
            state = .closing(reason)
            return .closeAfterFlush(reason)
        case .waiting, .closing, .closed:
            return .none
        case .modifying:
            preconditionFailure("nextAction during a modification")
        }
    }

    /// The line just handed out waits for its answer (a token, `STATUS`).
    mutating func waitStarted() {
        guard case .open(let connection) = state else { preconditionFailure("a wait started while not answering") }
        state = .waiting(connection)
    }

    /// Only the peer's groups in the user database can decide the line
    /// just handed out: it is put back, to be handed out again when the
    /// lookup ends (`waitEnded`).
    mutating func waitForUserGroups() {
        guard case .open(var connection) = state, connection.lastConsumed > 0 else {
            preconditionFailure("a lookup started while not answering")
        }
        state = .modifying
        connection.input.moveReaderIndex(to: connection.input.readerIndex - connection.lastConsumed)
        connection.lastConsumed = 0
        state = .waiting(connection)
    }

    /// The awaited answer was written (or the lookup ended): the requests
    /// behind it may follow.
    mutating func waitEnded() {
        guard case .waiting(let connection) = state else { return }
        state = .open(connection)
    }

    /// `QUIT` was answered: close once the answer is written.
    mutating func closeAfterAnswer(_ reason: CloseReason) {
        switch state {
        case .open, .waiting: state = .closingAfterAnswer(reason)
        case .closingAfterAnswer, .closing, .closed: break
        case .modifying: preconditionFailure("closeAfterAnswer during a modification")
        }
    }

    // MARK: - Back-pressure

    /// The channel asks to read: true to read now; false defers the read
    /// until `nextAction` hands out `.read`.
    mutating func readRequested() -> Bool {
        switch state {
        case .open(var connection):
            if case .writable = connection.output, case .no = connection.finishing { return true }
            connection.readDeferred = true
            state = .open(connection)
            return false
        case .waiting(var connection):
            connection.readDeferred = true
            state = .waiting(connection)
            return false
        case .closingAfterAnswer, .closing, .closed:
            return false
        case .modifying:
            preconditionFailure("readRequested during a modification")
        }
    }

    mutating func writabilityChanged(_ writable: Bool, now: NIODeadline) {
        switch state {
        case .open(var connection):
            connection.setWritable(writable, now: now)
            state = .open(connection)
        case .waiting(var connection):
            connection.setWritable(writable, now: now)
            state = .waiting(connection)
        case .closingAfterAnswer, .closing, .closed:
            break
        case .modifying:
            preconditionFailure("writabilityChanged during a modification")
        }
    }

    // MARK: - Time and the end

    /// The idle check fell due: close an idle or stalled connection, or say
    /// when to look again. A connection waiting for an answer is kept.
    mutating func idleCheckDue(now: NIODeadline) -> ConnectionAction {
        let connection: Connection
        switch state {
        case .open(let c): connection = c
        case .waiting(let c): connection = c
        case .closingAfterAnswer, .closing, .closed: return .none
        case .modifying: preconditionFailure("idleCheckDue during a modification")
        }
        var next = connection.lastRead + idleTimeout
        if case .open = state {
            switch connection.output {
            case .blocked(let since):
                // Blocked output can only end in a stall: an idle close needs it writable.
                next = since + idleTimeout
                if now >= next {
                    state = .closing(.stalled)
                    return .close(.stalled)
                }
            case .writable:
                // Writable and not waiting: nothing is owed (it would have been answered).
                if now >= next {
                    state = .closing(.idle)
                    return .closeAfterFlush(.idle)
                }
            }
        }
        return .scheduleIdleCheck(next > now ? next : now + idleTimeout)
    }

    /// The channel is closed, whoever closed it.
    mutating func closed() {
        state = .closed
    }
}
