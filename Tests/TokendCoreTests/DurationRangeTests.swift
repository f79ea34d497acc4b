import Testing
@testable import TokendCore
import TokendPlatform

/// Every spelling of a duration meets the same range check.
@Suite struct DurationRangeTests {
    @Test(arguments: ["\"1e12\"", "\"1E3\"", "\"inf\"", "\"nan\"", "\"0x10\"", "\"+5\"", "\"5.\"", "1e12", "1000000000000"])
    func outlandishSpellingsAreRefused(value: String) {
        #expect(ConfigurationParserTests().errors(ConfigurationParserTests.base + "retry_max = \(value)\n").contains { $0.key == "profile.p.retry_max" })
    }

    @Test(arguments: ["\"172800\"", "172800", "172800.0", "\"2d\"", "\"48h\""])
    func theRangeHoldsForEverySpelling(value: String) {
        let found = ConfigurationParserTests().errors(ConfigurationParserTests.base + "retry_max = \(value)\n")
        #expect(found.contains { $0.key == "profile.p.retry_max" && $0.message.contains("must be from 10ms to 24h") }, "got \(found)")
    }

    @Test func inRangeSpellingsAgree() throws {
        for value in ["\"90\"", "90", "90.0", "\"1m30s\"", "\"90s\""] {
            let loaded = try ConfigurationParserTests().load(ConfigurationParserTests.base + "retry_max = \(value)\n")
            #expect(loaded.configuration.profiles[0].retryMax == .seconds(90 as Int64))
        }
    }
}
