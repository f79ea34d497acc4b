import Glibc
import TokendTesting

/// Times a command run over and over, as a script calling it in a loop would.
enum CommandTimer {
    struct Timing {
        var medianMilliseconds: Double
        var failures: Int
    }

    /// Runs `path arguments` `runs` times with `stdin`; the median wall time
    /// from spawn to reaping, and how many runs did not exit 0.
    static func time(_ path: String, _ arguments: [String], stdin: String = "/dev/null", runs: Int) -> Timing {
        var samples: [Double] = []
        var failures = 0
        for _ in 0..<runs {
            let start = Clocks.monotonic()
            guard let child = try? ChildProcess(path, arguments, stdin: stdin) else { failures += 1; continue }
            if child.wait() != 0 { failures += 1 }
            samples.append(Double(Clocks.monotonic() - start) / 1e6)
        }
        samples.sort()
        return Timing(medianMilliseconds: samples.isEmpty ? .nan : samples[samples.count / 2], failures: failures)
    }
}
