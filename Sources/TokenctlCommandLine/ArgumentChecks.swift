import TokendProtocol

/// Checks of command arguments done before connecting, so that a typo is a
/// usage error (64) at once rather than a `bad-request` round trip to the
/// daemon (1), which a script could not tell from a daemon problem.
public enum ArgumentChecks {
    public static func profile(_ name: String) throws(UsageError) {
        guard ProfileName.isValid(name) else { throw .invalidProfile(name) }
    }

    /// The value of --min-ttl: a whole number of seconds within the protocol's limit.
    public static func minTTL(_ text: String?) throws(UsageError) -> Int? {
        guard let text else { return nil }
        guard let seconds = Int(text), (0...ProtocolLimits.maximumMinTTL).contains(seconds) else {
            throw .invalidMinTTL(text)
        }
        return seconds
    }
}
