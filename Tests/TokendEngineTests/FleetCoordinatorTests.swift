import NIOConcurrencyHelpers
import TokendCore
import TokendEngine
import TokendPlatform
import TokendTesting
import Testing

/// An etcd in memory: revisions, leases that end on the manual clock, a
/// failure or a slowness to inject, every call recorded.
final class MemoryFleetStore: FleetStore, @unchecked Sendable {  // one test thread
    struct Stored {
        var value: [UInt8]
        var revision: Int64
        var lease: Int64
    }

    let clock: ManualClock
    var keys: [String: Stored] = [:]
    var revision: Int64 = 0
    var leases: [Int64: Instant] = [:]
    var nextLease: Int64 = 100
    var failure: FleetStoreError?
    /// How long each call takes (the clock moves by it).
    var delay = TimeSpan.zero
    var calls: [String] = []

    init(clock: ManualClock) { self.clock = clock }

    /// Runs once, before the next call named so (another host acting between two calls).
    var before: (call: String, action: () -> Void)?

    private func enter(_ name: String) throws(FleetStoreError) {
        if let (call, action) = before, call == name {
            before = nil
            action()
        }
        calls.append(name)
        clock.advance(by: delay)
        let now = clock.now()
        for (id, end) in leases where end <= now {
            leases[id] = nil
            keys = keys.filter { $0.value.lease != id }
        }
        if let failure { throw failure }
    }

    func read(_ key: String, timeout: TimeSpan) throws(FleetStoreError) -> EtcdKeyValue? {
        try enter("read \(key.split(separator: "/").dropLast().last ?? "")")
        return keys[key].map { EtcdKeyValue(key: Array(key.utf8), value: $0.value, modRevision: $0.revision, lease: $0.lease) }
    }

    func grant(seconds: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Int64 {
        try enter("grant")
        nextLease += 1
        leases[nextLease] = clock.now() + .seconds(seconds)
        return nextLease
    }

    func revoke(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError) {
        try enter("revoke")
        leases[lease] = nil
        keys = keys.filter { $0.value.lease != lease }
    }

    /// The next put of an entry is applied and its answer lost; the gateway sends it again.
    var loseNextEntryAnswer = false

    func put(_ key: String, _ value: [UInt8], lease: Int64, ifModRevision modRevision: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Bool {
        try enter("put \(key.split(separator: "/").dropLast().last ?? "")")
        if loseNextEntryAnswer, key.contains("/tokens/"), (keys[key]?.revision ?? 0) == modRevision {
            loseNextEntryAnswer = false
            revision += 1
            keys[key] = Stored(value: value, revision: revision, lease: lease)
            // The retry's compare now fails, as etcd's would.
        }
        guard (keys[key]?.revision ?? 0) == modRevision else { return false }
        revision += 1
        keys[key] = Stored(value: value, revision: revision, lease: lease)
        return true
    }

    func release(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError) {
        released.append(lease)
        try revoke(lease, timeout: timeout)
    }

    var released: [Int64] = []

    func abort() {}
}

/// SPEC §14's coordination, in process: a fake store and a manual clock.
@Suite struct FleetCoordinatorTests {
    static let key = [UInt8](repeating: 7, count: 32)
    static let profile: ProfileConfiguration = {
        var profile = ProfileConfiguration(name: "api", tokenURL: "https://idp.example/token", clientID: "c", clientSecret: Secret("s"))
        profile.timeout = .seconds(3 as Int64)
        profile.renewAt = 0.5
        profile.jitter = 0.1
        return profile
    }()
    static var settings: FleetConfiguration {
        var settings = FleetConfiguration(endpoints: ["http://127.0.0.1:2379"])
        settings.maxClockSkew = .seconds(5 as Int64)
        return settings
    }

    struct Host {
        let clock: ManualClock
        let store: MemoryFleetStore
        let coordinator: FleetCoordinator
        let fetches = NIOLockedValueBox(0)

        init(clock: ManualClock, store: MemoryFleetStore, key: [UInt8] = FleetCoordinatorTests.key, onPause: @escaping @Sendable () -> Void = {}) {
            self.clock = clock
            self.store = store
            coordinator = FleetCoordinator(profile: FleetCoordinatorTests.profile, settings: FleetCoordinatorTests.settings, key: key,
                                           store: store, clock: clock,
                                           pause: { span in clock.advance(by: span); onPause() }, uniform: { 0.5 })
        }

        /// One need; the IdP answers `result` (a 100 s token by default).
        func obtain(_ need: FleetNeed = FleetNeed(), result: Result<IssuedToken, FetchFailure>? = nil) -> FetchReport {
            coordinator.obtain(need) {
                fetches.withLockedValue { $0 += 1 }
                return FetchReport(sentAt: clock.now(), result: result ?? .success(IssuedToken(accessToken: "shared-access-token-\(fetches.withLockedValue { $0 })",
                                                                                                  tokenType: "Bearer", lifetime: .seconds(100 as Int64))))
            }
        }
    }

    var entryKey: String { Self.settings.entryKey(Self.profile.cacheFingerprint) }
    var lockKey: String { Self.settings.lockKey(Self.profile.cacheFingerprint) }

    @Test func theFirstHostTakesTheLockAsksOnceSharesAndReleases() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        let host = Host(clock: clock, store: store)
        let report = host.obtain()
        #expect(host.fetches.withLockedValue { $0 } == 1)
        let note = try #require(report.note)
        #expect(note.status == "ok" && note.fetched && !note.adopted && note.lockWait == .zero)
        #expect(report.placed?.renewAt == report.sentAt + .seconds(50 as Int64))
        #expect(store.keys[lockKey] == nil, "the lock was not released")
        let stored = try #require(store.keys[entryKey])
        let entry = try FleetEntryCodec.open(stored.value, fingerprint: Self.profile.cacheFingerprint, key: Self.key)
        #expect(entry.token?.issued.accessToken == "shared-access-token-1" && entry.profile == "")
        #expect(!String(decoding: stored.value, as: UTF8.self).contains("shared-access-token"))
    }

    @Test func anotherHostAdoptsPlacedByTheWallClockLessTheSkewWithoutAsking() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        _ = Host(clock: clock, store: store).obtain()
        clock.advance(by: .seconds(10 as Int64))
        // Its boot clock is elsewhere; the wall clock is what is shared.
        let other = ManualClock(boot: Instant(nanoseconds: 50_000_000_000), unix: clock.unixTime())
        let otherStore = store
        let second = Host(clock: other, store: otherStore)
        let report = second.obtain()
        #expect(second.fetches.withLockedValue { $0 } == 0)
        #expect(report.note?.adopted == true && !report.sent)
        let held = try #require(report.placed)
        // 100 s lifetime, 10 s old, less 5 s of skew: 85 s left.
        #expect(held.remaining(at: other.now()) == .seconds(85 as Int64))
        // Renewal: the recorded moment (50 s after issue: 40 s from now) plus
        // its own delay, 0.5 × 0.1 × 100 s = 5 s (under half the 45 s room).
        #expect(held.renewAt == other.now() + .seconds(45 as Int64))
    }

    @Test func aWaiterAdoptsWhatTheLockHolderWritesAndNeverAsks() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        let holder = Host(clock: clock, store: store)
        let lease = try store.grant(seconds: 8, timeout: .seconds(1 as Int64))
        #expect(try store.put(lockKey, [1], lease: lease, ifModRevision: 0, timeout: .seconds(1 as Int64)))
        let polls = NIOLockedValueBox(0)
        let waiter = Host(clock: clock, store: store, onPause: {
            // After a second of waiting, the holder's answer lands and its lock goes.
            if polls.withLockedValue({ $0 += 1; return $0 }) == 4 {
                try? store.revoke(lease, timeout: .seconds(1 as Int64))
                _ = holder.obtain()
            }
        })
        let report = waiter.obtain()
        #expect(waiter.fetches.withLockedValue { $0 } == 0)
        #expect(report.note?.adopted == true)
        #expect(polls.withLockedValue { $0 } == 4, "polled more than 4 times a second")
    }

    @Test func aHostThatFindsTheLockFreeOnlyAfterAnotherRenewedAdoptsWhatItGot() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        let first = Host(clock: clock, store: store)
        _ = first.obtain()
        // Past the recorded moment (50 s), both hosts renew.
        clock.advance(by: .seconds(60 as Int64))
        let second = Host(clock: clock, store: store)
        // Between the second's read of the entry and its look at the lock, the
        // first renews: it takes the lock, asks, writes and releases.
        store.before = ("read locks", { _ = first.obtain() })
        let report = second.obtain(FleetNeed(heldUntil: clock.now() + .seconds(35 as Int64)))
        #expect(first.fetches.withLockedValue { $0 } == 2)
        #expect(second.fetches.withLockedValue { $0 } == 0, "asked the IdP for a period the fleet had just renewed")
        #expect(report.note?.adopted == true && report.note?.lockWait == .zero)
        guard case .success(let issued) = report.result else { Issue.record("not a token"); return }
        #expect(issued.accessToken == "shared-access-token-2")
        #expect(store.keys[lockKey] == nil, "the lock was not released")
    }

    @Test func aWaiterWithoutATokenAsksAloneAfterTheTimeoutAndOneWithATokenWaitsForTheLease() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        let lease = try store.grant(seconds: 8, timeout: .seconds(1 as Int64))
        #expect(try store.put(lockKey, [1], lease: lease, ifModRevision: 0, timeout: .seconds(1 as Int64)))
        let start = clock.now()
        let alone = Host(clock: clock, store: store).obtain()
        #expect(clock.now() - start >= .seconds(3 as Int64) && clock.now() - start < .seconds(4 as Int64))
        #expect(alone.note?.fetched == true && alone.note?.lockWait == nil)
        // It wrote (the key held nothing newer); the lock is another's and stays.
        #expect(store.keys[entryKey] != nil && store.keys[lockKey] != nil)

        // Holding a valid token past its moment, a host waits for the lock's lease (8 s) and then takes it.
        let clock2 = ManualClock()
        let store2 = MemoryFleetStore(clock: clock2)
        let lease2 = try store2.grant(seconds: 8, timeout: .seconds(1 as Int64))
        #expect(try store2.put(lockKey, [1], lease: lease2, ifModRevision: 0, timeout: .seconds(1 as Int64)))
        let start2 = clock2.now()
        let report = Host(clock: clock2, store: store2).obtain(FleetNeed(heldUntil: clock2.now() + .seconds(60 as Int64)))
        #expect(clock2.now() - start2 >= .seconds(8 as Int64) && clock2.now() - start2 < .seconds(9 as Int64))
        #expect(report.note?.lockWait.map { $0 >= .seconds(8 as Int64) } == true)
        #expect(store2.released.count == 1 && store2.keys[lockKey] == nil)
    }

    @Test func refreshTakesAYoungSharedTokenElseTheLock() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        _ = Host(clock: clock, store: store).obtain()
        clock.advance(by: .seconds(2 as Int64))
        let host = Host(clock: clock, store: store)
        #expect(host.obtain(FleetNeed(refresh: true)).note?.adopted == true)
        clock.advance(by: .seconds(4 as Int64))
        let report = host.obtain(FleetNeed(refresh: true))
        #expect(report.note?.fetched == true && host.fetches.withLockedValue { $0 } == 1)
        // MIN_TTL beyond what the shared token has left: asked anew.
        let minTTL = host.obtain(FleetNeed(minTTL: .seconds(99 as Int64)))
        #expect(minTTL.note?.fetched == true)
    }

    @Test func aFailureBecomesTheFleetsBackOffNoHostCutsShort() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        let failing = Host(clock: clock, store: store)
        let failed = failing.obtain(result: .failure(FetchFailure("HTTP 503", retryAfter: .seconds(30 as Int64), kind: .httpError, code: "503")))
        #expect(failed.note?.status == "ok")
        let other = Host(clock: clock, store: store)
        clock.advance(by: .seconds(10 as Int64))
        let report = other.obtain()
        #expect(other.fetches.withLockedValue { $0 } == 0, "asked during the fleet's back-off")
        guard case .failure(let failure) = report.result else { Issue.record("not a failure"); return }
        #expect(failure.message.contains("HTTP 503") && failure.retryAfter == .seconds(20 as Int64) && !report.sent)
        clock.advance(by: .seconds(21 as Int64))
        #expect(other.obtain().note?.fetched == true)
    }

    @Test func etcdDownOrRefusingMeansAskingAloneAndSayingWhy() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        store.failure = .unavailable("127.0.0.1:2379: Connection refused")
        let host = Host(clock: clock, store: store)
        let report = host.obtain()
        #expect(host.fetches.withLockedValue { $0 } == 1)
        #expect(report.note?.status == "unavailable: 127.0.0.1:2379: Connection refused" && report.note?.errors == ["unavailable"])
        #expect(report.placed == nil && report.note?.fetched == true)
        store.failure = .auth("authentication failed, invalid user ID or password")
        let refused = host.obtain()
        #expect(refused.note?.errors == ["auth"] && refused.note?.status.hasPrefix("unavailable: authentication: ") == true)
    }

    @Test func theEtcdCallsOfOneNeedStayWithinTheTimeoutInAll() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        store.delay = .milliseconds(800)
        let host = Host(clock: clock, store: store)
        let start = clock.now()
        let report = host.obtain()
        // Read, lock read, grant (2.4 s): the budget of 2 s is gone; asked alone.
        #expect(report.note?.status.contains("longer than fleet.timeout") == true, "\(report.note?.status ?? "")")
        #expect(host.fetches.withLockedValue { $0 } == 1)
        #expect(clock.now() - start <= .seconds(3 as Int64))
    }

    @Test func aWriteAppliedWhoseAnswerWasLostIsKeptNotRevoked() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        store.loseNextEntryAnswer = true
        let report = Host(clock: clock, store: store).obtain()
        #expect(report.note?.status == "ok")
        let stored = try #require(store.keys[entryKey], "the host revoked its own entry")
        #expect(store.leases[stored.lease] != nil)
    }

    @Test func anEntryOfAnotherKeyIsCountedNeverServedNeverOverwritten() throws {
        let clock = ManualClock()
        let store = MemoryFleetStore(clock: clock)
        _ = Host(clock: clock, store: store, key: [UInt8](repeating: 9, count: 32)).obtain()
        let foreign = try #require(store.keys[entryKey])
        let host = Host(clock: clock, store: store)
        let report = host.obtain()
        #expect(report.note?.errors == ["invalid"] && report.note?.invalidReason != nil)
        #expect(report.note?.fetched == true && host.fetches.withLockedValue { $0 } == 1)
        #expect(store.keys[entryKey]?.value == foreign.value, "overwritten")
        // Garbage likewise.
        store.keys[entryKey] = MemoryFleetStore.Stored(value: Array("{}".utf8), revision: 99, lease: 0)
        #expect(host.obtain().note?.errors == ["invalid"])
    }
}
