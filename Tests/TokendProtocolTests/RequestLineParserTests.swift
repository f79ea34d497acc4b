import Testing
import TokendProtocol

@Suite struct RequestLineParserTests {
    func parse(_ line: String) -> Result<Request, RequestSyntaxError> { RequestLineParser.parse(line) }

    @Test func everyVerb() throws {
        #expect(try parse("GET ce").get() == .get(profile: "ce", minTTL: nil))
        #expect(try parse("GET ce 300").get() == .get(profile: "ce", minTTL: 300))
        #expect(try parse("HEADER a.b_c-1 0").get() == .header(profile: "a.b_c-1", minTTL: 0))
        #expect(try parse("REFRESH ce").get() == .refresh(profile: "ce"))
        #expect(try parse("STATUS").get() == .status(profile: nil))
        #expect(try parse("STATUS ce").get() == .status(profile: "ce"))
        #expect(try parse("LIST").get() == .list)
        #expect(try parse("PING").get() == .ping)
        #expect(try parse("VERSION").get() == .version)
        #expect(try parse("QUIT").get() == .quit)
    }

    @Test func verbsAreCaseInsensitiveAndWordsSplitOnSpacesOrTabs() throws {
        #expect(try parse("get\tce").get() == .get(profile: "ce", minTTL: nil))
        #expect(try parse("  GeT  \t ce \t 5  ").get() == .get(profile: "ce", minTTL: 5))
        #expect(try parse("ping\r").get() == .ping)
    }

    @Test func profileNamesAreCaseSensitive() throws {
        #expect(try parse("GET CE").get() == .get(profile: "CE", minTTL: nil))
    }

    @Test(arguments: ["", "   ", "FOO", "GET", "GET a b c", "GET ce -1", "GET ce 1.5", "GET ce abc", "GET ce 86401",
                      "REFRESH", "REFRESH a b", "PING x", "LIST x", "QUIT now", "STATUS a b", "GET a/b", "GET \u{e9}",
                      "GET " + String(repeating: "a", count: 65), "GET\u{0}ce", "\u{1b}[A"])
    func badRequests(line: String) {
        #expect(throws: RequestSyntaxError.self) { try parse(line).get() }
    }

    @Test func invalidUTF8IsABadRequest() throws {
        #expect(throws: RequestSyntaxError.self) { try RequestLineParser.parse([0x47, 0x45, 0x54, 0x20, 0xff, 0xfe]).get() }
        #expect(throws: RequestSyntaxError.self) { try RequestLineParser.parse([0xc3, 0x28]).get() }
    }

    @Test func longestProfileNameIsAccepted() throws {
        let name = String(repeating: "x", count: 64)
        #expect(try parse("GET \(name)").get() == .get(profile: name, minTTL: nil))
    }
}

@Suite struct AnswerLineTests {
    @Test func rendersAndParses() throws {
        #expect(AnswerLine.ok("PONG").rendered == "OK PONG\n")
        #expect(AnswerLine.error(.busy, "too many").rendered == "ERR busy too many\n")
        #expect(AnswerLine.parse("ERR unavailable invalid_client: bad") == .err(code: "unavailable", message: "invalid_client: bad"))
        #expect(AnswerLine.parse("OK abc 12\r") == .ok("abc 12"))
        #expect(AnswerLine.parse("nonsense") == nil)
    }

    @Test func errorMessagesStayOnOneLine() throws {
        let rendered = AnswerLine.error(.unavailable, "line1\nline2\r\u{0}x").rendered
        #expect(rendered == "ERR unavailable line1 line2  x\n")
        #expect(AnswerLine.error(.unavailable, String(repeating: "a", count: 1000)).rendered.count < 330)
    }
}

@Suite struct JSONTests {
    @Test func parsesTokenResponses() throws {
        let value = try JSONParser.parse(#"{"access_token":"a\u00e9\ud83d\ude00","expires_in":3600,"n":null,"b":true,"x":[1,2.5e1,-0]}"#)
        #expect(value["access_token"]?.stringValue == "aé😀")
        #expect(value["expires_in"]?.intValue == 3600)
        #expect(value["n"]?.isNull == true)
        #expect(value["x"]?.arrayValue?.count == 3)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "01", "1.", "\"\\x\"", "\"\u{1}\"", "{\"a\" 1}", "tru", "\"\\ud800\"", "1 2",
                      String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func rejectsInvalidJSON(text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(text) }
    }

    @Test func invalidUTF8InStringsIsRejected() throws {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xff, 0x22]) }
    }

    @Test func writerRoundTrips() throws {
        let value = JSONValue.object([("s", .string("a\"b\\c\n\u{1}")), ("n", .int(42)), ("z", .null), ("a", .array([.bool(false)]))])
        let text = JSONWriter.write(value)
        #expect(!text.contains("\n"))
        #expect(try JSONParser.parse(text) == value)
    }
}
