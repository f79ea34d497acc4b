#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The IdP's clocks. Issue times use `CLOCK_BOOTTIME` because that is
/// tokend's timeline, so tests can compare the two directly; JWT `exp` needs
/// wall-clock unix time.
enum IdPClock {
    /// Nanoseconds of `CLOCK_BOOTTIME`.
    static func bootNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds since the unix epoch, fractional.
    static func unixTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `start` moved by `seconds` (possibly negative), clamped to the clock's range.
    static func offset(_ start: UInt64, bySeconds seconds: Double) -> UInt64 {
        let delta = (seconds * 1e9).rounded()
        guard delta.isFinite, abs(delta) < 9e18 else { return delta > 0 ? .max : 0 }
        let nanoseconds = Int64(delta)
        if nanoseconds >= 0 {
            let (sum, overflow) = start.addingReportingOverflow(UInt64(nanoseconds))
            return overflow ? .max : sum
        }
        let back = UInt64(-nanoseconds)
        return start > back ? start - back : 0
    }
}
