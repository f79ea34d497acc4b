import Testing
import TokendProtocol

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
