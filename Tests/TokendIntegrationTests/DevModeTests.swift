import Foundation
import Glibc
import Testing
import TokendTesting

/// SPEC §6: `tokend --dev`, what a newcomer runs first.
@Suite struct DevModeTests {
    @Test func itServesTheDemoProfileAndCtrlCLeavesNothingBehind() throws {
        let dev = try ChildProcess(productsDirectory + "/tokend", ["--dev"], removing: ["JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"],
                                   stdout: .capture, stderr: .capture)
        #expect(dev.stdout!.await("Stop with Ctrl-C", timeout: 30), "\(dev.stderr!.text())")
        let banner = dev.stdout!.text()
        let socketLine = try #require(banner.split(separator: "\n").first { $0.contains("socket:") })
        let socket = String(socketLine.split(separator: " ").last ?? "")
        let directory = String(socket[..<(socket.lastIndex(of: "/") ?? socket.endIndex)])
        #expect(directory.hasPrefix("/tmp/tokend-dev."))
        let (status, token, _) = try tokenctl(["get", "demo"], socket: socket)
        #expect(status == 0 && !token.isEmpty)
        dev.signal(SIGINT)
        #expect(dev.wait() == 0, "\(dev.stderr!.text(waitingForEOF: true))")
        #expect(access(directory, F_OK) != 0, "\(directory) is still there")
    }
}
