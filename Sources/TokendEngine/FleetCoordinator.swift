import TokendCore
import TokendCrypto
import TokendHTTP
import TokendPlatform

/// The shared store of a fleet (SPEC §14): the five etcd calls the
/// coordinator makes, blocking, each within its timeout. etcd's gateway
/// (`EtcdGateway`) in the daemon; an in-memory store in tests.
///
/// This is a second seam beside `TokenStore`, not a `TokenStore`: the
/// local cache is loaded once at start and saved after each request,
/// off the renewal path, while the fleet is consulted at every need and
/// holds a lock across the IdP request, so it sits at the fetch (under
/// `TokenFetcher`) and the local cache keeps working unchanged beside it.
public protocol FleetStore: AnyObject, Sendable {
    /// The value and revision under `key`, or nil.
    func read(_ key: String, timeout: TimeSpan) throws(FleetStoreError) -> EtcdKeyValue?
    /// A lease of `seconds`.
    func grant(seconds: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Int64
    /// Ends a lease and deletes its keys.
    func revoke(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError)
    /// Puts `value` under `key` with `lease` if its revision is `modRevision` (0: absent).
    func put(_ key: String, _ value: [UInt8], lease: Int64, ifModRevision modRevision: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Bool
    /// Ends a lease like `revoke`, on a connection `abort` does not
    /// abandon: a lock is released even while its host stops.
    func release(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError)
    /// Abandons the call under way (a stop).
    func abort()
}

extension EtcdGateway: FleetStore {}

/// One profile's side of the fleet (SPEC §14): for each need, read the
/// shared entry and adopt it, or take the lock, ask the IdP and share the
/// answer, or wait for the host that holds the lock. Blocking: it runs on
/// the profile's transfer thread, never on an event loop. The rules are
/// `FleetRules` (pure); this carries out the calls, bounds them by
/// `fleet.timeout` in all (not counting a wait for another host's lock),
/// and falls back to asking the IdP alone, as without `[fleet]`, on any
/// etcd error.
public final class FleetCoordinator: @unchecked Sendable {  // one need at a time, on the profile's transfer thread
    public let settings: FleetConfiguration
    private let fingerprint: String
    private let key: [UInt8]
    private let rules: FleetRules
    private let store: any FleetStore
    private let clock: any TokendClock
    private let pause: @Sendable (TimeSpan) -> Void
    private let uniform: @Sendable () -> Double
    private let aborted: @Sendable () -> Bool
    private let profileTimeout: TimeSpan

    /// How often a waiter looks at the entry and the lock (at most 4 times a second).
    public static let pollInterval = TimeSpan.milliseconds(250)
    /// The lock's lease beyond the profile's `timeout`.
    public static let lockGrace = TimeSpan.seconds(5 as Int64)

    public init(profile: ProfileConfiguration, settings: FleetConfiguration, key: [UInt8], store: any FleetStore, clock: any TokendClock,
                pause: @escaping @Sendable (TimeSpan) -> Void, uniform: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                aborted: @escaping @Sendable () -> Bool = { false }) {
        self.settings = settings
        self.fingerprint = profile.cacheFingerprint
        self.key = key
        self.rules = FleetRules(policy: RenewalPolicy(profile), maxClockSkew: settings.maxClockSkew)
        self.store = store
        self.clock = clock
        self.pause = pause
        self.uniform = uniform
        self.aborted = aborted
        self.profileTimeout = profile.timeout
    }

    private var entryKey: String { settings.entryKey(fingerprint) }
    private var lockKey: String { settings.lockKey(fingerprint) }

    /// What the shared entry held when last read.
    private struct Read {
        var entry: CacheEntry?
        var revision: Int64 = 0
        /// An entry is there that does not authenticate: never overwritten.
        var foreign = false
    }

    /// Time spent in counted etcd calls for the need under way.
    private var spent = TimeSpan.zero

    /// Obtains a token for `need`: adopted, fetched with the lock, fetched
    /// alone after waiting, or fetched as without `[fleet]` when etcd
    /// cannot be used. `fetch` asks the IdP (blocking).
    public func obtain(_ need: FleetNeed, fetch: () -> FetchReport) -> FetchReport {
        spent = .zero
        var note = FleetNote(status: "ok")
        do {
            return try coordinate(need, note: &note, fetch: fetch)
        } catch {
            if aborted() { return abandoned(note) }
            note.failed(error)
            var report = fetch()
            // Every token obtained for a fleet profile counts (SPEC §14), shared or not.
            if case .success = report.result { note.fetched = report.sent }
            report.note = note
            return report
        }
    }

    private func coordinate(_ need: FleetNeed, note: inout FleetNote, fetch: () -> FetchReport) throws(FleetStoreError) -> FetchReport {
        var lockFirstTried: Instant?
        var waitingSince: Instant?
        var lastRead = Read()
        while true {
            if aborted() { return abandoned(note) }
            // A waiter's looks at the entry and the lock are the wait, not counted in the budget.
            let polling = waitingSince != nil
            lastRead = try read(counted: !polling, note: &note)
            let now = clock.now()
            if let answer = answer(from: lastRead, for: need, note: &note) { return answer }
            let firstAttempt = lockFirstTried == nil
            if firstAttempt { lockFirstTried = now }
            if try etcd(!polling, { t throws(FleetStoreError) in try store.read(lockKey, timeout: t) }) == nil,
               let lease = try takeLock() {
                // SPEC §14: from the first attempt, 0 when the lock was free.
                note.lockWait = firstAttempt ? .zero : clock.now() - (lockFirstTried ?? now)
                // Another host may have written its token and released the
                // lock between the read above and this lock: read again
                // under the lock, or the IdP is asked twice for one period.
                do throws(FleetStoreError) {
                    lastRead = try read(counted: true, note: &note)
                } catch {
                    try? release(lease)
                    throw error
                }
                var shared = answer(from: lastRead, for: need, note: &note) ?? share(fetch(), after: lastRead, note: &note)
                do throws(FleetStoreError) {
                    try release(lease)
                } catch {
                    note.failed(error)
                    shared.note = note
                }
                return shared
            }
            if waitingSince == nil { waitingSince = clock.now() }
            let waited = clock.now() - (waitingSince ?? now)
            // Its clients must be answered: without a valid token it asks
            // alone after the profile's timeout, with one once the lock's
            // lease could have ended (its holder died) and then some.
            let holding = need.holdsValidToken(at: clock.now())
            if (!holding && waited >= profileTimeout) || waited >= profileTimeout + Self.lockGrace + .seconds(1 as Int64) {
                return share(fetch(), after: lastRead, note: &note)
            }
            pause(Self.pollInterval)
        }
    }

    /// What the entry read answers without the IdP: a token to adopt, or
    /// the fleet's back-off; nil when the IdP must be asked.
    private func answer(from read: Read, for need: FleetNeed, note: inout FleetNote) -> FetchReport? {
        let now = clock.now()
        switch rules.decide(read.entry, need: need, now: now, unixNow: clock.unixTime(), unit: uniform()) {
        case .adopt(let held):
            note.adopted = true
            return .fleet(held, adopted: true, note: note, sentAt: now)
        case .backOff(let until, let lastError):
            var report = FetchReport(sentAt: now, result: .failure(FetchFailure(
                "the fleet backs off after a failed request: \(lastError)", retryAfter: until - now, kind: .transportError,
                code: "fleet_backoff")), sent: false)
            report.note = note
            return report
        case .fetch:
            return nil
        }
    }

    /// Deletes the lock (its lease) within what is left of the need's
    /// budget, but always tries for at least `releaseFloor` so that the
    /// other hosts need not wait for the lease; on a stop too (the gateway
    /// releases on a connection a stop does not abandon).
    private func release(_ lease: Int64) throws(FleetStoreError) {
        let left = Swift.max(settings.timeout - spent, Swift.min(settings.timeout, Self.releaseFloor))
        let start = clock.now()
        defer { spent = spent + (clock.now() - start) }
        try store.release(lease, timeout: left)
    }

    /// The least time a lock's release gets, even past the need's budget.
    public static let releaseFloor = TimeSpan.milliseconds(250)

    /// The entry, opened; one that does not authenticate is counted and never used.
    private func read(counted: Bool, note: inout FleetNote) throws(FleetStoreError) -> Read {
        guard let value = try etcd(counted, { t throws(FleetStoreError) in try store.read(entryKey, timeout: t) }) else { return Read() }
        do {
            return Read(entry: try FleetEntryCodec.open(value.value, fingerprint: fingerprint, key: key), revision: value.modRevision)
        } catch {
            if !note.errors.contains("invalid") { note.errors.append("invalid") }
            note.invalidReason = "\(error)"
            return Read(entry: nil, revision: value.modRevision, foreign: true)
        }
    }

    /// The lock: a leased create-if-absent; nil when another host holds it.
    private func takeLock() throws(FleetStoreError) -> Int64? {
        let seconds = Int64((profileTimeout + Self.lockGrace).seconds.rounded(.up))
        let lease = try etcd(true) { t throws(FleetStoreError) in try store.grant(seconds: seconds, timeout: t) }
        // Who holds it, for an operator reading etcd: a random number, nothing of the profile's.
        var random = SystemRandomNumberGenerator()
        let holder = Array(String(UInt64.random(in: 0...UInt64.max, using: &random), radix: 16).utf8)
        let taken = try etcd(true) { t throws(FleetStoreError) in
            do throws(FleetStoreError) {
                return try store.put(lockKey, holder, lease: lease, ifModRevision: 0, timeout: t)
            } catch {
                // Sent, perhaps applied, its answer lost: end the lease, whatever it holds.
                try? store.release(lease, timeout: t)
                throw error
            }
        }
        if taken { return lease }
        try? etcd(true) { t throws(FleetStoreError) in try store.revoke(lease, timeout: t) }
        return nil
    }

    /// Writes what this host's IdP request gave (the token, or the back-off
    /// after a failure) where the entry holds nothing newer and nothing
    /// foreign, and returns the report for the runner.
    private func share(_ report: FetchReport, after read: Read, note: inout FleetNote) -> FetchReport {
        var report = report
        let now = clock.now()
        let unixNow = clock.unixTime()
        var entry: CacheEntry?
        switch report.result {
        case .success(let issued):
            note.fetched = report.sent
            let held = HeldToken(token: issued, obtainedAt: report.sentAt,
                                 renewAt: rules.policy.renewalMoment(for: issued, sentAt: report.sentAt, unit: uniform()))
            report.placed = held
            if held.isServable(at: now) { entry = FleetRules.entry(fingerprint: fingerprint, obtained: held, now: now, unixNow: unixNow) }
        case .failure(let failure):
            // Only a request the IdP saw makes the fleet back off.
            if report.sent, !aborted() {
                entry = rules.entry(fingerprint: fingerprint, failedAfter: read.entry, failure: failure, unixNow: unixNow, unit: uniform())
            }
        }
        if let entry, !read.foreign {
            do throws(FleetStoreError) {
                try write(entry, revision: read.revision, unixNow: unixNow)
            } catch {
                note.failed(error)
            }
        }
        report.note = note
        return report
    }

    /// Puts `entry` if the key is still at `revision`; when another host
    /// wrote meanwhile, only over an older entry of the same key, once.
    private func write(_ entry: CacheEntry, revision: Int64, unixNow: Double) throws(FleetStoreError) {
        var nonce = [UInt8](repeating: 0, count: AESGCM.nonceLength)
        var random = SystemRandomNumberGenerator()
        for i in nonce.indices { nonce[i] = UInt8.random(in: 0...255, using: &random) }
        var sealed: [UInt8]
        do { sealed = try FleetEntryCodec.seal(entry, key: key, nonce: nonce) } catch { throw .unavailable("cannot seal the entry: \(error)") }
        defer { AESGCM.cleanse(&sealed) }
        let lease = try etcd(true) { t throws(FleetStoreError) in try store.grant(seconds: FleetRules.leaseSeconds(entry, unixNow: unixNow), timeout: t) }
        var expected = revision
        for _ in 0..<2 {
            if try etcd(true, { t throws(FleetStoreError) in try store.put(entryKey, sealed, lease: lease, ifModRevision: expected, timeout: t) }) {
                return
            }
            // Someone wrote meanwhile: keep theirs when it is foreign or newer.
            guard let current = try etcd(true, { t throws(FleetStoreError) in try store.read(entryKey, timeout: t) }) else {
                expected = 0
                continue
            }
            // A put whose answer was lost and that the gateway sent again: it is ours.
            if current.lease == lease { return }
            guard let theirs = try? FleetEntryCodec.open(current.value, fingerprint: fingerprint, key: key) else { break }
            if let mine = entry.token, let other = theirs.token, other.obtainedUnix >= mine.obtainedUnix { break }
            if entry.token == nil, theirs.token != nil { break }
            expected = current.modRevision
        }
        try? etcd(true) { t throws(FleetStoreError) in try store.revoke(lease, timeout: t) }
    }

    /// Runs one etcd call within what remains of the need's budget
    /// (`counted`), or within `fleet.timeout` alone (a waiter's polls).
    private func etcd<T>(_ counted: Bool, _ call: (TimeSpan) throws(FleetStoreError) -> T) throws(FleetStoreError) -> T {
        let left = counted ? settings.timeout - spent : settings.timeout
        guard left > .milliseconds(1) else {
            throw .unavailable("etcd's calls for this need took longer than fleet.timeout (\(settings.timeout))")
        }
        let start = clock.now()
        defer { if counted { spent = spent + (clock.now() - start) } }
        return try call(left)
    }

    private func abandoned(_ note: FleetNote) -> FetchReport {
        var report = FetchReport(sentAt: clock.now(), result: .failure(FetchFailure(
            "the request was abandoned (the profile was changed or removed, or tokend stops)")), sent: false)
        report.note = note
        return report
    }
}

extension FleetNote {
    /// etcd failed for this need: the first failure is what STATUS says;
    /// each kind is counted once per need.
    mutating func failed(_ error: FleetStoreError) {
        if status == "ok" { status = "unavailable: \(error)" }
        if !errors.contains(error.kind) { errors.append(error.kind) }
    }
}
