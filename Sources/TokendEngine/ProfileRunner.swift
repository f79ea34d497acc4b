import Logging
import NIOCore
import TokendCore
import TokendHTTP
import TokendPlatform
import TokendTelemetry

/// Runs one profile's `RenewalMachine` on the engine's event loop: carries
/// out its actions (timers, token requests, publishing, answering waiters)
/// and feeds the outcomes back. Every method must be called on `loop`.
final class ProfileRunner {
    /// Changes only by a reload that touches nothing but the token files.
    private(set) var configuration: ProfileConfiguration
    let handle: ProfileHandle
    private let loop: any EventLoop
    private let client: any TokenFetcher
    private let clock: any TokendClock
    private var logger: Logger
    private var machine: RenewalMachine
    private let files: FileDelivery
    /// Where its state goes after each request (nil: `persist = false` or no cache).
    private let store: (any TokenStore)?
    /// What the store held at creation, placed on the clock at `start`.
    private var cached: CacheEntry?
    /// Whether the store held an entry that could not be used.
    private let loadProblem: Bool
    private let fingerprint: String
    /// The IdP's limits from the last token response, and until when each
    /// limit's low-remaining warning stays quiet (SPEC §10).
    private var limits: IdPLimits?
    private var limitWarnedUntil: [String: Instant] = [:]
    /// SPEC §14: `pending` until the fleet's first answer, then `ok` or `unavailable: …`.
    private var fleetStatus = "pending"
    /// The need of the fetch under way, and while its adopted token is
    /// handed out, the need it was adopted for.
    private var needInFlight: FleetNeed?
    private var adoptedNeed: FleetNeed?
    /// Clients the adopted token does not answer, asked again after the need.
    private var askAgain: [(WaiterID, Demand)] = []
    private var fleetWarnings = LogRateLimiter(burst: 1, window: .seconds(60 as Int64))
    private var invalidWarnings = LogRateLimiter(burst: 1, window: .seconds(60 as Int64))
    private var waiters: [WaiterID: PendingDemand] = [:]
    private var nextWaiter: UInt64 = 0
    private var wakeTarget: Instant?
    private var wakeTask: Scheduled<Void>?
    private var stopped = false
    private var started = false
    /// The end of the transfer of the runner this one replaces, if any.
    private var gate: EventLoopFuture<Void>?
    /// Demands that arrived before `start` (see `start(after:)`).
    private var deferred: [(WaiterID, Demand)] = []
    /// Completes once the profile is stopped and its transfer thread has ended.
    let finished: EventLoopFuture<Void>
    private let finishedPromise: EventLoopPromise<Void>

    /// Timers run on the monotonic clock, which stops during suspend; waking
    /// at least this often re-reads `CLOCK_BOOTTIME`, so a renewal is never
    /// late by more than this after a resume.
    static let longestSleep = TimeSpan.seconds(30 as Int64)

    init(configuration: ProfileConfiguration, loop: any EventLoop, logger: Logger, diskQueue: DiskQueue, clock: any TokendClock,
         fetcher: any TokenFetcher, store: (any TokenStore)? = nil, cached: CacheEntry? = nil, loadProblem: Bool = false) {
        self.configuration = configuration
        self.loop = loop
        self.clock = clock
        self.client = fetcher
        var logger = logger
        logger[metadataKey: "profile"] = .string(configuration.name)
        self.logger = logger
        self.files = FileDelivery(sinks: configuration.files, queue: diskQueue, loop: loop, clock: clock, logger: logger)
        self.store = configuration.persist ? store : nil
        self.cached = cached
        self.loadProblem = loadProblem
        self.fingerprint = configuration.cacheFingerprint
        self.machine = RenewalMachine(policy: RenewalPolicy(configuration))
        self.handle = ProfileHandle(name: configuration.name, access: configuration.access, slot: TokenSlot())
        self.finishedPromise = loop.makePromise(of: Void.self)
        self.finished = finishedPromise.futureResult
    }

    func start() {
        loop.preconditionInEventLoop()
        started = true
        let now = clock.now()
        let restored = cached?.restored(now: now, unixNow: clock.unixTime(), bootID: clock.bootID,
                                        policy: machine.policy, renewalUnit: Double.random(in: 0..<1))
        if store != nil {
            // hit: a token served; expired: one was there, too old (or from the
            // future); invalid: an entry that could not be used; miss: no token.
            let result: String
            if restored?.token != nil { result = "hit" }
            else if cached?.token != nil { result = "expired" }
            else if loadProblem { result = "invalid" }
            else { result = "miss" }
            Telemetry.cacheLoad(profile: configuration.name, result: result)
        }
        cached = nil
        if let restored {
            if let held = restored.token {
                logger.info("serving the token from the cache", metadata: [
                    "expires_in": .string(held.remaining(at: now).wholeSecondsDescription),
                    "renew_in": .string(TimeSpan(nanoseconds: max(0, (held.renewAt - now).nanoseconds)).wholeSecondsDescription),
                ])
            } else if let why = restored.droppedToken {
                logger.info("the cached token is not used: \(why)")
            }
            if let until = restored.backoffUntil, until > now, restored.consecutiveFailures > 0 {
                logger.notice("keeping the back-off of the last run", metadata: [
                    "failures": .stringConvertible(restored.consecutiveFailures),
                    "next_attempt_in": .string((until - now).roundedUpToSeconds.description),
                ])
            }
        }
        run(machine.start(now: now, prefetch: configuration.prefetch, restored: restored))
        if machine.token == nil { files.startWithoutToken() }
        let held = deferred
        deferred.removeAll()
        for (id, demand) in held where waiters[id] != nil {
            run(machine.demand(id, demand, now: clock.now()))
        }
    }

    /// Starts once `previous` completes: the runner it replaces (a profile
    /// changed by a reload) may still have a transfer under way, and a
    /// profile never has two token requests in flight. Clients that ask
    /// meanwhile wait for the start.
    func start(after previous: EventLoopFuture<Void>) {
        gate = previous
        let bound = NIOLoopBound(self, eventLoop: loop)
        previous.hop(to: loop).whenComplete { _ in
            let runner = bound.value
            if !runner.stopped { runner.start() }
        }
    }

    /// A reload changed this profile's token files and nothing else: it keeps
    /// its token and schedule, and the files move.
    func updateFiles(_ next: ProfileConfiguration) {
        loop.preconditionInEventLoop()
        precondition(next.differsOnlyInFiles(from: configuration))
        configuration = next
        files.update(next.files)
    }

    /// What its files hold (for a replacement with the same fingerprint).
    var filesState: FileDelivery.FileState { files.state }

    /// Takes over the files' token of the runner this one replaces.
    func adoptFiles(_ state: FileDelivery.FileState) {
        files.adopt(state)
    }

    /// The files of sinks this profile no longer has (a changed profile).
    func removeFiles(notIn kept: [TokenFileSink]) {
        files.remove(notIn: Set(kept.map(\.path)))
    }

    /// Stops renewing and returns the clients still waiting,
    /// for the caller to hand over to a replacement or to answer.
    /// - Parameter removingFiles: whether its token files go (a removed or
    ///   changed profile) or stay while their token is valid (shutdown).
    func stop(removingFiles: Bool) -> [PendingDemand] {
        loop.preconditionInEventLoop()
        stopped = true
        files.retire(removingFiles: removingFiles)
        wakeTask?.cancel()
        wakeTask = nil
        handle.slot.publish(nil)
        let pending = Array(waiters.values)
        waiters.removeAll()
        // A transfer under way is abandoned: a replacement runner starts
        // once it has ended (never two requests in flight for a profile).
        // A runner stopped before its own start still answers for the one
        // it was waiting on: it is finished only when that one is too.
        client.abort()
        let own = loop.makePromise(of: Void.self)
        client.shutdown(then: { own.succeed(()) })
        let previous = gate.map { [$0.hop(to: loop)] } ?? []
        EventLoopFuture.andAllComplete([own.futureResult] + previous, on: loop).cascade(to: finishedPromise)
        return pending
    }

    func demand(_ demand: Demand) -> EventLoopFuture<DemandOutcome> {
        loop.preconditionInEventLoop()
        guard !stopped else { return loop.makeSucceededFuture(.unknownProfile) }
        nextWaiter += 1
        let id = WaiterID(nextWaiter)
        let promise = loop.makePromise(of: DemandOutcome.self)
        waiters[id] = PendingDemand(demand: demand, promise: promise)
        if started {
            run(machine.demand(id, demand, now: clock.now()))
        } else {
            deferred.append((id, demand))
        }
        return promise.futureResult
    }

    func status(now: Instant) -> ProfileStatus {
        var status = ProfileStatus(name: configuration.name, machine: machine, now: now)
        status.fileErrors = files.errors.keys.sorted().compactMap { files.errors[$0] }
        status.prefetch = configuration.prefetch
        status.idpLimits = limits
        status.fleet = configuration.fleet == nil ? nil : fleetStatus
        return status
    }

    // MARK: - Carrying out actions

    private func run(_ actions: [RenewalAction]) {
        for action in actions {
            switch action {
            case .startFetch:
                logger.debug("requesting a token", metadata: ["url": .string(configuration.tokenURL)])
                // Recorded before the request leaves: a stop or crash before its
                // answer must not let the next start send another at once.
                persist(attemptStarted: clock.now())
                let bound = NIOLoopBound(self, eventLoop: loop)
                let need = currentNeed()
                needInFlight = need
                client.fetch(need, on: loop).whenComplete { result in
                    let runner = bound.value
                    runner.fetchCompleted(result)
                }
            case .publish(let held):
                handle.slot.publish(held.map(ServedToken.init))
                files.publish(held)
            case .answer(let id, let answer):
                // A client that came during a fleet need asking for less than
                // it does (REFRESH, a longer MIN_TTL) is not answered with the
                // adopted token: its demand starts a need of its own.
                // Asked again once, after these actions (a demand in their
                // midst would schedule a wake-up that a later action replaces):
                // what the machine answers then is the answer.
                if case .token(let held) = answer, let need = adoptedNeed, let pending = waiters[id],
                   !need.covers(pending.demand, with: held, now: clock.now()) {
                    askAgain.append((id, pending.demand))
                    continue
                }
                guard let promise = waiters.removeValue(forKey: id)?.promise else { continue }
                switch answer {
                case .token(let held):
                    // Reuse the published object when it is the same token.
                    if let current = handle.slot.read(), current.held == held { promise.succeed(.token(current)) }
                    else { promise.succeed(.token(ServedToken(held))) }
                case .unavailable(let message):
                    promise.succeed(.unavailable(message))
                }
            case .scheduleWake(let instant):
                schedule(instant)
            case .logObtained(let held):
                // An adopted token is logged as such (`record(_:now:)`).
                if machine.tokenSource == .fleet { continue }
                let now = clock.now()
                logger.info("obtained a token", metadata: [
                    "type": .string(held.token.tokenType),
                    "lifetime": .string(held.token.lifetime.description),
                    "renew_in": .string(TimeSpan(nanoseconds: max(0, (held.renewAt - now).nanoseconds)).wholeSecondsDescription),
                    "length": .stringConvertible(held.token.accessToken.utf8.count),
                ])
            case .logFailure(let message, let consecutive, let retryIn, let repeated):
                let metadata: Logger.Metadata = [
                    "error": .string(message), "failures": .stringConvertible(consecutive),
                    "retry_in": .string(retryIn.roundedDescription),
                ]
                if repeated { logger.debug("token request failed again", metadata: metadata) }
                else { logger.error("token request failed", metadata: metadata) }
            case .logRecovered(let failures):
                logger.notice("token requests work again", metadata: ["failed_requests": .stringConvertible(failures)])
            case .logExpired:
                logger.warning("the token expired and no new one could be obtained yet")
            }
        }
    }

    /// What the clients waiting now ask for, for the fleet (SPEC §14).
    private func currentNeed() -> FleetNeed {
        let now = clock.now()
        var need = FleetNeed(heldUntil: machine.token.flatMap { $0.isServable(at: now) ? $0.servableUntil : nil })
        for pending in waiters.values {
            switch pending.demand {
            case .refresh: need.refresh = true
            case .token(let minTTL?): need.minTTL = need.minTTL.map { Swift.max($0, minTTL) } ?? minTTL
            case .token(nil): break
            }
        }
        return need
    }

    /// What the fleet made of a need: `STATUS`, metrics, and at most one
    /// warning a minute for etcd's problems and for invalid entries.
    private func record(_ note: FleetNote, now: Instant) {
        fleetStatus = note.status
        Telemetry.fleet(profile: configuration.name, note)
        if note.status != "ok", fleetWarnings.admit(now: now).log {
            logger.warning("the fleet store cannot be used; working alone for this need", metadata: ["error": .string(note.status)])
        }
        if let why = note.invalidReason, invalidWarnings.admit(now: now).log {
            logger.warning("the fleet's entry is not used (another cache key, or not written by tokend); it is never served",
                           metadata: ["reason": .string(why)])
        }
        if note.adopted, let held = machine.token {
            logger.info("adopted the fleet's token", metadata: [
                "expires_in": .string(held.remaining(at: now).wholeSecondsDescription),
                "renew_in": .string(TimeSpan(nanoseconds: max(0, (held.renewAt - now).nanoseconds)).wholeSecondsDescription),
            ])
        }
    }

    private func fetchCompleted(_ result: Result<FetchReport, any Error>) {
        guard !stopped else { return }
        let report: FetchReport
        switch result {
        case .success(let r): report = r
        case .failure(let error):
            report = FetchReport(sentAt: clock.now(), result: .failure(FetchFailure("internal error: \(error)")))
        }
        let now = clock.now()
        let outcome: String
        switch report.result {
        case .success: outcome = "success"
        case .failure(let failure): outcome = failure.kind.rawValue
        }
        if report.sent { Telemetry.tokenRequest(profile: configuration.name, outcome: outcome, duration: now - report.sentAt) }
        if report.sent || report.note == nil { record(report.limits, now: now) }
        let adopted = report.note?.adopted == true
        adoptedNeed = adopted ? needInFlight : nil
        run(machine.fetchFinished(report.result, sentAt: report.sentAt, now: now, placed: report.placed, source: adopted ? .fleet : .idp))
        adoptedNeed = nil
        let again = askAgain
        askAgain.removeAll()
        for (id, demand) in again where waiters[id] != nil { run(machine.demand(id, demand, now: clock.now())) }
        if let note = report.note { record(note, now: now) }
        persist()
    }

    /// Each token response replaces the IdP's limits (none clears them); a
    /// limit with under 10 % left is a warning once per window (its reset, or an hour).
    private func record(_ next: IdPLimits?, now: Instant) {
        limits = next
        Telemetry.rateLimit(profile: configuration.name, limit: next?.rateLimit, remaining: next?.rateRemaining)
        for window in next?.windows ?? [] where window.limit > 0 && window.remaining * 10 < window.limit {
            if let quiet = limitWarnedUntil[window.name], now < quiet { continue }
            let length = window.reset.map { TimeSpan.seconds(Int64(max(1, min($0, 31 * 86_400)))) } ?? .seconds(3600 as Int64)
            limitWarnedUntil[window.name] = now + length
            logger.warning("the IdP's \(window.name) is nearly used up", metadata: [
                "remaining": .stringConvertible(window.remaining), "limit": .stringConvertible(window.limit),
                "reset_in": .string(window.reset.map { "\($0)s" } ?? "unknown"),
            ])
        }
    }

    /// Records the token and back-off in the store, after every request
    /// (SPEC §9), and when a request starts (`attemptStarted`).
    private func persist(attemptStarted: Instant? = nil) {
        guard let store else { return }
        store.save(CacheEntry.capture(profile: configuration.name, fingerprint: fingerprint, bootID: clock.bootID, machine: machine,
                                      now: clock.now(), unixNow: clock.unixTime(), attemptStarted: attemptStarted), on: loop)
    }

    private func schedule(_ instant: Instant?) {
        wakeTask?.cancel()
        wakeTask = nil
        wakeTarget = instant
        guard let instant, !stopped else { return }
        let delay = min(max(instant - clock.now(), .zero), ProfileRunner.longestSleep)
        let bound = NIOLoopBound(self, eventLoop: loop)
        wakeTask = loop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) {
            bound.value.woke()
        }
    }

    private func woke() {
        wakeTask = nil
        guard !stopped, let target = wakeTarget else { return }
        let now = clock.now()
        if now < target { schedule(target) } else { run(machine.wake(now: now)) }
    }
}

extension TimeSpan {
    /// "2.5s" style, for back-off delays in logs.
    var roundedDescription: String {
        let ms = milliseconds
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(Double(ms) / 1000)s"
    }

    var wholeSecondsDescription: String { "\(wholeSeconds)s" }
}
