import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import TokendCore
import TokendEngine
import TokendPlatform

/// The token engine in process, for tests that need no tokend process: a
/// loop of its own whose time moves only with the test's `ManualClock`, and
/// a `ScriptedIdP` behind the `TokenFetcher` seam. An hour of renewals runs
/// in milliseconds, and every step is awaited, never slept for.
public final class EngineHarness: Sendable {
    public let clock: ManualClock
    public let idp: ScriptedIdP
    public let loop: NIOAsyncTestingEventLoop
    public let engine: TokenEngine

    /// An engine with no profile yet: script the IdP, then `apply`.
    public init(store: (any TokenStore)? = nil, logger: Logger = Logger(label: "tokend-test")) {
        let clock = ManualClock()
        self.clock = clock
        idp = ScriptedIdP(clock: clock)
        loop = NIOAsyncTestingEventLoop()
        engine = TokenEngine(loop: loop, logger: logger, store: store, clock: clock, fetchers: idp.factory)
    }

    /// Installs `profiles` (a start, or a reload) and lets their first fetches happen.
    @discardableResult
    public func apply(_ profiles: [ProfileConfiguration]) async throws -> ReloadSummary {
        try await outcome(of: engine.apply(profiles))
    }

    /// The value of a future the engine completes without time passing.
    /// Read after the loop has settled, not awaited through a continuation
    /// resumed on the loop's queue (which ThreadSanitizer cannot follow
    /// through Swift's concurrency runtime); a future that needs time to
    /// pass is an error here: `advance` first.
    public func outcome<Value: Sendable>(of future: EventLoopFuture<Value>) async throws -> Value {
        let box = NIOLockedValueBox<Result<Value, any Error>?>(nil)
        future.whenComplete { result in box.withLockedValue { $0 = result } }
        for _ in 0..<8 {
            await settle()
            if let result = box.withLockedValue({ $0 }) { return try result.get() }
        }
        throw HarnessError.notAnswered
    }

    public enum HarnessError: Error { case notAnswered }

    /// A profile as tests need it: a name, a lifetime-independent
    /// configuration, and `adjust` for the keys a test is about.
    public static func profile(_ name: String, _ adjust: (inout ProfileConfiguration) -> Void = { _ in }) -> ProfileConfiguration {
        var profile = ProfileConfiguration(name: name, tokenURL: "https://idp.example.com/token", clientID: "client-\(name)",
                                           clientSecret: Secret("secret"), persist: false)
        adjust(&profile)
        return profile
    }

    /// Moves the clock and the engine's timers forward together, `step` at a
    /// time (the engine sees time pass as it would, not one jump, which is
    /// what a suspend looks like: `step: span` for that).
    public func advance(by span: TimeSpan, step: TimeSpan = .seconds(1 as Int64)) async {
        var left = span
        // What was handed to the loop just before happens at the time it was handed.
        await settle()
        while left > .zero {
            let move = Swift.min(left, step)
            clock.advance(by: move)
            await loop.advanceTime(by: .nanoseconds(move.nanoseconds))
            await settle()
            left = left - move
        }
    }

    /// Runs what the loop has been handed until nothing is left.
    public func settle() async {
        for _ in 0..<4 { await loop.run() }
    }

    /// A client's demand that is answered without time passing (a valid
    /// token, or a fetch that answers at once); otherwise start it with
    /// `engine.demand`, `advance`, then await it.
    public func demand(_ demand: Demand, _ profile: String) async throws -> DemandOutcome {
        try await outcome(of: engine.demand(demand, profile: profile))
    }

    /// The token the hot path would serve now.
    public func served(_ profile: String) -> ServedToken? {
        engine.directory.handle(named: profile)?.slot.read()
    }

    public func status(_ profile: String) async throws -> ProfileStatus? {
        try await outcome(of: engine.status(profiles: [profile])).profiles.first
    }

    /// Stops the engine (its disk thread included) and the loop.
    public func shutdown() async throws {
        let done = engine.shutdown(grace: .seconds(1))
        let box = NIOLockedValueBox(false)
        done.whenComplete { _ in box.withLockedValue { $0 = true } }
        // The grace runs on the manual clock, the disk thread on real time
        // (slow under a sanitizer on a busy machine, where a fixed number of
        // steps gave up before that thread ended and LeakSanitizer reported
        // its queue): step the clock, and give the real threads a moment
        // between steps, for up to a minute.
        let deadline = ContinuousClock.now + .seconds(60)
        while !box.withLockedValue({ $0 }), ContinuousClock.now < deadline {
            await loop.advanceTime(by: .milliseconds(10))
            if !box.withLockedValue({ $0 }) { try? await Task.sleep(for: .milliseconds(2)) }
        }
        await loop.shutdownGracefully()
    }
}
