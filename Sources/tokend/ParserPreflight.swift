import CProcessShim
import Glibc
import TokendCore
import TokendPlatform

/// Runs the TOML parser on a configuration text in a child process first.
/// TOMLKit's C++ parser (toml++ 3) aborts on some malformed files, such as
/// `[(a."b c"]`, instead of reporting an error (found by fuzzing); in the
/// daemon that would turn a typo and a SIGHUP into a crash. The child is
/// `tokend --parse-stdin-only`, given the text on stdin, so the file is read
/// once and parsed twice from the same bytes.
///
/// The text may hold inline secrets, so the child is guarded like the
/// daemon: it makes itself non-dumpable with no core file before it reads a
/// byte, keeps no descriptor but its three standard ones (stdin the pipe,
/// the others /dev/null), gets an empty environment, and is killed when it
/// has not finished within `deadline`. When it cannot run, the load is
/// refused: parsing in-process would bring back the crash it guards against.
enum ParserPreflight {
    static let flag = "--parse-stdin-only"
    /// Parsing a 1 MiB file takes milliseconds; this only bounds a wedged child.
    static let deadlineMilliseconds: Int32 = 5_000

    static func check(_ text: String) -> ParserCheck {
        var bytes = Array(text.utf8)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        switch GuardedChild.run(executable: "/proc/self/exe", arguments: [flag], environment: ["SWIFT_BACKTRACE=enable=no", "LIBDISPATCH_LOG=NO"],
                                input: bytes, deadlineMilliseconds: deadlineMilliseconds) {
        case .exited: return .survived
        // The child ignores HUP, TERM and INT: one of those is a stop, not a crash.
        case .killedBySignal(let signal) where signal == SIGTERM || signal == SIGINT || signal == SIGHUP:
            return .cannotRun("the parser check was stopped by signal \(signal)")
        case .killedBySignal: return .crashed
        case .timedOut: return .cannotRun("the parser check did not finish within \(deadlineMilliseconds / 1000) s")
        case .cannotStart(let reason): return .cannotRun("cannot run the parser check: \(reason)")
        }
    }

    /// The child's side: no core file, then parse stdin and exit 0 whatever the outcome.
    static func runChild() -> Never {
        _ = tokend_forbid_core_files()
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        _ = try? ConfigurationParser.parse(text: String(decoding: bytes, as: UTF8.self), file: "-")
        exit(0)
    }
}
