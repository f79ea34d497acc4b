import TokendProtocol

/// Checks of command arguments done before connecting, so that a typo is a
/// usage error (64) at once rather than a `bad-request` round trip to the
/// daemon (1), which a script could not tell from a daemon problem.
public enum ArgumentChecks {
    public static func profile(_ name: String) throws(UsageError) {
        guard ProfileName.isValid(name) else { throw .invalidProfile(name) }
    }

    /// The value of --env: a portable variable name (letters, digits and
    /// `_`, not starting with a digit); `ACCESS_TOKEN` when not given.
    public static func variable(_ text: String?) throws(UsageError) -> String {
        guard let text else { return "ACCESS_TOKEN" }
        let utf8 = Array(text.utf8)
        let valid = !utf8.isEmpty && utf8.count <= 128 && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(utf8[0])
            && utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
        guard valid else { throw .invalidVariable(text) }
        return text
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
