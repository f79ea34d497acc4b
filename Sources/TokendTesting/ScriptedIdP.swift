import NIOConcurrencyHelpers
import NIOCore
import TokendCore
import TokendEngine
import TokendPlatform

/// An IdP in process, for engine and server tests without curl: each
/// profile's fetcher answers as the test scripted it (a token, a failure, a
/// stall until released or aborted), and every request is recorded.
public final class ScriptedIdP: Sendable {
    /// One scripted answer.
    public enum Step: Sendable {
        /// A token with this lifetime (seconds), named `prefix-N`.
        case token(lifetime: Double)
        case failure(FetchFailure)
        /// No answer until `release()` (then the next step answers) or an abort.
        case stall
    }

    private struct State {
        var scripts: [String: [Step]] = [:]
        var requests: [String] = []
        var issued = 0
        var stalled: [(profile: String, promise: EventLoopPromise<FetchReport>, sentAt: Instant)] = []
    }

    private let state = NIOLockedValueBox(State())
    private let clock: any TokendClock
    /// What a profile with no script left is answered.
    public let defaultStep: Step

    public init(clock: any TokendClock, defaultStep: Step = .token(lifetime: 3600)) {
        self.clock = clock
        self.defaultStep = defaultStep
    }

    /// Queues answers for `profile`'s next requests.
    public func enqueue(_ steps: Step..., for profile: String) {
        state.withLockedValue { $0.scripts[profile, default: []].append(contentsOf: steps) }
    }

    /// The profiles asked for, in order.
    public var requests: [String] { state.withLockedValue { $0.requests } }

    /// Answers every stalled request with the next step of its profile.
    public func release() {
        let stalled = state.withLockedValue { state -> [(profile: String, promise: EventLoopPromise<FetchReport>, sentAt: Instant)] in
            defer { state.stalled.removeAll() }
            return state.stalled
        }
        for entry in stalled {
            let step = nextStep(entry.profile)
            if case .stall = step {
                state.withLockedValue { $0.stalled.append(entry) }
            } else {
                entry.promise.succeed(report(step, sentAt: entry.sentAt))
            }
        }
    }

    /// Makes each profile's fetcher.
    public var factory: TokenFetcherFactory {
        { [self] profile in Fetcher(idp: self, profile: profile.name) }
    }

    private func nextStep(_ profile: String) -> Step {
        state.withLockedValue { state in
            guard var script = state.scripts[profile], !script.isEmpty else { return defaultStep }
            let step = script.removeFirst()
            state.scripts[profile] = script
            return step
        }
    }

    private func report(_ step: Step, sentAt: Instant) -> FetchReport {
        switch step {
        case .token(let lifetime):
            let n = state.withLockedValue { state -> Int in
                state.issued += 1
                return state.issued
            }
            let token = IssuedToken(accessToken: "scripted-\(n)", tokenType: "Bearer", lifetime: TimeSpan.seconds(lifetime))
            return FetchReport(sentAt: sentAt, result: .success(token))
        case .failure(let failure):
            return FetchReport(sentAt: sentAt, result: .failure(failure))
        case .stall:
            return FetchReport(sentAt: sentAt, result: .failure(FetchFailure("stalled")))
        }
    }

    fileprivate func fetch(_ profile: String, on loop: any EventLoop) -> EventLoopFuture<FetchReport> {
        let sentAt = clock.now()
        state.withLockedValue { $0.requests.append(profile) }
        let step = nextStep(profile)
        if case .stall = step {
            let promise = loop.makePromise(of: FetchReport.self)
            state.withLockedValue { $0.stalled.append((profile, promise, sentAt)) }
            return promise.futureResult
        }
        // Answered in a later task, as a real transfer is (never inside the
        // runner's own call): the runner's actions must not be re-entered.
        let answer = report(step, sentAt: sentAt)
        return loop.scheduleTask(in: .zero) { answer }.futureResult
    }

    fileprivate func abort(_ profile: String) {
        let aborted = state.withLockedValue { state -> [EventLoopPromise<FetchReport>] in
            let mine = state.stalled.filter { $0.profile == profile }
            state.stalled.removeAll { $0.profile == profile }
            return mine.map(\.promise)
        }
        // As a real transfer: the abort ends it soon, not inside the caller.
        let report = FetchReport(sentAt: clock.now(), result: .failure(FetchFailure("aborted")))
        for promise in aborted {
            _ = promise.futureResult.eventLoop.scheduleTask(in: .zero) { promise.succeed(report) }
        }
    }

    private struct Fetcher: TokenFetcher {
        let idp: ScriptedIdP
        let profile: String
        func fetch(on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport> { idp.fetch(profile, on: eventLoop) }
        func abort() { idp.abort(profile) }
        func shutdown(then: @escaping @Sendable () -> Void) { then() }
    }
}
