/// The one-line readiness summary of systemd's `STATUS=` (SPEC §10).
public enum ReadinessSummary {
    /// "3 profiles, 3 valid", or "2 of 3 valid: api: invalid_client" naming
    /// the first profile without a valid token and why.
    public static func line(_ profiles: [ProfileStatus]) -> String {
        let valid = profiles.filter { $0.expiresIn != nil }.count
        let noun = profiles.count == 1 ? "profile" : "profiles"
        guard valid < profiles.count, let first = profiles.first(where: { $0.expiresIn == nil }) else {
            return "\(profiles.count) \(noun), \(valid) valid"
        }
        return "\(valid) of \(profiles.count) valid: \(first.name): \(first.shortReason)"
    }
}
