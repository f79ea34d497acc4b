/// Checks a `token_url` (SPEC §2): `https://`, or `http://` only to a
/// loopback host; no credentials, fragment, spaces or control characters.
public enum TokenURL {
    /// A description of what is wrong with `url`, or nil when it is acceptable.
    public static func problem(_ url: String) -> String? {
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            return "must not contain spaces, control or non-ASCII characters (percent-encode them)"
        }
        guard let schemeEnd = url.firstRange(of: "://") else { return "is not a URL (expected https://HOST/PATH)" }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if url.contains("#") { return "must not have a fragment (#...)" }
        if authority.contains("@") { return "must not carry credentials; use client_id and a client secret key" }
        guard let host = hostPart(authority) else { return "has no valid host" }
        switch scheme {
        case "https": return nil
        case "http":
            return isLoopback(host) ? nil : "must use https:// (http:// is allowed only to a loopback host such as 127.0.0.1 or localhost)"
        default:
            return "must use https:// (or http:// to a loopback host), not \(scheme)://"
        }
    }

    /// The host of an authority (`host`, `host:port`, `[v6]`, `[v6]:port`), lower-cased; nil when malformed.
    static func hostPart(_ authority: Substring) -> String? {
        var host: Substring
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                port = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                port = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) else { return nil }
        }
        if let port {
            guard let n = Int(port), (1...65535).contains(n) else { return nil }
        }
        return host.lowercased()
    }

    /// Whether `url` names a loopback host: such a URL is always reached
    /// directly, never through a proxy (SPEC §3).
    public static func isLoopbackURL(_ url: String) -> Bool {
        guard let schemeEnd = url.firstRange(of: "://") else { return false }
        let authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return hostPart(authority).map(isLoopback) ?? false
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
