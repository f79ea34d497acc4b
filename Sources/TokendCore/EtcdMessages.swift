import TokendProtocol

/// One key of an etcd range answer.
public struct EtcdKeyValue: Equatable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var modRevision: Int64
    public var lease: Int64

    public init(key: [UInt8], value: [UInt8], modRevision: Int64, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.modRevision = modRevision
        self.lease = lease
    }
}

/// The etcd v3 JSON gateway's messages (`/v3/kv/range`, `/v3/kv/txn`,
/// `/v3/lease/grant`, `/v3/lease/revoke`, `/v3/auth/authenticate`): the
/// request bodies tokend sends and the answers it reads, pure, so that the
/// parser is unit-tested and fuzzed without etcd. Keys and values travel as
/// standard base64; 64-bit integers as JSON strings (proto3's JSON mapping),
/// numbers accepted too.
public enum EtcdMessages {
    /// An answer tokend cannot read.
    public struct Unreadable: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// An error answer's gRPC code and message (`{"error","code","message"}`).
    public struct Status: Equatable, Sendable {
        public var code: Int
        public var message: String
    }

    // MARK: - Requests

    public static func range(key: String) -> String {
        JSONWriter.write(.object([("key", .string(Base64.encode(Array(key.utf8))))]))
    }

    public static func grant(ttlSeconds: Int64) -> String {
        JSONWriter.write(.object([("TTL", .string(String(ttlSeconds)))]))
    }

    public static func revoke(lease: Int64) -> String {
        JSONWriter.write(.object([("ID", .string(String(lease)))]))
    }

    public static func authenticate(name: String, password: String) -> String {
        JSONWriter.write(.object([("name", .string(name)), ("password", .string(password))]))
    }

    /// Puts `value` under `key` (with `lease`, 0 for none) only if the key's
    /// modification revision is `modRevision` (0: the key does not exist).
    public static func putIf(key: String, value: [UInt8], lease: Int64, modRevision: Int64) -> String {
        let encodedKey = JSONValue.string(Base64.encode(Array(key.utf8)))
        var put: [(String, JSONValue)] = [("key", encodedKey), ("value", .string(Base64.encode(value)))]
        if lease != 0 { put.append(("lease", .string(String(lease)))) }
        let compare: JSONValue = .object([
            ("key", encodedKey), ("result", .string("EQUAL")), ("target", .string("MOD")),
            ("mod_revision", .string(String(modRevision))),
        ])
        return JSONWriter.write(.object([("compare", .array([compare])), ("success", .array([.object([("request_put", .object(put))])]))]))
    }

    // MARK: - Answers

    /// The error of a non-2xx answer, when it has the gateway's shape.
    public static func status(_ body: [UInt8]) -> Status? {
        guard let value = try? JSONParser.parse(body), let code = integer(value["code"]), code >= 0, code < 1000 else { return nil }
        let message = value["message"]?.stringValue ?? value["error"]?.stringValue ?? ""
        return Status(code: Int(code), message: String(message.prefix(200)))
    }

    /// The keys of a range answer (none: an empty list).
    public static func rangeAnswer(_ body: [UInt8]) throws(Unreadable) -> [EtcdKeyValue] {
        let value = try object(body)
        guard let kvs = value["kvs"] else { return [] }
        guard let list = kvs.arrayValue else { throw Unreadable("kvs is not a list") }
        var result: [EtcdKeyValue] = []
        for item in list.prefix(64) {
            guard let key = item["key"]?.stringValue.flatMap(Base64.decode) else { throw Unreadable("a key is not base64") }
            let value = try item["value"].map { (v: JSONValue) throws(Unreadable) -> [UInt8] in
                guard let text = v.stringValue, let bytes = Base64.decode(text) else { throw Unreadable("a value is not base64") }
                return bytes
            } ?? []
            guard let revision = integer(item["mod_revision"]), revision > 0 else { throw Unreadable("a key has no mod_revision") }
            result.append(EtcdKeyValue(key: key, value: value, modRevision: revision, lease: integer(item["lease"]) ?? 0))
        }
        return result
    }

    /// Whether a transaction's comparisons held (`succeeded`, omitted when false).
    public static func txnAnswer(_ body: [UInt8]) throws(Unreadable) -> Bool {
        let value = try object(body)
        guard let succeeded = value["succeeded"] else { return false }
        switch succeeded {
        case .bool(let b): return b
        default: throw Unreadable("succeeded is not a boolean")
        }
    }

    /// The lease of a grant answer.
    public static func grantAnswer(_ body: [UInt8]) throws(Unreadable) -> Int64 {
        let value = try object(body)
        if let error = value["error"]?.stringValue, !error.isEmpty { throw Unreadable("the grant failed: \(error.prefix(200))") }
        guard let id = integer(value["ID"]), id != 0 else { throw Unreadable("the grant has no lease ID") }
        return id
    }

    /// The token of an authenticate answer.
    public static func authenticateAnswer(_ body: [UInt8]) throws(Unreadable) -> String {
        let value = try object(body)
        guard let token = value["token"]?.stringValue, !token.isEmpty, token.utf8.count <= 4096,
              token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Unreadable("the answer holds no token") }
        return token
    }

    /// An answer of etcd's: a JSON object with its `header` (an empty `{}`
    /// from something else must not read as "not applied" or "no key").
    private static func object(_ body: [UInt8]) throws(Unreadable) -> JSONValue {
        guard body.count <= maximumResponseBytes, let value = try? JSONParser.parse(body) else { throw Unreadable("not JSON") }
        guard case .object = value else { throw Unreadable("not a JSON object") }
        guard value["header"] != nil else { throw Unreadable("no header: not an etcd answer") }
        return value
    }

    /// A proto3 int64: a string of digits (or a JSON number).
    static func integer(_ value: JSONValue?) -> Int64? {
        guard let value else { return nil }
        if let text = value.stringValue { return Int64(text) }
        return value.intValue.map(Int64.init)
    }
}

/// Why etcd could not be used for a call (SPEC §14): `unavailable`
/// (refused, timeout, TLS, an answer tokend cannot read) or `auth` (its
/// authentication refused tokend). Neither message quotes a secret.
public enum FleetStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case unavailable(String)
    case auth(String)

    public var kind: String {
        switch self {
        case .unavailable: return "unavailable"
        case .auth: return "auth"
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let why): return why
        case .auth(let why): return "authentication: \(why)"
        }
    }
}
