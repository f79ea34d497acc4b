import Foundation
import Testing
@testable import TokendCore
import TokendPlatform

/// SPEC §9: the cache entry's format, its protection, and how it is placed
/// back on the clock, without a file or a daemon.
@Suite struct CacheEntryTests {
    static let key = [UInt8](repeating: 7, count: 32)
    static let nonce = [UInt8](repeating: 1, count: 12)
    static let now = Instant(nanoseconds: 500_000_000_000)  // 500 s after boot
    static let unixNow = 1_800_000_000.0

    func entry(obtainedAgo: Double = 100, lifetime: Int64 = 3600, boot: String = "boot-a") -> CacheEntry {
        let issued = IssuedToken(accessToken: "tok-123", tokenType: "Bearer", lifetime: .seconds(lifetime))
        return CacheEntry(profile: "api", fingerprint: "f1", bootID: boot,
                          token: .init(issued: issued, obtainedBoot: Self.now.nanoseconds - Int64(obtainedAgo * 1e9),
                                       obtainedUnix: Self.unixNow - obtainedAgo, renewAfter: .seconds(2700 as Int64)),
                          consecutiveFailures: 2, nextAttemptBoot: Self.now.nanoseconds + 30_000_000_000,
                          nextAttemptUnix: Self.unixNow + 30, lastError: "HTTP 503")
    }

    @Test func plainAndSealedEntriesReadBack() throws {
        let original = entry()
        let plain = try original.sealed(key: nil, nonce: Self.nonce)
        #expect(try CacheEntry.open(plain, profile: "api", fingerprint: "f1", key: nil) == original)
        let sealed = try original.sealed(key: Self.key, nonce: Self.nonce)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("tok-123"))
        #expect(try CacheEntry.open(sealed, profile: "api", fingerprint: "f1", key: Self.key) == original)
    }

    @Test func everyWrongEntryIsAProblemNeverACrash() throws {
        let plain = try entry().sealed(key: nil, nonce: Self.nonce)
        let sealed = try entry().sealed(key: Self.key, nonce: Self.nonce)
        func problem(_ bytes: [UInt8], fingerprint: String = "f1", key: [UInt8]? = nil, profile: String = "api") -> CacheEntry.Problem? {
            do { _ = try CacheEntry.open(bytes, profile: profile, fingerprint: fingerprint, key: key); return nil } catch { return error }
        }
        #expect(problem([]) == .notAnEntry)
        #expect(problem(plain, fingerprint: "f2") == .foreignFingerprint)
        #expect(problem(plain, profile: "other") == .otherProfile)
        #expect(problem(plain, key: Self.key) == .plainButKeySet)
        #expect(problem(sealed) == .encryptedButNoKey)
        #expect(problem(sealed, key: [UInt8](repeating: 8, count: 32)) == .authenticationFailed)
        #expect(problem(Array("tokend-cache 2 plain f1\n{}".utf8)) == .unknownVersion("2"))
        // The sealed body names its profile and fingerprint as associated data:
        // moving an entry to another profile's file fails authentication.
        let moved = Array(String(decoding: sealed, as: UTF8.self).replacingOccurrences(of: " f1\n", with: " f9\n").utf8)
        #expect(problem(moved, fingerprint: "f9", key: Self.key) == .authenticationFailed)
        // Every truncation and every single-bit flip is refused or reads back
        // as a valid entry, and never traps.
        for bytes in [plain, sealed] {
            for length in 0..<bytes.count {
                _ = problem(Array(bytes.prefix(length)), key: bytes == sealed ? Self.key : nil)
            }
            for index in stride(from: 0, to: bytes.count, by: 3) {
                var flipped = bytes
                flipped[index] ^= 0x20
                if bytes == sealed, index > 100 {
                    #expect(problem(flipped, key: Self.key) != nil, "a flipped sealed byte \(index) was accepted")
                } else {
                    _ = problem(flipped, key: bytes == sealed ? Self.key : nil)
                }
            }
        }
    }

    /// capture and restored are each other's inverse for a servable token.
    @Test func aCapturedEntryRestoresTheSameTokenAndMoment() {
        var machine = RenewalMachine(policy: RenewalPolicy(), uniform: { 0.5 })
        let start = Self.now - .seconds(100 as Int64)
        _ = machine.start(now: start, prefetch: true)
        _ = machine.fetchFinished(.success(IssuedToken(accessToken: "t", lifetime: .seconds(3600 as Int64))), sentAt: start, now: start)
        let entry = CacheEntry.capture(profile: "p", fingerprint: "f", bootID: "boot-a", machine: machine, now: Self.now,
                                       unixNow: Self.unixNow, attemptStarted: Self.now)
        #expect(entry.token?.obtainedBoot == start.nanoseconds && entry.token?.obtainedUnix == Self.unixNow - 100)
        #expect(entry.attemptBoot == Self.now.nanoseconds && entry.nextAttemptBoot == nil)
        let restored = entry.restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a", policy: RenewalPolicy(), renewalUnit: 0.5)
        #expect(restored.token == machine.token)
    }

    @Test func theSameBootKeepsTheBootClockAndTheRenewalMoment() {
        let restored = entry(obtainedAgo: 100).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a",
                                                       policy: RenewalPolicy(), renewalUnit: 0.5)
        let held = restored.token
        #expect(held != nil)
        #expect(held?.obtainedAt == Self.now - .seconds(100 as Int64))
        #expect(held?.expiresAt == Self.now + .seconds(3500 as Int64))
        #expect(held?.renewAt == Self.now + .seconds(2600 as Int64))  // 2700 s after issue, as recorded
        #expect(restored.consecutiveFailures == 2 && restored.lastError == "HTTP 503")
        #expect(restored.backoffUntil == Self.now + .seconds(30 as Int64))
    }

    @Test func anotherBootUsesTheWallClockLessThirtySeconds() {
        let restored = entry(obtainedAgo: 100).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-b",
                                                       policy: RenewalPolicy(), renewalUnit: 0.5)
        #expect(restored.token?.expiresAt == Self.now + .seconds(3500 as Int64) - CacheEntry.otherBootMargin)
        #expect(restored.backoffUntil == Self.now + .seconds(30 as Int64))
    }

    /// A token restored 10 s after a reboot, obtained 1000 s before it, is
    /// placed before this boot's zero; saved back as the runner saves it, it
    /// must read back (it was "corrupt" once: a negative boot instant).
    @Test func aTokenOlderThanTheUptimeSurvivesTheNextRestart() throws {
        let uptime = Instant(nanoseconds: 10_000_000_000)
        let restored = entry(obtainedAgo: 1000).restored(now: uptime, unixNow: Self.unixNow, bootID: "boot-b",
                                                        policy: RenewalPolicy(), renewalUnit: 0.5)
        let held = try #require(restored.token)
        #expect(held.obtainedAt.nanoseconds < 0)
        let saved = CacheEntry(profile: "api", fingerprint: "f1", bootID: "boot-b",
                               token: .init(issued: held.token, obtainedBoot: held.obtainedAt.nanoseconds,
                                            obtainedUnix: Self.unixNow - (uptime - held.obtainedAt).seconds,
                                            renewAfter: held.renewAt - held.obtainedAt))
        for key in [nil, Self.key] {
            let reopened = try CacheEntry.open(try saved.sealed(key: key, nonce: Self.nonce), profile: "api", fingerprint: "f1", key: key)
            #expect(reopened == saved)
            // The next start on the same boot serves it until the same moment.
            let later = uptime + .seconds(5 as Int64)
            let again = reopened.restored(now: later, unixNow: Self.unixNow + 5, bootID: "boot-b", policy: RenewalPolicy(), renewalUnit: 0.5)
            #expect(again.token?.expiresAt == held.expiresAt)
            #expect(again.droppedToken == nil)
        }
    }

    @Test func futureAndExpiredTokensAreDropped() {
        let policy = RenewalPolicy()
        let future = entry(obtainedAgo: -60).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-b", policy: policy, renewalUnit: 0.5)
        #expect(future.token == nil && future.droppedToken?.contains("future") == true)
        let futureBoot = entry(obtainedAgo: -60).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a", policy: policy, renewalUnit: 0.5)
        #expect(futureBoot.token == nil && futureBoot.droppedToken?.contains("future") == true)
        let expired = entry(obtainedAgo: 4000).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-b", policy: policy, renewalUnit: 0.5)
        #expect(expired.token == nil && expired.droppedToken?.contains("expired") == true)
        // 29 s left on another boot: less the 30 s margin, it is expired.
        let almost = entry(obtainedAgo: 3571).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-b", policy: policy, renewalUnit: 0.5)
        #expect(almost.token == nil)
    }

    @Test func aRestoredTokenIsServedAtOnceAndABackOffDelaysTheFirstAttempt() {
        var driver = MachineDriver()
        driver.now = Self.now
        // Past its renewal moment, with a back-off of 30 s still to run.
        let restored = entry(obtainedAgo: 3000).restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a",
                                                         policy: RenewalPolicy(), renewalUnit: 0.5)
        driver.apply(driver.machine.start(now: Self.now, prefetch: true, restored: restored))
        #expect(driver.published?.token.accessToken == "tok-123")
        #expect(driver.machine.tokenFromCache)
        #expect(driver.fetchesStarted == 0)
        #expect(driver.machine.nextAttempt == Self.now + .seconds(30 as Int64))
        driver.advance(to: Self.now + .seconds(30 as Int64))
        #expect(driver.fetchesStarted == 1)
        // Without a back-off, a token past its renewal moment is renewed at once.
        var fresh = MachineDriver()
        var noBackoff = entry(obtainedAgo: 3000)
        noBackoff.consecutiveFailures = 0
        noBackoff.nextAttemptBoot = nil
        noBackoff.nextAttemptUnix = nil
        fresh.apply(fresh.machine.start(now: Self.now, prefetch: true,
                                        restored: noBackoff.restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a",
                                                                     policy: RenewalPolicy(), renewalUnit: 0.5)))
        #expect(fresh.published != nil && fresh.fetchesStarted == 1)
    }

    @Test func anUnknownBootIsNeverTheSameBootAndABackOffIsCapped() {
        // Both ids unknown (a /proc/sys the daemon cannot read): the wall clock decides.
        var unknown = entry(obtainedAgo: 100, boot: BootClock.unknownBootID)
        let restored = unknown.restored(now: Self.now, unixNow: Self.unixNow, bootID: BootClock.unknownBootID,
                                        policy: RenewalPolicy(), renewalUnit: 0.5)
        #expect(restored.token?.expiresAt == Self.now + .seconds(3500 as Int64) - CacheEntry.otherBootMargin)
        // A same-boot back-off far in the future is capped at the longest a request could set.
        unknown.bootID = "boot-a"
        unknown.nextAttemptBoot = Self.now.nanoseconds + 86_400_000_000_000
        let capped = unknown.restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a", policy: RenewalPolicy(), renewalUnit: 0.5)
        #expect(capped.backoffUntil == Self.now + maximumRetryAfter)
    }

    @Test func aRequestWithoutARecordedOutcomeCountsAsFailed() {
        // Written as a request left (then the daemon was killed): 2 s ago, a 4 s back-off after it.
        var unanswered = entry()
        unanswered.consecutiveFailures = 0
        unanswered.nextAttemptBoot = nil
        unanswered.nextAttemptUnix = nil
        unanswered.lastError = nil
        unanswered.attemptBoot = Self.now.nanoseconds - 2_000_000_000
        unanswered.attemptUnix = Self.unixNow - 2
        let policy = RenewalPolicy(retryMin: .seconds(4 as Int64), retryMax: .seconds(4 as Int64))
        let plain = try? unanswered.sealed(key: nil, nonce: Self.nonce)
        #expect(plain.flatMap { try? CacheEntry.open($0, profile: "api", fingerprint: "f1", key: nil) } == unanswered)
        for boot in ["boot-a", "boot-b"] {
            let restored = unanswered.restored(now: Self.now, unixNow: Self.unixNow, bootID: boot, policy: policy, renewalUnit: 0.5)
            #expect(restored.consecutiveFailures == 1)
            #expect(restored.backoffUntil == Self.now + .seconds(2 as Int64), "\(boot)")
            #expect(restored.lastError?.contains("under way") == true)
        }
    }

    @Test func aLazyProfileKeepsItsBackOffUntilItsFirstDemand() {
        var driver = MachineDriver()
        driver.now = Self.now
        var failing = entry()
        failing.token = nil
        let restored = failing.restored(now: Self.now, unixNow: Self.unixNow, bootID: "boot-a", policy: RenewalPolicy(), renewalUnit: 0.5)
        driver.apply(driver.machine.start(now: Self.now, prefetch: false, restored: restored))
        #expect(driver.fetchesStarted == 0)
        driver.apply(driver.machine.demand(WaiterID(1), .token(minTTL: nil), now: Self.now))
        // 30 s of back-off left, beyond the client's wait: told at once, no request.
        #expect(driver.fetchesStarted == 0)
        #expect(driver.machine.nextAttempt == Self.now + .seconds(30 as Int64))
        driver.advance(to: Self.now + .seconds(30 as Int64))
        #expect(driver.fetchesStarted == 1)
    }

    @Test func cacheKeysAreRawOrHex() {
        #expect(CacheKey.parse([UInt8](repeating: 9, count: 32))?.bytes == [UInt8](repeating: 9, count: 32))
        #expect(CacheKey.parse(Array((String(repeating: "0f", count: 32) + "\n").utf8))?.bytes == [UInt8](repeating: 15, count: 32))
        #expect(CacheKey.parse(Array(String(repeating: "0f", count: 31).utf8)) == nil)
        #expect(CacheKey.parse(Array((String(repeating: "zz", count: 32)).utf8)) == nil)
        #expect("\(CacheKey.parse([UInt8](repeating: 9, count: 32))!)" == "<cache key>")
    }

    @Test func theFingerprintFollowsWhatDecidesTheToken() {
        let base = ProfileConfiguration(name: "a", tokenURL: "https://i/t", clientID: "c", clientSecret: Secret("s"))
        var renamedSecret = base
        renamedSecret.clientSecret = Secret("other")
        renamedSecret.renewAt = 0.5
        var audience = base
        audience.audience = "x"
        var params = base
        params.extraParams = [FormField("resource", "r")]
        #expect(base.cacheFingerprint == renamedSecret.cacheFingerprint)
        #expect(Set([base, audience, params].map(\.cacheFingerprint)).count == 3)
        #expect(base.cacheFingerprint.count == 64)
    }
}
