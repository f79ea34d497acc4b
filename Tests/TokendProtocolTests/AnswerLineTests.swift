import Testing
import TokendProtocol

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
