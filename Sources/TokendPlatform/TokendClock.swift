/// tokend's one view of time (SPEC §4): `CLOCK_BOOTTIME` instants for every
/// lifetime and renewal, the wall clock for what leaves the host (JWT `exp`,
/// cached entries placed after a reboot), and the boot id that says whether
/// two instants may be compared. The daemon runs on `SystemClock`; tests
/// inject a manual clock and move time themselves.
public protocol TokendClock: Sendable {
    /// `CLOCK_BOOTTIME` now.
    func now() -> Instant
    /// The wall clock, in seconds since the epoch.
    func unixTime() -> Double
    /// This boot's id (`BootClock.bootID`).
    var bootID: String { get }
}

/// The host's clocks.
public struct SystemClock: TokendClock {
    public init() {}
    @inline(__always) public func now() -> Instant { BootClock.now() }
    public func unixTime() -> Double { BootClock.unixTime() }
    public var bootID: String { BootClock.bootID }
}
