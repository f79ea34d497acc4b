import Testing
import TokenctlCommandLine

/// `tokenctl exec PROFILE [--min-ttl S] [--env NAME] -- COMMAND [ARGS...]` (SPEC §11).
@Suite struct ExecCommandLineTests {
    func parse(_ arguments: [String]) throws(UsageError) -> ParsedCommandLine {
        try CommandLineParser.parse(["--socket", "/s"] + arguments, environment: { _ in nil })
    }

    func usageError(_ arguments: [String]) -> UsageError? {
        do {
            _ = try parse(arguments)
            return nil
        } catch {
            return error
        }
    }

    @Test func theCommandIsEverythingAfterTheDoubleDashUntouched() throws {
        let connection = ConnectionOptions(socketPath: "/s", timeout: 30)
        #expect(try parse(["exec", "api", "--", "curl", "-H", "@-", "--help", "--", "x"])
            == .run(.exec(profile: "api", minTTL: nil, variable: "ACCESS_TOKEN", command: ["curl", "-H", "@-", "--help", "--", "x"]), connection))
        #expect(try parse(["exec", "api", "--min-ttl", "60", "--env", "API_TOKEN", "--", "sh", "-c", "exit 7"])
            == .run(.exec(profile: "api", minTTL: 60, variable: "API_TOKEN", command: ["sh", "-c", "exit 7"]), connection))
        #expect(try parse(["exec", "--env=T", "api", "--", "env"])
            == .run(.exec(profile: "api", minTTL: nil, variable: "T", command: ["env"]), connection))
    }

    @Test func mistakesAreUsageErrors() {
        #expect(usageError(["exec", "api"]) == .missingExecCommand)
        #expect(usageError(["exec", "api", "--"]) == .missingExecCommand)
        #expect(usageError(["exec", "api", "curl"]) == .unexpectedArgument("curl", command: .exec))
        #expect(usageError(["exec", "--", "curl"]) == .missingArgument(placeholder: "<profile>", command: .exec))
        #expect(usageError(["exec", "api", "--env", "1X", "--", "env"]) == .invalidVariable("1X"))
        #expect(usageError(["exec", "api", "--env", "A-B", "--", "env"]) == .invalidVariable("A-B"))
        #expect(usageError(["exec", "api", "--env", "", "--", "env"]) == .invalidVariable(""))
        #expect(usageError(["get", "api", "--env", "X"]) == .unknownOption("--env", command: .get, suggestion: nil))
    }

    @Test func helpShowsAnExampleWithCurl() throws {
        #expect(try parse(["help", "exec"]) == .help(.exec))
        let text = HelpText.text(for: .exec)
        #expect(text.contains("USAGE: tokenctl exec") && text.contains("-- <command>"))
        #expect(text.contains("tokenctl exec api -- sh -c 'curl"))
        #expect(text.contains("--env <name>"))
        #expect(HelpText.text(for: nil).contains("exec "))
    }
}
