import TokendProtocol

/// A token that another system writes to a file and rotates, and that tokend
/// presents to the IdP as it finds it (SPEC §13): a federated client
/// assertion, or the subject token of a token exchange. The file is read
/// anew for every request; this decides, from its content and the wall
/// clock, what is sent or why nothing is. Messages name the file and the
/// expiry, never a byte of the token.
public enum PresentedToken {
    public enum Kind: Sendable {
        /// `client_assertion_file`/`_credential`: must be a compact JWS.
        case assertion
        /// `subject_token_file`/`_credential`: any token; a JWS's `exp` is checked.
        case subjectToken

        /// How messages name it.
        public var noun: String { self == .assertion ? "assertion" : "subject token" }
        /// The `code` of a failure (`/readyz`, `STATUS` reasons).
        var expiredCode: String { self == .assertion ? "assertion_expired" : "subject_token_expired" }
    }

    /// An assertion or subject token this close to its `exp` (or closer) is not sent.
    public static let expiryMargin: Double = 5

    /// What the JWS peek found.
    public enum Shape: Equatable, Sendable {
        /// Three base64url parts and a JSON object payload; its `exp` if it has one.
        case jws(exp: Double?)
        /// Three base64url parts and a JSON object payload whose `exp` is not a number.
        case jwsWithBadExpiry
        /// Anything else.
        case notJWS(String)
    }

    /// Reads a compact JWS's payload `exp` without verifying anything (the
    /// IdP verifies): three base64url parts whose second is a JSON object.
    /// Never fails on any input.
    public static func shape(_ text: String) -> Shape {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .notJWS("it is not three base64url parts separated by dots") }
        for part in parts where part.isEmpty || !part.allSatisfy(isBase64URL) {
            return .notJWS("it is not three base64url parts separated by dots")
        }
        // Only the payload is read: the header is the IdP's business.
        guard let payload = Base64.decode(Substring(decoding: parts[1], as: UTF8.self)) else {
            return .notJWS("its payload is not valid base64url")
        }
        guard let claims = try? JSONParser.parse(payload), case .object = claims else { return .notJWS("its payload is not a JSON object") }
        guard let exp = claims["exp"] else { return .jws(exp: nil) }
        guard let seconds = exp.doubleValue, seconds.isFinite else { return .jwsWithBadExpiry }
        return .jws(exp: seconds)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"): return true
        default: return false
        }
    }

    /// Why a file's content is not sent.
    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public let message: String
        /// Whether it is only expired (at `--check`, a warning: the rotator may not have run yet).
        public let expired: Bool
        let code: String
        public var description: String { message }

        /// The failure of the attempt that did not send it.
        public var failure: FetchFailure { FetchFailure(message, kind: .transportError, code: code) }
    }

    /// The token to send from a file's `content`, or why none is sent.
    /// - Parameters:
    ///   - path: the file, for messages.
    ///   - unixNow: the wall clock, in seconds.
    public static func evaluate(_ content: [UInt8], kind: Kind, path: String, unixNow: Double) -> Result<String, Refusal> {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = content.firstIndex(where: { !isSpace($0) }), let last = content.lastIndex(where: { !isSpace($0) }) else {
            return .failure(Refusal(message: "\(path) is empty: no \(kind.noun) to send", expired: false, code: "credential_unreadable"))
        }
        let bytes = content[first...last]
        let text = String(decoding: bytes, as: UTF8.self)
        let exp: Double?
        if kind == .subjectToken {
            // Any subject token is sent as it is; a JWS has its exp checked.
            if case .jws(let e) = shape(text) { exp = e } else { exp = nil }
        } else {
            // Printable ASCII without spaces: every JWS is; anything else is a
            // wrong file, and is described, never quoted.
            guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(Refusal(message: "\(path) does not hold a JWS: it has spaces or characters outside printable ASCII",
                                        expired: false, code: "credential_unreadable"))
            }
            switch shape(text) {
            case .jws(let e):
                exp = e
            case .jwsWithBadExpiry:
                return .failure(Refusal(message: "\(path) does not hold a usable \(kind.noun): its exp claim is not a number",
                                        expired: false, code: "credential_unreadable"))
            case .notJWS(let why):
                return .failure(Refusal(message: "\(path) does not hold a JWS: \(why)", expired: false, code: "credential_unreadable"))
            }
        }
        if let exp, unixNow >= exp - expiryMargin {
            return .failure(Refusal(message: "\(kind.noun) expired at \(RFC3339.format(exp)) (\(path))", expired: true, code: kind.expiredCode))
        }
        return .success(text)
    }
}

/// RFC 3339 times in UTC, whole seconds: `2026-12-03T11:20:47Z`.
public enum RFC3339 {
    public static func format(_ unixSeconds: Double) -> String {
        guard unixSeconds.isFinite, abs(unixSeconds) < 1e14 else { return "an unrepresentable time" }
        let total = Int64(unixSeconds.rounded(.down))
        var days = total / 86_400
        var seconds = total % 86_400
        if seconds < 0 { seconds += 86_400; days -= 1 }
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let yearText = year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(yearText)-\(two(month))-\(two(day))T\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))Z"
    }
}
