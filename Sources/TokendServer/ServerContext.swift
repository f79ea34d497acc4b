import Logging
import TokendCore
import TokendEngine

/// What every connection handler shares: the engine, the profiles and the limits.
public struct ServerContext: Sendable {
    public var engine: TokenEngine
    public var idleTimeout: TimeSpan
    public var maxConnections: Int
    public var logger: Logger

    public init(engine: TokenEngine, idleTimeout: TimeSpan, maxConnections: Int, logger: Logger) {
        self.engine = engine
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.logger = logger
    }
}

/// Sent to every connection when the daemon stops: finish what was asked, then close.
struct QuiesceEvent: Sendable {}
