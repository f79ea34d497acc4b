/// The exit statuses of tokenctl (SPEC §7). They follow sysexits.h so that a
/// script can tell "try again later" (75) from "fix your setup" (64, 69, 77).
enum ExitStatus: Int32 {
    case success = 0
    /// Any other `ERR` from the daemon, or an answer tokenctl cannot read.
    case failure = 1
    /// EX_USAGE: a bad command line (a UsageError of CommandLineParser).
    case usage = 64
    /// EX_UNAVAILABLE: the daemon cannot be reached or does not answer in time.
    case unreachable = 69
    /// EX_TEMPFAIL: `ERR unavailable`, the daemon has no valid token right now.
    case tryLater = 75
    /// EX_NOPERM: `ERR denied`, this user may not read the profile.
    case denied = 77
    /// `exec`: the command was found but cannot be run (as a shell says).
    case cannotExecute = 126
    /// `exec`: the command was not found (as a shell says).
    case notFound = 127

    /// The status for an `ERR CODE` answer of the daemon.
    init(errorCode code: String) {
        switch code {
        case "unavailable": self = .tryLater
        case "denied": self = .denied
        default: self = .failure
        }
    }
}
