import ArgumentParser
import TokendProtocol

/// Checks of command arguments done before connecting, so that a typo is a
/// usage error (64) at once rather than a `bad-request` round trip to the
/// daemon (1), which a script could not tell from a daemon problem.
enum ArgumentChecks {
    static func profile(_ name: String) throws {
        guard ProfileName.isValid(name) else {
            throw ValidationError(
                "invalid profile name '\(AnswerLine.oneLine(name, limit: 80))': use 1 to \(ProfileName.maximumLength) of A-Z a-z 0-9 . _ -")
        }
    }

    static func minTTL(_ seconds: Int?) throws {
        guard let seconds else { return }
        guard (0...ProtocolLimits.maximumMinTTL).contains(seconds) else {
            throw ValidationError("--min-ttl must be a whole number of seconds from 0 to \(ProtocolLimits.maximumMinTTL)")
        }
    }

    /// The request line `VERB PROFILE [MIN_TTL]`.
    static func request(_ verb: String, _ profile: String, minTTL: Int?) -> String {
        guard let minTTL else { return "\(verb) \(profile)" }
        return "\(verb) \(profile) \(minTTL)"
    }
}
