import Testing
import TokendProtocol

/// The labels of `tokend_requests_total` (SPEC §10) come from the protocol's
/// own enums: every verb and every error code, each with its own index.
@Suite struct VerbTests {
    @Test func everyVerbAndResultHasItsLabelAndIndex() {
        #expect(Verb.allCases.map(\.label) == ["GET", "HEADER", "REFRESH", "STATUS", "LIST", "PING", "VERSION", "QUIT", "invalid"])
        #expect(RequestResult.allCases.map(\.label) == ["ok", "unknown-profile", "denied", "unavailable", "bad-request", "too-long", "busy"])
        #expect(RequestResult.allCases.map(\.index) == Array(0..<RequestResult.allCases.count))
        #expect(Request.get(profile: "a", minTTL: nil).kind == .get && Request.quit.verb == "QUIT")
        #expect(RequestResult(.error(.denied, "no")) == .error(.denied))
        #expect(RequestResult(.ok("PONG")) == .ok)
        #expect(RequestResult(.err(code: "something-else", message: "")) == .ok)
    }
}
