import Atomics
import TokendCore
import TokendPlatform
import TokendProtocol

/// A client of etcd's v3 JSON gateway over libcurl: TLS with `ca_file`,
/// mutual TLS, etcd users (the token renewed when etcd says it is no longer
/// valid) and failover across `endpoints`. Each call blocks for at most its
/// timeout: use it from a thread that serves no client (a profile's
/// transfer thread). Not thread-safe: one gateway per profile.
public final class EtcdGateway: @unchecked Sendable {  // confined to its profile's transfer thread
    private let settings: FleetConfiguration
    private let transfer = CurlTransfer()
    /// For releasing locks: never aborted, so that a host that stops in the
    /// middle of a need still frees its lock.
    private let releaseTransfer = CurlTransfer()
    /// The endpoint that answered last: calls start there.
    private var current = 0
    private var authToken: String?
    private let options: [TransferOptions]

    public init(settings: FleetConfiguration) {
        self.settings = settings
        options = settings.endpoints.map {
            TransferOptions(timeout: settings.timeout, caFile: settings.caFile, clientCertFile: settings.certFile,
                            clientKeyFile: settings.keyFile, direct: TokenURL.isLoopbackURL($0))
        }
    }

    /// Abandons the call under way (a stop).
    public func abort() { transfer.abort.store(true, ordering: .relaxed) }

    // MARK: - Calls

    /// The value and revision under `key`, or nil.
    public func read(_ key: String, timeout: TimeSpan) throws(FleetStoreError) -> EtcdKeyValue? {
        let body = try call("/v3/kv/range", EtcdMessages.range(key: key), timeout: timeout)
        do { return try EtcdMessages.rangeAnswer(body).first { $0.key == Array(key.utf8) } } catch { throw .unavailable("etcd's range answer: \(error)") }
    }

    /// A lease of `seconds`.
    public func grant(seconds: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Int64 {
        let body = try call("/v3/lease/grant", EtcdMessages.grant(ttlSeconds: seconds), timeout: timeout)
        do { return try EtcdMessages.grantAnswer(body) } catch { throw .unavailable("etcd's lease answer: \(error)") }
    }

    /// Ends a lease, deleting its keys (one already gone is no error).
    public func revoke(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError) {
        do {
            _ = try call("/v3/lease/revoke", EtcdMessages.revoke(lease: lease), timeout: timeout)
        } catch .unavailable(let why) where why.contains("lease not found") {
            return
        }
    }

    /// Ends a lease on the connection a stop does not abandon, within at
    /// most a second (a stop waits for it).
    public func release(_ lease: Int64, timeout: TimeSpan) throws(FleetStoreError) {
        do {
            _ = try call("/v3/lease/revoke", EtcdMessages.revoke(lease: lease), timeout: Swift.min(timeout, .seconds(1 as Int64)),
                         using: releaseTransfer)
        } catch .unavailable(let why) where why.contains("lease not found") {
            return
        }
    }

    /// Puts `value` under `key` with `lease` only if its revision is
    /// `modRevision` (0: absent); whether it did.
    public func put(_ key: String, _ value: [UInt8], lease: Int64, ifModRevision modRevision: Int64, timeout: TimeSpan) throws(FleetStoreError) -> Bool {
        let body = try call("/v3/kv/txn", EtcdMessages.putIf(key: key, value: value, lease: lease, modRevision: modRevision), timeout: timeout)
        do { return try EtcdMessages.txnAnswer(body) } catch { throw .unavailable("etcd's transaction answer: \(error)") }
    }

    // MARK: - The wire

    /// POSTs `body` to `path` on the current endpoint, then the others,
    /// within `timeout` in all; authenticates first when a user is set.
    private func call(_ path: String, _ body: String, timeout: TimeSpan, using chosen: CurlTransfer? = nil) throws(FleetStoreError) -> [UInt8] {
        do {
            return try exchange(path, body, timeout: timeout, using: chosen ?? transfer)
        } catch .unavailable(let why) {
            throw .unavailable(redacted(why))
        } catch .auth(let why) {
            throw .auth(redacted(why))
        }
    }

    /// A message without the password or etcd's token in it (an endpoint
    /// or proxy that echoes the request must not put them in a log).
    private func redacted(_ message: String) -> String {
        var text = message
        let secrets = [settings.password?.value, authToken, droppedToken].compactMap { $0 }.filter { $0.utf8.count >= 4 }
        // Every form an echo is likely to use (raw, percent-encoded, JSON-escaped...), longest first.
        for form in secrets.flatMap(TokenRequest.echoForms).sorted(by: { $0.utf8.count > $1.utf8.count }) where !form.isEmpty {
            while let range = text.firstRange(of: form) { text.replaceSubrange(range, with: "[redacted]") }
        }
        return text
    }

    /// The etcd token dropped by the last re-authentication (still redacted).
    private var droppedToken: String?

    private func exchange(_ path: String, _ body: String, timeout: TimeSpan, using transfer: CurlTransfer) throws(FleetStoreError) -> [UInt8] {
        let deadline = BootClock.now() + timeout
        var lastProblem = "no endpoint answered"
        var reauthenticated = false
        var attempts = 0
        while attempts < settings.endpoints.count * 2 {
            let left = deadline - BootClock.now()
            guard left > .milliseconds(1) else { break }
            let index = current % settings.endpoints.count
            let endpoint = settings.endpoints[index]
            attempts += 1
            if settings.username != nil, authToken == nil {
                do {
                    authToken = try authenticate(endpoint, options: options[index], timeout: left, using: transfer)
                } catch .auth(let why) {
                    throw .auth(why)
                } catch .unavailable(let why) {
                    lastProblem = why
                    current += 1
                    continue
                }
            }
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Accept", "application/json")]
            if let authToken { headers.append(("Authorization", authToken)) }
            var options = options[index]
            // While another member is left to try, one that drops packets
            // gets half of what remains, not all of it.
            let remaining = deadline - BootClock.now()
            options.timeout = attempts < settings.endpoints.count ? Swift.max(remaining * 0.5, Swift.min(remaining, .milliseconds(300))) : remaining
            guard options.timeout > .milliseconds(1) else { break }
            switch transfer.perform(TokenRequest(url: endpoint + path, headers: headers, body: body), options: options) {
            case .failed(let message, _):
                lastProblem = "\(endpoint): \(message)"
                current += 1
            case .response(let status, _, let answer, _, _):
                if (200..<300).contains(status) { return answer }
                guard let error = EtcdMessages.status(answer) else {
                    lastProblem = "\(endpoint): HTTP \(status)\(Self.plainText(answer))"
                    current += 1
                    continue
                }
                let message = AnswerLine.oneLine(error.message)
                // 16 Unauthenticated: the token expired or the member restarted.
                if error.code == 16 || message.contains("invalid auth token") || message.contains("auth token is not provided") {
                    guard settings.username != nil, !reauthenticated else { throw .auth("\(endpoint): \(message)") }
                    reauthenticated = true
                    droppedToken = authToken
                    authToken = nil
                    attempts -= 1
                    continue
                }
                // 7 PermissionDenied: the user's role does not cover the prefix.
                if error.code == 7 { throw .auth("\(endpoint): \(message)") }
                // 3 InvalidArgument, 5 NotFound, 9 FailedPrecondition, 11 OutOfRange:
                // the same on every member.
                if [3, 5, 9, 11].contains(error.code) { throw .unavailable("\(endpoint): \(message)") }
                lastProblem = "\(endpoint): \(message)"
                // 14 Unavailable (no leader, stopping), 4 deadline, 13 internal: another member may do.
                current += 1
            }
        }
        throw .unavailable(lastProblem)
    }

    /// etcd's own words when it answered plain text (the gateway does for
    /// some refusals): ": TEXT", one line, at most 160 characters.
    static func plainText(_ answer: [UInt8]) -> String {
        let text = AnswerLine.oneLine(String(decoding: answer.prefix(160), as: UTF8.self)).trimmingCharacters(whereIn: " \t")
        guard !text.isEmpty, !text.hasPrefix("{"), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else { return "" }
        return ": " + text
    }

    private func authenticate(_ endpoint: String, options: TransferOptions, timeout: TimeSpan,
                              using transfer: CurlTransfer) throws(FleetStoreError) -> String {
        guard let name = settings.username, let password = settings.password else { throw .auth("no password was read") }
        var options = options
        options.timeout = timeout
        let request = TokenRequest(url: endpoint + "/v3/auth/authenticate", headers: [("Content-Type", "application/json")],
                                   body: EtcdMessages.authenticate(name: name, password: password.value))
        switch transfer.perform(request, options: options) {
        case .failed(let message, _):
            throw .unavailable("\(endpoint): \(message)")
        case .response(let status, _, let answer, _, _):
            if (200..<300).contains(status) {
                do { return try EtcdMessages.authenticateAnswer(answer) } catch { throw .unavailable("\(endpoint): etcd's authentication answer: \(error)") }
            }
            let message = EtcdMessages.status(answer).map { AnswerLine.oneLine($0.message) } ?? "HTTP \(status)\(Self.plainText(answer))"
            // 3 InvalidArgument "authentication failed, invalid user ID or password"; 9 "authentication is not enabled";
            // the gateway refuses a client certificate with a CommonName once authentication is on.
            if message.contains("authentication") || message.contains("password") || message.contains("user") || message.contains("CommonName") {
                throw .auth("\(endpoint): \(message)")
            }
            throw .unavailable("\(endpoint): \(message)")
        }
    }
}
