import Glibc

/// A point in time on the monotonic clock, so that the whole exchange with the
/// daemon (connect, write, read) shares one budget and a wall-clock change
/// cannot stretch or cut it.
struct Deadline {
    private let nanoseconds: Int64

    /// The deadline `seconds` from now.
    init(secondsFromNow seconds: Double) {
        nanoseconds = Deadline.now() + Int64(seconds * 1_000_000_000)
    }

    /// Milliseconds left, rounded up so a poll never returns just before the
    /// deadline only to spin; 0 once it has passed.
    var remainingMilliseconds: Int {
        let left = nanoseconds - Deadline.now()
        return left <= 0 ? 0 : Int((left + 999_999) / 1_000_000)
    }

    private static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
