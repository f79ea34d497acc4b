import Atomics
import Glibc
import NIOCore
import NIOPosix
import TokendCore
import TokendHTTP
import TokendPlatform

/// The fetcher of a `fleet = true` profile (SPEC §14): its
/// `FleetCoordinator` runs on a thread of its own and asks the profile's
/// own fetcher (libcurl, or a script in tests) only when the fleet has no
/// token for the need.
public final class FleetFetcher: TokenFetcher {
    private let inner: any TokenFetcher
    private let coordinator: FleetCoordinator
    private let store: any FleetStore
    private let pool: NIOThreadPool
    private let stopping: ManagedAtomic<Bool>

    public init(profile: ProfileConfiguration, settings: FleetConfiguration, key: CacheKey, inner: any TokenFetcher,
                store: any FleetStore, clock: any TokendClock) {
        let stopping = ManagedAtomic(false)
        self.stopping = stopping
        self.inner = inner
        self.store = store
        self.coordinator = FleetCoordinator(profile: profile, settings: settings, key: key.bytes, store: store, clock: clock,
                                            pause: { span in FleetFetcher.sleep(span, unless: stopping) },
                                            aborted: { stopping.load(ordering: .relaxed) })
        self.pool = NIOThreadPool(numberOfThreads: 1)
        self.pool.start()
    }

    /// Wraps `base`: profiles with `fleet` get a fleet fetcher over etcd's gateway.
    public static func factory(base: @escaping TokenFetcherFactory, clock: any TokendClock = SystemClock()) -> TokenFetcherFactory {
        return { profile in
            let inner = base(profile)
            guard let settings = profile.fleet, let key = settings.cacheKey else { return inner }
            return FleetFetcher(profile: profile, settings: settings, key: key, inner: inner, store: EtcdGateway(settings: settings), clock: clock)
        }
    }

    public func fetch(on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport> {
        fetch(FleetNeed(), on: eventLoop)
    }

    public func fetch(_ need: FleetNeed, on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport> {
        let inner = self.inner
        return pool.runIfActive(eventLoop: eventLoop) { [coordinator] in
            coordinator.obtain(need) {
                // The profile's own fetcher, waited for on this thread (never an event loop).
                do { return try inner.fetch(on: eventLoop).wait() } catch {
                    return FetchReport(sentAt: BootClock.now(), result: .failure(FetchFailure("internal error: \(error)")), sent: false)
                }
            }
        }
    }

    public func abort() {
        stopping.store(true, ordering: .relaxed)
        store.abort()
        inner.abort()
    }

    public func shutdown(then: @escaping @Sendable () -> Void) {
        let inner = self.inner
        pool.shutdownGracefully { _ in inner.shutdown(then: then) }
    }

    /// Sleeps `span` in short steps, ending early on a stop.
    static func sleep(_ span: TimeSpan, unless stopping: ManagedAtomic<Bool>) {
        var left = span
        while left > .zero, !stopping.load(ordering: .relaxed) {
            let step = Swift.min(left, .milliseconds(50))
            usleep(UInt32(Swift.max(1, step.nanoseconds / 1000)))
            left = left - step
        }
    }
}
