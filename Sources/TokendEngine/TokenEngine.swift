import Logging
import NIOCore
import TokendCore
import TokendHTTP
import TokendPlatform
import TokendTelemetry

/// Keeps every profile's token renewed (SPEC §4) and answers the clients
/// that must wait for one. All renewal work happens on one event loop of its
/// own, so a slow client or a burst of requests never delays a renewal; the
/// hot path never enters it (it reads `ProfileDirectory` and `TokenSlot`).
public final class TokenEngine: @unchecked Sendable {  // mutable state is confined to `loop`
    public let loop: any EventLoop
    public let directory = ProfileDirectory()
    public let clock: any TokendClock
    private let logger: Logger
    private let startedAt: Instant
    /// Makes each profile's fetcher: libcurl in the daemon, a script in tests.
    private let fetchers: TokenFetcherFactory
    private var runners: [String: ProfileRunner] = [:]
    /// Runners of removed profiles whose transfer may still be under way.
    private var retiring: [String: EventLoopFuture<Void>] = [:]
    /// Where token files (SPEC §11) and cache entries (SPEC §9) are written.
    private let diskQueue: DiskQueue
    /// The persistent cache, if there is one.
    private let store: (any TokenStore)?
    /// How long a start waits for the store before it goes on without.
    static let storeDeadline = TimeAmount.seconds(2)

    public init(loop: any EventLoop, logger: Logger, diskQueue: DiskQueue = DiskQueue(), store: (any TokenStore)? = nil,
                clock: any TokendClock = SystemClock(), fetchers: @escaping TokenFetcherFactory = TokenEndpointClient.factory) {
        self.loop = loop
        self.logger = logger
        self.clock = clock
        self.startedAt = clock.now()
        self.fetchers = fetchers
        self.diskQueue = diskQueue
        self.store = store
    }

    /// Starts or reloads profiles: unchanged ones keep their token and
    /// schedule, changed ones restart, removed ones stop (SPEC §6). Profiles
    /// that start take what the store holds for them first (SPEC §9), so a
    /// cached token is served from the first client on.
    public func apply(_ profiles: [ProfileConfiguration]) -> EventLoopFuture<ReloadSummary> {
        loop.flatSubmit { [self] in
            let plan = ProfileReloadPlan(running: runners.mapValues(\.configuration), next: profiles)
            let starting = Set(plan.starting)
            let loads = profiles.filter { starting.contains($0.name) && $0.persist }.map { profile in
                loadEntry(profile).map { (profile.name, $0) }
            }
            return EventLoopFuture.whenAllSucceed(loads, on: loop).map { [self] pairs in
                let loaded = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
                return install(plan, profiles, cached: loaded.compactMapValues(\.entry),
                               problems: Set(loaded.filter { $0.value.problem }.keys))
            }
        }
    }

    /// What a load gave: an entry, or whether one was there and unusable.
    private struct Loaded: Sendable {
        var entry: CacheEntry?
        var problem = false
    }

    /// What the store holds for `profile`, within `storeDeadline`; problems are one warning.
    private func loadEntry(_ profile: ProfileConfiguration) -> EventLoopFuture<Loaded> {
        guard let store else { return loop.makeSucceededFuture(Loaded()) }
        let promise = loop.makePromise(of: Loaded.self)
        let timer = loop.scheduleTask(in: Self.storeDeadline) { [logger] in
            logger.warning("the token cache did not answer in time; starting without it", metadata: ["profile": .string(profile.name)])
            promise.succeed(Loaded(problem: true))
        }
        store.load(profile: profile.name, fingerprint: profile.cacheFingerprint, on: loop).whenSuccess { [logger] outcome in
            timer.cancel()
            switch outcome {
            case .found(let entry): promise.succeed(Loaded(entry: entry))
            case .nothing: promise.succeed(Loaded())
            case .unusable(let why):
                logger.warning("cache entry not used", metadata: ["profile": .string(profile.name), "reason": .string(why)])
                promise.succeed(Loaded(problem: true))
            }
        }
        return promise.futureResult
    }

    /// Carries out `plan` (ProfileReloadPlan decides; this only executes).
    private func install(_ plan: ProfileReloadPlan, _ profiles: [ProfileConfiguration], cached: [String: CacheEntry],
                         problems: Set<String>) -> ReloadSummary {
        let configurations = Dictionary(profiles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var next: [String: ProfileRunner] = [:]
        var handedOver: [(String, [PendingDemand])] = []
        var previousTransfers: [String: EventLoopFuture<Void>] = [:]
        var adoptions: [String: (runner: ProfileRunner, files: FileDelivery.FileState)] = [:]
        func makeRunner(_ profile: ProfileConfiguration, _ entry: CacheEntry?) -> ProfileRunner {
            if !profile.persist { store?.remove(profile: profile.name, on: loop) }
            return ProfileRunner(configuration: profile, loop: loop, logger: logger, diskQueue: diskQueue, clock: clock,
                                 fetcher: fetchers(profile), store: store, cached: entry, loadProblem: problems.contains(profile.name))
        }
        for step in plan.steps {
            switch step {
            case .keep(let name):
                next[name] = runners[name]
            case .add(let name):
                guard let profile = configurations[name] else { continue }
                next[name] = makeRunner(profile, cached[name])
            case .replace(let name, let adoptFiles):
                guard let profile = configurations[name], let existing = runners[name] else { continue }
                // A request the running runner has under way is abandoned by
                // this process, not lost by a crash: it is no failure.
                var entry = cached[name]
                entry?.attemptBoot = nil
                entry?.attemptUnix = nil
                let runner = makeRunner(profile, entry)
                if adoptFiles {
                    existing.removeFiles(notIn: profile.files)
                    adoptions[name] = (runner, existing.filesState)
                }
                handedOver.append((name, existing.stop(removingFiles: !adoptFiles)))
                previousTransfers[name] = existing.finished
                next[name] = runner
            case .remove(let name):
                guard let runner = runners[name] else { continue }
                for pending in runner.stop(removingFiles: true) { pending.promise.succeed(.unknownProfile) }
                retire(name, runner.finished)
                store?.remove(profile: name, on: loop)
                Telemetry.forget(profile: name)
            case .moveFiles(let name):
                if let profile = configurations[name] { runners[name]?.updateFiles(profile) }
            case .adoptFiles(let name):
                if let adoption = adoptions[name] { adoption.runner.adoptFiles(adoption.files) }
            }
        }
        runners = next
        directory.replace(next.values.map(\.handle))
        // A profile removed by an earlier reload may still be ending its
        // transfer: a profile of that name added back waits for it.
        for name in plan.added {
            if let ending = retiring[name] { next[name]?.start(after: ending) } else { next[name]?.start() }
        }
        // A changed profile's new runner waits for the old one's transfer.
        for (name, previous) in previousTransfers { next[name]?.start(after: previous) }
        // Clients waiting on a changed profile wait on its new configuration.
        for (name, pending) in handedOver {
            for waiter in pending { next[name]?.demand(waiter.demand).cascade(to: waiter.promise) }
        }
        return ReloadSummary(added: plan.added, changed: plan.changed, removed: plan.removed, unchanged: plan.unchanged)
    }

    /// Remembers a removed profile's runner until its transfer has ended.
    private func retire(_ name: String, _ finished: EventLoopFuture<Void>) {
        retiring[name] = finished
        finished.whenComplete { [self] _ in
            loop.preconditionInEventLoop()
            if retiring[name] === finished { retiring[name] = nil }
        }
    }

    /// A client needs what the hot path could not give it.
    public func demand(_ demand: Demand, profile name: String) -> EventLoopFuture<DemandOutcome> {
        loop.flatSubmit { [self] in
            guard let runner = runners[name] else { return loop.makeSucceededFuture(.unknownProfile) }
            return runner.demand(demand)
        }
    }

    /// The `STATUS` report for the named profiles (all when nil).
    public func status(profiles names: Set<String>?) -> EventLoopFuture<StatusReport> {
        loop.submit { [self] in
            let now = clock.now()
            let statuses = runners.values
                .filter { names?.contains($0.configuration.name) ?? true }
                .sorted { $0.configuration.name < $1.configuration.name }
                .map { $0.status(now: now) }
            return StatusReport(uptime: now - startedAt, profiles: statuses)
        }
    }

    /// The readiness summary for systemd's `STATUS=` (SPEC §10):
    /// "3 profiles, 3 valid" or "2 of 3 valid: api: invalid_client".
    public func summary() -> EventLoopFuture<String> {
        status(profiles: nil).map { ReadinessSummary.line($0.profiles) }
    }

    /// Stops every profile; completes when their transfers have ended, or
    /// after `grace` if one is still under way (it is abandoned at exit).
    public func shutdown(grace: TimeAmount = .seconds(1)) -> EventLoopFuture<Void> {
        loop.flatSubmit { [self] in
            var finished: [EventLoopFuture<Void>] = []
            for runner in runners.values {
                for pending in runner.stop(removingFiles: false) { pending.promise.succeed(.unknownProfile) }
                finished.append(runner.finished)
            }
            // The last writes and removals are done before the process exits.
            finished.append(diskQueue.finish(on: loop))
            runners.removeAll()
            directory.replace([])
            let done = loop.makePromise(of: Void.self)
            let timer = loop.scheduleTask(in: grace) { done.succeed(()) }
            EventLoopFuture.andAllComplete(finished, on: loop).whenComplete { _ in
                timer.cancel()
                done.succeed(())
            }
            return done.futureResult
        }
    }
}

/// What a reload changed.
public struct ReloadSummary: Sendable, Equatable {
    public var added: [String] = []
    public var changed: [String] = []
    public var removed: [String] = []
    public var unchanged: [String] = []

    public init(added: [String] = [], changed: [String] = [], removed: [String] = [], unchanged: [String] = []) {
        self.added = added
        self.changed = changed
        self.removed = removed
        self.unchanged = unchanged
    }
}
