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
            text += option == .minTTL ? " [--min-ttl <seconds>]" : " [\(option.rawValue)]"
        }
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
        }
    }

    private static func discussion(_ command: CommandName) -> String? {
        command == .get ? "--json prints {\"access_token\",\"token_type\",\"expires_in\"} on one line." : nil
    }

    private static func optionRow(_ option: OptionName, of command: CommandName) -> String {
        switch option {
        case .minTTL:
            return row("--min-ttl <seconds>", "Renew first if the token has fewer seconds left.")
        case .json where command == .status:
            return row("--json", "Print the daemon's JSON as is.")
        case .json:
            return row("--json", "Print a JSON object with the token, its type and\n" + indent + "seconds left.")
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
