import TokendCore

/// Makes access tokens in the configured format.
enum TokenMinter {
    /// A fresh token for `clientID` expiring `lifetime` seconds after `unixNow`.
    static func mint(format: TestIdP.TokenFormat, clientID: String, lifetime: Double, unixNow: Double) -> String {
        switch format {
        case .opaque:
            return base64URL(randomBytes(32))
        case .jwt:
            let header = JSONText.object([("alg", JSONText.string("HS256")), ("typ", JSONText.string("JWT"))])
            let payload = JSONText.object([
                ("exp", expiry(unixNow: unixNow, lifetime: lifetime)),
                ("iat", JSONText.number(unixNow.rounded(.down))),
                ("sub", JSONText.string(clientID)),
                // Two tokens for one client within a second must still differ.
                ("jti", JSONText.string(base64URL(randomBytes(12)))),
            ])
            return [base64URL(Array(header.utf8)), base64URL(Array(payload.utf8)), base64URL(randomBytes(32))]
                .joined(separator: ".")
        }
    }

    /// The `exp` claim: whole seconds (as almost every IdP sends) when the
    /// lifetime is whole; otherwise milliseconds, because rounding a
    /// sub-second lifetime to whole seconds could make it zero or negative.
    private static func expiry(unixNow: Double, lifetime: Double) -> String {
        if lifetime == lifetime.rounded() {
            return JSONText.number((unixNow + lifetime).rounded())
        }
        return JSONText.number(((unixNow + lifetime) * 1000).rounded() / 1000)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Base64url without padding (RFC 4648 §5), as JWTs and most opaque tokens use.
    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Base64.encode(bytes)
        text.removeAll { $0 == "=" }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}
