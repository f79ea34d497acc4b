import Foundation
import Glibc
import Testing

/// Issue 10 item 7: the child that parses a configuration text first (it
/// may hold inline secrets) can be neither dumped nor traced.
@Suite(.serialized) struct ConfigurationPreflightTests {
    @Test(.enabled(if: runningAsRoot, "running the child as another user needs root"))
    func theParserChildIsNotDumpableAndLeavesNoCore() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        child.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", productsDirectory + "/tokend", "--parse-stdin-only"]
        let input = Pipe()
        child.standardInput = input
        try child.run()
        defer { try? input.fileHandleForWriting.close(); child.waitUntilExit() }
        let pid = child.processIdentifier
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
        try input.fileHandleForWriting.close()
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
    }
}
