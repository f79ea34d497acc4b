/// The text of `tokenctl --help` and `tokenctl help COMMAND`, printed on
/// stdout with exit status 0. Laid out as ArgumentParser laid it out before
/// tokenctl parsed its own command line, so that nothing changed for readers.
public enum HelpText {
    /// The overall help (nil) or one command's; ends with a LF.
    public static func text(for command: CommandName?) -> String {
        guard let command else { return overall }
        var text = "OVERVIEW: \(abstract(command))\n\n"
        if let discussion = discussion(command) { text += discussion + "\n\n" }
        text += "USAGE: tokenctl \(command.rawValue) [--socket <path>] [--timeout <seconds>]"
        if let argument = command.argument {
            text += argument.optional ? " [\(argument.placeholder)]" : " \(argument.placeholder)"
        }
        for option in command.options {
            switch option {
            case .minTTL: text += " [--min-ttl <seconds>]"
            case .env: text += " [--env <name>]"
            default: text += " [\(option.rawValue)]"
            }
        }
        if command == .exec { text += " -- <command> [<argument> ...]" }
        text += "\n\n"
        if let argument = command.argument {
            let description = command == .status ? "Only this profile." : "The profile."
            text += "ARGUMENTS:\n" + row(argument.placeholder, description) + "\n"
        }
        text += "OPTIONS:\n" + globalOptions
        for option in command.options { text += optionRow(option, of: command) }
        return text + helpOption
    }

    private static let globalOptions = """
          --socket <path>         The daemon's socket (default: $TOKEND_SOCKET, else
                                  /run/tokend/tokend.sock).
          --timeout <seconds>     Give up after this many seconds without a complete
                                  answer (default: 30).

        """

    private static let helpOption = "  -h, --help              Show help information.\n"

    private static let overall = """
        OVERVIEW: Ask tokend for OAuth access tokens.

        Exit status: 0 success; 1 another error from the daemon; 64 usage error; 69 the
        daemon cannot be reached; 75 no token available now (try again later); 77
        access denied.

        USAGE: tokenctl [--socket <path>] [--timeout <seconds>] <subcommand>

        OPTIONS:

        """ + globalOptions + helpOption + """

        SUBCOMMANDS:
          get                     Print the access token of a profile.
          header                  Print 'Authorization: Bearer TOKEN' for a profile
                                  (for curl -H @-).
          refresh                 Fetch a new token for a profile now and print it.
          status                  Show the state of the profiles (all those you may
                                  read, or one).
          list                    List the profiles you may read.
          ping                    Check that the daemon answers.
          exec                    Run a command with the token in its environment.

          See 'tokenctl help <subcommand>' for detailed help.

        """

    private static func abstract(_ command: CommandName) -> String {
        switch command {
        case .get: return "Print the access token of a profile."
        case .header: return "Print 'Authorization: Bearer TOKEN' for a profile (for curl -H @-)."
        case .refresh: return "Fetch a new token for a profile now and print it."
        case .status: return "Show the state of the profiles (all those you may read, or one)."
        case .list: return "List the profiles you may read."
        case .ping: return "Check that the daemon answers."
        case .exec: return "Run a command with the token in its environment."
        }
    }

    private static func discussion(_ command: CommandName) -> String? {
        switch command {
        case .get:
            return "--json prints {\"access_token\",\"token_type\",\"expires_in\"} on one line."
        case .exec:
            return """
                Gets the token as 'get' does, then replaces tokenctl with <command>, the
                token in the variable ACCESS_TOKEN (or --env's): the exit status and
                signals are the command's. When no token can be had, the command does not
                run and the exit status is tokenctl's (69, 75, 77, ...); a command that
                cannot be found gives 127, one that cannot be run 126.

                Example:
                  tokenctl exec api -- sh -c 'curl -fsS -H "Authorization: Bearer $ACCESS_TOKEN" https://api.example.com/v1/items'
                """
        default:
            return nil
        }
    }

    private static func optionRow(_ option: OptionName, of command: CommandName) -> String {
        switch option {
        case .minTTL:
            return row("--min-ttl <seconds>", "Renew first if the token has fewer seconds left.")
        case .json where command == .status:
            return row("--json", "Print the daemon's JSON as is.")
        case .json:
            return row("--json", "Print a JSON object with the token, its type and\n" + indent + "seconds left.")
        case .env:
            return row("--env <name>", "The variable that holds the token (default:\n" + indent + "ACCESS_TOKEN).")
        case .socket, .timeout:
            return ""  // in globalOptions
        }
    }

    private static let indent = String(repeating: " ", count: 26)

    /// "  NAME" padded to column 26, then the description.
    private static func row(_ name: String, _ description: String) -> String {
        let label = "  " + name
        return label + String(repeating: " ", count: max(indent.count - label.count, 1)) + description + "\n"
    }
}
