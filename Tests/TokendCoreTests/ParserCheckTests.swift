import Testing
@testable import TokendCore

/// When the parser cannot be run where its crash is
/// harmless, the file is refused rather than parsed in the daemon after all.
@Suite struct ParserCheckTests {
    @Test func aFileWhoseCheckCannotRunIsRefused() throws {
        var host = FakeHost()
        host.files["/etc/tokend/tokend.toml"] = ConfigurationParserTests.base
        for (check, fragment) in [(ParserCheck.cannotRun("no process"), "not loaded: no process"), (.crashed, "parser crashed")] {
            do {
                _ = try ConfigurationLoader.load(path: "/etc/tokend/tokend.toml", host: host, parserCheck: { _ in check })
                Issue.record("loaded despite \(check)")
            } catch {
                #expect(error.errors.contains { $0.message.contains(fragment) }, "\(error.errors)")
            }
        }
        #expect(try ConfigurationLoader.load(path: "/etc/tokend/tokend.toml", host: host, parserCheck: { _ in .survived })
            .configuration.profiles.count == 1)
    }
}
