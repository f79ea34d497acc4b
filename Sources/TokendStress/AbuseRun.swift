import Foundation
import Glibc
import TokendTesting
import TestIdP

/// `tokend-bench abuse`: hostile and careless clients all at once. A fresh
/// well-behaved client must get its token within 1 s throughout, and the
/// daemon's descriptors and memory must come back once they leave.
public struct AbuseRun: Sendable {
    var tokend: String
    var duration: Double
    /// The longest a fresh client may wait for its token.
    var probeLimit = 1.0
    /// How far above its idle level the daemon's memory may stay afterwards.
    var memoryLimit: UInt64 = 16 * 1_048_576
    var holders = 500
    var pipeliners = 8

    public init(tokend: String, duration: Double, probeLimit: Double = 1.0, memoryLimit: UInt64 = 16 * 1_048_576) {
        self.tokend = tokend
        self.duration = duration
        self.probeLimit = probeLimit
        self.memoryLimit = memoryLimit
    }

    final class Counters: @unchecked Sendable {  // every field is read and written under `lock`
        let lock = NSLock()
        var counts: [String: Int] = [:]
        var problems: [String] = []
        func add(_ key: String, _ n: Int = 1) { lock.withLock { counts[key, default: 0] += n } }
        func problem(_ text: String) { lock.withLock { if problems.count < 50 { problems.append(text) } } }
    }

    public func run(report: RunReport = RunReport()) async throws -> Bool {
        TestFiles.raiseDescriptorLimit()
        let idp = try await TestIdP.start()
        defer { Task { try? await idp.shutdown() } }
        let daemon = try DaemonProcess.started(tokend: tokend, directory: TestFiles.temporaryDirectory(), configuration: """
            log_level = "warning"
            [profile.demo]
            token_url = "\(idp.tokenURL)"
            client_id = "demo"
            client_secret = "demo-secret"

            """)
        let socket = daemon.socket
        let probe = daemon.probe
        guard let first = LineClient.connect(socket), first.request("GET demo")?.hasPrefix("OK ") == true else {
            throw HarnessFailure("no first token; see \(daemon.logFile!)")
        }
        first.close()
        Clocks.sleep(seconds: 1)
        let idleDescriptors = probe.openDescriptors
        let idleRSS = probe.residentBytes
        let counters = Counters()
        let deadline = Clocks.monotonic() + UInt64(duration * 1e9)
        let group = DispatchGroup()
        func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
            group.enter()
            let thread = Thread { body(); group.leave() }
            thread.name = name
            thread.start()
        }
        let running: @Sendable () -> Bool = { Clocks.monotonic() < deadline }

        // 500 simultaneous connections, held open and silent.
        var held: [LineClient] = []
        for _ in 0..<holders { if let c = LineClient.connect(socket) { held.append(c) } }
        counters.add("held connections", held.count)
        // Clients that pipeline without ever reading.
        var stuffed: [Int32] = []
        for _ in 0..<pipeliners {
            guard let fd = LineClient.connectDescriptor(socket) else { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            let line = Array(String(repeating: "GET demo\n", count: 1000).utf8)
            var sent = 0
            while sent < 100_000 {
                let n = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n / 9
            }
            counters.add("requests pipelined and never read", sent)
            stuffed.append(fd)
        }

        // The well-behaved probe: a fresh connection every 50 ms.
        let probeLatencies = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 1)
        probeLatencies[0] = 0
        defer { probeLatencies.deallocate() }
        nonisolated(unsafe) let worst = probeLatencies
        spawn("probe") {
            while running() {
                let start = Clocks.monotonic()
                let answer = LineClient.connect(socket).flatMap { c -> String? in defer { c.close() }; return c.request("GET demo", timeout: 5) }
                let took = Clocks.monotonic() - start
                counters.add("probe requests")
                if worst[0] < took { worst[0] = took }
                if answer?.hasPrefix("OK ") != true { counters.problem("the probe got \(answer ?? "no answer")") }
                if Double(took) > probeLimit * 1e9 { counters.problem("the probe waited \(Format.microseconds(took))") }
                Clocks.sleep(seconds: 0.05)
            }
        }
        spawn("garbage") {
            var seed: UInt64 = 0x9E3779B97F4A7C15
            var bytes = [UInt8](repeating: 0, count: 4096)
            while running() {
                guard let c = LineClient.connect(socket) else { counters.problem("garbage client could not connect"); continue }
                for i in bytes.indices {
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    bytes[i] = UInt8(truncatingIfNeeded: seed >> 56)
                }
                bytes.withUnsafeBytes { _ = c.write($0) }
                _ = c.awaitClose(timeout: 0.2)
                c.close()
                counters.add("binary garbage clients")
            }
        }
        spawn("invalid-utf8") {
            while running() {
                guard let c = LineClient.connect(socket) else { continue }
                let answer = [0x47, 0x45, 0x54, 0x20, 0xFF, 0xFE, 0xC0, 0x0A].withUnsafeBytes { c.write($0) } ? c.readLine(timeout: 5) : nil
                if answer?.hasPrefix("ERR ") != true { counters.problem("invalid UTF-8 got \(answer ?? "no answer")") }
                c.close()
                counters.add("invalid UTF-8 requests")
            }
        }
        spawn("long-lines") {
            let megabyte = [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 20)
            while running() {
                guard let c = LineClient.connect(socket) else { continue }
                _ = megabyte.withUnsafeBytes { c.write($0) }  // the daemon may close before all of it is sent
                let answer = c.readLine(timeout: 5)
                if answer?.hasPrefix("ERR too-long") != true { counters.problem("a 1 MiB line got \(answer ?? "no answer")") }
                if !c.awaitClose(timeout: 5) { counters.problem("a 1 MiB line did not close the connection") }
                c.close()
                counters.add("1 MiB lines")
            }
        }
        spawn("half-close") {
            while running() {
                guard let c = LineClient.connect(socket) else { continue }
                c.send("GET demo\nPING\n")
                c.shutdownWrite()
                let a = c.readLine(timeout: 5), b = c.readLine(timeout: 5)
                if a?.hasPrefix("OK ") != true || b != "OK PONG" { counters.problem("a half-closed client got \(a ?? "nothing"), \(b ?? "nothing")") }
                if !c.awaitClose(timeout: 5) { counters.problem("a half-closed connection was not closed") }
                c.close()
                counters.add("half-closed clients")
            }
        }
        spawn("vanish") {
            var n = 0
            while running() {
                guard let c = LineClient.connect(socket) else { continue }
                if n % 2 == 0 { c.send("GET de") } else { c.send("GET demo\n") }
                c.close()
                n += 1
                counters.add("connect-and-vanish clients")
            }
        }
        group.wait()
        let worstProbe = worst[0]
        held.forEach { $0.close() }
        stuffed.forEach { close($0) }

        // Descriptors must come back to the idle level (nothing to await but /proc).
        var descriptors = probe.openDescriptors
        let settleDeadline = Clocks.monotonic() + 10_000_000_000
        while descriptors > idleDescriptors, Clocks.monotonic() < settleDeadline {
            Clocks.sleep(seconds: 0.1)
            descriptors = probe.openDescriptors
        }
        let rssAfter = probe.residentBytes
        if descriptors > idleDescriptors { counters.problem("descriptors: \(descriptors) after the abuse, \(idleDescriptors) idle") }
        if rssAfter > idleRSS + memoryLimit { counters.problem("resident memory \(Format.mebibytes(rssAfter)) after, \(Format.mebibytes(idleRSS)) idle") }
        guard let last = LineClient.connect(socket), last.request("GET demo")?.hasPrefix("OK ") == true else {
            throw HarnessFailure("tokend no longer serves after the abuse; see \(daemon.logFile!)")
        }
        last.close()
        let status = daemon.stop()
        if status != 0 { counters.problem("tokend exited with status \(status)") }

        report.line("")
        report.line("Abuse run: \(Format.fixed(duration, 0)) s")
        report.line("")
        report.line("| measure | result |")
        report.line("| --- | --- |")
        for (key, value) in counters.lock.withLock({ counters.counts }).sorted(by: { $0.key < $1.key }) {
            report.line("| \(key) | \(Format.thousands(Double(value))) |")
        }
        report.line("| slowest fresh-client GET | \(Format.microseconds(worstProbe)) (target < \(Format.fixed(probeLimit, 1)) s) |")
        report.line("| descriptors idle → after | \(idleDescriptors) → \(descriptors) |")
        report.line("| RSS idle → after | \(Format.mebibytes(idleRSS)) → \(Format.mebibytes(rssAfter)) |")
        let problems = counters.lock.withLock { counters.problems }
        report.line("| problems | \(problems.count) |")
        for p in problems { report.line("PROBLEM: \(p)") }
        report.line("")
        report.line("tokend exit status \(status); its log: \(daemon.logFile!)")
        return problems.isEmpty
    }
}
