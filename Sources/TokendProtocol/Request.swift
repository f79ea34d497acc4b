/// One request of the line protocol, parsed (SPEC §5).
public enum Request: Equatable, Sendable {
    case get(profile: String, minTTL: Int?)
    case header(profile: String, minTTL: Int?)
    case refresh(profile: String)
    case status(profile: String?)
    case list
    case ping
    case version
    case quit

    /// Its verb (the request counters' row).
    public var kind: Verb {
        switch self {
        case .get: .get
        case .header: .header
        case .refresh: .refresh
        case .status: .status
        case .list: .list
        case .ping: .ping
        case .version: .version
        case .quit: .quit
        }
    }

    /// The verb as the protocol spells it, for log lines.
    public var verb: String { kind.label }

    /// The request line as a client sends it, without its LF.
    public var line: String {
        switch self {
        case .get(let p, let ttl): return ttl.map { "GET \(p) \($0)" } ?? "GET \(p)"
        case .header(let p, let ttl): return ttl.map { "HEADER \(p) \($0)" } ?? "HEADER \(p)"
        case .refresh(let p): return "REFRESH \(p)"
        case .status(let p): return p.map { "STATUS \($0)" } ?? "STATUS"
        case .list, .ping, .version, .quit: return verb
        }
    }

    /// The profile the request names, if any.
    public var profile: String? {
        switch self {
        case .get(let p, _), .header(let p, _), .refresh(let p): return p
        case .status(let p): return p
        case .list, .ping, .version, .quit: return nil
        }
    }
}

/// Why a request line could not be parsed; rendered as `ERR bad-request MESSAGE`.
public struct RequestSyntaxError: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}
