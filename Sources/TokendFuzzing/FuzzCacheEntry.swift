import TokendCore
import TokendPlatform

/// The key the fuzzed sealed entries are read with.
private let fuzzKey = [UInt8](repeating: 0x5a, count: 32)

/// libFuzzer entry point: a cache entry file's bytes (SPEC §9), read as a
/// plain and as a sealed entry, then placed on the clock. Either an entry
/// or a problem with a one-line description; never a trap.
public func fuzzCacheEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for key in [nil, fuzzKey] {
        do {
            let entry = try CacheEntry.open(bytes, profile: "api", fingerprint: "fp", key: key)
            precondition(entry.profile == "api" && entry.fingerprint == "fp", "an entry of another profile was accepted")
            let restored = entry.restored(now: Instant(nanoseconds: 1_000_000_000_000), unixNow: 1_800_000_000, bootID: "boot",
                                          policy: RenewalPolicy(), renewalUnit: 0.5)
            if let held = restored.token {
                precondition(held.isServable(at: Instant(nanoseconds: 1_000_000_000_000)), "an expired token was restored")
            }
        } catch {
            precondition(!error.description.utf8.contains(10), "a problem spans lines")
        }
    }
    return 0
}
