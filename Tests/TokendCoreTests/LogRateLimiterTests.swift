import Testing
@testable import TokendCore
import TokendPlatform

/// Denial log lines are rate-limited, with a count of those dropped.
@Suite struct LogRateLimiterTests {
    @Test func aBurstThenSilenceThenACount() {
        var limiter = LogRateLimiter(burst: 3, window: .seconds(10 as Int64))
        let t0 = Instant(nanoseconds: 0)
        let admitted = (0..<100).filter { _ in limiter.admit(now: t0).log }.count
        #expect(admitted == 3)
        let next = limiter.admit(now: t0 + .seconds(11 as Int64))
        #expect(next.log && next.suppressedBefore == 97)
        let v23 = limiter.admit(now: t0 + .seconds(12 as Int64)).suppressedBefore
        #expect(v23 == 0)
    }
}
