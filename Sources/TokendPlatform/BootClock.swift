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

    /// This boot's id: `CLOCK_BOOTTIME` instants compare only within one
    /// boot. From `$TOKEND_BOOT_ID` (the unit sets it to systemd's `%b`,
    /// because `ProcSubset=pid` hides /proc/sys), else
    /// `/proc/sys/kernel/random/boot_id`; `unknownBootID` when neither can be
    /// read, which matches no boot, not even itself.
    public static let unknownBootID = "unknown"

    public static let bootID: String = {
        if let given = getenv("TOKEND_BOOT_ID").map({ String(cString: $0) }),
           given.utf8.count >= 16, given.utf8.count <= 64, given.utf8.allSatisfy({ $0 == 45 || ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) {
            return String(given.filter { $0 != "-" })
        }
        let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return unknownBootID }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return unknownBootID }
        // As systemd's %b writes it: 32 hex digits, no dashes.
        return String(decoding: buffer[..<n].filter { $0 != 10 && $0 != 45 }, as: UTF8.self)
    }()
}
