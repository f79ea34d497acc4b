import Foundation
import Glibc
import TokendTesting
import Testing

/// The child that parses a configuration text first (it
/// may hold inline secrets) can be neither dumped nor traced.
@Suite(.serialized) struct ConfigurationPreflightTests {
    @Test(.enabled(if: runningAsRoot, "running the child as another user needs root"))
    func theParserChildIsNotDumpableAndLeavesNoCore() throws {
        // The child's stdin is a FIFO that we hold open: it waits for its
        // input. Opened read-write first, so that neither open blocks (the
        // spawning thread waits for the child's exec).
        let fifo = temporaryDirectory() + "/stdin"
        #expect(mkfifo(fifo, 0o644) == 0)
        var input = open(fifo, O_RDWR | O_CLOEXEC)
        let child = try ChildProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                          productsDirectory + "/tokend", "--parse-stdin-only"], stdin: fifo)
        defer { if input >= 0 { close(input) }; child.wait() }
        let pid = child.pid
        // The child forbids core files right after it starts and before it
        // reads a byte; nothing announces it, so look until it shows.
        let deadline = Date().addingTimeInterval(10)
        var limits = ""
        while Date() < deadline {
            limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
            if limits.range(of: #"Max core file size\s+0\s+0"#, options: .regularExpression) != nil { break }
            usleep(2000)
        }
        #expect(limits.range(of: #"Max core file size\s+0\s+0"#, options: .regularExpression) != nil, "\(limits)")
        // A non-dumpable process's /proc files belong to root, whoever runs it.
        var st = stat()
        #expect(stat("/proc/\(pid)/environ", &st) == 0)
        #expect(st.st_uid == 0, "the parser child is dumpable: /proc/\(pid) belongs to uid \(st.st_uid)")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Uid:\t65534"), "the child does not run as nobody: the test proves nothing")
        close(input)
        input = -1
        #expect(child.wait() == 0)
    }
}
