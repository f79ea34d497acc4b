import NIOCore
import TokendCore
import TokendPlatform

/// What the socket server and the metrics endpoint need of the engine: the
/// profiles in force (for the hot path), demands that must wait, `STATUS`,
/// and the clock the engine keeps time with. `TokenEngine` is the one the
/// daemon runs; tests may put another behind a real socket.
public protocol TokenService: Sendable {
    /// The profiles in force and their current tokens, read without a hop.
    var directory: ProfileDirectory { get }
    var clock: any TokendClock { get }
    /// A client needs what the hot path could not give it.
    func demand(_ demand: Demand, profile name: String) -> EventLoopFuture<DemandOutcome>
    /// The `STATUS` report for the named profiles (all when nil).
    func status(profiles names: Set<String>?) -> EventLoopFuture<StatusReport>
}

extension TokenEngine: TokenService {}
