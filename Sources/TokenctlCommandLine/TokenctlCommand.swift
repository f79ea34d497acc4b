/// One command of tokenctl, with its arguments validated: what the command
/// line asked for, ready to be turned into request lines.
public enum TokenctlCommand: Equatable, Sendable {
    /// `get PROFILE [--min-ttl SECONDS] [--json]`
    case get(profile: String, minTTL: Int?, json: Bool)
    /// `header PROFILE [--min-ttl SECONDS]`
    case header(profile: String, minTTL: Int?)
    /// `refresh PROFILE`
    case refresh(profile: String)
    /// `status [PROFILE] [--json]`
    case status(profile: String?, json: Bool)
    /// `list`
    case list
    /// `ping`
    case ping
    /// `exec PROFILE [--min-ttl SECONDS] [--env NAME] -- COMMAND [ARGS...]`:
    /// `command` run in place of tokenctl with the token in `variable`.
    case exec(profile: String, minTTL: Int?, variable: String, command: [String])
}
