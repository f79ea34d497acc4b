import Testing
import TokendCore
import Foundation

/// tokend.toml(5) documents every key the parser knows: the list comes from
/// the parser itself, so a new key without a manual entry fails here.
@Suite struct ManualTests {
    static let root: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    static func read(_ relative: String) -> String {
        (try? String(contentsOfFile: root + "/" + relative, encoding: .utf8)) ?? ""
    }

    @Test func tokendTomlDocumentsEveryKeyTheParserKnows() {
        let manual = Self.read("docs/man/tokend.toml.5.scd")
        #expect(manual.hasPrefix("tokend.toml(5)"))
        for key in ConfigurationParser.topLevelKeys + ConfigurationParser.profileKeys + ConfigurationParser.fileKeys + FleetConfiguration.keys {
            // scdoc bold: *key*, as a definition or in a list of them.
            #expect(manual.contains("*\(key)*"), "tokend.toml(5) does not document \(key)")
        }
        for method in ClientAuthMethod.allCases { #expect(manual.contains("*\(method.rawValue)*"), "\(method)") }
        for grant in Grant.allCases { #expect(manual.contains(grant.rawValue), "\(grant)") }
        for level in LogLevel.allCases { #expect(manual.contains("*\(level.rawValue)*"), "\(level)") }
    }
}
