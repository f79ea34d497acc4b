import Logging
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
        let future = engine.apply(profiles)
        await settle()
        return try await future.get()
    }

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
        let future = engine.demand(demand, profile: profile)
        await settle()
        return try await future.get()
    }

    /// The token the hot path would serve now.
    public func served(_ profile: String) -> ServedToken? {
        engine.directory.handle(named: profile)?.slot.read()
    }

    public func status(_ profile: String) async throws -> ProfileStatus? {
        let future = engine.status(profiles: [profile])
        await settle()
        return try await future.get().profiles.first
    }

    public func shutdown() async throws {
        let done = engine.shutdown(grace: .zero)
        await loop.advanceTime(by: .seconds(1))
        try await done.get()
        await loop.shutdownGracefully()
    }
}
