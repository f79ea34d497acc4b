import TokendPlatform
import TokendProtocol

/// Interprets a token endpoint's HTTP answer (SPEC §3): success is HTTP 200
/// with a JSON object holding a string `access_token` and no `error` member;
/// everything else is a `FetchFailure` with a message that never contains a
/// secret or a token.
public enum TokenResponseParser {
    /// - Parameters:
    ///   - status: the HTTP status code.
    ///   - retryAfter: the raw `Retry-After` header, if any.
    ///   - body: the response body (already capped by the transport).
    ///   - defaultTTL: lifetime assumed without `expires_in` or JWT `exp`.
    ///   - unixTime: the wall clock now, in seconds, for JWT `exp` and HTTP dates.
    ///   - redact: strings that must never appear in a message (the client secret).
    public static func parse(status: Int, retryAfter: String?, body: [UInt8], defaultTTL: TimeSpan,
                             unixTime: Double, redact: [String] = []) -> Result<IssuedToken, FetchFailure> {
        let json = try? JSONParser.parse(body)
        if status == 200, let json, case .object = json, json["error"] == nil {
            return success(json, defaultTTL: defaultTTL, unixTime: unixTime)
        }
        var wait: TimeSpan?
        if status == 429 || status == 503, let header = retryAfter {
            wait = parseRetryAfter(header, unixTime: unixTime)
        }
        // A body that carries a token is never quoted, whatever the status
        // (a gateway's 201, an error object beside a token): describe it.
        if mentionsAccessToken(body) {
            let what = status == 200 ? "invalid token response" : "HTTP \(status)"
            return .failure(FetchFailure("\(what): the body holds an access_token but is not a token response (not quoted)", retryAfter: wait,
                                         kind: status == 200 ? .invalidResponse : .httpError, code: String(status)))
        }
        if let json, let error = json["error"]?.stringValue {
            var message = error
            if let description = json["error_description"]?.stringValue, !description.isEmpty {
                message += ": " + description
            }
            return .failure(FetchFailure(quotable(message, redact), retryAfter: wait, kind: .oauthError, code: error))
        }
        if status == 200 {
            let reason = json == nil ? "the body is not valid JSON" : "the body is not a JSON object"
            return .failure(FetchFailure("invalid token response: \(reason)", kind: .invalidResponse))
        }
        let snippet = quotable(String(decoding: body, as: UTF8.self), redact)
        return .failure(FetchFailure(snippet.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(snippet)", retryAfter: wait, kind: .httpError,
                                     code: String(status)))
    }

    /// The most of an IdP's text that an error message may quote: the
    /// secret removed in every form it was sent in, then reduced to
    /// printable characters (whitespace runs collapsed), then cut, so that
    /// no part of a secret survives at the cut or where control characters
    /// were dropped around it.
    public static func quotable(_ text: String, _ secrets: [String]) -> String {
        let printable = printableSnippet(Array(redacted(text, secrets).utf8), limit: Int.max)
        return printableSnippet(Array(redacted(printable, secrets).utf8), limit: quotedCharacters)
    }

    /// How much of an IdP's body an error message quotes (SPEC §3).
    public static let quotedCharacters = 200

    /// Whether `access_token` occurs anywhere in the body (any case): in a
    /// JSON member, an HTML page echoing one, a form-encoded answer.
    static func mentionsAccessToken(_ body: [UInt8]) -> Bool {
        let needle = Array("access_token".utf8)
        guard body.count >= needle.count else { return false }
        for start in 0...(body.count - needle.count) {
            var i = 0
            while i < needle.count, body[start + i] | 0x20 == needle[i] | 0x20 { i += 1 }
            if i == needle.count { return true }
        }
        return false
    }

    static func success(_ json: JSONValue, defaultTTL: TimeSpan, unixTime: Double) -> Result<IssuedToken, FetchFailure> {
        guard let token = json["access_token"]?.stringValue else {
            return .failure(FetchFailure("invalid token response: no string access_token", kind: .invalidResponse))
        }
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(FetchFailure("invalid token response: access_token is empty or has characters outside printable ASCII", kind: .invalidResponse))
        }
        var type = "Bearer"
        if let value = json["token_type"], !value.isNull {
            guard let raw = value.stringValue, !raw.isEmpty, raw.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(FetchFailure("invalid token response: token_type is not a word", kind: .invalidResponse))
            }
            switch raw.lowercased() {
            case "bearer": type = "Bearer"
            case "dpop": type = "DPoP"
            // RFC 8693: a token that is not an access token; presented as a
            // bearer credential all the same (SPEC §13).
            case "n_a": type = "Bearer"
            default: type = raw
            }
        }
        var lifetime: TimeSpan
        switch seconds(json["expires_in"]) {
        case .some(.some(let s)):
            lifetime = .seconds(s)
        case .some(.none):
            return .failure(FetchFailure("invalid token response: expires_in is not a number", kind: .invalidResponse))
        case .none:
            if let exp = jwtExpiry(token) {
                lifetime = .seconds(exp - unixTime)
            } else {
                lifetime = defaultTTL
            }
        }
        guard lifetime > .zero else {
            return .failure(FetchFailure("invalid token response: token lifetime is zero or less", kind: .invalidResponse))
        }
        lifetime = min(lifetime, maximumTokenLifetime)
        var refreshIn: TimeSpan?
        if case .some(.some(let s)) = seconds(json["refresh_in"]), s > 0 {
            refreshIn = min(.seconds(s), maximumTokenLifetime)
        }
        // A URI (RFC 8693 §3); anything else is not shown.
        let issuedType = json["issued_token_type"]?.stringValue.flatMap {
            !$0.isEmpty && $0.utf8.count <= 256 && $0.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? $0 : nil
        }
        return .success(IssuedToken(accessToken: token, tokenType: type, lifetime: lifetime, refreshIn: refreshIn, issuedTokenType: issuedType))
    }

    /// nil: absent or null; .some(nil): present but not numeric.
    private static func seconds(_ value: JSONValue?) -> Double?? {
        guard let value, !value.isNull else { return nil }
        if let d = value.doubleValue, d.isFinite { return .some(d) }
        if let s = value.stringValue, let d = Double(s.trimmingSpaces), d.isFinite { return .some(d) }
        return .some(nil)
    }

    /// The `exp` claim of a JWT (no signature check: tokend is not its audience).
    static func jwtExpiry(_ token: String) -> Double? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64.decode(parts[1]),
              let claims = try? JSONParser.parse(payload), let exp = claims["exp"]?.doubleValue, exp.isFinite else { return nil }
        return exp
    }

    /// `Retry-After` as delay-seconds or an HTTP date, capped at ten minutes.
    public static func parseRetryAfter(_ header: String, unixTime: Double) -> TimeSpan? {
        let text = header.trimmingSpaces
        var wait: TimeSpan
        if let seconds = Int64(text), seconds >= 0 {
            wait = .seconds(min(seconds, 600))
        } else if let date = HTTPDate.parse(text) {
            wait = .seconds(max(0, min(Double(date) - unixTime, 600)))
        } else {
            return nil
        }
        if wait > maximumRetryAfter { wait = maximumRetryAfter }
        return wait
    }

    /// At most `limit` printable ASCII characters of `body`, whitespace runs collapsed.
    static func printableSnippet(_ body: [UInt8], limit: Int = quotedCharacters) -> String {
        var out = [UInt8]()
        var lastWasSpace = true
        for byte in body {
            if out.count == limit { break }
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                if !lastWasSpace { out.append(0x20) }
                lastWasSpace = true
            } else if byte > 0x20 && byte < 0x7F {
                out.append(byte)
                lastWasSpace = false
            }
        }
        while out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    static func redacted(_ text: String, _ secrets: [String]) -> String {
        var out = text
        for secret in secrets where !secret.isEmpty {
            out = out.replacingAll(secret, with: "<redacted>")
        }
        return out
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
