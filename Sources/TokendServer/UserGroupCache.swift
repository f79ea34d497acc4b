import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The groups the user database lists for a peer's user (`getgrouplist`),
/// for `allow_groups` when the kernel's own list (`SO_PEERGROUPS`) does not
/// decide. With LDAP or sssd behind NSS a lookup can take seconds, so it
/// never runs on an event loop: lookups run on a thread of their own, one
/// at a time per user (concurrent askers share it), and answers are kept
/// for `lifetime`, so a flood of connections from one user costs one lookup.
public final class UserGroupCache: Sendable {
    private struct Entry {
        var groups: [UInt32]
        var expires: NIODeadline
    }

    private struct State {
        var entries: [UInt32: Entry] = [:]
        var inFlight: [UInt32: EventLoopFuture<[UInt32]?>] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let pool: NIOThreadPool
    private let lifetime: TimeAmount
    /// How long a client waits for the user database before it is decided without it.
    private let deadline: TimeAmount
    /// Bounds the memory a stream of distinct uids can take.
    static let maximumEntries = 4096

    public init(lifetime: TimeAmount = .seconds(60), deadline: TimeAmount = .seconds(5)) {
        self.lifetime = lifetime
        self.deadline = deadline
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// The cached groups of `uid`, if fresh.
    public func cached(uid: UInt32) -> [UInt32]? {
        let now = NIODeadline.now()
        return state.withLockedValue { state in
            guard let entry = state.entries[uid], entry.expires > now else { return nil }
            return entry.groups
        }
    }

    /// The groups of `uid` (primary group `gid`), looked up off the event
    /// loops; the future completes on `loop`. Nil when the user database
    /// failed or did not answer within `deadline`: nothing is cached then,
    /// and the caller decides this one request without those groups.
    public func lookup(uid: UInt32, gid: UInt32, on loop: any EventLoop) -> EventLoopFuture<[UInt32]?> {
        if let groups = cached(uid: uid) { return loop.makeSucceededFuture(groups) }
        let lifetime = self.lifetime
        let future: EventLoopFuture<[UInt32]?> = state.withLockedValue { state in
            if let running = state.inFlight[uid] { return running }
            let started = pool.runIfActive(eventLoop: loop) { UserGroupCache.userDatabaseGroups(uid: uid, gid: gid) }
            // A hung NSS backend must not hold the clients for ever.
            let answer = loop.makePromise(of: [UInt32]?.self)
            let timer = loop.scheduleTask(in: deadline) { answer.succeed(nil) }
            started.whenComplete { result in
                timer.cancel()
                answer.succeed((try? result.get()) ?? nil)
            }
            state.inFlight[uid] = answer.futureResult
            return answer.futureResult
        }
        future.whenComplete { [state] result in
            state.withLockedValue { state in
                state.inFlight[uid] = nil
                if case .success(let groups?) = result {
                    if state.entries.count >= UserGroupCache.maximumEntries { state.entries.removeAll() }
                    state.entries[uid] = Entry(groups: groups, expires: .now() + lifetime)
                }
            }
        }
        return future.hop(to: loop)
    }

    /// Stops the lookup thread once a lookup under way has ended. Blocks:
    /// for tests; never from an event loop.
    public func shutdown() {
        try? pool.syncShutdownGracefully()
    }

    /// Stops the lookup thread without waiting for a lookup under way (a
    /// hung NSS backend must not delay the daemon's stop).
    public func shutdownWithoutWaiting() {
        pool.shutdownGracefully { _ in }
    }

    /// `getpwuid_r` + `getgrouplist`: the blocking part, on the pool's
    /// thread. A user the database does not know has no groups; a database
    /// that fails answers nil.
    static func userDatabaseGroups(uid: UInt32, gid: UInt32) -> [UInt32]? {
        var pwd = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &found) == 0 else { return nil }
        guard found != nil, let name = pwd.pw_name else { return [] }
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &groups, &n) >= 0 { return Array(groups.prefix(Int(n))) }
            if n <= count || n > 65536 { return nil }
            count = n
        }
    }
}
