/// The long options of tokenctl. `--socket` and `--timeout` are global: they
/// are accepted before and after the command name. The others belong to the
/// commands that list them in `CommandName.options`.
enum OptionName: String, CaseIterable, Equatable, Sendable {
    case socket = "--socket"
    case timeout = "--timeout"
    case minTTL = "--min-ttl"
    case json = "--json"
    case env = "--env"

    static let global: [OptionName] = [.socket, .timeout]

    /// Whether the option takes a value (`--opt VALUE` or `--opt=VALUE`).
    var takesValue: Bool { self != .json }

    /// Whether `word`, following an option that takes a value, is that value.
    /// A word that looks like an option is not ("--socket --json" lacks a
    /// value), but a negative number is, so that `--min-ttl -5` is reported
    /// as out of range rather than as a missing value; so is "-" alone.
    static func isValue(_ word: String) -> Bool {
        let utf8 = word.utf8
        guard utf8.first == UInt8(ascii: "-"), utf8.count > 1 else { return true }
        let second = utf8[utf8.index(after: utf8.startIndex)]
        return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(second) || second == UInt8(ascii: ".")
    }

    /// Whether `word` is `--help` or `-h`, which ask for help wherever they are.
    static func isHelp(_ word: String) -> Bool { word == "--help" || word == "-h" }

    /// Whether `word` is to be read as an option (before any `--`). "-" alone
    /// is a positional argument, as is usual for command lines.
    static func looksLikeOption(_ word: String) -> Bool {
        word.utf8.first == UInt8(ascii: "-") && word.utf8.count > 1
    }
}

/// The raw values of the options given, nil for those not given (`--json`
/// given: ""). A struct rather than a dictionary: a generic dictionary type
/// costs a protocol-conformance lookup at run time, which tokenctl avoids.
struct OptionValues {
    private var socket, timeout, minTTL, json, env: String?

    subscript(option: OptionName) -> String? {
        get {
            switch option {
            case .socket: return socket
            case .timeout: return timeout
            case .minTTL: return minTTL
            case .json: return json
            case .env: return env
            }
        }
        set {
            switch option {
            case .socket: socket = newValue
            case .timeout: timeout = newValue
            case .minTTL: minTTL = newValue
            case .json: json = newValue
            case .env: env = newValue
            }
        }
    }
}
