/// What a tokenctl command line comes to once parsed: help to print, or a
/// command to run against the daemon at a given socket.
public enum ParsedCommandLine: Equatable, Sendable {
    /// `--help`, `-h` or `help [COMMAND]`: print the help of `command`, or
    /// the overall help if nil, on stdout and exit 0.
    case help(CommandName?)
    /// `--generate-completion-script SHELL`: print the completion script.
    case completionScript(CompletionScript.Shell)
    /// Run `command`, talking to the daemon as `connection` says.
    case run(TokenctlCommand, ConnectionOptions)
}
