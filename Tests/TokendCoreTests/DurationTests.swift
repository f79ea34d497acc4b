import Testing
@testable import TokendCore
import TokendPlatform

@Suite struct DurationTests {
    @Test func units() throws {
        #expect(DurationParser.parse("250ms") == .milliseconds(250))
        #expect(DurationParser.parse("30s") == .seconds(30 as Int64))
        #expect(DurationParser.parse("5m") == .seconds(300 as Int64))
        #expect(DurationParser.parse("1h") == .seconds(3600 as Int64))
        #expect(DurationParser.parse("1m30s") == .seconds(90 as Int64))
        #expect(DurationParser.parse("2.5") == .milliseconds(2500))
        #expect(DurationParser.parse("5 parsecs") == nil)
        #expect(DurationParser.parse("-1s") == nil)
        #expect(DurationParser.parse("") == nil)
    }
}
