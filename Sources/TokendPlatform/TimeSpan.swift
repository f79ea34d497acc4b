/// A length of time in nanoseconds. tokend's own type rather than `Duration`
/// so that arithmetic on the hot path is plain integer arithmetic.
public struct TimeSpan: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// Conversions saturate at ±292 years rather than trap: their input may
    /// come from an IdP's answer.
    public static func seconds(_ s: Int64) -> TimeSpan {
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return TimeSpan(nanoseconds: overflow ? (s < 0 ? .min : .max) : ns)
    }
    public static func seconds(_ s: Double) -> TimeSpan { TimeSpan(saturating: s * 1e9) }

    /// Rounds `nanoseconds`, saturating at the ends of `Int64`; NaN is zero.
    init(saturating nanoseconds: Double) {
        if nanoseconds.isNaN { self.nanoseconds = 0 }
        else if nanoseconds >= 9_223_372_036_854_775_807.0 { self.nanoseconds = .max }
        else if nanoseconds <= -9_223_372_036_854_775_808.0 { self.nanoseconds = .min }
        else { self.nanoseconds = Int64(nanoseconds.rounded()) }
    }
    public static func milliseconds(_ ms: Int64) -> TimeSpan { TimeSpan(nanoseconds: ms * 1_000_000) }
    public static let zero = TimeSpan(nanoseconds: 0)

    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
    /// Whole seconds, rounded down.
    public var wholeSeconds: Int64 { nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : -((-nanoseconds + 999_999_999) / 1_000_000_000) }

    /// Whole seconds, rounded up: for "next attempt in 60s" in messages.
    public var roundedUpToSeconds: TimeSpan {
        nanoseconds <= 0 ? .zero : .seconds((nanoseconds - 1) / 1_000_000_000 + 1)
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: TimeSpan, b: TimeSpan) -> TimeSpan { TimeSpan(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    public static func - (a: TimeSpan, b: TimeSpan) -> TimeSpan { TimeSpan(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    public static func * (a: TimeSpan, f: Double) -> TimeSpan { TimeSpan(saturating: Double(a.nanoseconds) * f) }

    /// Human form used in logs and messages: "250ms", "30s", "1h5m".
    public var description: String {
        if nanoseconds % 1_000_000_000 != 0 || nanoseconds == 0 {
            if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
            return "\(seconds)s"
        }
        var s = nanoseconds / 1_000_000_000
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 || out.isEmpty { out += "\(s)s" }
        return out
    }
}

/// A moment on tokend's clock: nanoseconds of `CLOCK_BOOTTIME`, which keeps
/// counting through suspend and never jumps with the wall clock. The pure
/// logic only ever receives instants; reading the clock is the edges' job.
public struct Instant: Hashable, Comparable, Sendable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Instant, b: TimeSpan) -> Instant { Instant(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    public static func - (a: Instant, b: TimeSpan) -> Instant { Instant(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    public static func - (a: Instant, b: Instant) -> TimeSpan { TimeSpan(nanoseconds: a.nanoseconds &- b.nanoseconds) }
}
