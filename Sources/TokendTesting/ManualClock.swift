import NIOConcurrencyHelpers
import TokendPlatform

/// A `TokendClock` that moves only when a test says so: the boot clock and
/// the wall clock advance together by `advance(by:)`.
public final class ManualClock: TokendClock, Sendable {
    private struct Reading {
        var boot: Instant
        var unix: Double
    }

    private let reading: NIOLockedValueBox<Reading>
    public let bootID: String

    /// Starts at `boot` on the boot clock (default: an hour after boot) and
    /// `unix` on the wall clock.
    public init(boot: Instant = Instant(nanoseconds: 3_600_000_000_000), unix: Double = 1_800_000_000, bootID: String = "0123456789abcdef0123456789abcdef") {
        reading = NIOLockedValueBox(Reading(boot: boot, unix: unix))
        self.bootID = bootID
    }

    public func now() -> Instant { reading.withLockedValue { $0.boot } }
    public func unixTime() -> Double { reading.withLockedValue { $0.unix } }

    /// Moves both clocks forward.
    public func advance(by span: TimeSpan) {
        reading.withLockedValue {
            $0.boot = $0.boot + span
            $0.unix += span.seconds
        }
    }
}
