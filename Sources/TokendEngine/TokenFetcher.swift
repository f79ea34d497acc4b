import NIOCore
import TokendCore
import TokendHTTP

/// Obtains one profile's tokens from its IdP: the seam under the runner.
/// The daemon uses libcurl (`TokenEndpointClient`); tests script the
/// answers (TokendTesting's `ScriptedIdP`). At most one fetch is under way
/// at a time (the runner's single flight). A report's `sentAt` is on the
/// engine's clock (`TokenEndpointClient` reads `BootClock`, as
/// `SystemClock` does): inject both or neither.
public protocol TokenFetcher: Sendable {
    /// Sends one token request; the future completes on `eventLoop`.
    func fetch(on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport>
    /// Obtains a token for `need`: a fleet profile's fetcher (SPEC §14)
    /// looks at the shared entry first; the others send one request.
    func fetch(_ need: FleetNeed, on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport>
    /// Ends the request under way, if any, soon (a stop or a reload).
    func abort()
    /// Releases what the fetcher holds once any request under way has ended; then `then` runs.
    func shutdown(then: @escaping @Sendable () -> Void)
}

extension TokenFetcher {
    public func fetch(_ need: FleetNeed, on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport> { fetch(on: eventLoop) }
}

/// Makes the fetcher of a profile (a new one for each runner: a reload that
/// changes a profile gets a fetcher for its new configuration).
public typealias TokenFetcherFactory = @Sendable (ProfileConfiguration) -> any TokenFetcher

extension TokenEndpointClient: TokenFetcher {
    /// libcurl against the profile's `token_url`.
    public static let factory: TokenFetcherFactory = { TokenEndpointClient(profile: $0) }
}
