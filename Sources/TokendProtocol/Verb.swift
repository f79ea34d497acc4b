/// The verbs of the line protocol (SPEC §5), plus `invalid` for a line that
/// names none: the `verb` label of `tokend_requests_total`. Its raw value
/// indexes the request counters.
public enum Verb: Int, CaseIterable, Sendable {
    case get, header, refresh, status, list, ping, version, quit, invalid

    /// As the protocol spells it (and the metric's label).
    public var label: String {
        switch self {
        case .get: "GET"
        case .header: "HEADER"
        case .refresh: "REFRESH"
        case .status: "STATUS"
        case .list: "LIST"
        case .ping: "PING"
        case .version: "VERSION"
        case .quit: "QUIT"
        case .invalid: "invalid"
        }
    }
}

/// How a request was answered: the `result` label of
/// `tokend_requests_total`, `ok` or the error code. `index` places it among
/// `allCases` (the request counters' columns).
public enum RequestResult: Hashable, Sendable, CaseIterable {
    case ok
    case error(ErrorCode)

    public static let allCases: [RequestResult] = [.ok] + ErrorCode.allCases.map { .error($0) }

    public var label: String {
        switch self {
        case .ok: "ok"
        case .error(let code): code.rawValue
        }
    }

    /// Its column: `ok` first, then the error codes in `ErrorCode`'s order.
    public var index: Int {
        switch self {
        case .ok: 0
        case .error(let code): 1 + ErrorCode.allCases.firstIndex(of: code)!
        }
    }

    /// The result an answer line reports.
    public init(_ answer: AnswerLine) {
        guard case .err(let code, _) = answer, let known = ErrorCode(rawValue: code) else {
            self = .ok
            return
        }
        self = .error(known)
    }
}
