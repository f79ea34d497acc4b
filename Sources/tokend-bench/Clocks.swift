import Glibc

/// The clocks the bench measures with.
enum Clocks {
    /// CLOCK_MONOTONIC nanoseconds, for latencies and durations.
    static func monotonic() -> UInt64 { read(CLOCK_MONOTONIC) }
    /// CLOCK_BOOTTIME nanoseconds: the timeline tokend and the test IdP share.
    static func boot() -> UInt64 { read(CLOCK_BOOTTIME) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func sleep(seconds: Double) {
        var left = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rest = timespec()
        while nanosleep(&left, &rest) != 0, errno == EINTR { left = rest }
    }
}
