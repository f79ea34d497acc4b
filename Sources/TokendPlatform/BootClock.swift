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

    /// This boot's id (`/proc/sys/kernel/random/boot_id`): `CLOCK_BOOTTIME`
    /// instants compare only within one boot. "unknown" when unreadable, which
    /// matches no other boot.
    public static let bootID: String = {
        let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "unknown" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return "unknown" }
        return String(decoding: buffer[..<n].filter { $0 != 10 }, as: UTF8.self)
    }()
}
