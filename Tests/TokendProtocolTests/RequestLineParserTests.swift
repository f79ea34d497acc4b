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
