/// The rules of one client connection (SPEC §5), as a pure state machine
/// in the manner of postgres-nio's connection state machine: the NIO
/// handler feeds it events (a framed request, an answer that had to wait,
/// writability, idleness, the end of input, a stop) and carries out what it
/// says. It never touches a socket, a clock or a buffer, so every ordering
/// and back-pressure rule is tested without one.
///
/// The rules:
/// - answers go out in request order: a request that must wait (no valid
///   token yet, `REFRESH`, `STATUS`, a group lookup) holds back the ones
///   behind it, which are queued;
/// - a queue of `queueLimit` requests, or output the client does not read
///   (the channel is not writable), stops reading: one connection can make
///   the daemon hold only so much;
/// - idle: a connection that asked nothing for `idle_timeout` is closed, and
///   so is one whose answers make no progress for that long (a client that
///   pipelines and never reads), but never one waiting for a token;
/// - the end of input or a stop finishes what was asked, then closes;
///   `QUIT` and an over-long line close after their answer.
///
/// `Line` is whatever the handler keeps of a request it cannot answer yet
/// (a slice of the read buffer).
struct ConnectionStateMachine<Line> {
    /// A request as framed from the byte stream.
    enum Framed {
        case line(Line)
        /// A line over the limit: answered `ERR too-long`, then the connection closes.
        case tooLong
    }

    /// Why a connection is closed by the daemon, for logs and metrics.
    enum CloseReason: String, Sendable {
        case idle
        /// The client does not read its answers.
        case stalled
        case quit
        case tooLong = "too-long"
        case endOfInput = "end-of-input"
        case stopping
    }

    /// What the handler must do with a framed request.
    enum ReceiveAction {
        /// Answer it now (it is first in line and output can be written).
        case process(Framed)
        /// Kept for later; nothing to do now.
        case queued
        /// The connection is closing: drop it.
        case ignore
    }

    let queueLimit: Int
    private var queue: [Framed] = []
    private var queueHead = 0
    /// An answer is being waited for (the request at the head of the line).
    private(set) var waiting = false
    private(set) var writable = true
    /// Set once a close was decided; no request is processed after it.
    private(set) var closeReason: CloseReason?
    private var inputClosed = false
    private var quiescing = false
    /// A read that was asked for and deferred by back-pressure.
    private var readDeferred = false

    init(queueLimit: Int = 64) {
        self.queueLimit = queueLimit
    }

    var queuedCount: Int { queue.count - queueHead }
    var isClosing: Bool { closeReason != nil }
    /// Whether a request framed now would be answered at once (what
    /// `received` would say): the handler then parses it in place.
    var canProcessNow: Bool { !waiting && writable && queuedCount == 0 && closeReason == nil }

    // MARK: - Inbound

    /// A request was framed from the input.
    mutating func received(_ framed: Framed) -> ReceiveAction {
        if closeReason != nil { return .ignore }
        if !waiting, writable, queuedCount == 0 { return .process(framed) }
        queue.append(framed)
        return .queued
    }

    /// The next queued request to answer, or nil while the head must wait,
    /// output is blocked, the connection closes, or nothing is queued.
    mutating func nextQueued() -> Framed? {
        guard !waiting, writable, closeReason == nil, queueHead < queue.count else { return nil }
        let next = queue[queueHead]
        queueHead += 1
        if queueHead == queue.count {
            queue.removeAll()
            queueHead = 0
        }
        return next
    }

    /// The request just processed must wait for its answer (engine, lookup).
    mutating func waitStarted() {
        waiting = true
    }

    /// The awaited answer was written; queued requests may follow.
    mutating func waitEnded() {
        waiting = false
    }

    /// `QUIT` or an over-long line was answered: close once it is written.
    mutating func closeAfterAnswer(_ reason: CloseReason) {
        if closeReason == nil { closeReason = reason }
        queue.removeAll()
        queueHead = 0
    }

    // MARK: - Back-pressure

    /// The channel asks to read: true to read now; false defers the read
    /// (held-back requests or unread output) until `shouldResumeReading`.
    mutating func readRequested() -> Bool {
        if waiting || queuedCount >= queueLimit || !writable {
            readDeferred = true
            return false
        }
        return true
    }

    mutating func writabilityChanged(_ isWritable: Bool) {
        writable = isWritable
    }

    /// Whether a deferred read should be issued now.
    mutating func shouldResumeReading() -> Bool {
        guard readDeferred, !waiting, queuedCount < queueLimit, writable, closeReason == nil else { return false }
        readDeferred = false
        return true
    }

    // MARK: - Ending

    enum Idleness {
        /// Nothing was read for `idle_timeout`.
        case read
        /// No write completed for `idle_timeout`.
        case write
    }

    /// An idle timer fired: the reason to close, or nil to keep the connection.
    mutating func idle(_ kind: Idleness) -> CloseReason? {
        guard closeReason == nil, !waiting else { return nil }
        switch kind {
        case .read:
            // Asked nothing and owed nothing.
            guard queuedCount == 0, writable else { return nil }
            closeReason = .idle
        case .write:
            // Answers are owed and none got out: the client does not read.
            guard !writable || queuedCount > 0 else { return nil }
            closeReason = .stalled
        }
        queue.removeAll()
        queueHead = 0
        return closeReason
    }

    /// The client closed its side: close once everything asked is answered.
    mutating func inputEnded() -> CloseReason? {
        inputClosed = true
        return closeIfFinished(.endOfInput)
    }

    /// The daemon stops: finish what was asked, then close.
    mutating func quiesce() -> CloseReason? {
        quiescing = true
        return closeIfFinished(.stopping)
    }

    /// After answers were written: whether the connection may now close
    /// (input ended or stopping, nothing owed).
    mutating func closeIfFinished() -> CloseReason? {
        closeIfFinished(inputClosed ? .endOfInput : .stopping)
    }

    private mutating func closeIfFinished(_ reason: CloseReason) -> CloseReason? {
        guard closeReason == nil, inputClosed || quiescing, !waiting, queuedCount == 0 else { return nil }
        closeReason = reason
        return reason
    }
}
