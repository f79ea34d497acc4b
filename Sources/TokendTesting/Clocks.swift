import CProcessShim  // where Clang's modules place `timespec` for this target (MemberImportVisibility)
import Glibc

/// The clocks tests and the bench measure with.
public enum Clocks {
    /// CLOCK_MONOTONIC nanoseconds, for latencies, durations and deadlines.
    public static func monotonic() -> UInt64 { read(CLOCK_MONOTONIC) }
    /// CLOCK_BOOTTIME nanoseconds: the timeline tokend and the test IdP share.
    public static func boot() -> UInt64 { read(CLOCK_BOOTTIME) }
    /// CLOCK_MONOTONIC in microseconds, the clock of systemd's `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 { monotonic() / 1000 }

    /// A CLOCK_MONOTONIC deadline `seconds` from now.
    public static func deadline(in seconds: Double) -> UInt64 { monotonic() + UInt64(max(0, seconds) * 1e9) }

    /// Milliseconds left until `deadline`, for poll(2); 0 when it has passed.
    public static func millisecondsLeft(until deadline: UInt64) -> Int32 {
        let now = monotonic()
        guard now < deadline else { return 0 }
        return Int32(min((deadline - now) / 1_000_000 + 1, UInt64(Int32.max)))
    }

    /// Sleeps where an interval is the point (pacing a load), never to wait for an event.
    public static func sleep(seconds: Double) {
        var left = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rest = timespec()
        while nanosleep(&left, &rest) != 0, errno == EINTR { left = rest }
    }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// Waits until `fd` has something to read (or is closed) or `deadline`
/// (CLOCK_MONOTONIC nanoseconds) passes; true when readable.
public func waitReadable(_ fd: Int32, until deadline: UInt64) -> Bool {
    while true {
        let left = Clocks.millisecondsLeft(until: deadline)
        guard left > 0 else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, left)
        if n > 0 { return true }
        if n < 0, errno == EINTR { continue }
        if n < 0 { return false }
    }
}

/// A failure of a test harness or bench run, with a message.
public struct HarnessFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
