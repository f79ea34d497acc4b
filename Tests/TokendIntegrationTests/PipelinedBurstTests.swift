import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// A burst of pipelined requests whose answers overflow the output's
/// high-water mark within one read cycle: every request is answered exactly
/// once, in order (a flush that made the channel writable again once wrote
/// the same answers twice).
@Suite(.serialized) struct PipelinedBurstTests {
    @Test func aBurstIsAnsweredExactlyOnceInOrder() async throws {
        let idp = try await TestIdP.start()
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(client.request("GET demo")?.hasPrefix("OK ") == true)
        let pairs = 6000
        // Sent from another thread: the daemon stops reading while its
        // answers are not read, and this thread must read them meanwhile.
        let fd = dup(client.fd)
        let burst = String(repeating: "GET demo\nPING\n", count: pairs)
        let sender = Thread { [burst] in
            var bytes = Array(burst.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                bytes = bytes.dropFirst(n)
            }
            close(fd)
        }
        sender.start()
        for i in 0..<(2 * pairs) {
            guard let line = client.readLine() else {
                Issue.record("answer \(i) missing")
                break
            }
            if i % 2 == 0 {
                guard line.hasPrefix("OK ") && line.split(separator: " ").count == 3 else {
                    Issue.record("answer \(i) is not a GET answer: \(line.prefix(80))")
                    break
                }
            } else if line != "OK PONG" {
                Issue.record("answer \(i) is not PONG: \(line.prefix(80))")
                break
            }
        }
        client.send("PING\n")
        #expect(client.readLine() == "OK PONG", "an answer too many was written")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
