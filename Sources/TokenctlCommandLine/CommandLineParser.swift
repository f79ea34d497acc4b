/// Reads tokenctl's command line (SPEC §7):
///
///     tokenctl [--socket PATH] [--timeout SECONDS] COMMAND [ARGUMENT] [OPTIONS]
///
/// `--socket` and `--timeout` go before or after the command name, a command's
/// own options after it; `--opt VALUE` and `--opt=VALUE` are the same; `--`
/// ends the options; `--help` or `-h` anywhere, and `help [COMMAND]`, ask for
/// help. Every mistake is a `UsageError` naming it, found before connecting.
///
/// A pure function of the arguments and the environment, so that it is tested
/// without a process; and free of reflection and Foundation, so that tokenctl,
/// which scripts call in loops, starts in about a millisecond.
public enum CommandLineParser {
    /// Parses `arguments` (without the program name); `environment` looks up
    /// a variable (only `TOKEND_SOCKET` is read).
    public static func parse(
        _ arguments: [String], environment: (String) -> String?
    ) throws(UsageError) -> ParsedCommandLine {
        if let first = arguments.first, first == CompletionScript.option || first.hasPrefix(CompletionScript.option + "=") {
            let (_, inline) = splitOption(first)
            let words = inline.map { [$0] } ?? Array(arguments.dropFirst())
            guard words.count == 1, let shell = CompletionScript.Shell(rawValue: words[0]) else { throw .invalidShell(words.first) }
            return .completionScript(shell)
        }
        if let help = helpRequest(arguments) { return help }

        var command: CommandName?
        var isHelpCommand = false
        var positionals: [String] = []
        var values = OptionValues()
        var endOfOptions = false
        var execCommand: [String]?
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if !endOfOptions && word == "--" {
                // `exec ... -- COMMAND ARGS`: the rest is the command, untouched.
                if command == .exec {
                    execCommand = Array(arguments[index...])
                    break
                }
                endOfOptions = true
                continue
            }
            if !endOfOptions && OptionName.looksLikeOption(word) {
                let (name, inlineValue) = splitOption(word)
                // Only `--help=...` gets here: a bare --help was seen by helpRequest.
                if OptionName.isHelp(name) { throw .unexpectedValue(option: name) }
                let allowed = OptionName.global + (command?.options ?? [])
                guard let option = OptionName(rawValue: name), allowed.contains(option) else {
                    let atTopLevel = command == nil && !isHelpCommand
                    throw unknownOption(name, command: command, atTopLevel: atTopLevel, allowed: allowed)
                }
                guard values[option] == nil else { throw .repeatedOption(name) }
                if !option.takesValue {
                    guard inlineValue == nil else { throw .unexpectedValue(option: name) }
                    values[option] = ""
                } else if let inlineValue {
                    values[option] = inlineValue
                } else if index < arguments.count, OptionName.isValue(arguments[index]) {
                    values[option] = arguments[index]
                    index += 1
                } else {
                    throw .missingValue(option: name)
                }
                continue
            }
            if command == nil && !isHelpCommand {
                if word == "help" {
                    isHelpCommand = true
                } else if let name = CommandName(rawValue: word) {
                    command = name
                } else {
                    throw unknownCommand(word)
                }
            } else {
                positionals.append(word)
            }
        }

        if isHelpCommand { return try helpCommand(positionals) }
        guard let command else { throw .missingCommand }
        let profile = try argument(of: command, positionals)
        let connection = try ConnectionOptions.resolve(
            socket: values[.socket], timeout: values[.timeout], environment: environment)
        if let profile { try ArgumentChecks.profile(profile) }
        let minTTL = try ArgumentChecks.minTTL(values[.minTTL])
        let json = values[.json] != nil
        let parsed: TokenctlCommand
        switch command {
        case .get: parsed = .get(profile: profile ?? "", minTTL: minTTL, json: json)
        case .header: parsed = .header(profile: profile ?? "", minTTL: minTTL)
        case .refresh: parsed = .refresh(profile: profile ?? "")
        case .status: parsed = .status(profile: profile, json: json)
        case .list: parsed = .list
        case .ping: parsed = .ping
        case .exec:
            let variable = try ArgumentChecks.variable(values[.env])
            guard let execCommand, let program = execCommand.first, !program.isEmpty else { throw .missingExecCommand }
            parsed = .exec(profile: profile ?? "", minTTL: minTTL, variable: variable, command: execCommand)
        }
        return .run(parsed, connection)
    }

    /// `.help` if `--help` or `-h` appears before any `--`, whatever else is
    /// wrong with the line: help for the command named, else the overall help.
    private static func helpRequest(_ arguments: [String]) -> ParsedCommandLine? {
        var requested = false
        var words: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if word == "--" { break }
            if OptionName.isHelp(word) {
                requested = true
            } else if OptionName.looksLikeOption(word) {
                // Skip an option's separate value, as the parser would take it.
                if let option = OptionName(rawValue: word), option.takesValue,
                   index < arguments.count, OptionName.isValue(arguments[index]) {
                    index += 1
                }
            } else {
                words.append(word)
            }
        }
        guard requested else { return nil }
        let topic = words.first == "help" ? words.dropFirst().first : words.first
        return .help(topic.flatMap(CommandName.init(rawValue:)))
    }

    /// `help [COMMAND]`.
    private static func helpCommand(_ positionals: [String]) throws(UsageError) -> ParsedCommandLine {
        if positionals.count > 1 { throw .unexpectedArgument(positionals[1], command: nil) }
        guard let topic = positionals.first, topic != "help" else { return .help(nil) }
        guard let name = CommandName(rawValue: topic) else { throw unknownCommand(topic) }
        return .help(name)
    }

    /// The command's one positional argument, checked for presence and excess.
    private static func argument(of command: CommandName, _ positionals: [String]) throws(UsageError) -> String? {
        guard let spec = command.argument else {
            if let extra = positionals.first { throw .unexpectedArgument(extra, command: command) }
            return nil
        }
        if positionals.count > 1 { throw .unexpectedArgument(positionals[1], command: command) }
        if positionals.isEmpty && !spec.optional {
            throw .missingArgument(placeholder: spec.placeholder, command: command)
        }
        return positionals.first
    }

    /// `--name=value` as ("--name", "value"); `--name` as ("--name", nil).
    private static func splitOption(_ word: String) -> (String, String?) {
        guard word.hasPrefix("--"), let equals = word.firstIndex(of: "=") else { return (word, nil) }
        return (String(word[..<equals]), String(word[word.index(after: equals)...]))
    }

    private static func unknownCommand(_ word: String) -> UsageError {
        let suggestion = Suggestion.nearest(to: word, among: CommandName.allCases.map(\.rawValue))
        return .unknownCommand(word, suggestion: suggestion.flatMap(CommandName.init(rawValue:)))
    }

    private static func unknownOption(
        _ name: String, command: CommandName?, atTopLevel: Bool, allowed: [OptionName]
    ) -> UsageError {
        if atTopLevel, let option = OptionName(rawValue: name), !OptionName.global.contains(option) {
            return .optionBeforeCommand(name)
        }
        let suggestion = Suggestion.nearest(to: name, among: allowed.map(\.rawValue) + ["--help"])
        return .unknownOption(name, command: command, suggestion: suggestion)
    }
}
