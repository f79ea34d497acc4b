import TokendProtocol

/// A command line tokenctl cannot run: exit status 64 (EX_USAGE), before any
/// connection to the daemon. `message` is the one line shown after `tokenctl: `.
public enum UsageError: Error, Equatable, Sendable {
    case missingCommand
    /// A first word that is no command (also after `help`); `suggestion` is a near one.
    case unknownCommand(String, suggestion: CommandName?)
    /// An option not accepted where it stands (`command` nil: before the command name).
    case unknownOption(String, command: CommandName?, suggestion: String?)
    /// An option of some command given before the command name.
    case optionBeforeCommand(String)
    case missingValue(option: String)
    /// A value given to an option that takes none (`--json=1`).
    case unexpectedValue(option: String)
    case repeatedOption(String)
    case missingArgument(placeholder: String, command: CommandName)
    /// A positional argument beyond those the command takes (`command` nil: after `help COMMAND`).
    case unexpectedArgument(String, command: CommandName?)
    case emptySocket
    case invalidTimeout(String)
    case invalidProfile(String)
    case invalidMinTTL(String)
    case invalidVariable(String)
    /// `exec` without `-- COMMAND`.
    case missingExecCommand
    /// `--generate-completion-script` without bash, zsh or fish.
    case invalidShell(String?)

    public var message: String {
        switch self {
        case .missingCommand:
            return "missing command (\(CommandName.listing)); see 'tokenctl --help'"
        case .unknownCommand(let word, let suggestion):
            let hint = suggestion.map { "did you mean '\($0.rawValue)'?" } ?? "see 'tokenctl --help'"
            return "unknown command \(quoted(word)) (\(CommandName.listing)); \(hint)"
        case .unknownOption(let option, let command, let suggestion):
            let place = command.map { " for '\($0.rawValue)'" } ?? ""
            let hint = suggestion.map { "did you mean '\($0)'?" }
                ?? "see 'tokenctl \(command.map { "help \($0.rawValue)" } ?? "--help")'"
            return "unknown option \(quoted(option))\(place); \(hint)"
        case .optionBeforeCommand(let option):
            return "option '\(option)' must come after the command name; see 'tokenctl --help'"
        case .missingValue(let option):
            return "missing value for option '\(option)'"
        case .unexpectedValue(let option):
            return "option '\(option)' does not take a value"
        case .repeatedOption(let option):
            return "option '\(option)' given more than once"
        case .missingArgument(let placeholder, let command):
            return "missing argument \(placeholder) for '\(command.rawValue)'; see 'tokenctl help \(command.rawValue)'"
        case .unexpectedArgument(let word, let command):
            return "unexpected argument \(quoted(word)) for '\(command?.rawValue ?? "help")'"
        case .emptySocket:
            return "--socket must not be empty"
        case .invalidTimeout:
            return "--timeout must be a number of seconds above 0 and at most \(Int(ConnectionOptions.maximumTimeout))"
        case .invalidProfile(let name):
            return "invalid profile name \(quoted(name)): use 1 to \(ProfileName.maximumLength) of A-Z a-z 0-9 . _ -"
        case .invalidMinTTL:
            return "--min-ttl must be a whole number of seconds from 0 to \(ProtocolLimits.maximumMinTTL)"
        case .invalidVariable(let name):
            return "invalid variable name \(quoted(name)) for --env: use letters, digits and _, not starting with a digit"
        case .missingExecCommand:
            return "missing command for 'exec': tokenctl exec <profile> [--env NAME] -- COMMAND [ARGS...]"
        case .invalidShell(let word):
            let given = word.map { " (not \(quoted($0)))" } ?? ""
            return "\(CompletionScript.option) takes bash, zsh or fish\(given)"
        }
    }

    /// A word of the command line, in quotes, made safe for a one-line message.
    private func quoted(_ word: String) -> String {
        "'\(AnswerLine.oneLine(word, limit: 80))'"
    }
}
