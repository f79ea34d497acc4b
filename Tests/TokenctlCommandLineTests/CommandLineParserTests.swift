import Testing
import Foundation
@testable import TokenctlCommandLine

@Suite struct CommandLineParserTests {
    static let socket = ConnectionOptions(socketPath: "/s", timeout: 30)

    func parse(_ arguments: [String], environment: [String: String] = [:]) throws(UsageError) -> ParsedCommandLine {
        try CommandLineParser.parse(arguments, environment: { environment[$0] })
    }

    func run(_ arguments: [String]) throws -> TokenctlCommand {
        guard case .run(let command, _) = try parse(["--socket", "/s"] + arguments) else {
            Issue.record("not a command: \(arguments)")
            return .ping
        }
        return command
    }

    func usageError(_ arguments: [String], environment: [String: String] = [:]) -> UsageError? {
        do {
            _ = try parse(arguments, environment: environment)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyCommand() throws {
        #expect(try run(["get", "demo"]) == .get(profile: "demo", minTTL: nil, json: false))
        #expect(try run(["get", "demo", "--min-ttl", "60", "--json"]) == .get(profile: "demo", minTTL: 60, json: true))
        #expect(try run(["header", "demo", "--min-ttl=0"]) == .header(profile: "demo", minTTL: 0))
        #expect(try run(["refresh", "a.b_c-1"]) == .refresh(profile: "a.b_c-1"))
        #expect(try run(["status"]) == .status(profile: nil, json: false))
        #expect(try run(["status", "demo", "--json"]) == .status(profile: "demo", json: true))
        #expect(try run(["list"]) == .list)
        #expect(try run(["ping"]) == .ping)
    }

    @Test func socketByPrecedence() throws {
        func ping(at path: String) -> ParsedCommandLine { .run(.ping, ConnectionOptions(socketPath: path, timeout: 30)) }
        #expect(try parse(["ping"]) == ping(at: "/run/tokend/tokend.sock"))
        #expect(try parse(["ping"], environment: ["TOKEND_SOCKET": "/e"]) == ping(at: "/e"))
        #expect(try parse(["ping"], environment: ["TOKEND_SOCKET": ""]) == ping(at: "/run/tokend/tokend.sock"))
        #expect(try parse(["--socket", "/o", "ping"], environment: ["TOKEND_SOCKET": "/e"]) == ping(at: "/o"))
    }

    @Test func globalOptionsBeforeOrAfterTheCommandInBothForms() throws {
        let expected = ParsedCommandLine.run(
            .get(profile: "p", minTTL: nil, json: false), ConnectionOptions(socketPath: "/o", timeout: 2.5))
        for line in [
            ["--socket", "/o", "--timeout", "2.5", "get", "p"],
            ["--socket=/o", "--timeout=2.5", "get", "p"],
            ["get", "p", "--socket", "/o", "--timeout", "2.5"],
            ["get", "--timeout=2.5", "p", "--socket=/o"],
            ["--timeout", "2.5", "get", "--socket", "/o", "--", "p"],
        ] {
            #expect(try parse(line) == expected, "\(line)")
        }
    }

    @Test func doubleDashEndsOptions() throws {
        #expect(try run(["get", "--", "-x"]) == .get(profile: "-x", minTTL: nil, json: false))
        #expect(try run(["get", "--json", "--", "demo"]) == .get(profile: "demo", minTTL: nil, json: true))
        #expect(try run(["ping", "--"]) == .ping)
        #expect(try run(["get", "-"]) == .get(profile: "-", minTTL: nil, json: false))
        #expect(usageError(["--socket", "/s", "get", "demo", "--", "--json"]) == .unexpectedArgument("--json", command: .get))
    }

    @Test func help() throws {
        #expect(try parse(["--help"]) == .help(nil))
        #expect(try parse(["-h"]) == .help(nil))
        #expect(try parse(["help"]) == .help(nil))
        #expect(try parse(["help", "get"]) == .help(.get))
        #expect(try parse(["get", "--help"]) == .help(.get))
        #expect(try parse(["--socket", "/s", "status", "-h"]) == .help(.status))
        #expect(try parse(["--help", "ping"]) == .help(.ping))
        #expect(try parse(["ping", "--help", "extra", "--jsn"]) == .help(.ping))
        #expect(try parse(["help", "list", "--help"]) == .help(.list))
        #expect(try parse(["--socket", "/s", "help", "ping"]) == .help(.ping))
        #expect(try parse(["--socket", "--help"]) == .help(nil))  // --help is no value
        #expect(usageError(["help", "nope"]) == .unknownCommand("nope", suggestion: nil))
        #expect(usageError(["help", "get", "extra"]) == .unexpectedArgument("extra", command: nil))
        #expect(try run(["get", "--", "--help"]) == .get(profile: "--help", minTTL: nil, json: false))
    }

    @Test func helpTexts() {
        let overall = HelpText.text(for: nil)
        for name in CommandName.allCases { #expect(overall.contains("\n  \(name.rawValue) ")) }
        #expect(overall.contains("69 the\ndaemon cannot be reached"))
        #expect(overall.hasSuffix("detailed help.\n"))
        let get = HelpText.text(for: .get)
        #expect(get.contains("USAGE: tokenctl get [--socket <path>] [--timeout <seconds>] <profile> [--min-ttl <seconds>] [--json]\n"))
        #expect(get.contains("\n  --min-ttl <seconds>     Renew first"))
        #expect(HelpText.text(for: .status).contains("<profile>] [--json]\n"))
        #expect(!HelpText.text(for: .ping).contains("ARGUMENTS"))
    }

    @Test func missingAndUnknownWords() {
        #expect(usageError([]) == .missingCommand)
        #expect(usageError(["--socket", "/s"]) == .missingCommand)
        #expect(usageError(["--"]) == .missingCommand)
        #expect(usageError(["pingx"]) == .unknownCommand("pingx", suggestion: .ping))
        #expect(usageError(["GET", "demo"]) == .unknownCommand("GET", suggestion: .get))
        #expect(usageError(["frobnicate"]) == .unknownCommand("frobnicate", suggestion: nil))
        #expect(usageError(["get"]) == .missingArgument(placeholder: "<profile>", command: .get))
        #expect(usageError(["refresh"]) == .missingArgument(placeholder: "<profile>", command: .refresh))
        #expect(usageError(["get", "a", "b"]) == .unexpectedArgument("b", command: .get))
        #expect(usageError(["status", "a", "b"]) == .unexpectedArgument("b", command: .status))
        #expect(usageError(["ping", "extra"]) == .unexpectedArgument("extra", command: .ping))
        #expect(usageError(["list", "-"]) == .unexpectedArgument("-", command: .list))
    }

    @Test func unknownMissingAndRepeatedOptions() {
        #expect(usageError(["get", "demo", "--jsn"]) == .unknownOption("--jsn", command: .get, suggestion: "--json"))
        #expect(usageError(["ping", "--time", "5"]) == .unknownOption("--time", command: .ping, suggestion: "--timeout"))
        #expect(usageError(["header", "demo", "--json"]) == .unknownOption("--json", command: .header, suggestion: nil))
        #expect(usageError(["refresh", "demo", "--min-ttl", "3"]) == .unknownOption("--min-ttl", command: .refresh, suggestion: nil))
        #expect(usageError(["list", "--json"]) == .unknownOption("--json", command: .list, suggestion: nil))
        #expect(usageError(["get", "-x"]) == .unknownOption("-x", command: .get, suggestion: nil))
        #expect(usageError(["-x"]) == .unknownOption("-x", command: nil, suggestion: nil))
        #expect(usageError(["--version"]) == .unknownOption("--version", command: nil, suggestion: nil))
        #expect(usageError(["--json", "list"]) == .optionBeforeCommand("--json"))
        #expect(usageError(["--min-ttl", "3", "get", "demo"]) == .optionBeforeCommand("--min-ttl"))
        #expect(usageError(["--socket"]) == .missingValue(option: "--socket"))
        #expect(usageError(["--socket", "--json", "ping"]) == .missingValue(option: "--socket"))
        #expect(usageError(["--socket", "--", "ping"]) == .missingValue(option: "--socket"))
        #expect(usageError(["ping", "--timeout"]) == .missingValue(option: "--timeout"))
        #expect(usageError(["get", "demo", "--min-ttl", "--json"]) == .missingValue(option: "--min-ttl"))
        #expect(usageError(["get", "demo", "--json=1"]) == .unexpectedValue(option: "--json"))
        #expect(usageError(["--help=x"]) == .unexpectedValue(option: "--help"))
        #expect(usageError(["--socket", "/a", "--socket", "/b", "ping"]) == .repeatedOption("--socket"))
        #expect(usageError(["--socket", "/a", "ping", "--socket=/a"]) == .repeatedOption("--socket"))
        #expect(usageError(["--timeout", "1", "ping", "--timeout", "1"]) == .repeatedOption("--timeout"))
        #expect(usageError(["get", "demo", "--json", "--json"]) == .repeatedOption("--json"))
        #expect(usageError(["get", "demo", "--min-ttl", "1", "--min-ttl=2"]) == .repeatedOption("--min-ttl"))
    }

    @Test func valuesAreValidatedBeforeConnecting() throws {
        #expect(usageError(["--socket", "", "ping"]) == .emptySocket)
        #expect(usageError(["--socket=", "ping"]) == .emptySocket)
        for bad in ["0", "-1", "86400.5", "abc", "inf", "nan", " 5", ""] {
            #expect(usageError(["--timeout", bad, "ping"]) == .invalidTimeout(bad), "\(bad)")
        }
        for good in ["86400", "0.001", "1e1", ".5"] {
            #expect(throws: Never.self) { try parse(["--timeout", good, "ping"]) }
        }
        for bad in ["bad/name", "", "é", String(repeating: "a", count: 65)] {
            #expect(usageError(["get", bad]) == .invalidProfile(bad), "\(bad)")
        }
        #expect(usageError(["status", "bad/x"]) == .invalidProfile("bad/x"))
        for bad in ["-1", "-5", "86401", "1.5", "abc", "0x5", "", "99999999999999999999999"] {
            #expect(usageError(["get", "demo", "--min-ttl", bad]) == .invalidMinTTL(bad), "\(bad)")
        }
        #expect(try run(["get", "demo", "--min-ttl", "86400"]) == .get(profile: "demo", minTTL: 86400, json: false))
        #expect(try run(["header", "demo", "--min-ttl", "+5"]) == .header(profile: "demo", minTTL: 5))
    }

    @Test func messagesAreOneLineAndNameTheProblem() {
        #expect(UsageError.missingCommand.message
            == "missing command (get, header, refresh, status, list, ping, exec); see 'tokenctl --help'")
        #expect(UsageError.unknownOption("--jsn", command: .get, suggestion: "--json").message
            == "unknown option '--jsn' for 'get'; did you mean '--json'?")
        #expect(UsageError.invalidProfile("bad/name").message
            == "invalid profile name 'bad/name': use 1 to 64 of A-Z a-z 0-9 . _ -")
        #expect(UsageError.unknownCommand("a\nb", suggestion: nil).message.contains("'a b'"))
    }
}

/// `--generate-completion-script`: every command and option of the table is
/// in every shell's script, and a wrong shell is a usage error.
@Suite struct CompletionScriptTests {
    @Test func everyCommandAndOptionIsInEveryScript() throws {
        for shell in CompletionScript.Shell.allCases {
            let parsed = try CommandLineParser.parse(["--generate-completion-script", shell.rawValue]) { _ in nil }
            #expect(parsed == .completionScript(shell))
            let script = CompletionScript.render(shell)
            for command in CommandName.allCases { #expect(script.contains(command.rawValue), "\(shell): \(command)") }
            for option in OptionName.allCases {
                let name = shell == .fish ? "-l \(option.rawValue.dropFirst(2))" : option.rawValue
                #expect(script.contains(name), "\(shell): \(option)")
            }
            #expect(script.contains("list 2>/dev/null"), "\(shell): profile names from tokenctl list, quietly")
        }
        #expect(try CommandLineParser.parse(["--generate-completion-script=zsh"]) { _ in nil } == .completionScript(.zsh))
    }

    @Test(arguments: [["--generate-completion-script"], ["--generate-completion-script", "tcsh"], ["--generate-completion-script", "bash", "x"]])
    func aWrongShellIsAUsageError(arguments: [String]) {
        #expect(throws: UsageError.self) { try CommandLineParser.parse(arguments) { _ in nil } }
    }
}

/// tokenctl(1) documents every command and option of the table the parser reads.
@Suite struct TokenctlManualTests {
    @Test func everyCommandAndOptionIsInTheManual() throws {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        let manual = try String(contentsOfFile: path + "/docs/man/tokenctl.1.scd", encoding: .utf8)
        for command in CommandName.allCases { #expect(manual.contains("*\(command.rawValue)*"), "\(command)") }
        for option in OptionName.allCases { #expect(manual.contains("*\(option.rawValue)*"), "\(option)") }
        #expect(manual.contains("*\(CompletionScript.option)*"))
    }
}
