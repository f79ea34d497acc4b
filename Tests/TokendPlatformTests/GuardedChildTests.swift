import Glibc
import Testing
import TokendPlatform

/// The configuration preflight's child keeps no descriptor
/// of the daemon's, gets no environment but what it is given, and cannot
/// hold the caller past its deadline.
@Suite struct GuardedChildTests {
    /// A shell that writes what it sees to `report` and exits 3.
    func report(_ script: String, to file: String, input: [UInt8] = [], deadline: Int32 = 10_000) -> GuardedChild.Outcome {
        GuardedChild.run(executable: "/bin/sh", arguments: ["-c", script, "sh", file], environment: ["ONLY=this"],
                         input: input, deadlineMilliseconds: deadline)
    }

    @Test func theChildInheritsNoDescriptorAndNoEnvironment() throws {
        var leaked: [Int32] = [0, 0]
        #expect(pipe(&leaked) == 0)  // not close-on-exec, as a careless daemon's descriptors may be
        defer { close(leaked[0]); close(leaked[1]) }
        let file = "/tmp/tokend-guarded-\(getpid()).txt"
        defer { unlink(file) }
        let outcome = report("ls /proc/self/fd > \"$1\"; env >> \"$1\"; cat > /dev/null; exit 3", to: file, input: Array(repeating: 65, count: 1 << 20))
        #expect(outcome == .exited(3))
        let text = try #require(readText(file))
        let fds = text.split(separator: "\n").compactMap { Int32($0) }
        // 0, 1, 2 and the descriptor `ls` opens to read the directory.
        #expect(!fds.contains(leaked[0]) && !fds.contains(leaked[1]), "\(fds)")
        #expect(fds.filter { $0 > 2 }.count <= 1, "\(fds)")
        #expect(text.contains("ONLY=this") && !text.contains("PATH=/usr"), "\(text)")
    }

    @Test func aChildThatOverstaysIsKilledAtTheDeadline() throws {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        // Never reads its stdin either: the caller must not block writing to it.
        let outcome = GuardedChild.run(executable: "/bin/sleep", arguments: ["60"], input: Array(repeating: 0, count: 1 << 20),
                                       deadlineMilliseconds: 300)
        clock_gettime(CLOCK_MONOTONIC, &end)
        #expect(outcome == .timedOut)
        #expect(end.tv_sec - start.tv_sec < 10)
    }

    @Test func aCrashIsReportedAsASignalAndAMissingProgramAsNotStarted() {
        #expect(GuardedChild.run(executable: "/bin/sh", arguments: ["-c", "kill -ABRT $$"], input: [], deadlineMilliseconds: 10_000)
                == .killedBySignal(SIGABRT))
        if case .cannotStart = GuardedChild.run(executable: "/nonexistent/tool", arguments: [], input: [], deadlineMilliseconds: 1000) {
        } else {
            Issue.record("a missing program was reported as started")
        }
    }

    func readText(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
