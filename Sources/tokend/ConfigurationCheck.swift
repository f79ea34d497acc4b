import TokendCore
import TokendHost

/// `tokend --check`: reports every problem of the file, exit 0 or 78 (EX_CONFIG).
enum ConfigurationCheck {
    static let invalidStatus: Int32 = 78

    static func run(path: String) -> Int32 {
        do {
            let loaded = try ConfigurationLoader.load(path: path, host: SystemHost(), parserCheck: ParserPreflight.check)
            for warning in loaded.warnings { printError("warning: \(warning)") }
            let count = loaded.configuration.profiles.count
            print("\(path): configuration OK (\(count) profile\(count == 1 ? "" : "s"))")
            return 0
        } catch {
            for problem in error.errors { printError(problem.description) }
            return invalidStatus
        }
    }
}

func printError(_ line: String) {
    var stderrStream = StandardError()
    print(line, to: &stderrStream)
}

/// stderr as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var copy = string
        copy.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}

import Glibc
