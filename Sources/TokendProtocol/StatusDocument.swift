/// The JSON of a `STATUS` answer (SPEC §5), in both directions: the daemon
/// renders it, tokenctl reads it.
/// `{"version":…,"uptime_s":…,"profiles":[{"name","state","expires_in","renew_in","fetches","failures","last_error","file_errors","source","idp_limits","issued_token_type","fleet"}]}`
public struct StatusDocument: Equatable, Sendable {
    /// One profile's entry.
    public struct Profile: Equatable, Sendable {
        public var name: String
        /// `pending`, `fresh`, `renewing` or `expired`.
        public var state: String
        public var expiresIn: Int?
        public var renewIn: Int?
        public var fetches: Int
        public var failures: Int
        public var lastError: String?
        /// Token files that could not be written or removed (SPEC §11).
        public var fileErrors: [String]
        /// Where the current token came from: `cache` or `idp`; nil without one (SPEC §9).
        public var source: String?
        /// The IdP's rate-limit and quota headers, as it sent them (SPEC §10).
        public var idpLimits: JSONValue?
        /// RFC 8693's `issued_token_type` of the current token, when a token exchange answered it (SPEC §13).
        public var issuedTokenType: String?
        /// `pending`, `ok` or `unavailable: …` for a profile shared through the fleet store; nil otherwise (SPEC §14).
        public var fleet: String?

        public init(name: String, state: String, expiresIn: Int?, renewIn: Int?, fetches: Int, failures: Int, lastError: String?,
                    fileErrors: [String] = [], source: String? = nil, idpLimits: JSONValue? = nil, issuedTokenType: String? = nil,
                    fleet: String? = nil) {
            self.name = name
            self.state = state
            self.expiresIn = expiresIn
            self.renewIn = renewIn
            self.fetches = fetches
            self.failures = failures
            self.lastError = lastError
            self.fileErrors = fileErrors
            self.source = source
            self.idpLimits = idpLimits
            self.issuedTokenType = issuedTokenType
            self.fleet = fleet
        }

        var json: JSONValue {
            .object([
                ("name", .string(name)),
                ("state", .string(state)),
                ("expires_in", expiresIn.map { .int($0) } ?? .null),
                ("renew_in", renewIn.map { .int($0) } ?? .null),
                ("fetches", .int(fetches)),
                ("failures", .int(failures)),
                ("last_error", lastError.map { .string($0) } ?? .null),
                ("file_errors", .array(fileErrors.map { .string($0) })),
                ("source", source.map { .string($0) } ?? .null),
                ("idp_limits", idpLimits ?? .null),
                ("issued_token_type", issuedTokenType.map { .string($0) } ?? .null),
                ("fleet", fleet.map { .string($0) } ?? .null),
            ])
        }
    }

    public var version: String
    public var uptimeSeconds: Int
    public var profiles: [Profile]

    public init(version: String, uptimeSeconds: Int, profiles: [Profile]) {
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.profiles = profiles
    }

    /// One line of JSON, the payload after `OK `.
    public var rendered: String {
        JSONWriter.write(.object([
            ("version", .string(version)),
            ("uptime_s", .int(uptimeSeconds)),
            ("profiles", .array(profiles.map(\.json))),
        ]))
    }

    /// Reads a `STATUS` payload; nil when it is not JSON of this shape.
    /// Members a newer daemon adds are ignored.
    public static func parse(_ payload: String) -> StatusDocument? {
        guard let value = try? JSONParser.parse(Array(payload.utf8)), let list = value["profiles"]?.arrayValue else { return nil }
        var profiles: [Profile] = []
        for entry in list {
            guard let name = entry["name"]?.stringValue, let state = entry["state"]?.stringValue else { return nil }
            profiles.append(Profile(name: name, state: state, expiresIn: entry["expires_in"]?.intValue, renewIn: entry["renew_in"]?.intValue,
                                    fetches: entry["fetches"]?.intValue ?? 0, failures: entry["failures"]?.intValue ?? 0,
                                    lastError: entry["last_error"]?.stringValue,
                                    fileErrors: entry["file_errors"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                                    source: entry["source"]?.stringValue,
                                    idpLimits: entry["idp_limits"].flatMap { $0.isNull ? nil : $0 },
                                    issuedTokenType: entry["issued_token_type"]?.stringValue,
                                    fleet: entry["fleet"]?.stringValue))
        }
        return StatusDocument(version: value["version"]?.stringValue ?? "", uptimeSeconds: value["uptime_s"]?.intValue ?? 0,
                              profiles: profiles)
    }
}
