import Glibc


/// tokend's clock: `CLOCK_BOOTTIME`, which keeps counting through suspend
/// and never jumps when the wall clock is set (SPEC §4). Swift's
/// `ContinuousClock` reads the same clock on Linux, but reading it here
/// directly keeps the guarantee explicit and the arithmetic in `Instant`.
public enum BootClock {
    @inline(__always)
    public static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    /// The wall clock, in seconds since the epoch: only for JWT `exp` and HTTP dates.
    public static func unixTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
