import Testing
import TokendProtocol

/// Both directions of the wire live in TokendProtocol: what tokenctl renders
/// the server parses, and what the server renders tokenctl reads.
@Suite struct WireRoundTripTests {
    @Test(arguments: [
        Request.get(profile: "api", minTTL: nil), .get(profile: "a.b-c_d", minTTL: 300), .header(profile: "api", minTTL: 0),
        .header(profile: "api", minTTL: nil), .refresh(profile: "api"), .status(profile: nil), .status(profile: "api"),
        .list, .ping, .version, .quit,
    ])
    func requestLinesParseBackToTheirRequest(request: Request) {
        #expect(RequestLineParser.parse(request.line) == .success(request))
    }

    @Test func tokenAnswersParseBack() throws {
        let get = String(decoding: TokenAnswer.getPrefix(token: "eyJ.abc.def") + Array("57".utf8), as: UTF8.self)
        guard case .ok(let payload)? = AnswerLine.parse(get) else {
            Issue.record("not an OK line: \(get)")
            return
        }
        let token = try #require(TokenAnswer.parseToken(payload))
        #expect(token.token == "eyJ.abc.def" && token.expiresIn == 57)
        let header = String(decoding: TokenAnswer.headerLine(type: "DPoP", token: "t0k").dropLast(), as: UTF8.self)
        guard case .ok(let headerPayload)? = AnswerLine.parse(header) else {
            Issue.record("not an OK line: \(header)")
            return
        }
        let parsed = try #require(TokenAnswer.parseHeader(headerPayload))
        #expect(parsed.type == "DPoP" && parsed.token == "t0k")
        #expect(TokenAnswer.parseToken("abc") == nil && TokenAnswer.parseHeader("Bearer abc") == nil)
    }

    @Test func statusDocumentsParseBack() throws {
        let document = StatusDocument(version: "0.1.0", uptimeSeconds: 42, profiles: [
            .init(name: "api", state: "fresh", expiresIn: 3500, renewIn: 2600, fetches: 3, failures: 1, lastError: nil),
            .init(name: "b", state: "pending", expiresIn: nil, renewIn: nil, fetches: 0, failures: 2, lastError: "invalid_client: \"no\""),
        ])
        let text = document.rendered
        #expect(!text.contains("\n"))
        #expect(StatusDocument.parse(text) == document)
        #expect(StatusDocument.parse("[]") == nil && StatusDocument.parse("{\"profiles\":[{\"state\":\"fresh\"}]}") == nil)
        // Members a newer daemon adds are ignored.
        #expect(StatusDocument.parse(#"{"version":"9","uptime_s":1,"profiles":[],"future":true}"#)?.version == "9")
    }
}
