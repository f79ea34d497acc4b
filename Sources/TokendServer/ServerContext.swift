import Logging
import NIOConcurrencyHelpers
import TokendCore
import TokendEngine
import TokendPlatform
import TokendTelemetry

/// What every connection handler shares: the engine, the profiles, the
/// limits, the user-database cache and the denial log's rate limit.
public struct ServerContext: Sendable {
    /// The tokens: the engine in the daemon (any `TokenService` in tests).
    public let engine: any TokenService
    /// The engine's clock, read on the hot path.
    public let clock: any TokendClock
    public var idleTimeout: TimeSpan
    public var maxConnections: Int
    public var logger: Logger
    public var userGroups: UserGroupCache
    /// Denials are logged at most 10 a minute, with a count of those suppressed.
    let denialLog = NIOLockedValueBox(LogRateLimiter(burst: 10, window: .seconds(60 as Int64)))
    /// `tokend_requests_total`, fed by each connection once per read cycle.
    let requestCounters = RequestCounters()

    /// - Parameter userGroups: its owner shuts it down (`UserGroupCache.shutdown`) at stop.
    public init(engine: any TokenService, idleTimeout: TimeSpan, maxConnections: Int, logger: Logger, userGroups: UserGroupCache) {
        self.engine = engine
        self.clock = engine.clock
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.logger = logger
        self.userGroups = userGroups
    }

    /// The most connections one user may hold: three quarters of
    /// `max_connections` (at least 1), so that one local user, however
    /// hostile, cannot take every slot from the others.
    public var maxConnectionsPerUser: Int { Swift.max(1, maxConnections - maxConnections / 4) }
}

/// Sent to every connection when the daemon stops: finish what was asked, then close.
struct QuiesceEvent: Sendable {}
