import Logging
import NIOConcurrencyHelpers
import NIOCore
import TokendCore
import TokendEngine
import TokendPlatform
import TokendProtocol
import TokendTelemetry

/// Answers the requests of one connection (SPEC §5): parses a line, decides
/// the peer's access, and appends the answer to the connection's output, or
/// says what the answer must wait for. It counts every answer in the
/// connection's tally. It holds no channel: the handler runs the waits and
/// the lookups it asks for and hands their results back.
///
/// The hot path, a `GET` of a fresh token, is a parse in place, a lock-free
/// read of the profile's slot and a copy of the token's rendered prefix: no
/// closure, no task, no allocation.
struct RequestResponder {
    /// What became of a request.
    enum Outcome {
        /// The answer was appended.
        case answered
        /// `QUIT`: answered; the connection closes once it is written.
        case answeredThenClose
        /// Only the peer's groups in the user database can decide: ask
        /// again once the handler has looked them up.
        case needsUserGroups
        /// The answer must wait for the engine.
        case wait(Pending)
    }

    /// An answer the engine gives later, and what it answers.
    enum Pending {
        case demand(EventLoopFuture<DemandOutcome>, AwaitedToken)
        case status(EventLoopFuture<StatusReport>)
    }

    /// The request a demand answers, and the profile it named.
    struct AwaitedToken {
        let request: Request
        let profile: String
    }

    let server: ServerContext
    private let directory: ProfileDirectory
    var access: PeerAccess
    /// `tokend_requests_total` of this connection since the last read cycle
    /// (added to the shared counters once per cycle, not once per request).
    var tally = RequestCounters.Tally()
    /// The verb of the answer being written.
    private var answering = Verb.invalid

    init(server: ServerContext, access: PeerAccess) {
        self.server = server
        directory = server.engine.directory
        self.access = access
    }

    // MARK: - Requests

    mutating func respond(to line: UnsafeRawBufferPointer, into out: inout ByteBuffer) -> Outcome {
        let request: Request
        switch RequestLineParser.parse(line) {
        case .failure(let error):
            answering = .invalid
            write(.error(.badRequest, error.message), into: &out)
            return .answered
        case .success(let parsed):
            request = parsed
        }
        answering = request.kind
        switch request {
        case .get(let name, let minTTL), .header(let name, let minTTL):
            let profile: ProfileHandle
            switch authorize(name, request: request, into: &out) {
            case .allowed(let handle): profile = handle
            case .answered: return .answered
            case .needsUserGroups: return .needsUserGroups
            }
            let now = server.clock.now()
            if let token = profile.slot.read(), token.held.isServable(at: now, minimum: .seconds(Int64(minTTL ?? 0))) {
                writeToken(token, for: request, now: now, into: &out)
                return .answered
            }
            return .wait(.demand(server.engine.demand(.token(minTTL: minTTL.map { .seconds(Int64($0)) }), profile: name), AwaitedToken(request: request, profile: name)))
        case .refresh(let name):
            switch authorize(name, request: request, into: &out) {
            case .allowed: return .wait(.demand(server.engine.demand(.refresh, profile: name), AwaitedToken(request: request, profile: name)))
            case .answered: return .answered
            case .needsUserGroups: return .needsUserGroups
            }
        case .status(let name):
            if let name {
                switch authorize(name, request: request, into: &out) {
                case .allowed: return .wait(.status(server.engine.status(profiles: [name])))
                case .answered: return .answered
                case .needsUserGroups: return .needsUserGroups
                }
            }
            guard let profiles = readableProfiles() else { return .needsUserGroups }
            return .wait(.status(server.engine.status(profiles: Set(profiles.map(\.name)))))
        case .list:
            guard let profiles = readableProfiles() else { return .needsUserGroups }
            write(.ok(profiles.map(\.name).joined(separator: " ")), into: &out)
        case .ping:
            write(.ok("PONG"), into: &out)
        case .version:
            write(.ok("tokend \(TokendVersion.string) protocol \(ProtocolLimits.version)"), into: &out)
        case .quit:
            write(.ok("BYE"), into: &out)
            return .answeredThenClose
        }
        return .answered
    }

    mutating func answerTooLong(into out: inout ByteBuffer) {
        answering = .invalid
        write(.error(.tooLong, "request line longer than \(ProtocolLimits.maximumLineLength) bytes"), into: &out)
    }

    // MARK: - Answers that waited

    /// Answers a request the engine has answered. The peer's access is
    /// checked again against the profiles in force now: a reload may have
    /// removed the profile or the peer's right to it while the request waited.
    mutating func finish(demand awaited: AwaitedToken, result: Result<DemandOutcome, any Error>, into out: inout ByteBuffer) -> Outcome {
        let request = awaited.request
        answering = request.kind
        guard case .success(let outcome) = result else {
            write(.error(.unavailable, "tokend is shutting down"), into: &out)
            return .answered
        }
        switch outcome {
        case .token(let token):
            switch authorize(awaited.profile, request: request, unknown: "the profile was removed", into: &out) {
            case .allowed: break
            case .answered: return .answered
            case .needsUserGroups: return .needsUserGroups
            }
            let now = server.clock.now()
            if token.held.isServable(at: now) {
                writeToken(token, for: request, now: now, into: &out)
            } else {
                write(.error(.unavailable, "the token expired before it could be served"), into: &out)
            }
        case .unavailable(let message):
            write(.error(.unavailable, message), into: &out)
        case .unknownProfile:
            write(.error(.unknownProfile, "the profile was removed"), into: &out)
        }
        return .answered
    }

    mutating func finish(status result: Result<StatusReport, any Error>, into out: inout ByteBuffer) {
        answering = .status
        switch result {
        case .success(let report): write(.ok(report.json), into: &out)
        case .failure: write(.error(.unavailable, "status is not available"), into: &out)
        }
    }

    // MARK: - Access

    private enum Authorization {
        case allowed(ProfileHandle)
        /// The error was answered (unknown profile, denied).
        case answered
        case needsUserGroups
    }

    /// The profile named by a request, when it exists and this peer may read
    /// it; otherwise the error is answered, unless only the user database
    /// can tell and its answer is not cached.
    private mutating func authorize(_ name: String, request: Request, unknown: String? = nil,
                                    into out: inout ByteBuffer) -> Authorization {
        guard let profile = access.lookUp(name, in: directory) else {
            write(.error(.unknownProfile, unknown ?? "no profile named \(name)"), into: &out)
            return .answered
        }
        var decision = access.decide(profile)
        if decision == .needsUserGroups, adoptCachedUserGroups() { decision = access.decide(profile) }
        switch decision {
        case .allowed:
            return .allowed(profile)
        case .denied:
            deny(name, request: request, into: &out)
            return .answered
        case .needsUserGroups:
            return .needsUserGroups
        }
    }

    /// The profiles this peer may read (`LIST`, `STATUS`), nil until the user database is asked.
    private mutating func readableProfiles() -> [ProfileHandle]? {
        if let profiles = access.readable(in: directory) { return profiles }
        return adoptCachedUserGroups() ? access.readable(in: directory) : nil
    }

    /// The peer's groups from the cache of the user database, when another
    /// connection looked them up lately.
    private mutating func adoptCachedUserGroups() -> Bool {
        guard let peer = access.peer, let cached = server.userGroups.cached(uid: peer.uid) else { return false }
        access.userGroups = cached
        return true
    }

    private mutating func deny(_ name: String, request: Request, into out: inout ByteBuffer) {
        let (log, suppressed) = server.denialLog.withLockedValue { $0.admit(now: server.clock.now()) }
        if log {
            var metadata = access.logMetadata
            metadata["profile"] = .string(name)
            metadata["request"] = .string(request.verb)
            if suppressed > 0 { metadata["suppressed"] = .stringConvertible(suppressed) }
            server.logger.notice("access denied", metadata: metadata)
        }
        Telemetry.denial(profile: name)
        write(.error(.denied, "you may not read profile \(name)"), into: &out)
    }

    // MARK: - Writing

    /// The token's answer, its remaining seconds computed from `now`, the
    /// one clock reading that also decided it may be served.
    private mutating func writeToken(_ token: ServedToken, for request: Request, now: Instant, into out: inout ByteBuffer) {
        tally.count(RequestCounters.index(verb: answering, result: .ok))
        if case .header = request {
            out.writeBytes(token.headerLine)
        } else {
            out.writeBytes(token.getPrefix)
            out.writeDecimal(Swift.max(1, token.held.remaining(at: now).wholeSeconds))
            out.writeInteger(UInt8(ascii: "\n"))
        }
    }

    private mutating func write(_ answer: AnswerLine, into out: inout ByteBuffer) {
        tally.count(RequestCounters.index(verb: answering, result: RequestResult(answer)))
        out.writeString(answer.rendered)
    }
}

extension PeerAccess {
    /// Who the peer is, for log lines.
    var logMetadata: Logger.Metadata {
        guard let peer else { return [:] }
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
