/// The commands of tokenctl (SPEC §7) and what each accepts on its command
/// line: the one table both the parser and the help text read.
public enum CommandName: String, CaseIterable, Equatable, Sendable {
    case get, header, refresh, status, list, ping, exec

    /// The options this command accepts after its name, besides the global ones.
    var options: [OptionName] {
        switch self {
        case .get: return [.minTTL, .json]
        case .exec: return [.minTTL, .env]
        case .header: return [.minTTL]
        case .status: return [.json]
        case .refresh, .list, .ping: return []
        }
    }

    /// The positional argument: its placeholder for help and errors, and
    /// whether it may be left out. nil: the command takes none.
    var argument: (placeholder: String, optional: Bool)? {
        switch self {
        case .get, .header, .refresh, .exec: return ("<profile>", false)
        case .status: return ("<profile>", true)
        case .list, .ping: return nil
        }
    }

    /// "get, header, refresh, status, list, ping, exec", for error messages.
    static let listing = allCases.map(\.rawValue).joined(separator: ", ")
}
