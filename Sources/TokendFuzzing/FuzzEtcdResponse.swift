import TokendCore
import TokendPlatform

private let fuzzKey = [UInt8](repeating: 0x5a, count: 32)

/// libFuzzer entry point: bytes as etcd's gateway might answer them (SPEC
/// §14), read as each answer tokend parses, and as a shared entry opened
/// with the fleet's key and placed on the clock. An answer or an error;
/// never a trap, never an expired token adopted.
public func fuzzEtcdResponse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let kvs = try? EtcdMessages.rangeAnswer(bytes) {
        precondition(kvs.count <= 64 && kvs.allSatisfy { $0.modRevision > 0 }, "a range answer beyond its limits")
    }
    _ = try? EtcdMessages.txnAnswer(bytes)
    if let lease = try? EtcdMessages.grantAnswer(bytes) { precondition(lease != 0, "lease 0 accepted") }
    if let token = try? EtcdMessages.authenticateAnswer(bytes) { precondition(!token.isEmpty && token.utf8.count <= 4096) }
    _ = EtcdMessages.status(bytes)
    if let entry = try? FleetEntryCodec.open(bytes, fingerprint: "fp", key: fuzzKey) {
        precondition(entry.fingerprint == "fp", "an entry of another fingerprint was accepted")
        let now = Instant(nanoseconds: 1_000_000_000_000)
        let rules = FleetRules(policy: RenewalPolicy(), maxClockSkew: .seconds(5 as Int64))
        for need in [FleetNeed(), FleetNeed(refresh: true), FleetNeed(minTTL: .seconds(600 as Int64))] {
            if case .adopt(let held) = rules.decide(entry, need: need, now: now, unixNow: 1_800_000_000, unit: 0.5) {
                precondition(held.isServable(at: now), "an expired token was adopted")
                precondition(held.renewAt > now, "an adopted token due for renewal at once")
            }
        }
    }
    return 0
}
